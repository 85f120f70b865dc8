package controllerutil

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func pod(name, node, phase string, ready bool, created time.Duration) *corev1.Pod {
	p := &corev1.Pod{
		Metadata: &metav1.ObjectMeta{Name: name, CreationTimestamp: timestamppb.New(t0.Add(created))},
		Spec:     &corev1.PodSpec{NodeName: node},
		Status:   &corev1.PodStatus{Phase: phase},
	}
	st := "False"
	if ready {
		st = "True"
	}
	p.Status.Conditions = []*corev1.PodCondition{{Type: "Ready", Status: st, LastTransitionTime: timestamppb.New(t0.Add(created + time.Second))}}
	return p
}

func TestPodsToDelete(t *testing.T) {
	pods := []*corev1.Pod{
		pod("ready-old", "n1", "Running", true, 0),
		pod("ready-new", "n2", "Running", true, time.Minute),
		pod("not-ready", "n3", "Running", false, 0),
		pod("pending", "n4", "Pending", false, 0),
		pod("unscheduled", "", "Pending", false, 0),
	}
	got := PodsToDelete(pods, pods, 4, t0.Add(time.Hour))
	want := []string{"unscheduled", "pending", "not-ready", "ready-new"}
	for i, p := range got {
		if p.Metadata.Name != want[i] {
			t.Fatalf("order %d: got %s, want %s", i, p.Metadata.Name, want[i])
		}
	}
	// Crowded nodes go first among equals.
	a, b, c := pod("a", "n1", "Running", true, 0), pod("b", "n1", "Running", true, 0), pod("c", "n2", "Running", true, 0)
	if got := PodsToDelete([]*corev1.Pod{c, a, b}, []*corev1.Pod{a, b, c}, 1, t0); got[0].Metadata.Name == "c" {
		t.Fatalf("deleted the pod on the uncrowded node")
	}
}

func TestClaim(t *testing.T) {
	mine := &metav1.ObjectMeta{OwnerReferences: []*metav1.OwnerReference{ControllerRef(&metav1.ObjectMeta{Name: "o", Uid: "u1"}, "apps/v1", "ReplicaSet")}}
	other := &metav1.ObjectMeta{OwnerReferences: []*metav1.OwnerReference{ControllerRef(&metav1.ObjectMeta{Name: "o", Uid: "u2"}, "apps/v1", "ReplicaSet")}}
	orphan := &metav1.ObjectMeta{}
	dying := &metav1.ObjectMeta{DeletionTimestamp: timestamppb.Now()}
	for _, tc := range []struct {
		name          string
		md            *metav1.ObjectMeta
		matches, gone bool
		want          ClaimDecision
	}{
		{"ours matching", mine, true, false, Keep},
		{"ours not matching", mine, false, false, Release},
		{"ours not matching, owner deleting", mine, false, true, Keep},
		{"other's", other, true, false, Ignore},
		{"orphan matching", orphan, true, false, Adopt},
		{"orphan matching, owner deleting", orphan, true, true, Ignore},
		{"orphan not matching", orphan, false, false, Ignore},
		{"orphan terminating", dying, true, false, Ignore},
	} {
		if got := Claim(tc.md, "u1", tc.matches, tc.gone); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestExpectations(t *testing.T) {
	e := NewExpectations()
	now := t0
	e.now = func() time.Time { return now }
	if !e.Satisfied("k") {
		t.Fatal("unknown key should be satisfied")
	}
	e.ExpectCreations("k", 2)
	e.CreationObserved("k")
	if e.Satisfied("k") {
		t.Fatal("one create pending")
	}
	e.CreationObserved("k")
	if !e.Satisfied("k") {
		t.Fatal("all creates seen")
	}
	e.ExpectDeletions("k", []string{"ns/a", "ns/b"})
	e.DeletionObserved("k", "ns/a")
	e.DeletionObserved("k", "ns/a")
	if e.Satisfied("k") {
		t.Fatal("a repeated observation must not count twice")
	}
	now = now.Add(ExpectationsTimeout + time.Second)
	if !e.Satisfied("k") {
		t.Fatal("expired expectations should be satisfied")
	}
}

func TestSlowStartBatch(t *testing.T) {
	var calls atomic.Int32
	n, err := SlowStartBatch(context.Background(), 10, 1, func(context.Context) error { calls.Add(1); return nil })
	if n != 10 || err != nil || calls.Load() != 10 {
		t.Fatalf("got %d, %v, %d calls", n, err, calls.Load())
	}
	calls.Store(0)
	n, err = SlowStartBatch(context.Background(), 100, 1, func(context.Context) error {
		if calls.Add(1) > 3 {
			return errors.New("quota")
		}
		return nil
	})
	// batches of 1 and 2 succeed; the batch of 4 fails and stops the rest.
	if err == nil || n != 3 || calls.Load() != 7 {
		t.Fatalf("got %d successes, err %v, %d calls", n, err, calls.Load())
	}
}

func TestIsPodAvailable(t *testing.T) {
	p := pod("p", "n", "Running", true, 0) // ready at t0+1s
	if IsPodAvailable(p, 10, t0.Add(5*time.Second)) {
		t.Fatal("available before minReadySeconds")
	}
	if !IsPodAvailable(p, 10, t0.Add(11*time.Second)) {
		t.Fatal("not available after minReadySeconds")
	}
	if d := NextAvailableCheck([]*corev1.Pod{p}, 10, t0.Add(5*time.Second)); d < 6*time.Second || d > 7*time.Second {
		t.Fatalf("next check %v", d)
	}
}
