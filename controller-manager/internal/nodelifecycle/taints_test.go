package nodelifecycle

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	corev1 "flotilla.io/proto/flotilla/core/v1"
)

func TestEvictAt(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	added := timestamppb.New(now.Add(-100 * time.Second))
	unreachable := &corev1.Taint{Key: TaintUnreachable, Effect: NoExecute, TimeAdded: added}
	notReady := &corev1.Taint{Key: TaintNotReady, Effect: NoExecute, TimeAdded: added}
	noSchedule := &corev1.Taint{Key: "dedicated", Value: "gpu", Effect: NoSchedule}
	tol := func(key, op, effect string, secs *int64) *corev1.Toleration {
		return &corev1.Toleration{Key: key, Operator: op, Effect: effect, TolerationSeconds: secs}
	}
	for _, tc := range []struct {
		name   string
		taints []*corev1.Taint
		tols   []*corev1.Toleration
		evict  bool
		after  time.Duration // from now
	}{
		{"no taints", nil, nil, false, 0},
		{"NoSchedule taints never evict", []*corev1.Taint{noSchedule}, nil, false, 0},
		{"untolerated: at once", []*corev1.Taint{unreachable}, nil, true, 0},
		{"tolerated forever", []*corev1.Taint{unreachable}, []*corev1.Toleration{tol(TaintUnreachable, "Exists", NoExecute, nil)}, false, 0},
		{"default 300s counted from the taint", []*corev1.Taint{unreachable}, []*corev1.Toleration{tol(TaintUnreachable, "Exists", NoExecute, proto.Int64(300))}, true, 200 * time.Second},
		{"expired toleration: at once", []*corev1.Taint{unreachable}, []*corev1.Toleration{tol(TaintUnreachable, "Exists", NoExecute, proto.Int64(60))}, true, -40 * time.Second},
		{"shortest matching toleration wins", []*corev1.Taint{unreachable}, []*corev1.Toleration{
			tol(TaintUnreachable, "Exists", NoExecute, proto.Int64(300)), tol("", "Exists", "", proto.Int64(150))}, true, 50 * time.Second},
		{"one taint of two untolerated", []*corev1.Taint{unreachable, notReady}, []*corev1.Toleration{tol(TaintUnreachable, "Exists", NoExecute, nil)}, true, 0},
		{"wrong effect does not tolerate", []*corev1.Taint{unreachable}, []*corev1.Toleration{tol(TaintUnreachable, "Exists", NoSchedule, nil)}, true, 0},
		{"Equal needs the value", []*corev1.Taint{{Key: "k", Value: "v", Effect: NoExecute}}, []*corev1.Toleration{{Key: "k", Value: "w"}}, true, 0},
		{"Equal with the value", []*corev1.Taint{{Key: "k", Value: "v", Effect: NoExecute}}, []*corev1.Toleration{{Key: "k", Value: "v"}}, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			at, evict := EvictAt(tc.taints, tc.tols, now)
			if evict != tc.evict || (evict && !at.Equal(now.Add(tc.after))) {
				t.Fatalf("EvictAt = %v, %v; want %v at now%+v", at, evict, tc.evict, tc.after)
			}
		})
	}
}

func TestZoneState(t *testing.T) {
	for _, tc := range []struct {
		ready, notReady int
		want            string
	}{
		{3, 0, Normal}, {1, 1, Normal}, {0, 1, FullDisruption}, {2, 2, Normal}, {2, 3, PartialDisruption}, {10, 3, Normal}, {0, 0, Normal},
	} {
		if got := ZoneState(tc.ready, tc.notReady, 0.55); got != tc.want {
			t.Errorf("ZoneState(%d, %d) = %s, want %s", tc.ready, tc.notReady, got, tc.want)
		}
	}
}

func TestConditionTaints(t *testing.T) {
	n := &corev1.Node{Spec: &corev1.NodeSpec{Unschedulable: true}, Status: &corev1.NodeStatus{Conditions: []*corev1.NodeCondition{
		{Type: "Ready", Status: "Unknown"}, {Type: "MemoryPressure", Status: "True"}, {Type: "DiskPressure", Status: "False"},
	}}}
	got := noScheduleTaints(n)
	want := []string{TaintMemoryPressure, TaintUnreachable, TaintUnschedulable}
	if len(got) != len(want) {
		t.Fatalf("noScheduleTaints = %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("noScheduleTaints = %v, want %v", got, want)
		}
	}
	if noExecuteTaint("Unknown") != TaintUnreachable || noExecuteTaint("False") != TaintNotReady || noExecuteTaint("True") != "" {
		t.Error("noExecuteTaint")
	}
}
