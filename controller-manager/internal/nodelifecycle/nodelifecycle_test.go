package nodelifecycle_test

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	coordinationv1 "flotilla.io/proto/flotilla/coordination/v1"
	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"

	"flotilla.io/apiserver/testserver"
	"flotilla.io/sdk/client"

	controllermanager "flotilla.io/controller-manager"
	"flotilla.io/controller-manager/internal/nodelifecycle"
)

func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last state: %s", what, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func taintKeys(n *corev1.Node) []string {
	var out []string
	for _, t := range n.GetSpec().GetTaints() {
		out = append(out, t.Key+":"+t.Effect)
	}
	slices.Sort(out)
	return out
}

func TestSilentNodeIsTaintedAndItsPodsEvicted(t *testing.T) {
	nodelifecycle.Flags.MonitorPeriod = 100 * time.Millisecond
	nodelifecycle.Flags.GracePeriod = 2 * time.Second
	s := testserver.Start(t)
	c := s.Client(s.Config)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	nodes := client.For[*corev1.Node](c)
	leases := client.For[*coordinationv1.Lease](c)
	pods := client.For[*corev1.Pod](c)
	for _, name := range []string{"n1", "n2"} {
		n, err := nodes.Create(ctx, &corev1.Node{Metadata: &metav1.ObjectMeta{Name: name}, Spec: &corev1.NodeSpec{}})
		if err != nil {
			t.Fatal(err)
		}
		n.Status = &corev1.NodeStatus{Conditions: []*corev1.NodeCondition{{Type: "Ready", Status: "True", LastHeartbeatTime: timestamppb.Now()}}}
		if _, err := nodes.UpdateStatus(ctx, n); err != nil {
			t.Fatal(err)
		}
		if _, err := leases.Create(ctx, &coordinationv1.Lease{Metadata: &metav1.ObjectMeta{Namespace: nodelifecycle.DefaultLeaseNamespace, Name: name},
			Spec: &coordinationv1.LeaseSpec{HolderIdentity: proto.String(name), RenewTime: timestamppb.Now()}}); err != nil {
			t.Fatal(err)
		}
	}
	// Stand-in kubelets renew their Leases every 200ms while alive.
	var n1Alive atomic.Bool
	n1Alive.Store(true)
	go func() {
		for ctx.Err() == nil {
			for _, name := range []string{"n1", "n2"} {
				if name == "n1" && !n1Alive.Load() {
					continue
				}
				if l, err := leases.Get(ctx, nodelifecycle.DefaultLeaseNamespace, name); err == nil {
					l.Spec.RenewTime = timestamppb.Now()
					_, _ = leases.Update(ctx, l)
				}
			}
			time.Sleep(200 * time.Millisecond)
		}
	}()
	tolerate := func(secs *int64) []*corev1.Toleration {
		return []*corev1.Toleration{{Key: nodelifecycle.TaintUnreachable, Operator: "Exists", Effect: "NoExecute", TolerationSeconds: secs}}
	}
	// "defaulted" gets the apiserver's 300 s tolerations (DefaultTolerationSeconds).
	pods0 := map[string][]*corev1.Toleration{"now": tolerate(proto.Int64(0)), "brief": tolerate(proto.Int64(3)), "forever": tolerate(nil), "defaulted": nil}
	for name, tols := range pods0 {
		p, err := pods.Create(ctx, &corev1.Pod{Metadata: &metav1.ObjectMeta{Namespace: "default", Name: name},
			Spec: &corev1.PodSpec{NodeName: "n1", Tolerations: tols, Containers: []*corev1.Container{{Name: "c", Image: "busybox"}}}})
		if err != nil {
			t.Fatal(err)
		}
		p.Status = &corev1.PodStatus{Phase: "Running", Conditions: []*corev1.PodCondition{{Type: "Ready", Status: "True"}}}
		if _, err := pods.UpdateStatus(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() {
		done <- controllermanager.Run(ctx, controllermanager.Config{Client: s.Config, Controllers: []string{"nodelifecycle", "taint-eviction-controller"}})
	}()
	defer func() { cancel(); <-done }()

	// Healthy nodes stay untainted for longer than the grace period.
	time.Sleep(3 * time.Second)
	for _, name := range []string{"n1", "n2"} {
		n, _ := nodes.Get(ctx, "", name)
		if len(taintKeys(n)) != 0 {
			t.Fatalf("healthy node %s tainted: %v", name, taintKeys(n))
		}
	}

	silentAt := time.Now()
	n1Alive.Store(false)
	eventually(t, "n1 Unknown and tainted", func() (bool, string) {
		n, err := nodes.Get(ctx, "", "n1")
		if err != nil {
			return false, err.Error()
		}
		keys := taintKeys(n)
		for _, c := range n.Status.Conditions {
			if c.Type == "Ready" && c.Status == "Unknown" && slices.Equal(keys, []string{"node.kubernetes.io/unreachable:NoExecute", "node.kubernetes.io/unreachable:NoSchedule"}) {
				return true, ""
			}
		}
		return false, fmt.Sprint(n.Status.Conditions, keys)
	})
	if time.Since(silentAt) < 1500*time.Millisecond { // grace period less one lease renewal
		t.Errorf("n1 marked Unknown %v after going silent, before the grace period", time.Since(silentAt))
	}
	terminating := func(name string) bool {
		p, err := pods.Get(ctx, "default", name)
		return err == nil && p.Metadata.DeletionTimestamp != nil
	}
	eventually(t, "pod tolerating 0s evicted", func() (bool, string) { return terminating("now"), "" })
	eventually(t, "briefly tolerating pod evicted", func() (bool, string) { return terminating("brief"), "" })
	if terminating("forever") || terminating("defaulted") {
		t.Fatal("pod tolerating the taint forever, or for the default 300 s, was evicted")
	}
	p, _ := pods.Get(ctx, "default", "forever")
	if !slices.ContainsFunc(p.Status.Conditions, func(c *corev1.PodCondition) bool { return c.Type == "Ready" && c.Status == "False" }) {
		t.Errorf("pod on the silent node still Ready: %v", p.Status.Conditions)
	}
	n2, _ := nodes.Get(ctx, "", "n2")
	if len(taintKeys(n2)) != 0 {
		t.Fatalf("healthy n2 tainted: %v", taintKeys(n2))
	}

	// n1 comes back: its kubelet posts Ready and renews its Lease.
	n1Alive.Store(true)
	eventually(t, "n1 Ready posted", func() (bool, string) {
		n, err := nodes.Get(ctx, "", "n1")
		if err != nil {
			return false, err.Error()
		}
		n.Status.Conditions = []*corev1.NodeCondition{{Type: "Ready", Status: "True", LastHeartbeatTime: timestamppb.Now()}}
		_, err = nodes.UpdateStatus(ctx, n)
		return err == nil, fmt.Sprint(err)
	})
	eventually(t, "n1 untainted", func() (bool, string) {
		n, err := nodes.Get(ctx, "", "n1")
		if err != nil {
			return false, err.Error()
		}
		return len(taintKeys(n)) == 0, fmt.Sprint(taintKeys(n))
	})
}
