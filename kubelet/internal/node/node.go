// Package node registers the kubelet's Node, keeps its status current
// (capacity, allocatable, conditions, addresses, images, node info) and
// renews its Lease in flotilla-node-lease every 10 s, the heartbeat the
// node lifecycle controller watches.
package node

import (
	"context"
	"fmt"
	"net"
	"os"
	goruntime "runtime"
	"sort"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
	"k8s.io/apimachinery/pkg/api/resource"

	coordinationv1 "flotilla.io/proto/flotilla/coordination/v1"
	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"

	"flotilla.io/sdk/client"
	"flotilla.io/sdk/version"
)

// LeaseNamespace holds node leases (upstream's kube-node-lease).
const LeaseNamespace = "flotilla-node-lease"

// Intervals (upstream's defaults).
const (
	LeaseDuration        = 40 * time.Second
	LeaseRenewInterval   = 10 * time.Second
	StatusUpdateInterval = 10 * time.Second
	// StatusReportInterval: an unchanged status is still posted this often.
	StatusReportInterval = time.Minute
)

// Image is one image for the Node status.
type Image struct {
	Names []string
	Size  int64
}

// Runtime is what the node needs from containerd.
type Runtime interface {
	Version(ctx context.Context) (string, error)
	Images(ctx context.Context) ([]Image, error)
}

// Config wires the node agent.
type Config struct {
	Name     string
	Client   *client.Client
	Runtime  Runtime
	RootDir  string
	PodCIDR  string
	NodeIP   string
	Port     int32
	MaxPods  int64
	Reserved map[string]resource.Quantity // system + kube reserved, summed
	Labels   map[string]string
	Log      *zap.Logger
	// Capacity overrides what is read from the machine (tests).
	Capacity map[string]resource.Quantity
}

// Agent is the node's registration and heartbeats.
type Agent struct {
	cfg    Config
	nodes  *client.Resource[*corev1.Node]
	leases *client.Resource[*coordinationv1.Lease]
	log    *zap.Logger

	lastStatus   *corev1.NodeStatus
	lastReported time.Time
	uid          string
}

// New makes the agent; Register then Start it.
func New(cfg Config) *Agent {
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.MaxPods == 0 {
		cfg.MaxPods = 110
	}
	return &Agent{cfg: cfg, nodes: client.For[*corev1.Node](cfg.Client), leases: client.For[*coordinationv1.Lease](cfg.Client), log: cfg.Log}
}

// Capacity reads the machine: cpu, memory, pods, ephemeral-storage of the
// root dir's filesystem.
func Capacity(rootDir string, maxPods int64) map[string]resource.Quantity {
	c := map[string]resource.Quantity{
		"cpu":  *resource.NewQuantity(int64(goruntime.NumCPU()), resource.DecimalSI),
		"pods": *resource.NewQuantity(maxPods, resource.DecimalSI),
	}
	if mem, err := memTotal(); err == nil {
		c["memory"] = *resource.NewQuantity(mem, resource.BinarySI)
	}
	var fs syscall.Statfs_t
	if err := syscall.Statfs(rootDir, &fs); err == nil {
		c["ephemeral-storage"] = *resource.NewQuantity(int64(fs.Blocks)*fs.Bsize, resource.BinarySI)
	}
	return c
}

func memTotal() (int64, error) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
			var kb int64
			_, err := fmt.Sscan(f[1], &kb)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no MemTotal in /proc/meminfo")
}

// Allocatable is capacity minus reserved, never below zero.
func Allocatable(capacity, reserved map[string]resource.Quantity) map[string]resource.Quantity {
	out := map[string]resource.Quantity{}
	for k, v := range capacity {
		a := v.DeepCopy()
		if r, ok := reserved[k]; ok {
			a.Sub(r)
			if a.Sign() < 0 {
				a = resource.Quantity{Format: v.Format}
			}
		}
		out[k] = a
	}
	return out
}

// ParseReserved parses "cpu=100m,memory=256Mi,ephemeral-storage=1Gi".
func ParseReserved(s string) (map[string]resource.Quantity, error) {
	out := map[string]resource.Quantity{}
	for _, kv := range strings.Split(s, ",") {
		kv = strings.TrimSpace(kv)
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("reserved %q: want name=quantity", kv)
		}
		q, err := resource.ParseQuantity(v)
		if err != nil {
			return nil, fmt.Errorf("reserved %s: %w", k, err)
		}
		out[k] = q
	}
	return out, nil
}

// AddReserved sums two reservations.
func AddReserved(a, b map[string]resource.Quantity) map[string]resource.Quantity {
	out := map[string]resource.Quantity{}
	for _, m := range []map[string]resource.Quantity{a, b} {
		for k, v := range m {
			s := out[k]
			s.Add(v)
			out[k] = s
		}
	}
	return out
}

func quantities(m map[string]resource.Quantity) map[string]*metav1.Quantity {
	out := make(map[string]*metav1.Quantity, len(m))
	for k, v := range m {
		out[k] = &metav1.Quantity{String_: v.String()}
	}
	return out
}

// DefaultNodeIP is the address of the interface holding the default route,
// or the first non-loopback IPv4 address.
func DefaultNodeIP() string {
	if b, err := os.ReadFile("/proc/net/route"); err == nil {
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) > 2 && f[1] == "00000000" {
				if ifc, err := net.InterfaceByName(f[0]); err == nil {
					if ip := firstIPv4(ifc); ip != "" {
						return ip
					}
				}
			}
		}
	}
	ifcs, _ := net.Interfaces()
	for _, ifc := range ifcs {
		if ifc.Flags&net.FlagLoopback == 0 && ifc.Flags&net.FlagUp != 0 {
			if ip := firstIPv4(&ifc); ip != "" {
				return ip
			}
		}
	}
	return "127.0.0.1"
}

func firstIPv4(ifc *net.Interface) string {
	addrs, _ := ifc.Addrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			return n.IP.String()
		}
	}
	return ""
}

func (a *Agent) labels() map[string]string {
	l := map[string]string{
		"kubernetes.io/hostname": a.cfg.Name,
		"kubernetes.io/os":       goruntime.GOOS,
		"kubernetes.io/arch":     goruntime.GOARCH,
		"beta.kubernetes.io/os":  goruntime.GOOS, "beta.kubernetes.io/arch": goruntime.GOARCH,
	}
	for k, v := range a.cfg.Labels {
		l[k] = v
	}
	return l
}

// Register creates the Node, or adopts an existing one (a kubelet
// restart), updating its labels and podCIDR.
func (a *Agent) Register(ctx context.Context) error {
	for {
		err := a.register(ctx)
		if err == nil {
			return nil
		}
		a.log.Warn("register node; retrying", zap.String("node", a.cfg.Name), zap.Error(err))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

func (a *Agent) register(ctx context.Context) error {
	n := &corev1.Node{
		Metadata: &metav1.ObjectMeta{Name: a.cfg.Name, Labels: a.labels()},
		Spec:     &corev1.NodeSpec{PodCidr: a.cfg.PodCIDR},
	}
	if a.cfg.PodCIDR != "" {
		n.Spec.PodCidrs = []string{a.cfg.PodCIDR}
	}
	created, err := a.nodes.Create(ctx, n)
	if err == nil {
		a.uid = created.GetMetadata().GetUid()
		a.log.Info("node registered", zap.String("node", a.cfg.Name))
		return a.updateStatus(ctx, true)
	}
	if !client.IsAlreadyExists(err) {
		return err
	}
	cur, err := a.nodes.Get(ctx, "", a.cfg.Name)
	if err != nil {
		return err
	}
	next := proto.Clone(cur).(*corev1.Node)
	if next.Metadata.Labels == nil {
		next.Metadata.Labels = map[string]string{}
	}
	for k, v := range a.labels() {
		next.Metadata.Labels[k] = v
	}
	if next.Spec == nil {
		next.Spec = &corev1.NodeSpec{}
	}
	if next.Spec.PodCidr == "" && a.cfg.PodCIDR != "" {
		next.Spec.PodCidr, next.Spec.PodCidrs = a.cfg.PodCIDR, []string{a.cfg.PodCIDR}
	}
	if !proto.Equal(next, cur) {
		if cur, err = a.nodes.Update(ctx, next); err != nil {
			return err
		}
	}
	a.uid = cur.GetMetadata().GetUid()
	a.log.Info("node adopted", zap.String("node", a.cfg.Name))
	return a.updateStatus(ctx, true)
}

// Start renews the lease and updates the status until ctx ends.
func (a *Agent) Start(ctx context.Context) error {
	lease := time.NewTicker(LeaseRenewInterval)
	defer lease.Stop()
	status := time.NewTicker(StatusUpdateInterval)
	defer status.Stop()
	if err := a.renewLease(ctx); err != nil {
		a.log.Warn("renew lease", zap.Error(err))
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-lease.C:
			if err := a.renewLease(ctx); err != nil && ctx.Err() == nil {
				a.log.Warn("renew lease", zap.Error(err))
			}
		case <-status.C:
			if err := a.updateStatus(ctx, false); err != nil && ctx.Err() == nil {
				a.log.Warn("update node status", zap.Error(err))
			}
		}
	}
}

func (a *Agent) renewLease(ctx context.Context) error {
	now := timestamppb.Now()
	cur, err := a.leases.Get(ctx, LeaseNamespace, a.cfg.Name)
	if client.IsNotFound(err) {
		l := &coordinationv1.Lease{
			Metadata: &metav1.ObjectMeta{Name: a.cfg.Name, Namespace: LeaseNamespace},
			Spec: &coordinationv1.LeaseSpec{
				HolderIdentity: proto.String(a.cfg.Name), LeaseDurationSeconds: proto.Int32(int32(LeaseDuration / time.Second)),
				RenewTime: now, AcquireTime: now,
			},
		}
		if a.uid != "" {
			l.Metadata.OwnerReferences = []*metav1.OwnerReference{{ApiVersion: "v1", Kind: "Node", Name: a.cfg.Name, Uid: a.uid}}
		}
		_, err = a.leases.Create(ctx, l)
		return err
	}
	if err != nil {
		return err
	}
	next := proto.Clone(cur).(*coordinationv1.Lease)
	if next.Spec == nil {
		next.Spec = &coordinationv1.LeaseSpec{}
	}
	next.Spec.HolderIdentity = proto.String(a.cfg.Name)
	next.Spec.LeaseDurationSeconds = proto.Int32(int32(LeaseDuration / time.Second))
	next.Spec.RenewTime = now
	_, err = a.leases.Update(ctx, next)
	return err
}

// Pressure thresholds (upstream's hard eviction defaults).
const (
	memoryAvailableMin = 100 << 20
	diskAvailableMin   = 0.10
	pidAvailableMin    = 0.10
)

func condition(typ string, bad bool, badReason, badMsg, okReason, okMsg string) *corev1.NodeCondition {
	if bad {
		return &corev1.NodeCondition{Type: typ, Status: "True", Reason: badReason, Message: badMsg}
	}
	return &corev1.NodeCondition{Type: typ, Status: "False", Reason: okReason, Message: okMsg}
}

func memAvailable() (int64, bool) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemAvailable:" {
			var kb int64
			if _, err := fmt.Sscan(f[1], &kb); err == nil {
				return kb * 1024, true
			}
		}
	}
	return 0, false
}

func (a *Agent) conditions() []*corev1.NodeCondition {
	memLow := false
	if avail, ok := memAvailable(); ok {
		memLow = avail < memoryAvailableMin
	}
	diskLow := false
	var fs syscall.Statfs_t
	if err := syscall.Statfs(a.cfg.RootDir, &fs); err == nil && fs.Blocks > 0 {
		diskLow = float64(fs.Bavail)/float64(fs.Blocks) < diskAvailableMin
	}
	pidLow := false
	if b, err := os.ReadFile("/proc/sys/kernel/pid_max"); err == nil {
		var max float64
		if _, err := fmt.Sscan(strings.TrimSpace(string(b)), &max); err == nil && max > 0 {
			if ents, err := os.ReadDir("/proc"); err == nil {
				pidLow = 1-float64(len(ents))/max < pidAvailableMin
			}
		}
	}
	return []*corev1.NodeCondition{
		condition("MemoryPressure", memLow, "KubeletHasInsufficientMemory", "kubelet has insufficient memory available", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
		condition("DiskPressure", diskLow, "KubeletHasDiskPressure", "kubelet has disk pressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
		condition("PIDPressure", pidLow, "KubeletHasInsufficientPID", "kubelet has insufficient PID available", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
		{Type: "Ready", Status: "True", Reason: "KubeletReady", Message: "kubelet is posting ready status"},
	}
}

func readTrim(path string) string {
	b, _ := os.ReadFile(path)
	return strings.TrimSpace(string(b))
}

func osImage() string {
	for _, line := range strings.Split(readTrim("/etc/os-release"), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return "Linux"
}

func (a *Agent) status(ctx context.Context) *corev1.NodeStatus {
	capacity := a.cfg.Capacity
	if capacity == nil {
		capacity = Capacity(a.cfg.RootDir, a.cfg.MaxPods)
	}
	hostname, _ := os.Hostname()
	rv, err := a.cfg.Runtime.Version(ctx)
	if err != nil {
		rv = "containerd://unknown"
	}
	var uts syscall.Utsname
	_ = syscall.Uname(&uts)
	st := &corev1.NodeStatus{
		Capacity:    quantities(capacity),
		Allocatable: quantities(Allocatable(capacity, a.cfg.Reserved)),
		Conditions:  a.conditions(),
		Addresses: []*corev1.NodeAddress{
			{Type: "InternalIP", Address: a.cfg.NodeIP},
			{Type: "Hostname", Address: hostname},
		},
		DaemonEndpoints: &corev1.NodeDaemonEndpoints{KubeletEndpoint: &corev1.DaemonEndpoint{Port: a.cfg.Port}},
		NodeInfo: &corev1.NodeSystemInfo{
			MachineId: readTrim("/etc/machine-id"), SystemUuid: readTrim("/sys/class/dmi/id/product_uuid"),
			BootId: readTrim("/proc/sys/kernel/random/boot_id"), KernelVersion: utsString(uts.Release[:]),
			OsImage: osImage(), ContainerRuntimeVersion: rv, KubeletVersion: version.Get().Version,
			OperatingSystem: goruntime.GOOS, Architecture: goruntime.GOARCH,
		},
	}
	if imgs, err := a.cfg.Runtime.Images(ctx); err == nil {
		sort.Slice(imgs, func(i, j int) bool { return imgs[i].Size > imgs[j].Size })
		for _, im := range imgs {
			st.Images = append(st.Images, &corev1.ContainerImage{Names: im.Names, SizeBytes: im.Size})
		}
	}
	return st
}

func utsString(b []int8) string {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c == 0 {
			break
		}
		out = append(out, byte(c))
	}
	return string(out)
}

// updateStatus posts the status when it changed, and at least every
// StatusReportInterval; condition times follow upstream (heartbeat on each
// post, transition when the status flips).
func (a *Agent) updateStatus(ctx context.Context, force bool) error {
	st := a.status(ctx)
	if !force && a.lastStatus != nil && sameStatus(a.lastStatus, st) && time.Since(a.lastReported) < StatusReportInterval {
		return nil
	}
	for attempt := 0; ; attempt++ {
		cur, err := a.nodes.Get(ctx, "", a.cfg.Name)
		if err != nil {
			return err
		}
		next := proto.Clone(cur).(*corev1.Node)
		now := timestamppb.New(time.Now().Truncate(time.Second))
		s := proto.Clone(st).(*corev1.NodeStatus)
		for _, c := range s.Conditions {
			c.LastHeartbeatTime, c.LastTransitionTime = now, now
			for _, o := range cur.GetStatus().GetConditions() {
				if o.GetType() == c.GetType() && o.GetStatus() == c.GetStatus() && o.GetLastTransitionTime() != nil {
					c.LastTransitionTime = o.GetLastTransitionTime()
				}
			}
		}
		next.Status = s
		if _, err = a.nodes.UpdateStatus(ctx, next); err == nil {
			a.lastStatus, a.lastReported = st, time.Now()
			return nil
		}
		if !client.IsConflict(err) || attempt >= 3 {
			return err
		}
	}
}

func sameStatus(a, b *corev1.NodeStatus) bool { return proto.Equal(a, b) }
