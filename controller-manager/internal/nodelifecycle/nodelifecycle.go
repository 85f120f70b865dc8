// Package nodelifecycle notices nodes that stop answering and responds, as
// upstream's pkg/controller/nodelifecycle:
//
//   - A node is alive while its kubelet renews its Lease (namespace
//     flotilla-node-lease, named after the node) or posts a new Ready
//     heartbeat; times are the controller's own observations, so clock skew
//     does not matter. Silent past --node-monitor-grace-period, its
//     conditions become Unknown (NodeStatusUnknown) and its pods NotReady.
//   - Nodes carry taints for their conditions: not-ready / unreachable
//     NoExecute (added at --node-eviction-rate per zone, burst 1; slower
//     in a partially disrupted large zone and not at all in a fully
//     disrupted one), and the NoSchedule condition taints. A node that
//     returns is untainted at once.
//   - The "taint-eviction-controller" loop (eviction.go) deletes pods that do
//     not tolerate a node's NoExecute taints, after their tolerationSeconds.
package nodelifecycle

import (
	"context"
	"flag"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/time/rate"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
	"k8s.io/apimachinery/pkg/labels"

	coordinationv1 "flotilla.io/proto/flotilla/coordination/v1"
	corev1 "flotilla.io/proto/flotilla/core/v1"
	"flotilla.io/sdk/client"
	"flotilla.io/sdk/informer"

	"flotilla.io/controller-manager/internal/controller"
)

// Options tune the controller (upstream's flag names and defaults).
type Options struct {
	MonitorPeriod             time.Duration
	GracePeriod               time.Duration
	EvictionRate              float64
	SecondaryEvictionRate     float64
	LargeClusterSizeThreshold int
	UnhealthyZoneThreshold    float64
	// LeaseNamespace holds the kubelets' node Leases.
	LeaseNamespace string
}

// DefaultLeaseNamespace is where kubelets renew their node Lease (upstream:
// kube-node-lease).
const DefaultLeaseNamespace = "flotilla-node-lease"

// Flags holds the values the process's flags set (see AddFlags).
var Flags = Options{
	MonitorPeriod: 5 * time.Second, GracePeriod: 50 * time.Second,
	EvictionRate: 0.1, SecondaryEvictionRate: 0.01, LargeClusterSizeThreshold: 50, UnhealthyZoneThreshold: 0.55,
	LeaseNamespace: DefaultLeaseNamespace,
}

// AddFlags binds o to command-line flags.
func (o *Options) AddFlags(fs *flag.FlagSet) {
	fs.DurationVar(&o.MonitorPeriod, "node-monitor-period", o.MonitorPeriod, "how often node health is checked")
	fs.DurationVar(&o.GracePeriod, "node-monitor-grace-period", o.GracePeriod, "how long a node may be silent before it is marked Unknown")
	fs.Float64Var(&o.EvictionRate, "node-eviction-rate", o.EvictionRate, "nodes per second tainted NoExecute in a healthy zone")
	fs.Float64Var(&o.SecondaryEvictionRate, "secondary-node-eviction-rate", o.SecondaryEvictionRate, "nodes per second tainted NoExecute in a partially disrupted large zone")
	fs.IntVar(&o.LargeClusterSizeThreshold, "large-cluster-size-threshold", o.LargeClusterSizeThreshold, "zones above this many nodes keep evicting (slowly) when partially disrupted")
	fs.Float64Var(&o.UnhealthyZoneThreshold, "unhealthy-zone-threshold", o.UnhealthyZoneThreshold, "fraction of NotReady nodes (at least 3) making a zone partially disrupted")
}

// ZoneLabel groups nodes for rate limiting (region and zone, as upstream).
const (
	ZoneLabel   = "topology.kubernetes.io/zone"
	RegionLabel = "topology.kubernetes.io/region"
)

// Zone states.
const (
	Normal            = "Normal"
	PartialDisruption = "PartialDisruption"
	FullDisruption    = "FullDisruption"
)

// ZoneState is upstream's ComputeZoneState.
func ZoneState(ready, notReady int, threshold float64) string {
	switch {
	case ready == 0 && notReady > 0:
		return FullDisruption
	case notReady > 2 && float64(notReady)/float64(ready+notReady) >= threshold:
		return PartialDisruption
	}
	return Normal
}

func init() {
	controller.Register("nodelifecycle", func(c *controller.Context) (controller.Loop, error) { return New(c, Flags) })
}

// health is what the controller observed of a node's liveness.
type health struct {
	heartbeat time.Time // Ready condition's lastHeartbeatTime as last seen
	renew     time.Time // Lease renewTime as last seen
	probed    time.Time // when either last changed, by our clock
}

// Controller is the node lifecycle loop.
type Controller struct {
	c      *controller.Context
	opts   Options
	log    *zap.Logger
	nodes  *informer.Informer[*corev1.Node]
	leases *informer.Informer[*coordinationv1.Lease]
	pods   *informer.Informer[*corev1.Pod]
	api    *client.Resource[*corev1.Node]
	podAPI *client.Resource[*corev1.Pod]
	now    func() time.Time

	mu       sync.Mutex
	health   map[string]*health
	limiters map[string]*rate.Limiter // zone -> NoExecute tainting
	states   map[string]string        // zone -> state
}

// New builds the loop.
func New(c *controller.Context, o Options) (*Controller, error) {
	ctl := &Controller{
		c: c, opts: o, log: c.Log.Named("nodelifecycle"),
		nodes:  informer.For[*corev1.Node](c.Informers),
		leases: informer.For[*coordinationv1.Lease](c.Informers),
		pods:   informer.For[*corev1.Pod](c.Informers),
		api:    client.For[*corev1.Node](c.Client),
		podAPI: client.For[*corev1.Pod](c.Client),
		now:    time.Now,
		health: map[string]*health{}, limiters: map[string]*rate.Limiter{}, states: map[string]string{},
	}
	if err := addNodeIndex(ctl.pods); err != nil {
		return nil, err
	}
	return ctl, nil
}

// Start checks every node each --node-monitor-period until ctx ends.
func (ctl *Controller) Start(ctx context.Context) error {
	t := time.NewTicker(ctl.opts.MonitorPeriod)
	defer t.Stop()
	for {
		ctl.monitor(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func zoneOf(n *corev1.Node) string {
	l := n.GetMetadata().GetLabels()
	return l[RegionLabel] + ":\x00:" + l[ZoneLabel]
}

// monitor is one pass over every node.
func (ctl *Controller) monitor(ctx context.Context) {
	nodes := ctl.nodes.Lister().List(labels.Everything())
	ready, notReady := map[string]int{}, map[string]int{}
	var current []*corev1.Node
	for _, n := range nodes {
		n = ctl.checkHealth(ctx, n)
		current = append(current, n)
		if readyStatus(n) == "True" {
			ready[zoneOf(n)]++
		} else {
			notReady[zoneOf(n)]++
		}
	}
	ctl.mu.Lock()
	allDisrupted := len(current) > 0
	for _, n := range current {
		z := zoneOf(n)
		st := ZoneState(ready[z], notReady[z], ctl.opts.UnhealthyZoneThreshold)
		if st != FullDisruption {
			allDisrupted = false
		}
		if ctl.states[z] != st {
			ctl.states[z] = st
			qps := ctl.opts.EvictionRate
			switch {
			case st == FullDisruption:
				qps = 0
			case st == PartialDisruption && ready[z]+notReady[z] > ctl.opts.LargeClusterSizeThreshold:
				qps = ctl.opts.SecondaryEvictionRate
			case st == PartialDisruption:
				qps = 0
			}
			if l := ctl.limiters[z]; l != nil {
				l.SetLimit(rate.Limit(qps))
			} else {
				ctl.limiters[z] = rate.NewLimiter(rate.Limit(qps), 1)
			}
			ctl.log.Info("zone state", zap.String("zone", z), zap.String("state", st))
		}
	}
	ctl.mu.Unlock()
	for _, n := range current {
		ctl.reconcileTaints(ctx, n, allDisrupted)
	}
}

// checkHealth marks a silent node's conditions Unknown; it returns the node
// as it now is.
func (ctl *Controller) checkHealth(ctx context.Context, n *corev1.Node) *corev1.Node {
	name := n.Metadata.Name
	now := ctl.now()
	var heartbeat, renew time.Time
	for _, c := range n.GetStatus().GetConditions() {
		if c.GetType() == "Ready" && c.GetLastHeartbeatTime() != nil {
			heartbeat = c.GetLastHeartbeatTime().AsTime()
		}
	}
	if l, err := ctl.leases.Lister().Get(ctl.opts.LeaseNamespace, name); err == nil && l.GetSpec().GetRenewTime() != nil {
		renew = l.GetSpec().GetRenewTime().AsTime()
	}
	ctl.mu.Lock()
	h := ctl.health[name]
	if h == nil {
		h = &health{heartbeat: heartbeat, renew: renew, probed: now}
		ctl.health[name] = h
	}
	if !heartbeat.Equal(h.heartbeat) || !renew.Equal(h.renew) {
		h.heartbeat, h.renew, h.probed = heartbeat, renew, now
	}
	silent := now.Sub(h.probed) > ctl.opts.GracePeriod
	ctl.mu.Unlock()
	if !silent || readyStatus(n) == "Unknown" {
		return n
	}
	next := proto.Clone(n).(*corev1.Node)
	if next.Status == nil {
		next.Status = &corev1.NodeStatus{}
	}
	ts := timestamppb.New(now)
	for _, typ := range []string{"Ready", "MemoryPressure", "DiskPressure", "PIDPressure"} {
		var cond *corev1.NodeCondition
		for _, c := range next.Status.Conditions {
			if c.Type == typ {
				cond = c
			}
		}
		if cond == nil {
			cond = &corev1.NodeCondition{Type: typ}
			next.Status.Conditions = append(next.Status.Conditions, cond)
		}
		if cond.Status != "Unknown" {
			cond.Status, cond.LastTransitionTime = "Unknown", ts
		}
		cond.Reason, cond.Message = "NodeStatusUnknown", "Kubelet stopped posting node status."
	}
	out, err := ctl.api.UpdateStatus(ctx, next)
	if err != nil {
		ctl.log.Info("marking node Unknown failed; next pass retries", zap.String("node", name), zap.Error(err))
		return n
	}
	ctl.log.Info("node stopped posting status", zap.String("node", name))
	ctl.c.Recorder.Eventf(out, "Normal", "NodeNotReady", "Node %s status is now: NodeNotReady", name)
	ctl.markPodsNotReady(ctx, out)
	return out
}

// markPodsNotReady sets the Ready condition of the node's pods False, so
// Services stop sending them traffic (upstream's MarkPodsNotReady).
func (ctl *Controller) markPodsNotReady(ctx context.Context, n *corev1.Node) {
	pods, _ := ctl.pods.Lister().ByIndex(byNode, n.Metadata.Name)
	for _, p := range pods {
		next := proto.Clone(p).(*corev1.Pod)
		changed := false
		for _, c := range next.GetStatus().GetConditions() {
			if c.Type == "Ready" && c.Status != "False" {
				c.Status, c.LastTransitionTime, c.Reason = "False", timestamppb.New(ctl.now()), "NodeNotReady"
				changed = true
			}
		}
		if !changed {
			continue
		}
		if _, err := ctl.podAPI.UpdateStatus(ctx, next); err != nil {
			ctl.log.Info("marking pod not ready failed", zap.String("pod", p.Metadata.Namespace+"/"+p.Metadata.Name), zap.Error(err))
			continue
		}
		ctl.c.Recorder.Eventf(p, "Warning", "NodeNotReady", "Node is not ready")
	}
}

// reconcileTaints makes the node's managed taints match its conditions.
// NoExecute taints are added only as the zone's rate limiter allows (and
// not at all when every zone is fully disrupted: the fault is then more
// likely ours or the network's than every node's).
func (ctl *Controller) reconcileTaints(ctx context.Context, n *corev1.Node, allDisrupted bool) {
	want := map[string]bool{}
	for _, k := range noScheduleTaints(n) {
		want[k+":"+NoSchedule] = true
	}
	have := map[string]bool{}
	for _, t := range n.GetSpec().GetTaints() {
		if managed(t) {
			have[t.Key+":"+t.Effect] = true
		}
	}
	if k := noExecuteTaint(readyStatus(n)); k != "" && !allDisrupted {
		key := k + ":" + NoExecute
		if have[key] {
			want[key] = true
		} else {
			ctl.mu.Lock()
			l := ctl.limiters[zoneOf(n)]
			ok := l != nil && l.Allow()
			ctl.mu.Unlock()
			want[key] = ok
		}
	}
	for k := range want {
		if !want[k] {
			delete(want, k)
		}
	}
	if maps(have, want) {
		return
	}
	next := proto.Clone(n).(*corev1.Node)
	if next.Spec == nil {
		next.Spec = &corev1.NodeSpec{}
	}
	var kept []*corev1.Taint
	for _, t := range next.Spec.Taints {
		if !managed(t) || want[t.Key+":"+t.Effect] {
			kept = append(kept, t)
			delete(want, t.Key+":"+t.Effect)
		}
	}
	added := []string{}
	for _, k := range sortedKeys(want) {
		key, effect := splitTaint(k)
		kept = append(kept, &corev1.Taint{Key: key, Effect: effect, TimeAdded: timestamppb.New(ctl.now())})
		added = append(added, k)
	}
	next.Spec.Taints = kept
	if _, err := ctl.api.Update(ctx, next); err != nil {
		ctl.log.Info("updating node taints failed; next pass retries", zap.String("node", n.Metadata.Name), zap.Error(err))
		return
	}
	for _, k := range added {
		if _, effect := splitTaint(k); effect == NoExecute {
			ctl.c.Recorder.Eventf(n, "Warning", "TaintAdded", "Node %s tainted %s: pods not tolerating it will be evicted", n.Metadata.Name, k)
		}
	}
	if readyStatus(n) == "True" && slices.ContainsFunc(n.GetSpec().GetTaints(), func(t *corev1.Taint) bool { return managed(t) && t.Effect == NoExecute }) {
		ctl.c.Recorder.Eventf(n, "Normal", "NodeReady", "Node %s status is now: NodeReady", n.Metadata.Name)
	}
}

func maps(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func splitTaint(k string) (key, effect string) {
	i := len(k) - 1
	for i >= 0 && k[i] != ':' {
		i--
	}
	return k[:i], k[i+1:]
}
