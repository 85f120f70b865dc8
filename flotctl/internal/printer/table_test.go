package printer

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	appsv1 "flotilla.io/proto/flotilla/apps/v1"
	batchv1 "flotilla.io/proto/flotilla/batch/v1"
	coordinationv1 "flotilla.io/proto/flotilla/coordination/v1"
	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
	rbacv1 "flotilla.io/proto/flotilla/rbac/v1"
)

var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) *timestamppb.Timestamp { return timestamppb.New(now.Add(-d)) }

func meta(name string, age time.Duration) *metav1.ObjectMeta {
	return &metav1.ObjectMeta{Name: name, Namespace: "default", CreationTimestamp: ago(age)}
}

func TestAge(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{45 * time.Second, "45s"},
		{5 * time.Minute, "5m"},
		{5*time.Minute + 30*time.Second, "5m30s"},
		{3 * time.Hour, "3h"},
		{50 * time.Hour, "2d2h"},
		{9 * 24 * time.Hour, "9d"},
		{800 * 24 * time.Hour, "2y70d"},
	} {
		if got := Age(ago(tc.d), now); got != tc.want {
			t.Errorf("Age(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
	if got := Age(nil, now); got != "<unknown>" {
		t.Errorf("Age(nil) = %q", got)
	}
}

func running(name string, ready bool, restarts int32) *corev1.ContainerStatus {
	return &corev1.ContainerStatus{Name: name, Ready: ready, RestartCount: restarts,
		State: &corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: ago(time.Hour)}}}
}

func TestPodRows(t *testing.T) {
	twoContainers := &corev1.PodSpec{Containers: []*corev1.Container{{Name: "a"}, {Name: "b"}}}
	oneContainer := &corev1.PodSpec{Containers: []*corev1.Container{{Name: "a"}}}
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		want []string // READY STATUS RESTARTS
	}{
		{"new pod without status", &corev1.Pod{Spec: oneContainer}, []string{"0/1", "Pending", "0"}},
		{"running and ready", &corev1.Pod{Spec: twoContainers, Status: &corev1.PodStatus{Phase: "Running",
			ContainerStatuses: []*corev1.ContainerStatus{running("a", true, 0), running("b", true, 0)}}},
			[]string{"2/2", "Running", "0"}},
		{"one not ready", &corev1.Pod{Spec: twoContainers, Status: &corev1.PodStatus{Phase: "Running",
			ContainerStatuses: []*corev1.ContainerStatus{running("a", true, 0), running("b", false, 0)}}},
			[]string{"1/2", "Running", "0"}},
		{"crash loop", &corev1.Pod{Spec: oneContainer, Status: &corev1.PodStatus{Phase: "Running",
			ContainerStatuses: []*corev1.ContainerStatus{{Name: "a", RestartCount: 4,
				State:                &corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
				LastTerminationState: &corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, FinishedAt: ago(5 * time.Minute)}}}}}},
			[]string{"0/1", "CrashLoopBackOff", "4 (5m ago)"}},
		{"completed", &corev1.Pod{Spec: oneContainer, Status: &corev1.PodStatus{Phase: "Succeeded",
			ContainerStatuses: []*corev1.ContainerStatus{{Name: "a",
				State: &corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Completed"}}}}}},
			[]string{"0/1", "Completed", "0"}},
		{"killed by a signal", &corev1.Pod{Spec: oneContainer, Status: &corev1.PodStatus{Phase: "Failed",
			ContainerStatuses: []*corev1.ContainerStatus{{Name: "a",
				State: &corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Signal: 9}}}}}},
			[]string{"0/1", "Signal:9", "0"}},
		{"init container running", &corev1.Pod{
			Spec: &corev1.PodSpec{InitContainers: []*corev1.Container{{Name: "init"}}, Containers: oneContainer.Containers},
			Status: &corev1.PodStatus{Phase: "Pending",
				InitContainerStatuses: []*corev1.ContainerStatus{{Name: "init", State: &corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}}},
			[]string{"0/1", "Init:0/1", "0"}},
		{"init container failing", &corev1.Pod{
			Spec: &corev1.PodSpec{InitContainers: []*corev1.Container{{Name: "init"}}, Containers: oneContainer.Containers},
			Status: &corev1.PodStatus{Phase: "Pending",
				InitContainerStatuses: []*corev1.ContainerStatus{{Name: "init", RestartCount: 2,
					State: &corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 3}}}}}},
			[]string{"0/1", "Init:ExitCode:3", "2"}},
		{"image pull", &corev1.Pod{Spec: oneContainer, Status: &corev1.PodStatus{Phase: "Pending",
			ContainerStatuses: []*corev1.ContainerStatus{{Name: "a",
				State: &corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull"}}}}}},
			[]string{"0/1", "ErrImagePull", "0"}},
		{"terminating", &corev1.Pod{Metadata: &metav1.ObjectMeta{DeletionTimestamp: ago(0)}, Spec: oneContainer,
			Status: &corev1.PodStatus{Phase: "Running", ContainerStatuses: []*corev1.ContainerStatus{running("a", true, 0)}}},
			[]string{"1/1", "Terminating", "0"}},
		{"evicted", &corev1.Pod{Spec: oneContainer, Status: &corev1.PodStatus{Phase: "Failed", Reason: "Evicted"}},
			[]string{"0/1", "Evicted", "0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.pod.Metadata == nil {
				tc.pod.Metadata = &metav1.ObjectMeta{}
			}
			tc.pod.Metadata.Name = "p"
			tc.pod.Metadata.CreationTimestamp = ago(time.Hour)
			header, rows := Table("Pod", []proto.Message{tc.pod}, TableOptions{Now: now})
			wantCells(t, header, "NAME", "READY", "STATUS", "RESTARTS", "AGE")
			wantCells(t, rows[0], append(append([]string{"p"}, tc.want...), "60m")...)
		})
	}
}

func wantCells(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func one(t *testing.T, k string, obj proto.Message, opts TableOptions) (header, row []string) {
	t.Helper()
	opts.Now = now
	h, rows := Table(k, []proto.Message{obj}, opts)
	if len(rows) != 1 {
		t.Fatalf("rows: %v", rows)
	}
	return h, rows[0]
}

func TestKindRows(t *testing.T) {
	replicas := int32(3)
	for _, tc := range []struct {
		name   string
		kind   string
		obj    proto.Message
		opts   TableOptions
		header []string
		row    []string
	}{
		{"pod wide", "Pod", &corev1.Pod{Metadata: meta("web", 2*time.Hour),
			Spec:   &corev1.PodSpec{NodeName: "n1", Containers: []*corev1.Container{{Name: "a"}}},
			Status: &corev1.PodStatus{Phase: "Running", PodIp: "10.0.0.5", ContainerStatuses: []*corev1.ContainerStatus{running("a", true, 0)}}},
			TableOptions{Wide: true},
			[]string{"NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED NODE", "READINESS GATES"},
			[]string{"web", "1/1", "Running", "0", "120m", "10.0.0.5", "n1", "<none>", "<none>"}},
		{"pod in all namespaces", "Pod", &corev1.Pod{Metadata: meta("web", time.Minute)}, TableOptions{WithNamespace: true},
			[]string{"NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"},
			[]string{"default", "web", "0/0", "Pending", "0", "60s"}},
		{"deployment", "Deployment", &appsv1.Deployment{Metadata: meta("web", 3*24*time.Hour),
			Spec:   &appsv1.DeploymentSpec{Replicas: &replicas},
			Status: &appsv1.DeploymentStatus{ReadyReplicas: 2, UpdatedReplicas: 3, AvailableReplicas: 2}},
			TableOptions{},
			[]string{"NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"},
			[]string{"web", "2/3", "3", "2", "3d"}},
		{"deployment wide", "Deployment", &appsv1.Deployment{Metadata: meta("web", time.Hour),
			Spec: &appsv1.DeploymentSpec{
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"},
					MatchExpressions: []*metav1.LabelSelectorRequirement{{Key: "tier", Operator: "In", Values: []string{"b", "a"}}}},
				Template: &corev1.PodTemplateSpec{Spec: &corev1.PodSpec{Containers: []*corev1.Container{{Name: "nginx", Image: "nginx:1"}, {Name: "side", Image: "busybox"}}}}}},
			TableOptions{Wide: true},
			[]string{"NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"},
			[]string{"web", "0/1", "0", "0", "60m", "nginx,side", "nginx:1,busybox", "app=web,tier in (a,b)"}},
		{"service cluster ip", "Service", &corev1.Service{Metadata: meta("web", time.Hour),
			Spec: &corev1.ServiceSpec{ClusterIp: "10.96.0.10", Ports: []*corev1.ServicePort{{Port: 80}, {Port: 53, Protocol: "UDP"}}}},
			TableOptions{},
			[]string{"NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"},
			[]string{"web", "ClusterIP", "10.96.0.10", "<none>", "80/TCP,53/UDP", "60m"}},
		{"service load balancer pending", "Service", &corev1.Service{Metadata: meta("lb", time.Hour),
			Spec: &corev1.ServiceSpec{Type: "LoadBalancer", ClusterIp: "10.96.0.11", Ports: []*corev1.ServicePort{{Port: 443, NodePort: 30443, Protocol: "TCP"}}}},
			TableOptions{},
			nil, []string{"lb", "LoadBalancer", "10.96.0.11", "<pending>", "443:30443/TCP", "60m"}},
		{"service load balancer with ingress", "Service", &corev1.Service{Metadata: meta("lb", time.Hour),
			Spec:   &corev1.ServiceSpec{Type: "LoadBalancer", ClusterIp: "10.96.0.11"},
			Status: &corev1.ServiceStatus{LoadBalancer: &corev1.LoadBalancerStatus{Ingress: []*corev1.LoadBalancerIngress{{Ip: "1.2.3.4"}}}}},
			TableOptions{},
			nil, []string{"lb", "LoadBalancer", "10.96.0.11", "1.2.3.4", "<none>", "60m"}},
		{"node", "Node", &corev1.Node{Metadata: &metav1.ObjectMeta{Name: "n1", CreationTimestamp: ago(time.Hour),
			Labels: map[string]string{"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/worker": ""}},
			Spec: &corev1.NodeSpec{Unschedulable: true},
			Status: &corev1.NodeStatus{Conditions: []*corev1.NodeCondition{{Type: "Ready", Status: "True"}},
				NodeInfo: &corev1.NodeSystemInfo{KubeletVersion: "v0.1.0"}}},
			TableOptions{},
			[]string{"NAME", "STATUS", "ROLES", "AGE", "VERSION"},
			[]string{"n1", "Ready,SchedulingDisabled", "control-plane,worker", "60m", "v0.1.0"}},
		{"node not ready", "Node", &corev1.Node{Metadata: &metav1.ObjectMeta{Name: "n2", CreationTimestamp: ago(time.Hour)},
			Status: &corev1.NodeStatus{Conditions: []*corev1.NodeCondition{{Type: "Ready", Status: "Unknown"}}}},
			TableOptions{},
			nil, []string{"n2", "NotReady", "<none>", "60m", ""}},
		{"namespace", "Namespace", &corev1.Namespace{Metadata: &metav1.ObjectMeta{Name: "shop", CreationTimestamp: ago(time.Minute)}},
			TableOptions{}, []string{"NAME", "STATUS", "AGE"}, []string{"shop", "Active", "60s"}},
		{"configmap", "ConfigMap", &corev1.ConfigMap{Metadata: meta("c", time.Hour), Data: map[string]string{"a": "1", "b": "2"}, BinaryData: map[string][]byte{"c": nil}},
			TableOptions{}, []string{"NAME", "DATA", "AGE"}, []string{"c", "3", "60m"}},
		{"secret", "Secret", &corev1.Secret{Metadata: meta("s", time.Hour), Data: map[string][]byte{"a": []byte("x")}},
			TableOptions{}, []string{"NAME", "TYPE", "DATA", "AGE"}, []string{"s", "Opaque", "1", "60m"}},
		{"job", "Job", &batchv1.Job{Metadata: meta("j", time.Hour),
			Spec: &batchv1.JobSpec{Completions: &replicas},
			Status: &batchv1.JobStatus{Succeeded: 3, StartTime: ago(10 * time.Minute), CompletionTime: ago(8 * time.Minute),
				Conditions: []*batchv1.JobCondition{{Type: "Complete", Status: "True"}}}},
			TableOptions{}, []string{"NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"}, []string{"j", "Complete", "3/3", "2m", "60m"}},
		{"cronjob", "CronJob", &batchv1.CronJob{Metadata: meta("cj", time.Hour), Spec: &batchv1.CronJobSpec{Schedule: "*/5 * * * *"},
			Status: &batchv1.CronJobStatus{LastScheduleTime: ago(90 * time.Second)}},
			TableOptions{}, []string{"NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST SCHEDULE", "AGE"},
			[]string{"cj", "*/5 * * * *", "<none>", "False", "0", "90s", "60m"}},
		{"endpoints", "Endpoints", &corev1.Endpoints{Metadata: meta("web", time.Hour), Subsets: []*corev1.EndpointSubset{{
			Addresses: []*corev1.EndpointAddress{{Ip: "10.0.0.1"}, {Ip: "10.0.0.2"}, {Ip: "10.0.0.3"}, {Ip: "10.0.0.4"}},
			Ports:     []*corev1.EndpointPort{{Port: 80}}}}},
			TableOptions{}, []string{"NAME", "ENDPOINTS", "AGE"}, []string{"web", "10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 1 more...", "60m"}},
		{"event", "Event", &corev1.Event{Metadata: meta("e", time.Hour), Type: "Warning", Reason: "BackOff", Message: "Back-off restarting\n",
			InvolvedObject: &corev1.ObjectReference{Kind: "Pod", Name: "web"}, Count: 5, FirstTimestamp: ago(10 * time.Minute), LastTimestamp: ago(30 * time.Second)},
			TableOptions{}, []string{"LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"},
			[]string{"30s (x5 over 10m)", "Warning", "BackOff", "pod/web", "Back-off restarting"}},
		{"rolebinding", "RoleBinding", &rbacv1.RoleBinding{Metadata: meta("rb", time.Hour), RoleRef: &rbacv1.RoleRef{Kind: "ClusterRole", Name: "view"},
			Subjects: []*rbacv1.Subject{{Kind: "User", Name: "alice"}, {Kind: "ServiceAccount", Namespace: "default", Name: "bot"}}},
			TableOptions{Wide: true}, []string{"NAME", "ROLE", "AGE", "USERS", "GROUPS", "SERVICEACCOUNTS"},
			[]string{"rb", "ClusterRole/view", "60m", "alice", "", "default/bot"}},
		{"lease", "Lease", &coordinationv1.Lease{Metadata: meta("l", time.Hour), Spec: &coordinationv1.LeaseSpec{HolderIdentity: proto.String("cm-1")}},
			TableOptions{}, []string{"NAME", "HOLDER", "AGE"}, []string{"l", "cm-1", "60m"}},
		{"generic fallback with kind and labels", "PodTemplate", &corev1.PodTemplate{Metadata: &metav1.ObjectMeta{Name: "pt", CreationTimestamp: ago(time.Hour), Labels: map[string]string{"b": "2", "a": "1"}}},
			TableOptions{WithKind: true, ShowLabels: true}, []string{"NAME", "CONTAINERS", "IMAGES", "POD LABELS", "LABELS"},
			[]string{"podtemplate/pt", "", "", "<none>", "a=1,b=2"}},
		{"grouped kind name", "Deployment", &appsv1.Deployment{Metadata: meta("web", time.Hour)}, TableOptions{WithKind: true},
			nil, []string{"deployment.apps/web", "0/1", "0", "0", "60m"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			header, row := one(t, tc.kind, tc.obj, tc.opts)
			if tc.header != nil {
				wantCells(t, header, tc.header...)
			}
			wantCells(t, row, tc.row...)
		})
	}
}

func TestFallbackColumns(t *testing.T) {
	// A kind without a registered table prints NAME and AGE.
	cols := Columns("NoSuchKind")
	if len(cols) != 2 || cols[0].Header != "NAME" || cols[1].Header != "AGE" {
		t.Fatalf("fallback columns: %v", cols)
	}
}

func TestWriteTableAlignsLikeKubectl(t *testing.T) {
	var b bytes.Buffer
	objs := []proto.Message{
		&corev1.ConfigMap{Metadata: meta("a", time.Hour), Data: map[string]string{"k": "v"}},
		&corev1.ConfigMap{Metadata: meta("longer-name", 2*time.Minute)},
	}
	if err := WriteTable(&b, "ConfigMap", objs, TableOptions{Now: now}); err != nil {
		t.Fatal(err)
	}
	want := "NAME          DATA   AGE\n" +
		"a             1      60m\n" +
		"longer-name   0      2m\n"
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	if err := WriteTable(&b, "ConfigMap", objs[:1], TableOptions{Now: now, NoHeaders: true}); err != nil {
		t.Fatal(err)
	}
	if b.String() != "a     1     60m\n" { // minimum width 6, as kubectl
		t.Errorf("no headers: %q", b.String())
	}
}

func TestWriteObjectFormats(t *testing.T) {
	cm := &corev1.ConfigMap{Metadata: &metav1.ObjectMeta{Name: "c", Namespace: "ns"}, Data: map[string]string{"k": "v"}}
	for _, tc := range []struct{ format, want string }{
		{"name", "configmap/c\n"},
		{"yaml", "apiVersion: v1\ndata:\n  k: v\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: ns\n"},
		{"json", "{\n    \"apiVersion\": \"v1\",\n    \"kind\": \"ConfigMap\",\n    \"metadata\": {\n        \"name\": \"c\",\n        \"namespace\": \"ns\"\n    },\n    \"data\": {\n        \"k\": \"v\"\n    }\n}\n"},
		{"jsonpath={.metadata.name}={.data.k}", "c=v"},
	} {
		f, err := ParseFormat(tc.format)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := WriteObject(&b, f, cm); err != nil {
			t.Fatal(err)
		}
		if b.String() != tc.want {
			t.Errorf("-o %s:\n%s\nwant:\n%s", tc.format, b.String(), tc.want)
		}
	}
	var b bytes.Buffer
	f, _ := ParseFormat("yaml")
	if err := WriteList(&b, f, []proto.Message{cm}, "42"); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.String(), "apiVersion: v1\nitems:\n- apiVersion: v1\n") || !strings.Contains(b.String(), "kind: List\nmetadata:\n  resourceVersion: \"42\"\n") {
		t.Errorf("list:\n%s", b.String())
	}
	if _, err := ParseFormat("table"); err == nil {
		t.Error("an unknown format must be an error")
	}
}

func TestJSONPathValues(t *testing.T) {
	pod := &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: "p"}, Status: &corev1.PodStatus{Phase: "Running",
		Conditions: []*corev1.PodCondition{{Type: "Ready", Status: "True"}, {Type: "PodScheduled", Status: "True"}}}}
	got, err := JSONPathValues(pod, "{.status.phase}")
	if err != nil || len(got) != 1 || got[0] != "Running" {
		t.Errorf("phase: %v %v", got, err)
	}
	got, err = JSONPathValues(pod, `{.status.conditions[?(@.type=="Ready")].status}`)
	if err != nil || len(got) != 1 || got[0] != "True" {
		t.Errorf("filter: %v %v", got, err)
	}
	got, err = JSONPathValues(pod, "{.status.podIP}")
	if err != nil || len(got) != 0 {
		t.Errorf("missing: %v %v", got, err)
	}
}
