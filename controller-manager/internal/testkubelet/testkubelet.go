// Package testkubelet is a stand-in for kubelets in controller tests: it binds
// unscheduled pods to fake nodes (round robin), reports bound pods Running and
// Ready (or finished, when told to by an annotation), and confirms the
// deletion of terminating pods the way a kubelet does. It talks to a real
// apiserver through the SDK; it runs no containers.
package testkubelet

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"

	"flotilla.io/sdk/client"
	"flotilla.io/sdk/informer"
)

// Annotations a test puts on a pod template to script the stand-in.
const (
	// ExitCode makes the pod's containers finish with this code after
	// RunFor: "0" gives phase Succeeded, anything else Failed.
	ExitCode = "testkubelet.flotilla.io/exit-code"
	// RunFor is how long (a Go duration) the pod runs before it exits;
	// default 0.
	RunFor = "testkubelet.flotilla.io/run-for"
	// NotReady keeps the pod Running but never Ready.
	NotReady = "testkubelet.flotilla.io/not-ready"
)

// Kubelet is the stand-in.
type Kubelet struct {
	c     *client.Client
	nodes []string
	pods  *client.Resource[*corev1.Pod]

	mu   sync.Mutex
	next int
	ips  int
	// Paused stops all reporting while true (a node that went silent).
	paused bool
}

// Start creates Ready Node objects with the given names and runs the
// stand-in until ctx ends. With no names it only reports pods that a test
// (or a scheduler) binds.
func Start(ctx context.Context, c *client.Client, nodes ...string) (*Kubelet, error) {
	k := &Kubelet{c: c, nodes: nodes, pods: client.For[*corev1.Pod](c)}
	for _, n := range nodes {
		if err := k.ensureNode(ctx, n); err != nil {
			return nil, err
		}
	}
	inf := informer.New[*corev1.Pod](c, informer.Options{})
	work := make(chan string, 4096)
	enqueue := func(p *corev1.Pod) {
		select {
		case work <- p.Metadata.Namespace + "/" + p.Metadata.Name:
		default:
		}
	}
	inf.AddHandler(informer.Handler[*corev1.Pod]{OnAdd: enqueue, OnUpdate: func(_, p *corev1.Pod) { enqueue(p) }})
	go func() { _ = inf.Start(ctx) }()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case key := <-work:
				ns, name := split(key)
				p, err := inf.Lister().Get(ns, name)
				if err != nil {
					continue
				}
				if retry := k.sync(ctx, proto.Clone(p).(*corev1.Pod)); retry > 0 {
					time.AfterFunc(retry, func() {
						select {
						case work <- key:
						default:
						}
					})
				}
			}
		}
	}()
	return k, nil
}

// Pause makes the stand-in stop reporting (pods stay as they are).
func (k *Kubelet) Pause(p bool) {
	k.mu.Lock()
	k.paused = p
	k.mu.Unlock()
}

func split(key string) (string, string) {
	for i := 0; i < len(key); i++ {
		if key[i] == '/' {
			return key[:i], key[i+1:]
		}
	}
	return "", key
}

func (k *Kubelet) ensureNode(ctx context.Context, name string) error {
	node := &corev1.Node{
		Metadata: &metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}},
		Spec:     &corev1.NodeSpec{},
	}
	nodes := client.For[*corev1.Node](k.c)
	created, err := nodes.Create(ctx, node)
	if client.IsAlreadyExists(err) {
		return nil
	}
	if err != nil {
		return err
	}
	q := func(s string) *metav1.Quantity { return &metav1.Quantity{String_: s} }
	created.Status = &corev1.NodeStatus{
		Capacity:    map[string]*metav1.Quantity{"cpu": q("32"), "memory": q("128Gi"), "pods": q("110")},
		Allocatable: map[string]*metav1.Quantity{"cpu": q("32"), "memory": q("128Gi"), "pods": q("110")},
		Conditions:  []*corev1.NodeCondition{{Type: "Ready", Status: "True", LastHeartbeatTime: timestamppb.Now(), LastTransitionTime: timestamppb.Now()}},
	}
	_, err = nodes.UpdateStatus(ctx, created)
	return err
}

// sync moves one pod along; it returns when to look at the pod again.
func (k *Kubelet) sync(ctx context.Context, p *corev1.Pod) time.Duration {
	k.mu.Lock()
	paused := k.paused
	k.mu.Unlock()
	if paused {
		return 0
	}
	if p.Metadata.DeletionTimestamp != nil {
		if p.Spec.GetNodeName() != "" {
			_ = k.pods.Delete(ctx, p.Metadata.Namespace, p.Metadata.Name, client.DeleteOptions{GracePeriodSeconds: proto.Int64(0)})
		}
		return 0
	}
	if p.Spec.GetNodeName() == "" {
		if len(k.nodes) == 0 {
			return 0
		}
		k.mu.Lock()
		node := k.nodes[k.next%len(k.nodes)]
		k.next++
		k.mu.Unlock()
		if _, err := k.c.Bind(ctx, p.Metadata.Namespace, p.Metadata.Name, p.Metadata.Uid, node); err != nil && !client.IsConflict(err) {
			return 100 * time.Millisecond
		}
		return 0
	}
	phase := p.GetStatus().GetPhase()
	if phase == "Succeeded" || phase == "Failed" {
		return 0
	}
	ann := p.Metadata.GetAnnotations()
	now := timestamppb.Now()
	st := proto.Clone(p.GetStatus()).(*corev1.PodStatus)
	if st == nil {
		st = &corev1.PodStatus{}
	}
	if phase != "Running" {
		k.mu.Lock()
		k.ips++
		ip := fmt.Sprintf("10.%d.%d.%d", 200+k.ips>>16&0x1f, k.ips>>8&0xff, k.ips&0xff)
		k.mu.Unlock()
		st.Phase, st.PodIp, st.HostIp, st.StartTime = "Running", ip, "192.0.2.1", now
		st.PodIps = []*corev1.PodIP{{Ip: ip}}
		ready := "True"
		if _, ok := ann[NotReady]; ok {
			ready = "False"
		}
		st.Conditions = setCondition(st.Conditions, "Initialized", "True", now)
		st.Conditions = setCondition(st.Conditions, "ContainersReady", ready, now)
		st.Conditions = setCondition(st.Conditions, "Ready", ready, now)
		st.ContainerStatuses = nil
		for _, c := range p.Spec.Containers {
			st.ContainerStatuses = append(st.ContainerStatuses, &corev1.ContainerStatus{
				Name: c.Name, Image: c.Image, Ready: ready == "True", Started: proto.Bool(true),
				State: &corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
			})
		}
		p.Status = st
		if _, err := k.pods.UpdateStatus(ctx, p); err != nil {
			return 100 * time.Millisecond
		}
		if _, ok := ann[ExitCode]; ok {
			d, _ := time.ParseDuration(ann[RunFor])
			return max(d, time.Millisecond)
		}
		return 0
	}
	code, ok := ann[ExitCode]
	if !ok {
		return 0
	}
	d, _ := time.ParseDuration(ann[RunFor])
	if wait := time.Until(st.GetStartTime().AsTime().Add(d)); wait > 0 {
		return wait
	}
	exit, _ := strconv.Atoi(code)
	st.Phase = "Succeeded"
	reason := "Completed"
	if exit != 0 {
		st.Phase, reason = "Failed", "Error"
	}
	st.Conditions = setCondition(st.Conditions, "Ready", "False", now)
	st.Conditions = setCondition(st.Conditions, "ContainersReady", "False", now)
	for _, cs := range st.ContainerStatuses {
		cs.Ready = false
		cs.State = &corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: int32(exit), Reason: reason, FinishedAt: now}}
	}
	p.Status = st
	if _, err := k.pods.UpdateStatus(ctx, p); err != nil {
		return 100 * time.Millisecond
	}
	return 0
}

func setCondition(conds []*corev1.PodCondition, typ, status string, now *timestamppb.Timestamp) []*corev1.PodCondition {
	for _, c := range conds {
		if c.Type == typ {
			if c.Status != status {
				c.Status, c.LastTransitionTime = status, now
			}
			return conds
		}
	}
	return append(conds, &corev1.PodCondition{Type: typ, Status: status, LastTransitionTime: now})
}
