package printer

import (
	"regexp"
	"strings"
	"testing"
	"time"

	appsv1 "flotilla.io/proto/flotilla/apps/v1"
	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
	rbacv1 "flotilla.io/proto/flotilla/rbac/v1"
)

func TestDescribePendingPod(t *testing.T) {
	pod := &corev1.Pod{
		Metadata: &metav1.ObjectMeta{Name: "web", Namespace: "shop", Uid: "u1", CreationTimestamp: ago(time.Hour),
			Labels:      map[string]string{"app": "web"},
			Annotations: map[string]string{"note": "x", "kubectl.kubernetes.io/last-applied-configuration": `{"secret":"no"}`}},
		Spec: &corev1.PodSpec{
			Containers: []*corev1.Container{{
				Name: "nginx", Image: "nginx:1.25",
				Ports:     []*corev1.ContainerPort{{ContainerPort: 80, Name: "http"}},
				Resources: &corev1.ResourceRequirements{Limits: map[string]*metav1.Quantity{"cpu": {String_: "500m"}}},
				LivenessProbe: &corev1.Probe{TcpSocket: &corev1.TCPSocketAction{Port: &metav1.IntOrString{Type: 1, StrVal: "http"}},
					TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3},
			}},
			Tolerations: []*corev1.Toleration{{Key: "node.kubernetes.io/not-ready", Operator: "Exists", Effect: "NoExecute", TolerationSeconds: proto64(300)}},
		},
		Status: &corev1.PodStatus{Phase: "Pending", Conditions: []*corev1.PodCondition{
			{Type: "PodScheduled", Status: "False", Reason: "Unschedulable", Message: "0/2 nodes are available: 2 node(s) had untolerated taint."},
		}},
	}
	events := []*corev1.Event{
		{Type: "Warning", Reason: "FailedScheduling", Message: "second", LastTimestamp: ago(10 * time.Second), Source: &corev1.EventSource{Component: "default-scheduler"}},
		{Type: "Normal", Reason: "Created", Message: "first", LastTimestamp: ago(time.Minute), Source: &corev1.EventSource{Component: "flotctl"}},
	}
	out, err := Describe(pod, events, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, re := range []string{
		`(?m)^Name:\s+web$`,
		`(?m)^Namespace:\s+shop$`,
		`(?m)^Labels:\s+app=web$`,
		`(?m)^Annotations:\s+note: x$`,
		`(?m)^Status:\s+Pending$`,
		`(?m)^  nginx:$`,
		`(?m)^    Image:\s+nginx:1.25$`,
		`(?m)^    Port:\s+80/TCP \(http\)$`,
		`(?m)^    Limits:\n      cpu:\s+500m$`,
		`(?m)^    Liveness:\s+tcp-socket :http delay=0s timeout=1s period=10s #success=1 #failure=3$`,
		`(?m)^  PodScheduled\s+False\s+Unschedulable\s+0/2 nodes are available: 2 node\(s\) had untolerated taint\.$`,
		`(?m)^Tolerations:\s+node.kubernetes.io/not-ready op=Exists:NoExecute for 300s$`,
		`(?m)^Events:\n  Type\s+Reason\s+Age\s+From\s+Message\n  ----.*\n  Normal\s+Created\s+60s\s+flotctl\s+first\n  Warning\s+FailedScheduling\s+10s\s+default-scheduler\s+second$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("no match for %s in:\n%s", re, out)
		}
	}
	if strings.Contains(out, "last-applied") {
		t.Errorf("last-applied annotation shown:\n%s", out)
	}
}

func proto64(n int64) *int64 { return &n }

func TestDescribeDeploymentAndNoEvents(t *testing.T) {
	d := &appsv1.Deployment{
		Metadata: &metav1.ObjectMeta{Name: "web", Namespace: "default", CreationTimestamp: ago(time.Hour)},
		Spec: &appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Strategy: &appsv1.DeploymentStrategy{Type: "RollingUpdate", RollingUpdate: &appsv1.RollingUpdateDeployment{
				MaxUnavailable: &metav1.IntOrString{Type: 1, StrVal: "25%"}, MaxSurge: &metav1.IntOrString{Type: 1, StrVal: "25%"}}},
			Template: &corev1.PodTemplateSpec{Metadata: &metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: &corev1.PodSpec{Containers: []*corev1.Container{{Name: "nginx", Image: "nginx"}}}},
		},
		Status: &appsv1.DeploymentStatus{Replicas: 1, UpdatedReplicas: 1, AvailableReplicas: 1,
			Conditions: []*appsv1.DeploymentCondition{{Type: "Available", Status: "True", Reason: "MinimumReplicasAvailable"}}},
	}
	out, err := Describe(d, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, re := range []string{
		`(?m)^Selector:\s+app=web$`,
		`(?m)^Replicas:\s+1 desired \| 1 updated \| 1 total \| 1 available \| 0 unavailable$`,
		`(?m)^RollingUpdateStrategy:\s+25% max unavailable, 25% max surge$`,
		`(?m)^Pod Template:\n  Labels:\s+app=web$`,
		`(?m)^  Available\s+True\s+MinimumReplicasAvailable$`,
		`(?m)^Events:\s+<none>$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("no match for %s in:\n%s", re, out)
		}
	}
}

func TestDescribeGeneric(t *testing.T) {
	r := &rbacv1.Role{Metadata: &metav1.ObjectMeta{Name: "reader", Namespace: "default"},
		Rules: []*rbacv1.PolicyRule{{Verbs: []string{"get", "list"}, Resources: []string{"pods"}, ApiGroups: []string{""}}}}
	out, err := Describe(r, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, re := range []string{
		`(?m)^Name:\s+reader$`,
		`(?m)^API Version:\s+rbac.authorization.k8s.io/v1$`,
		`(?m)^Kind:\s+Role$`,
		`(?m)^Rules:\n  - Api Groups:\n`,
		`(?m)^  - Api Groups:\n      \n    Resources:\n      pods\n    Verbs:\n      get\n      list$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("no match for %s in:\n%s", re, out)
		}
	}
}

func TestTitleCase(t *testing.T) {
	for in, want := range map[string]string{"containerPort": "Container Port", "spec": "Spec", "podIP": "Pod IP", "roleRef": "Role Ref"} {
		if got := titleCase(in); got != want {
			t.Errorf("titleCase(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDescribeSchedulingDiagnosis(t *testing.T) {
	pod := &corev1.Pod{
		Metadata: &metav1.ObjectMeta{Name: "big", Namespace: "default", Annotations: map[string]string{
			"scheduler.flotilla.io/diagnosis": `{"gpu-0":"TaintToleration: node(s) had untolerated taint {gpu: true}","small-0":"NodeResourcesFit: Insufficient cpu"}`,
		}},
		Spec: &corev1.PodSpec{Containers: []*corev1.Container{{Name: "c", Image: "busybox"}}},
	}
	out, err := Describe(pod, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, re := range []string{
		`(?m)^Scheduling diagnosis:\n  Node\s+Rejected by\n  ----\s+-----------\n  gpu-0\s+TaintToleration: node\(s\) had untolerated taint \{gpu: true\}\n  small-0\s+NodeResourcesFit: Insufficient cpu$`,
		`(?m)^Annotations:\s+<none>$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("no match for %s in:\n%s", re, out)
		}
	}
}
