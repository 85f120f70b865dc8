package admission

import (
	"testing"

	"google.golang.org/protobuf/proto"

	corev1 "flotilla.io/proto/flotilla/core/v1"
)

func TestDefaultTolerations(t *testing.T) {
	cases := []struct {
		name  string
		given []*corev1.Toleration
		added int
	}{
		{"none", nil, 2},
		{"tolerates everything", []*corev1.Toleration{{Operator: "Exists"}}, 0},
		{"own not-ready toleration", []*corev1.Toleration{{Key: "node.kubernetes.io/not-ready", Operator: "Exists", Effect: "NoExecute", TolerationSeconds: proto.Int64(10)}}, 1},
		{"NoSchedule only does not count", []*corev1.Toleration{{Key: "node.kubernetes.io/unreachable", Operator: "Exists", Effect: "NoSchedule"}}, 2},
	}
	for _, tc := range cases {
		pod := &corev1.Pod{Spec: &corev1.PodSpec{Tolerations: tc.given}}
		Admit(pod)
		if got := len(pod.Spec.Tolerations) - len(tc.given); got != tc.added {
			t.Errorf("%s: added %d tolerations, want %d", tc.name, got, tc.added)
		}
		for _, tol := range pod.Spec.Tolerations[len(tc.given):] {
			if tol.GetTolerationSeconds() != 300 || tol.Effect != "NoExecute" {
				t.Errorf("%s: added %v", tc.name, tol)
			}
		}
	}
}

func TestTolerationSecondsOptions(t *testing.T) {
	pod := &corev1.Pod{Spec: &corev1.PodSpec{}}
	Options{NotReadyTolerationSeconds: 30, UnreachableTolerationSeconds: 60}.Admit(pod)
	got := map[string]int64{}
	for _, tol := range pod.Spec.Tolerations {
		got[tol.Key] = tol.GetTolerationSeconds()
	}
	if got["node.kubernetes.io/not-ready"] != 30 || got["node.kubernetes.io/unreachable"] != 60 {
		t.Errorf("tolerations %v", got)
	}
}
