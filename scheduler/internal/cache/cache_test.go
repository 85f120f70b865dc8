package cache

import (
	"testing"
	"time"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"

	"flotilla.io/scheduler/internal/framework"
)

func mkNode(name string) *corev1.Node {
	return &corev1.Node{Metadata: &metav1.ObjectMeta{Name: name}, Status: &corev1.NodeStatus{
		Allocatable: map[string]*metav1.Quantity{"cpu": {String_: "2"}, "pods": {String_: "10"}},
	}}
}

func mkPod(name, node string) *framework.PodInfo {
	return framework.NewPodInfo(&corev1.Pod{
		Metadata: &metav1.ObjectMeta{Name: name, Namespace: "ns"},
		Spec: &corev1.PodSpec{NodeName: node, Containers: []*corev1.Container{{Resources: &corev1.ResourceRequirements{
			Requests: map[string]*metav1.Quantity{"cpu": {String_: "1"}},
		}}}},
	})
}

func TestAssumeConfirmForget(t *testing.T) {
	now := time.Unix(1000, 0)
	c := New(30*time.Second, func() time.Time { return now })
	c.AddNode(mkNode("n1"))
	s := NewSnapshot()
	c.UpdateSnapshot(s)
	if len(s.Nodes) != 1 || s.Nodes[0].Requested.MilliCPU != 0 {
		t.Fatalf("snapshot %v", s.Nodes)
	}
	old := s.Nodes[0]
	if err := c.AssumePod(mkPod("a", ""), "n1"); err != nil {
		t.Fatal(err)
	}
	if err := c.AssumePod(mkPod("a", ""), "n1"); err == nil {
		t.Fatal("assumed twice")
	}
	c.UpdateSnapshot(s)
	if s.Nodes[0].Requested.MilliCPU != 1000 || old.Requested.MilliCPU != 0 {
		t.Fatalf("assumed pod not counted in a fresh copy: new %d old %d", s.Nodes[0].Requested.MilliCPU, old.Requested.MilliCPU)
	}
	if !c.IsAssumed("ns/a") {
		t.Fatal("not assumed")
	}
	// The informer confirms the bind: the pod is counted once.
	c.AddPod(mkPod("a", "n1"))
	c.UpdateSnapshot(s)
	if c.IsAssumed("ns/a") || s.Nodes[0].Requested.MilliCPU != 1000 || len(s.Nodes[0].Pods) != 1 {
		t.Fatalf("confirm: %+v", s.Nodes[0])
	}
	// A failed bind is forgotten.
	_ = c.AssumePod(mkPod("b", ""), "n1")
	c.ForgetPod("ns/b")
	c.UpdateSnapshot(s)
	if len(s.Nodes[0].Pods) != 1 {
		t.Fatalf("forget: %d pods", len(s.Nodes[0].Pods))
	}
	// An assumed pod never confirmed expires ttl after its bind finished.
	_ = c.AssumePod(mkPod("c", ""), "n1")
	c.FinishBinding("ns/c")
	if c.Cleanup() != 0 {
		t.Fatal("expired early")
	}
	now = now.Add(31 * time.Second)
	if c.Cleanup() != 1 || c.PodCount() != 1 {
		t.Fatal("did not expire")
	}
}

func TestNodesComeAndGo(t *testing.T) {
	c := New(time.Second, nil)
	c.AddPod(mkPod("early", "n2")) // the pod's node is not known yet
	c.AddNode(mkNode("n1"))
	s := NewSnapshot()
	c.UpdateSnapshot(s)
	if len(s.Nodes) != 1 {
		t.Fatalf("nodes %d, want 1", len(s.Nodes))
	}
	c.AddNode(mkNode("n2"))
	c.UpdateSnapshot(s)
	if len(s.Nodes) != 2 || len(s.ByName["n2"].Pods) != 1 {
		t.Fatalf("n2 arrived: %+v", s.ByName["n2"])
	}
	c.RemoveNode("n1")
	c.RemovePod("ns/early")
	c.UpdateSnapshot(s)
	if len(s.Nodes) != 1 || s.Nodes[0].Name() != "n2" || len(s.Nodes[0].Pods) != 0 {
		t.Fatalf("after removals: %d nodes", len(s.Nodes))
	}
}
