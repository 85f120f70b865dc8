package scheduler

import (
	"reflect"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"

	"flotilla.io/scheduler/internal/core"
	"flotilla.io/scheduler/internal/framework"
)

func q(s string) *metav1.Quantity { return &metav1.Quantity{String_: s} }

// fullPod is a pod as the apiserver stores it: defaults, a projected token
// volume, a kubelet-written status.
func fullPod() *corev1.Pod {
	always := "Always"
	return &corev1.Pod{
		Metadata: &metav1.ObjectMeta{
			Name: "web-1", Namespace: "shop", Uid: "u1", ResourceVersion: "42", Generation: 3,
			GenerateName: "web-", Finalizers: []string{"f"},
			CreationTimestamp: timestamppb.New(time.Unix(100, 0)),
			Labels:            map[string]string{"app": "web"},
			Annotations:       map[string]string{"big": "x", DiagnosisAnnotation: `{"n1":"NodeResourcesFit: Insufficient cpu"}`},
			OwnerReferences:   []*metav1.OwnerReference{{Kind: "ReplicaSet", Name: "web", Uid: "rs", Controller: proto.Bool(true)}},
		},
		Spec: &corev1.PodSpec{
			NodeName: "n1", SchedulerName: "default-scheduler", Priority: proto.Int32(5), PriorityClassName: "high",
			PreemptionPolicy: proto.String("Never"), NodeSelector: map[string]string{"disk": "ssd"},
			Affinity:                  &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []*corev1.PodAffinityTerm{{LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, TopologyKey: "kubernetes.io/hostname"}}}},
			Tolerations:               []*corev1.Toleration{{Key: "node.kubernetes.io/not-ready", Operator: "Exists", Effect: "NoExecute"}},
			TopologySpreadConstraints: []*corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "zone", WhenUnsatisfiable: "DoNotSchedule"}},
			Overhead:                  map[string]*metav1.Quantity{"cpu": q("10m")},
			Resources:                 &corev1.ResourceRequirements{Requests: map[string]*metav1.Quantity{"memory": q("1Gi")}, Limits: map[string]*metav1.Quantity{"memory": q("2Gi")}},
			RestartPolicy:             "Always", DnsPolicy: "ClusterFirst", ServiceAccountName: "default",
			TerminationGracePeriodSeconds: proto.Int64(30),
			Containers: []*corev1.Container{{
				Name: "web", Image: "nginx:1.25", Command: []string{"nginx"}, Env: []*corev1.EnvVar{{Name: "A", Value: "b"}},
				Resources:              &corev1.ResourceRequirements{Requests: map[string]*metav1.Quantity{"cpu": q("100m")}, Limits: map[string]*metav1.Quantity{"cpu": q("1")}},
				VolumeMounts:           []*corev1.VolumeMount{{Name: "kube-api-access-x", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount"}},
				TerminationMessagePath: "/dev/termination-log", ImagePullPolicy: "IfNotPresent",
			}},
			InitContainers: []*corev1.Container{
				{Name: "proxy", Image: "envoy", RestartPolicy: &always, Resources: &corev1.ResourceRequirements{Requests: map[string]*metav1.Quantity{"cpu": q("50m")}}},
				{Name: "init", Image: "busybox", Command: []string{"true"}},
			},
			Volumes: []*corev1.Volume{
				{Name: "data", PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}},
				{Name: "kube-api-access-x", Projected: &corev1.ProjectedVolumeSource{DefaultMode: proto.Int32(0o644)}},
				{Name: "tmp", EmptyDir: &corev1.EmptyDirVolumeSource{}},
			},
		},
		Status: &corev1.PodStatus{
			Phase: "Running", NominatedNodeName: "n2", PodIp: "10.0.0.1", HostIp: "192.168.0.1",
			Conditions: []*corev1.PodCondition{
				{Type: "Ready", Status: "True"},
				{Type: "PodScheduled", Status: "True"},
			},
			ContainerStatuses: []*corev1.ContainerStatus{{Name: "web", Ready: true, Image: "nginx:1.25"}},
		},
	}
}

func TestSchedulingView(t *testing.T) {
	always := "Always"
	for _, tc := range []struct {
		name string
		in   *corev1.Pod
		want *corev1.Pod
	}{
		{"nil", nil, nil},
		{"empty", &corev1.Pod{}, &corev1.Pod{}},
		{"metadata only", &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: "a", Namespace: "ns", Annotations: map[string]string{"x": "y"}}},
			&corev1.Pod{Metadata: &metav1.ObjectMeta{Name: "a", Namespace: "ns"}}},
		{"no requests", &corev1.Pod{Spec: &corev1.PodSpec{Containers: []*corev1.Container{{Name: "c", Image: "i", Resources: &corev1.ResourceRequirements{Limits: map[string]*metav1.Quantity{"cpu": q("1")}}}}}},
			&corev1.Pod{Spec: &corev1.PodSpec{Containers: []*corev1.Container{{Name: "c", Image: "i"}}}}},
		{"full", fullPod(), &corev1.Pod{
			Metadata: &metav1.ObjectMeta{
				Name: "web-1", Namespace: "shop", Uid: "u1", ResourceVersion: "42",
				CreationTimestamp: timestamppb.New(time.Unix(100, 0)),
				Labels:            map[string]string{"app": "web"},
				Annotations:       map[string]string{DiagnosisAnnotation: `{"n1":"NodeResourcesFit: Insufficient cpu"}`},
				OwnerReferences:   []*metav1.OwnerReference{{Kind: "ReplicaSet", Name: "web", Uid: "rs", Controller: proto.Bool(true)}},
			},
			Spec: &corev1.PodSpec{
				NodeName: "n1", SchedulerName: "default-scheduler", Priority: proto.Int32(5), PriorityClassName: "high",
				PreemptionPolicy: proto.String("Never"), NodeSelector: map[string]string{"disk": "ssd"},
				Affinity:    fullPod().Spec.Affinity,
				Tolerations: fullPod().Spec.Tolerations, TopologySpreadConstraints: fullPod().Spec.TopologySpreadConstraints,
				Overhead:  map[string]*metav1.Quantity{"cpu": q("10m")},
				Resources: &corev1.ResourceRequirements{Requests: map[string]*metav1.Quantity{"memory": q("1Gi")}},
				Containers: []*corev1.Container{{Name: "web", Image: "nginx:1.25",
					Resources: &corev1.ResourceRequirements{Requests: map[string]*metav1.Quantity{"cpu": q("100m")}}}},
				InitContainers: []*corev1.Container{
					{Name: "proxy", Image: "envoy", RestartPolicy: &always, Resources: &corev1.ResourceRequirements{Requests: map[string]*metav1.Quantity{"cpu": q("50m")}}},
					{Name: "init", Image: "busybox"},
				},
				Volumes: []*corev1.Volume{{Name: "data", PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}},
			},
		}},
		{"pending", &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: "a"}, Status: fullPod().Status},
			&corev1.Pod{Metadata: &metav1.ObjectMeta{Name: "a"}, Status: &corev1.PodStatus{Phase: "Running", NominatedNodeName: "n2", Conditions: []*corev1.PodCondition{{Type: "PodScheduled", Status: "True"}}}}},
		{"bound and ended", &corev1.Pod{Spec: &corev1.PodSpec{NodeName: "n1"}, Status: &corev1.PodStatus{Phase: "Failed", Message: "x", Conditions: []*corev1.PodCondition{{Type: "Ready"}}}},
			&corev1.Pod{Spec: &corev1.PodSpec{NodeName: "n1"}, Status: &corev1.PodStatus{Phase: "Failed"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := schedulingView(tc.in); !proto.Equal(got, tc.want) {
				t.Errorf("schedulingView =\n%s\nwant\n%s", prototext.Format(got), prototext.Format(tc.want))
			}
		})
	}
}

// TestSchedulingViewKeepsPodInfo checks the view computes the same
// scheduling input as the whole pod.
func TestSchedulingViewKeepsPodInfo(t *testing.T) {
	full := framework.NewPodInfo(fullPod())
	view := framework.NewPodInfo(schedulingView(fullPod()))
	for _, c := range []struct {
		what      string
		full, got any
	}{
		{"key", full.Key, view.Key},
		{"requests", full.Requests, view.Requests},
		{"non-zero cpu", full.NonZeroCPU, view.NonZeroCPU},
		{"non-zero memory", full.NonZeroMemory, view.NonZeroMemory},
		{"priority", full.Priority, view.Priority},
		{"created", full.Created, view.Created},
		{"required anti-affinity", len(full.RequiredAntiAffinity), len(view.RequiredAntiAffinity)},
		{"terminating", full.Terminating(), view.Terminating()},
	} {
		if !reflect.DeepEqual(c.full, c.got) {
			t.Errorf("%s: whole pod %v, view %v", c.what, c.full, c.got)
		}
	}
}

func TestFailureChanges(t *testing.T) {
	const msg = "0/3 nodes are available"
	withStatus := func(annotation string, nominated string, conds ...*corev1.PodCondition) *corev1.Pod {
		p := &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: "p"}, Status: &corev1.PodStatus{NominatedNodeName: nominated, Conditions: conds}}
		if annotation != "" {
			p.Metadata.Annotations = map[string]string{DiagnosisAnnotation: annotation}
		}
		return p
	}
	recorded := &corev1.PodCondition{Type: "PodScheduled", Status: "False", Reason: "Unschedulable", Message: msg}
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		cand *core.Candidate
		want bool
	}{
		{"nothing recorded", withStatus("", ""), nil, true},
		{"all recorded", withStatus("{}", "", recorded), nil, false},
		{"other conditions only", withStatus("{}", "", &corev1.PodCondition{Type: "Ready", Status: "False"}), nil, true},
		{"new message", withStatus("{}", "", &corev1.PodCondition{Type: "PodScheduled", Status: "False", Reason: "Unschedulable", Message: "old"}), nil, true},
		{"diagnosis changed", withStatus(`{"n1":"x"}`, "", recorded), nil, true},
		{"nominated elsewhere", withStatus("{}", "n1", recorded), &core.Candidate{Node: "n2"}, true},
		{"nominated here", withStatus("{}", "n2", recorded), &core.Candidate{Node: "n2"}, false},
	} {
		if got := failureChanges(tc.pod, msg, "{}", tc.cand); got != tc.want {
			t.Errorf("%s: failureChanges = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestPodViewerSharesReplicaParts(t *testing.T) {
	v := newPodViewer()
	replica := func(name string) *corev1.Pod {
		p := fullPod()
		p.Metadata.Name, p.Metadata.Uid = name, "uid-"+name
		return p
	}
	a, b := v.view(replica("a")), v.view(replica("b"))
	if !proto.Equal(a, schedulingView(replica("a"))) {
		t.Errorf("view differs from schedulingView:\n%s", prototext.Format(a))
	}
	if a.Metadata.Name != "a" || b.Metadata.Name != "b" {
		t.Errorf("names %q %q", a.Metadata.Name, b.Metadata.Name)
	}
	for _, c := range []struct {
		what string
		a, b any
	}{
		{"container", a.Spec.Containers[0], b.Spec.Containers[0]},
		{"sidecar", a.Spec.InitContainers[0], b.Spec.InitContainers[0]},
		{"toleration", a.Spec.Tolerations[0], b.Spec.Tolerations[0]},
		{"owner", a.Metadata.OwnerReferences[0], b.Metadata.OwnerReferences[0]},
		{"affinity", a.Spec.Affinity, b.Spec.Affinity},
		{"spread", a.Spec.TopologySpreadConstraints[0], b.Spec.TopologySpreadConstraints[0]},
	} {
		if c.a != c.b {
			t.Errorf("%s not shared between replicas", c.what)
		}
	}
	other := replica("c")
	other.Spec.Containers[0].Resources.Requests["cpu"] = q("200m")
	if c := v.view(other); c.Spec.Containers[0] == a.Spec.Containers[0] || c.Spec.InitContainers[0] != a.Spec.InitContainers[0] {
		t.Error("sharing ignores a changed request")
	}
}
