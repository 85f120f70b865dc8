package scheduler

import (
	"runtime"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
)

func TestInternerShares(t *testing.T) {
	in := newInterner[corev1.Toleration]()
	notReady := func() *corev1.Toleration {
		return &corev1.Toleration{Key: "node.kubernetes.io/not-ready", Operator: "Exists", Effect: "NoExecute", TolerationSeconds: proto.Int64(300)}
	}
	first := notReady()
	for _, tc := range []struct {
		name  string
		in    *corev1.Toleration
		share bool // the answer is first
	}{
		{"first is kept", first, true},
		{"equal is shared", notReady(), true},
		{"other seconds", &corev1.Toleration{Key: "node.kubernetes.io/not-ready", Operator: "Exists", Effect: "NoExecute", TolerationSeconds: proto.Int64(60)}, false},
		{"no seconds", &corev1.Toleration{Key: "node.kubernetes.io/not-ready", Operator: "Exists", Effect: "NoExecute"}, false},
	} {
		got := in.intern(tc.in)
		if (got == first) != tc.share || !proto.Equal(got, tc.in) {
			t.Errorf("%s: intern gave %p (first %p) %v", tc.name, got, first, got)
		}
	}
	if in.intern(nil) != nil {
		t.Error("intern(nil) != nil")
	}
	runtime.KeepAlive(first)
}

func TestInternerMapsAreCanonical(t *testing.T) {
	in := newInterner[corev1.Container]()
	mk := func(cpu, mem string) *corev1.Container {
		return &corev1.Container{Name: "c", Image: "i", Resources: &corev1.ResourceRequirements{Requests: map[string]*metav1.Quantity{"cpu": {String_: cpu}, "memory": {String_: mem}}}}
	}
	a := in.intern(mk("1", "1Gi"))
	for range 20 { // map order varies run to run; the key must not
		if b := in.intern(mk("1", "1Gi")); b != a {
			t.Fatal("equal containers not shared")
		}
	}
	if c := in.intern(mk("2", "1Gi")); c == a {
		t.Error("different requests shared")
	}
	runtime.KeepAlive(a)
}

func TestInternerForgetsUnusedValues(t *testing.T) {
	in := newInterner[metav1.OwnerReference]()
	func() {
		for i := range 100 {
			in.intern(&metav1.OwnerReference{Kind: "ReplicaSet", Name: string(rune('a' + i%26)), Uid: string(rune(i))})
		}
	}()
	kept := in.intern(&metav1.OwnerReference{Kind: "ReplicaSet", Name: "kept"})
	deadline := time.Now().Add(10 * time.Second)
	for in.len() > 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d entries left after their values became unreachable", in.len())
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if in.intern(&metav1.OwnerReference{Kind: "ReplicaSet", Name: "kept"}) != kept {
		t.Error("live value was forgotten")
	}
	runtime.KeepAlive(kept)
}
