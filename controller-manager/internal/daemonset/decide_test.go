package daemonset

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	appsv1 "flotilla.io/proto/flotilla/apps/v1"
	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
)

var now = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func node(name string, labels map[string]string, taints ...*corev1.Taint) *corev1.Node {
	return &corev1.Node{Metadata: &metav1.ObjectMeta{Name: name, Labels: labels}, Spec: &corev1.NodeSpec{Taints: taints}}
}

func ds(mut func(*appsv1.DaemonSetSpec)) *appsv1.DaemonSet {
	d := &appsv1.DaemonSet{
		Metadata: &metav1.ObjectMeta{Name: "d", Namespace: "ns", Uid: "u"},
		Spec: &appsv1.DaemonSetSpec{
			Template: &corev1.PodTemplateSpec{Spec: &corev1.PodSpec{Containers: []*corev1.Container{{Name: "c", Image: "v1"}}}},
			UpdateStrategy: &appsv1.DaemonSetUpdateStrategy{Type: "RollingUpdate", RollingUpdate: &appsv1.RollingUpdateDaemonSet{
				MaxUnavailable: &metav1.IntOrString{IntVal: 1}, MaxSurge: &metav1.IntOrString{IntVal: 0},
			}},
		},
	}
	if mut != nil {
		mut(d.Spec)
	}
	return d
}

// pod is a daemon pod on node; rev "new" is the DaemonSet's current
// template, anything else an old one.
func pod(d *appsv1.DaemonSet, name, node, rev string, ready bool) *corev1.Pod {
	hash := "old"
	if rev == "new" {
		hash = templateHash(d.Spec.Template)
	}
	st := "False"
	if ready {
		st = "True"
	}
	return &corev1.Pod{
		Metadata: &metav1.ObjectMeta{Name: name, Uid: name, Labels: map[string]string{revisionLabel: hash}, CreationTimestamp: timestamppb.New(now)},
		Spec:     &corev1.PodSpec{NodeName: node},
		Status:   &corev1.PodStatus{Phase: "Running", Conditions: []*corev1.PodCondition{{Type: "Ready", Status: st}}},
	}
}

func TestShouldRun(t *testing.T) {
	noSched := &corev1.Taint{Key: "k", Value: "v", Effect: "NoSchedule"}
	tests := []struct {
		name string
		spec *corev1.PodSpec
		node *corev1.Node
		want bool
	}{
		{"plain", &corev1.PodSpec{}, node("n", nil), true},
		{"nodeSelector matches", &corev1.PodSpec{NodeSelector: map[string]string{"a": "b"}}, node("n", map[string]string{"a": "b"}), true},
		{"nodeSelector misses", &corev1.PodSpec{NodeSelector: map[string]string{"a": "b"}}, node("n", nil), false},
		{"taint not tolerated", &corev1.PodSpec{}, node("n", nil, noSched), false},
		{"taint tolerated", &corev1.PodSpec{Tolerations: []*corev1.Toleration{{Key: "k", Operator: "Equal", Value: "v"}}}, node("n", nil, noSched), true},
		{"toleration of all", &corev1.PodSpec{Tolerations: []*corev1.Toleration{{Operator: "Exists"}}}, node("n", nil, noSched), true},
		{"PreferNoSchedule ignored", &corev1.PodSpec{}, node("n", nil, &corev1.Taint{Key: "k", Effect: "PreferNoSchedule"}), true},
		{"default tolerations: unschedulable", &corev1.PodSpec{}, node("n", nil, &corev1.Taint{Key: "node.kubernetes.io/unschedulable", Effect: "NoSchedule"}), true},
		{"default tolerations: not-ready", &corev1.PodSpec{}, node("n", nil, &corev1.Taint{Key: "node.kubernetes.io/not-ready", Effect: "NoExecute"}), true},
		{"network-unavailable only with hostNetwork", &corev1.PodSpec{}, node("n", nil, &corev1.Taint{Key: "node.kubernetes.io/network-unavailable", Effect: "NoSchedule"}), false},
		{"affinity In", &corev1.PodSpec{Affinity: affinity("zone", "In", "a")}, node("n", map[string]string{"zone": "a"}), true},
		{"affinity NotIn", &corev1.PodSpec{Affinity: affinity("zone", "NotIn", "a")}, node("n", map[string]string{"zone": "a"}), false},
		{"affinity Gt", &corev1.PodSpec{Affinity: affinity("cores", "Gt", "4")}, node("n", map[string]string{"cores": "8"}), true},
		{"affinity DoesNotExist", &corev1.PodSpec{Affinity: affinity("gpu", "DoesNotExist")}, node("n", map[string]string{"gpu": "1"}), false},
	}
	for _, tc := range tests {
		if got := shouldRun(tc.spec, tc.node); got != tc.want {
			t.Errorf("%s: shouldRun = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func join(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ","
		}
		out += x
	}
	return out
}

func affinity(key, op string, values ...string) *corev1.Affinity {
	return &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
		NodeSelectorTerms: []*corev1.NodeSelectorTerm{{MatchExpressions: []*corev1.NodeSelectorRequirement{{Key: key, Operator: op, Values: values}}}},
	}}}
}

func TestDecide(t *testing.T) {
	nodes := []*corev1.Node{node("a", nil), node("b", nil), node("c", nil)}
	surge := ds(func(s *appsv1.DaemonSetSpec) {
		s.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateDaemonSet{MaxSurge: &metav1.IntOrString{Type: 1, StrVal: "50%"}, MaxUnavailable: &metav1.IntOrString{IntVal: 0}}
	})
	plain := ds(nil)
	onDelete := ds(func(s *appsv1.DaemonSetSpec) { s.UpdateStrategy = &appsv1.DaemonSetUpdateStrategy{Type: "OnDelete"} })
	tests := []struct {
		name   string
		ds     *appsv1.DaemonSet
		pods   []*corev1.Pod
		create string
		remove string
		status string // desired current ready updated unavailable misscheduled
	}{
		{name: "fresh", ds: plain, create: "a,b,c", status: "3 0 0 0 3 0"},
		{name: "steady", ds: plain, pods: []*corev1.Pod{pod(plain, "pa", "a", "new", true), pod(plain, "pb", "b", "new", true), pod(plain, "pc", "c", "new", true)}, status: "3 3 3 3 0 0"},
		{name: "gone node and duplicate", ds: plain, pods: []*corev1.Pod{pod(plain, "pa", "a", "new", true), pod(plain, "pa2", "a", "new", true), pod(plain, "px", "x", "new", true)},
			create: "b,c", remove: "pa2,px", status: "3 1 1 1 2 0"},
		{name: "rolling: one at a time", ds: plain, pods: []*corev1.Pod{pod(plain, "pa", "a", "old", true), pod(plain, "pb", "b", "old", true), pod(plain, "pc", "c", "old", true)},
			remove: "pa", status: "3 3 3 0 0 0"},
		{name: "rolling: an unavailable old pod uses the budget", ds: plain, pods: []*corev1.Pod{pod(plain, "pa", "a", "old", false), pod(plain, "pb", "b", "old", true), pod(plain, "pc", "c", "old", true)},
			remove: "pa", status: "3 3 2 0 1 0"},
		{name: "rolling: waits for the new pod", ds: plain, pods: []*corev1.Pod{pod(plain, "pa", "a", "new", false), pod(plain, "pb", "b", "old", true), pod(plain, "pc", "c", "old", true)},
			status: "3 3 2 1 1 0"},
		{name: "surge: new pods beside old ones", ds: surge, pods: []*corev1.Pod{pod(surge, "pa", "a", "old", true), pod(surge, "pb", "b", "old", true), pod(surge, "pc", "c", "old", true)},
			create: "a,b", status: "3 3 3 0 0 0"},
		{name: "surge: old pod goes once the new one is ready", ds: surge, pods: []*corev1.Pod{pod(surge, "pa", "a", "old", true), pod(surge, "pa2", "a", "new", true), pod(surge, "pb", "b", "old", true), pod(surge, "pc", "c", "old", true)},
			create: "b", remove: "pa", status: "3 3 3 1 0 0"},
		{name: "on delete keeps old pods", ds: onDelete, pods: []*corev1.Pod{pod(onDelete, "pa", "a", "old", true), pod(onDelete, "pb", "b", "old", true)},
			create: "c", status: "3 2 2 0 1 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := decide(tc.ds, nodes, tc.pods, now)
			var removed []string
			for _, r := range p.remove {
				removed = append(removed, r.Metadata.Name)
			}
			sort.Strings(removed)
			st := p.status
			got := fmt.Sprintf("create=%s remove=%s status=%d %d %d %d %d %d", join(p.create), join(removed),
				st.DesiredNumberScheduled, st.CurrentNumberScheduled, st.NumberReady, st.UpdatedNumberScheduled, st.NumberUnavailable, st.NumberMisscheduled)
			want := fmt.Sprintf("create=%s remove=%s status=%s", tc.create, tc.remove, tc.status)
			if got != want {
				t.Errorf("got  %s\nwant %s", got, want)
			}
		})
	}
}

func TestNewPod(t *testing.T) {
	p := newPod(ds(nil), "n7")
	if p.Spec.NodeName != "n7" || p.Metadata.GenerateName != "d-" || p.Metadata.OwnerReferences[0].Kind != "DaemonSet" {
		t.Errorf("pod %v", p)
	}
	f := p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchFields[0]
	if f.Key != "metadata.name" || f.Values[0] != "n7" {
		t.Errorf("affinity %v", f)
	}
}
