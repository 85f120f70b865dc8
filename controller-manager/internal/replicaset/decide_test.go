package replicaset

import (
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"
	"k8s.io/apimachinery/pkg/labels"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
)

var now = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)

func testPod(name string, ready bool, readyFor time.Duration, lbls map[string]string) *corev1.Pod {
	st := "False"
	if ready {
		st = "True"
	}
	return &corev1.Pod{
		Metadata: &metav1.ObjectMeta{Name: name, Labels: lbls, CreationTimestamp: timestamppb.New(now.Add(-time.Hour))},
		Spec:     &corev1.PodSpec{NodeName: "n1"},
		Status: &corev1.PodStatus{Phase: "Running", Conditions: []*corev1.PodCondition{
			{Type: "Ready", Status: st, LastTransitionTime: timestamppb.New(now.Add(-readyFor))},
		}},
	}
}

func TestDecide(t *testing.T) {
	pods := func(n int) []*corev1.Pod {
		out := make([]*corev1.Pod, n)
		for i := range out {
			out[i] = testPod(string(rune('a'+i)), i%2 == 0, time.Minute, nil)
		}
		return out
	}
	for _, tc := range []struct {
		name                string
		replicas            int32
		active, burst       int
		create, deletes     int
		deleteNotReadyFirst bool
	}{
		{name: "steady", replicas: 3, active: 3, burst: 500},
		{name: "scale up", replicas: 5, active: 2, burst: 500, create: 3},
		{name: "scale up capped by burst", replicas: 3000, active: 0, burst: 500, create: 500},
		{name: "scale down", replicas: 1, active: 4, burst: 500, deletes: 3, deleteNotReadyFirst: true},
		{name: "scale down capped", replicas: 0, active: 6, burst: 2, deletes: 2, deleteNotReadyFirst: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Decide(tc.replicas, pods(tc.active), tc.burst, now)
			if p.Create != tc.create || len(p.Delete) != tc.deletes {
				t.Fatalf("got create %d delete %d, want %d, %d", p.Create, len(p.Delete), tc.create, tc.deletes)
			}
			if tc.deleteNotReadyFirst {
				for i, d := range p.Delete {
					if d.Status.Conditions[0].Status == "True" && i < tc.active/2 {
						t.Fatalf("deleted ready pod %s before the not-ready ones", d.Metadata.Name)
					}
				}
			}
		})
	}
}

func TestCalculateStatus(t *testing.T) {
	tmpl := &corev1.PodTemplateSpec{Metadata: &metav1.ObjectMeta{Labels: map[string]string{"app": "web", "tier": "fe"}}}
	spec := Spec{Replicas: 4, MinReadySeconds: 30, Selector: labels.SelectorFromSet(labels.Set{"app": "web"}), Template: tmpl, Generation: 7}
	full := map[string]string{"app": "web", "tier": "fe"}
	active := []*corev1.Pod{
		testPod("a", true, time.Minute, full),                          // available
		testPod("b", true, 10*time.Second, full),                       // ready, not yet available
		testPod("c", false, 0, full),                                   // not ready
		testPod("d", true, time.Hour, map[string]string{"app": "web"}), // not fully labelled
	}
	st := CalculateStatus(spec, active, Status{}, Plan{}, nil, now)
	want := Status{Replicas: 4, FullyLabeledReplicas: 3, ReadyReplicas: 3, AvailableReplicas: 2, ObservedGeneration: 7}
	if !st.Equal(want) {
		t.Fatalf("got %+v, want %+v", st, want)
	}

	failed := CalculateStatus(spec, active, Status{}, Plan{Create: 2}, errors.New("quota exceeded"), now)
	if f := failed.ReplicaFailure; f == nil || f.Reason != "FailedCreate" || f.Status != "True" || f.Message != "quota exceeded" {
		t.Fatalf("failure condition %+v", failed.ReplicaFailure)
	}
	again := CalculateStatus(spec, active, failed, Plan{Create: 2}, errors.New("quota exceeded"), now.Add(time.Minute))
	if !again.ReplicaFailure.LastTransitionTime.AsTime().Equal(now) {
		t.Fatal("a continuing failure must keep its transition time")
	}
	if del := CalculateStatus(spec, active, Status{}, Plan{Delete: active[:1]}, errors.New("x"), now); del.ReplicaFailure.Reason != "FailedDelete" {
		t.Fatalf("reason %s", del.ReplicaFailure.Reason)
	}
	if cleared := CalculateStatus(spec, active, failed, Plan{Create: 1}, nil, now); cleared.ReplicaFailure != nil {
		t.Fatal("a sync without errors clears ReplicaFailure")
	}
}
