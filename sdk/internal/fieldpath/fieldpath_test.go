package fieldpath

import (
	"testing"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
)

func TestLookup(t *testing.T) {
	p := &corev1.Pod{
		Metadata: &metav1.ObjectMeta{Namespace: "ns", Name: "a", Generation: 3},
		Spec:     &corev1.PodSpec{NodeName: "n1"},
	}
	for _, tc := range []struct {
		path, want string
		ok         bool
	}{
		{"spec.nodeName", "n1", true},
		{"spec.node_name", "n1", true}, // proto name works too
		{"metadata.name", "a", true},
		{"metadata.generation", "3", true},
		{"status.phase", "", true}, // unset reads as zero, as upstream
		{"spec", "", false},        // a message, not a scalar
		{"spec.containers", "", false},
		{"metadata.labels", "", false},
		{"spec.nope", "", false},
		{"metadata.name.x", "", false},
	} {
		got, ok := Lookup(p, tc.path)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Lookup(%s) = %q,%v; want %q,%v", tc.path, got, ok, tc.want, tc.ok)
		}
	}
}
