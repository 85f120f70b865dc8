package plugins

import (
	"fmt"
	"testing"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"

	"flotilla.io/scheduler/internal/framework"
)

func q(s string) *metav1.Quantity { return &metav1.Quantity{String_: s} }

func node(name string, lbls map[string]string, alloc map[string]string) *framework.NodeInfo {
	if lbls == nil {
		lbls = map[string]string{}
	}
	lbls[LabelHostname] = name
	a := map[string]*metav1.Quantity{}
	for k, v := range alloc {
		a[k] = q(v)
	}
	return framework.NewNodeInfo(&corev1.Node{
		Metadata: &metav1.ObjectMeta{Name: name, Labels: lbls},
		Spec:     &corev1.NodeSpec{},
		Status:   &corev1.NodeStatus{Allocatable: a, Conditions: []*corev1.NodeCondition{{Type: "Ready", Status: "True"}}},
	})
}

type podOpt func(*corev1.Pod)

func mkPod(name string, opts ...podOpt) *framework.PodInfo {
	p := &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{}}, Spec: &corev1.PodSpec{}}
	for _, o := range opts {
		o(p)
	}
	return framework.NewPodInfo(p)
}

func requests(kv ...string) podOpt {
	return func(p *corev1.Pod) {
		r := map[string]*metav1.Quantity{}
		for i := 0; i < len(kv); i += 2 {
			r[kv[i]] = q(kv[i+1])
		}
		p.Spec.Containers = append(p.Spec.Containers, &corev1.Container{Name: fmt.Sprint(len(p.Spec.Containers)), Resources: &corev1.ResourceRequirements{Requests: r}})
	}
}

func withLabels(kv ...string) podOpt {
	return func(p *corev1.Pod) {
		for i := 0; i < len(kv); i += 2 {
			p.Metadata.Labels[kv[i]] = kv[i+1]
		}
	}
}

func check(t *testing.T, name string, st *framework.Status, want framework.Code, reasons ...string) {
	t.Helper()
	if st.Code() != want {
		t.Errorf("%s: code %d (%v), want %d", name, st.Code(), st.Reasons(), want)
		return
	}
	if len(reasons) > 0 && fmt.Sprint(st.Reasons()) != fmt.Sprint(reasons) {
		t.Errorf("%s: reasons %q, want %q", name, st.Reasons(), reasons)
	}
}

func TestPodRequests(t *testing.T) {
	for _, tc := range []struct {
		name      string
		spec      *corev1.PodSpec
		cpu, mem  int64
		nonZeroCP int64
	}{
		{"sum of containers", &corev1.PodSpec{Containers: []*corev1.Container{
			{Resources: &corev1.ResourceRequirements{Requests: map[string]*metav1.Quantity{"cpu": q("100m"), "memory": q("1Mi")}}},
			{Resources: &corev1.ResourceRequirements{Requests: map[string]*metav1.Quantity{"cpu": q("200m")}}},
		}}, 300, 1 << 20, 300},
		{"init container max", &corev1.PodSpec{
			InitContainers: []*corev1.Container{{Resources: &corev1.ResourceRequirements{Requests: map[string]*metav1.Quantity{"cpu": q("1")}}}},
			Containers:     []*corev1.Container{{Resources: &corev1.ResourceRequirements{Requests: map[string]*metav1.Quantity{"cpu": q("200m")}}}},
		}, 1000, 0, 1000},
		{"sidecar adds and precedes later init", &corev1.PodSpec{
			InitContainers: []*corev1.Container{
				{RestartPolicy: new("Always"), Resources: &corev1.ResourceRequirements{Requests: map[string]*metav1.Quantity{"cpu": q("100m")}}},
				{Resources: &corev1.ResourceRequirements{Requests: map[string]*metav1.Quantity{"cpu": q("500m")}}},
			},
			Containers: []*corev1.Container{{Resources: &corev1.ResourceRequirements{Requests: map[string]*metav1.Quantity{"cpu": q("200m")}}}},
		}, 600, 0, 600},
		{"overhead", &corev1.PodSpec{
			Overhead:   map[string]*metav1.Quantity{"cpu": q("50m")},
			Containers: []*corev1.Container{{Resources: &corev1.ResourceRequirements{Requests: map[string]*metav1.Quantity{"cpu": q("100m")}}}},
		}, 150, 0, 150},
		{"best effort scores with defaults", &corev1.PodSpec{Containers: []*corev1.Container{{}}}, 0, 0, 100},
	} {
		r := framework.PodRequests(tc.spec, false)
		nz := framework.PodRequests(tc.spec, true)
		if r.MilliCPU != tc.cpu || r.Memory != tc.mem || nz.MilliCPU != tc.nonZeroCP {
			t.Errorf("%s: cpu %d mem %d nonzero cpu %d; want %d %d %d", tc.name, r.MilliCPU, r.Memory, nz.MilliCPU, tc.cpu, tc.mem, tc.nonZeroCP)
		}
	}
}

func TestNodeResourcesFit(t *testing.T) {
	full := node("n", nil, map[string]string{"cpu": "2", "memory": "4Gi", "pods": "2", "example.com/gpu": "1", "ephemeral-storage": "10Gi"})
	full.AddPod(mkPod("existing", requests("cpu", "1500m", "memory", "1Gi")))
	for _, tc := range []struct {
		name    string
		pod     *framework.PodInfo
		code    framework.Code
		reasons []string
	}{
		{"fits", mkPod("p", requests("cpu", "500m", "memory", "1Gi")), framework.Success, nil},
		{"cpu", mkPod("p", requests("cpu", "600m")), framework.Unschedulable, []string{"Insufficient cpu"}},
		{"cpu and memory", mkPod("p", requests("cpu", "1", "memory", "4Gi")), framework.Unschedulable, []string{"Insufficient cpu", "Insufficient memory"}},
		{"extended", mkPod("p", requests("example.com/gpu", "2")), framework.Unschedulable, []string{"Insufficient example.com/gpu"}},
		{"ephemeral", mkPod("p", requests("ephemeral-storage", "11Gi")), framework.Unschedulable, []string{"Insufficient ephemeral-storage"}},
		{"unknown extended", mkPod("p", requests("example.com/fpga", "1")), framework.Unschedulable, []string{"Insufficient example.com/fpga"}},
	} {
		check(t, tc.name, NodeResourcesFit{}.Filter(nil, tc.pod, full), tc.code, tc.reasons...)
	}
	full.AddPod(mkPod("second"))
	check(t, "pods", NodeResourcesFit{}.Filter(nil, mkPod("p"), full), framework.Unschedulable, ReasonTooManyPods)

	empty := node("e", nil, map[string]string{"cpu": "4", "memory": "8Gi", "pods": "10"})
	half := node("h", nil, map[string]string{"cpu": "4", "memory": "8Gi", "pods": "10"})
	half.AddPod(mkPod("x", requests("cpu", "2", "memory", "4Gi")))
	p := mkPod("p", requests("cpu", "1", "memory", "2Gi"))
	se, _ := NodeResourcesFit{}.Score(nil, p, empty)
	sh, _ := NodeResourcesFit{}.Score(nil, p, half)
	if se != 75 || sh != 25 {
		t.Errorf("least allocated scores %d %d, want 75 25", se, sh)
	}
	skew := node("s", nil, map[string]string{"cpu": "4", "memory": "8Gi", "pods": "10"})
	skew.AddPod(mkPod("x", requests("cpu", "3")))
	bb, _ := BalancedAllocation{}.Score(nil, p, half)
	bs, _ := BalancedAllocation{}.Score(nil, p, skew)
	if bb != 100 || bs >= bb {
		t.Errorf("balanced scores %d (balanced) %d (skewed)", bb, bs)
	}
}

func TestNodeNameUnschedulableReady(t *testing.T) {
	n := node("n1", nil, nil)
	check(t, "name match", NodeName{}.Filter(nil, mkPod("p", func(p *corev1.Pod) { p.Spec.NodeName = "n1" }), n), framework.Success)
	check(t, "name mismatch", NodeName{}.Filter(nil, mkPod("p", func(p *corev1.Pod) { p.Spec.NodeName = "n2" }), n), framework.UnschedulableAndUnresolvable, ReasonNodeName)

	cordoned := node("c", nil, nil)
	cordoned.Node.Spec.Unschedulable = true
	check(t, "cordoned", NodeUnschedulable{}.Filter(nil, mkPod("p"), cordoned), framework.UnschedulableAndUnresolvable, ReasonUnschedulable)
	tol := func(p *corev1.Pod) {
		p.Spec.Tolerations = []*corev1.Toleration{{Key: TaintNodeUnschedulable, Operator: "Exists", Effect: "NoSchedule"}}
	}
	check(t, "cordoned tolerated", NodeUnschedulable{}.Filter(nil, mkPod("p", tol), cordoned), framework.Success)

	notReady := node("r", nil, nil)
	notReady.Node.Status.Conditions[0].Status = "False"
	check(t, "not ready", NodeReady{}.Filter(nil, mkPod("p"), notReady), framework.UnschedulableAndUnresolvable, ReasonNotReady)
	ds := func(p *corev1.Pod) {
		p.Spec.Tolerations = []*corev1.Toleration{{Key: TaintNodeNotReady, Operator: "Exists", Effect: "NoExecute"}}
	}
	check(t, "not ready tolerated", NodeReady{}.Filter(nil, mkPod("p", ds), notReady), framework.Success)
	noCond := node("u", nil, nil)
	noCond.Node.Status.Conditions = nil
	check(t, "no condition is unknown", NodeReady{}.Filter(nil, mkPod("p", ds), noCond), framework.UnschedulableAndUnresolvable)
	check(t, "ready", NodeReady{}.Filter(nil, mkPod("p"), n), framework.Success)
}

func TestTaintToleration(t *testing.T) {
	n := node("n", nil, nil)
	n.Node.Spec.Taints = []*corev1.Taint{{Key: "gpu", Value: "true", Effect: "NoSchedule"}, {Key: "soft", Effect: "PreferNoSchedule"}}
	for _, tc := range []struct {
		name string
		tols []*corev1.Toleration
		code framework.Code
	}{
		{"none", nil, framework.UnschedulableAndUnresolvable},
		{"equal", []*corev1.Toleration{{Key: "gpu", Value: "true"}}, framework.Success},
		{"equal wrong value", []*corev1.Toleration{{Key: "gpu", Value: "false"}}, framework.UnschedulableAndUnresolvable},
		{"exists", []*corev1.Toleration{{Key: "gpu", Operator: "Exists", Effect: "NoSchedule"}}, framework.Success},
		{"wrong effect", []*corev1.Toleration{{Key: "gpu", Operator: "Exists", Effect: "NoExecute"}}, framework.UnschedulableAndUnresolvable},
		{"everything", []*corev1.Toleration{{Operator: "Exists"}}, framework.Success},
	} {
		p := mkPod("p", func(p *corev1.Pod) { p.Spec.Tolerations = tc.tols })
		st := TaintToleration{}.Filter(nil, p, n)
		check(t, tc.name, st, tc.code)
		if tc.code != framework.Success && st.Message() != "node(s) had untolerated taint {gpu: true}" {
			t.Errorf("%s: message %q", tc.name, st.Message())
		}
	}
	noexec := node("x", nil, nil)
	noexec.Node.Spec.Taints = []*corev1.Taint{{Key: "k", Effect: "NoExecute"}}
	check(t, "NoExecute honoured", TaintToleration{}.Filter(nil, mkPod("p"), noexec), framework.UnschedulableAndUnresolvable)

	clean := node("c", nil, nil)
	scores := []framework.NodeScore{{Name: "n"}, {Name: "c"}}
	scores[0].Score, _ = TaintToleration{}.Score(nil, mkPod("p"), n)
	scores[1].Score, _ = TaintToleration{}.Score(nil, mkPod("p"), clean)
	TaintToleration{}.NormalizeScore(nil, nil, scores)
	if scores[0].Score != 0 || scores[1].Score != 100 {
		t.Errorf("PreferNoSchedule scores %v", scores)
	}
	g := &corev1.Toleration{Key: "n", Operator: "Gt", Value: "5"}
	if !Tolerates(g, &corev1.Taint{Key: "n", Value: "7"}) || Tolerates(g, &corev1.Taint{Key: "n", Value: "3"}) {
		t.Error("Gt toleration")
	}
}

func TestNodeAffinity(t *testing.T) {
	n := node("n1", map[string]string{"zone": "a", "cores": "8", "ssd": ""}, nil)
	req := func(op string, key string, vals ...string) podOpt {
		return func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []*corev1.NodeSelectorTerm{{MatchExpressions: []*corev1.NodeSelectorRequirement{{Key: key, Operator: op, Values: vals}}}},
			}}}
		}
	}
	for _, tc := range []struct {
		name string
		opt  podOpt
		ok   bool
	}{
		{"In", req("In", "zone", "a", "b"), true},
		{"In miss", req("In", "zone", "b"), false},
		{"NotIn", req("NotIn", "zone", "b"), true},
		{"NotIn hit", req("NotIn", "zone", "a"), false},
		{"NotIn absent key", req("NotIn", "rack", "x"), true},
		{"Exists", req("Exists", "ssd"), true},
		{"Exists miss", req("Exists", "gpu"), false},
		{"DoesNotExist", req("DoesNotExist", "gpu"), true},
		{"DoesNotExist miss", req("DoesNotExist", "ssd"), false},
		{"Gt", req("Gt", "cores", "4"), true},
		{"Gt miss", req("Gt", "cores", "8"), false},
		{"Lt", req("Lt", "cores", "16"), true},
		{"Lt not a number", req("Lt", "zone", "16"), false},
		{"nodeSelector", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"zone": "a"} }, true},
		{"nodeSelector miss", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"zone": "b"} }, false},
		{"matchFields name", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []*corev1.NodeSelectorTerm{{MatchFields: []*corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: "In", Values: []string{"n1"}}}}},
			}}}
		}, true},
	} {
		want := framework.Success
		if !tc.ok {
			want = framework.UnschedulableAndUnresolvable
		}
		check(t, tc.name, NodeAffinity{}.Filter(nil, mkPod("p", tc.opt), n), want)
	}
	pref := mkPod("p", func(p *corev1.Pod) {
		p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []*corev1.PreferredSchedulingTerm{
			{Weight: 10, Preference: &corev1.NodeSelectorTerm{MatchExpressions: []*corev1.NodeSelectorRequirement{{Key: "zone", Operator: "In", Values: []string{"a"}}}}},
			{Weight: 30, Preference: &corev1.NodeSelectorTerm{MatchExpressions: []*corev1.NodeSelectorRequirement{{Key: "zone", Operator: "In", Values: []string{"b"}}}}},
		}}}
	})
	other := node("n2", map[string]string{"zone": "b"}, nil)
	scores := []framework.NodeScore{{Name: "n1"}, {Name: "n2"}}
	scores[0].Score, _ = NodeAffinity{}.Score(nil, pref, n)
	scores[1].Score, _ = NodeAffinity{}.Score(nil, pref, other)
	NodeAffinity{}.NormalizeScore(nil, nil, scores)
	if scores[0].Score != 33 || scores[1].Score != 100 {
		t.Errorf("preferred scores %v", scores)
	}
}
