package core

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"

	"flotilla.io/scheduler/internal/framework"
	"flotilla.io/scheduler/internal/plugins"
)

func q(s string) *metav1.Quantity { return &metav1.Quantity{String_: s} }

func node(name, cpu string, taints ...*corev1.Taint) *framework.NodeInfo {
	return framework.NewNodeInfo(&corev1.Node{
		Metadata: &metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}},
		Spec:     &corev1.NodeSpec{Taints: taints},
		Status: &corev1.NodeStatus{
			Allocatable: map[string]*metav1.Quantity{"cpu": q(cpu), "memory": q("8Gi"), "pods": q("110")},
			Conditions:  []*corev1.NodeCondition{{Type: "Ready", Status: "True"}},
		},
	})
}

func pod(name, cpu string, prio int32) *framework.PodInfo {
	pi := framework.NewPodInfo(&corev1.Pod{
		Metadata: &metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: &corev1.PodSpec{Priority: &prio, Containers: []*corev1.Container{{Name: "c",
			Resources: &corev1.ResourceRequirements{Requests: map[string]*metav1.Quantity{"cpu": q(cpu)}}}}},
	})
	return pi
}

func algo() *Algorithm {
	return &Algorithm{Profile: plugins.DefaultProfile(), Rand: rand.New(rand.NewPCG(1, 2))}
}

func TestScheduleSpreadsByLeastAllocated(t *testing.T) {
	busy, idle := node("busy", "4"), node("idle", "4")
	busy.AddPod(pod("x", "3", 0))
	res, err := algo().Schedule(context.Background(), pod("p", "500m", 0), framework.NewSnapshot([]*framework.NodeInfo{busy, idle}), nil)
	if err != nil || res.Node != "idle" {
		t.Fatalf("got %v %v, want idle", res, err)
	}
}

func TestFitErrorMessage(t *testing.T) {
	var nodes []*framework.NodeInfo
	for i := range 3 {
		nodes = append(nodes, node(fmt.Sprintf("small-%d", i), "1"))
	}
	for i := range 2 {
		nodes = append(nodes, node(fmt.Sprintf("gpu-%d", i), "8", &corev1.Taint{Key: "gpu", Value: "true", Effect: "NoSchedule"}))
	}
	snap := framework.NewSnapshot(nodes)
	a := algo()
	_, err := a.Schedule(context.Background(), pod("p", "2", 0), snap, nil)
	fe, ok := err.(*FitError)
	if !ok {
		t.Fatalf("err %v", err)
	}
	if c := a.Preempt(pod("p", "2", 0), snap, fe, nil); c != nil {
		t.Fatalf("preemption found %v on empty nodes", c)
	}
	want := "0/5 nodes are available: 2 node(s) had untolerated taint {gpu: true}, 3 Insufficient cpu. " +
		"preemption: 0/5 nodes are available: 2 Preemption is not helpful for scheduling, 3 No preemption victims found for incoming pod."
	if fe.Error() != want {
		t.Fatalf("got  %q\nwant %q", fe.Error(), want)
	}
	if d := fe.Diagnosis(); d["gpu-0"] != "TaintToleration: node(s) had untolerated taint {gpu: true}" || d["small-2"] != "NodeResourcesFit: Insufficient cpu" {
		t.Fatalf("diagnosis %v", d)
	}
}

func TestPreemptionPicksMinimalVictims(t *testing.T) {
	n1, n2 := node("n1", "4"), node("n2", "4")
	// n1: one big low-priority pod; n2: a medium-priority pod and a small low one.
	n1.AddPod(pod("big-low", "3", 1))
	n1.AddPod(pod("keep", "1", 100))
	n2.AddPod(pod("mid", "2", 50))
	n2.AddPod(pod("small-low", "1", 1))
	n2.AddPod(pod("tiny-low", "1", 1))
	snap := framework.NewSnapshot([]*framework.NodeInfo{n1, n2})
	a := algo()
	p := pod("p", "2", 1000)
	_, err := a.Schedule(context.Background(), p, snap, nil)
	fe := err.(*FitError)
	c := a.Preempt(p, snap, fe, nil)
	// n1 needs only big-low (priority 1); n2 would need two priority-1
	// pods or mid: n1 wins on the lowest highest-victim priority and count.
	if c == nil || c.Node != "n1" || len(c.Victims) != 1 || c.Victims[0].Key != "default/big-low" {
		t.Fatalf("candidate %+v", c)
	}
	// A nominated higher pod holds its place on the node.
	nominated := func(n string) []*framework.PodInfo {
		if n == "n1" {
			return []*framework.PodInfo{pod("nominee", "3", 2000)}
		}
		return nil
	}
	c = a.Preempt(p, snap, fe, nominated)
	if c == nil || c.Node != "n2" {
		t.Fatalf("with nominee: %+v", c)
	}
	never := pod("never", "2", 1000)
	never.Pod.Spec.PreemptionPolicy = new("Never")
	if c := a.Preempt(never, snap, fe, nil); c != nil || fe.PostFilterMsg != "preemption: not eligible due to preemptionPolicy=Never." {
		t.Fatalf("never: %v %q", c, fe.PostFilterMsg)
	}
}

func TestNumFeasibleToFind(t *testing.T) {
	a := &Algorithm{}
	for n, want := range map[int]int{50: 50, 100: 100, 1000: 420, 5000: 500, 200: 100} {
		if got := a.numFeasibleToFind(n); got != want {
			t.Errorf("%d nodes: %d, want %d", n, got, want)
		}
	}
}

func TestSearchStopsEarlyAndRotates(t *testing.T) {
	var nodes []*framework.NodeInfo
	for i := range 1000 {
		nodes = append(nodes, node(fmt.Sprintf("n%04d", i), "4"))
	}
	snap := framework.NewSnapshot(nodes)
	a := algo()
	r1, _ := a.Schedule(context.Background(), pod("p", "1", 0), snap, nil)
	if r1.Feasible != 420 || r1.Evaluated >= 1000 {
		t.Fatalf("first search %+v", r1)
	}
	if a.nextStart == 0 {
		t.Fatal("search start did not rotate")
	}
}
