package filter

import (
	"strings"
	"testing"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
	"flotilla.io/proto/kind"
)

func TestFilter(t *testing.T) {
	info, _ := kind.ByKind("Pod")
	p := &corev1.Pod{
		Metadata: &metav1.ObjectMeta{Name: "a", Namespace: "ns", Labels: map[string]string{"app": "web", "tier": "front"}},
		Spec:     &corev1.PodSpec{NodeName: "n1", HostNetwork: true},
		Status:   &corev1.PodStatus{Phase: "Running"},
	}
	cases := []struct {
		ns, labels, fields string
		want               bool
	}{
		{"", "", "", true},
		{"ns", "", "", true},
		{"other", "", "", false},
		{"", "app=web", "", true},
		{"", "app=web,tier!=front", "", false},
		{"", "app in (web,db)", "", true},
		{"", "!app", "", false},
		{"", "", "spec.nodeName=n1", true},
		{"", "", "spec.nodeName==n1,status.phase=Running", true},
		{"", "", "spec.nodeName!=n1", false},
		{"", "", "metadata.name=a,metadata.namespace=ns", true},
		{"", "", "spec.hostNetwork=true", true},
		{"", "", "status.podIP=", true}, // unset reads as ""
	}
	for _, tc := range cases {
		f, err := New(info, tc.ns, tc.labels, tc.fields)
		if err != nil {
			t.Fatalf("%+v: %v", tc, err)
		}
		if got := f.Match(p); got != tc.want {
			t.Errorf("%+v: match = %v", tc, got)
		}
	}
}

func TestFilterErrorsNameTheSelector(t *testing.T) {
	info, _ := kind.ByKind("Pod")
	for _, tc := range []struct{ labels, fields, want string }{
		{"app in in", "", "labelSelector"},
		{"", "spec.nope=x", `field label "spec.nope" is not supported`},
		{"", "spec.containers=x", `field label "spec.containers" is not supported`},
		{"", "spec=x", `not a scalar field`},
	} {
		_, err := New(info, "", tc.labels, tc.fields)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v", tc, err)
		}
	}
}
