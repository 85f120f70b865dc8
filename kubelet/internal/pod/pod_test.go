package pod

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"

	"flotilla.io/kubelet/internal/runtime"
)

func q(s string) *metav1.Quantity { return &metav1.Quantity{String_: s} }

func res(req, lim map[string]string) *corev1.ResourceRequirements {
	r := &corev1.ResourceRequirements{Requests: map[string]*metav1.Quantity{}, Limits: map[string]*metav1.Quantity{}}
	for k, v := range req {
		r.Requests[k] = q(v)
	}
	for k, v := range lim {
		r.Limits[k] = q(v)
	}
	return r
}

func podWith(cs ...*corev1.Container) *corev1.Pod {
	return &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: "p", Namespace: "ns", Uid: "u1"}, Spec: &corev1.PodSpec{Containers: cs}}
}

func TestQOSClass(t *testing.T) {
	for _, tc := range []struct {
		name string
		cs   []*corev1.Container
		want string
	}{
		{"nothing", []*corev1.Container{{Name: "a"}}, BestEffort},
		{"requests only", []*corev1.Container{{Name: "a", Resources: res(map[string]string{"cpu": "100m"}, nil)}}, Burstable},
		{"limits equal requests", []*corev1.Container{{Name: "a", Resources: res(map[string]string{"cpu": "1", "memory": "1Gi"}, map[string]string{"cpu": "1", "memory": "1Gi"})}}, Guaranteed},
		{"limits only", []*corev1.Container{{Name: "a", Resources: res(nil, map[string]string{"cpu": "500m", "memory": "16Mi"})}}, Guaranteed},
		{"requests below limits", []*corev1.Container{{Name: "a", Resources: res(map[string]string{"cpu": "100m", "memory": "1Gi"}, map[string]string{"cpu": "1", "memory": "1Gi"})}}, Burstable},
		{"one container unlimited", []*corev1.Container{
			{Name: "a", Resources: res(nil, map[string]string{"cpu": "1", "memory": "1Gi"})},
			{Name: "b"},
		}, Burstable},
		{"memory limit only", []*corev1.Container{{Name: "a", Resources: res(nil, map[string]string{"memory": "1Gi"})}}, Burstable},
	} {
		if got := QOSClass(podWith(tc.cs...)); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestContainerLimits(t *testing.T) {
	for _, tc := range []struct {
		name       string
		c          *corev1.Container
		qos        string
		shares     uint64
		quota, mem int64
		oom        *int
	}{
		{"best effort", &corev1.Container{}, BestEffort, 2, 0, 0, ptr(1000)},
		{"request 100m", &corev1.Container{Resources: res(map[string]string{"cpu": "100m", "memory": "512Mi"}, nil)}, Burstable, 102, 0, 0, ptr(500)},
		{"tiny request floors at 2", &corev1.Container{Resources: res(map[string]string{"cpu": "1m"}, nil)}, Burstable, 2, 0, 0, ptr(999)},
		{"limit gives quota and shares", &corev1.Container{Resources: res(nil, map[string]string{"cpu": "250m", "memory": "16Mi"})}, Guaranteed, 256, 25000, 16 << 20, nil},
		{"quota floor 1ms", &corev1.Container{Resources: res(nil, map[string]string{"cpu": "1m", "memory": "1Gi"})}, Guaranteed, 2, 1000, 1 << 30, nil},
	} {
		l := ContainerLimits(tc.qos, tc.c, 1<<30)
		if l.CPUShares != tc.shares || l.CPUQuota != tc.quota || l.MemoryLimit != tc.mem {
			t.Errorf("%s: %+v", tc.name, l)
		}
		if (l.OOMScoreAdj == nil) != (tc.oom == nil) || (l.OOMScoreAdj != nil && *l.OOMScoreAdj != *tc.oom) {
			t.Errorf("%s: oom score %v, want %v", tc.name, deref(l.OOMScoreAdj), deref(tc.oom))
		}
	}
	if got := CgroupParent("n1", Burstable, "abc"); got != "/flotilla/n1/burstable/podabc" {
		t.Errorf("cgroup parent %s", got)
	}
}

func ptr(i int) *int { return &i }

func deref(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestBackoff(t *testing.T) {
	b := DefaultBackoff
	var s backoffState
	t0 := time.Unix(1000, 0)
	// The first crash restarts at once; then 10s, 20s, 40s ... 5m.
	if w := b.Wait(&s, t0, time.Second, t0); w > 0 {
		t.Fatalf("first restart waits %v", w)
	}
	var delays []time.Duration
	for range 8 {
		b.Restarted(&s)
		delays = append(delays, b.Wait(&s, t0, time.Second, t0))
	}
	want := []time.Duration{10, 20, 40, 80, 160, 300, 300, 300}
	for i, d := range delays {
		if d != want[i]*time.Second {
			t.Errorf("delay %d = %v, want %vs", i, d, want[i])
		}
	}
	// Time already passed counts.
	if w := b.Wait(&s, t0, time.Second, t0.Add(4*time.Minute)); w != time.Minute {
		t.Errorf("after 4m: %v", w)
	}
	// Ten minutes of running resets the backoff.
	if w := b.Wait(&s, t0, 10*time.Minute, t0); w != 0 {
		t.Errorf("after a long run: %v", w)
	}
	b.Restarted(&s)
	if s.delay != 10*time.Second {
		t.Errorf("after reset the next delay is %v", s.delay)
	}
}

func TestShouldRestart(t *testing.T) {
	for _, tc := range []struct {
		policy string
		code   int
		want   bool
	}{
		{"Always", 0, true}, {"Always", 1, true}, {"", 0, true},
		{"OnFailure", 0, false}, {"OnFailure", 137, true},
		{"Never", 0, false}, {"Never", 1, false},
	} {
		if got := ShouldRestart(tc.policy, tc.code); got != tc.want {
			t.Errorf("ShouldRestart(%s, %d) = %v", tc.policy, tc.code, got)
		}
	}
}

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "a", "B": "b", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	for in, want := range map[string]string{
		"$(A)":             "a",
		"x$(A)y$(B)z":      "xaybz",
		"$(MISSING)":       "$(MISSING)",
		"$$(A)":            "$(A)",
		"$$":               "$",
		"$A":               "$A",
		"$(A":              "$(A",
		"$(EMPTY)-":        "-",
		"trailing $":       "trailing $",
		"$($(A))":          "$($(A))",
		"no vars at all":   "no vars at all",
		"$(A)$(B)$$$(A)$$": "ab$a$",
	} {
		if got := Expand(in, lookup); got != want {
			t.Errorf("Expand(%q) = %q, want %q", in, got, want)
		}
	}
}

type fakeObjects struct {
	secrets map[string]*corev1.Secret
	cms     map[string]*corev1.ConfigMap
}

var errNotFound = errors.New("not found")

func (f fakeObjects) Secret(_ context.Context, _, name string) (*corev1.Secret, error) {
	if s, ok := f.secrets[name]; ok {
		return s, nil
	}
	return nil, errNotFound
}

func (f fakeObjects) ConfigMap(_ context.Context, _, name string) (*corev1.ConfigMap, error) {
	if c, ok := f.cms[name]; ok {
		return c, nil
	}
	return nil, errNotFound
}

func TestEnv(t *testing.T) {
	objs := fakeObjects{
		secrets: map[string]*corev1.Secret{"s": {Data: map[string][]byte{"pw": []byte("hunter2"), "USER": []byte("bob")}}},
		cms:     map[string]*corev1.ConfigMap{"c": {Data: map[string]string{"MODE": "fast", "USER": "alice"}}},
	}
	in := EnvInput{PodIP: "10.0.0.5", HostIP: "192.168.1.1", Objects: objs, NotFound: func(err error) bool { return errors.Is(err, errNotFound) },
		Allocatable: map[string]resource.Quantity{"cpu": resource.MustParse("2"), "memory": resource.MustParse("1Gi")}}
	c := &corev1.Container{
		Name:      "main",
		Resources: res(map[string]string{"cpu": "250m"}, map[string]string{"memory": "64Mi"}),
		EnvFrom: []*corev1.EnvFromSource{
			{ConfigMapRef: &corev1.ConfigMapEnvSource{Name: "c"}},
			{SecretRef: &corev1.SecretEnvSource{Name: "s"}, Prefix: "S_"},
			{SecretRef: &corev1.SecretEnvSource{Name: "gone", Optional: ptrTo(true)}},
		},
		Env: []*corev1.EnvVar{
			{Name: "USER", Value: "carol"}, // env overrides envFrom, in place
			{Name: "GREETING", Value: "hi $(USER) in $(MODE) mode, $(NOPE)"},
			{Name: "NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			{Name: "APP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['app']"}}},
			{Name: "IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
			{Name: "HOST", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.hostIP"}}},
			{Name: "NODE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
			{Name: "SA", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.serviceAccountName"}}},
			{Name: "PW", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{Name: "s", Key: "pw"}}},
			{Name: "CPU_M", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "requests.cpu", Divisor: q("1m")}}},
			{Name: "MEM_MI", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.memory", Divisor: q("1Mi")}}},
			{Name: "CPU_LIMIT", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu"}}},
			{Name: "OPT", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{Name: "c", Key: "absent", Optional: ptrTo(true)}}},
		},
	}
	p := podWith(c)
	p.Metadata.Labels = map[string]string{"app": "web"}
	p.Spec.NodeName, p.Spec.ServiceAccountName = "n1", "default"
	env, err := Env(context.Background(), p, c, in)
	if err != nil {
		t.Fatal(err)
	}
	want := "MODE=fast USER=carol S_USER=bob S_pw=hunter2 GREETING=hi carol in fast mode, $(NOPE) NAME=p APP=web IP=10.0.0.5 HOST=192.168.1.1 NODE=n1 SA=default PW=hunter2 CPU_M=250 MEM_MI=64 CPU_LIMIT=2"
	if got := strings.Join(env, " "); got != want {
		t.Errorf("env:\n got %s\nwant %s", got, want)
	}

	for name, bad := range map[string]*corev1.EnvVar{
		"missing secret": {Name: "X", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{Name: "nope", Key: "k"}}},
		"missing key":    {Name: "X", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{Name: "s", Key: "k"}}},
		"missing cm":     {Name: "X", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{Name: "nope", Key: "k"}}},
		"bad fieldRef":   {Name: "X", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.bogus"}}},
	} {
		c := &corev1.Container{Name: "main", Env: []*corev1.EnvVar{bad}}
		_, err := Env(context.Background(), podWith(c), c, in)
		var ce *ConfigError
		if !errors.As(err, &ce) {
			t.Errorf("%s: %v, want a ConfigError", name, err)
		}
	}
}

func ptrTo[T any](v T) *T { return &v }

func ctr(name string, attempt int, state runtime.State, code int, init bool) runtime.Container {
	c := runtime.Container{ID: "u1-" + name, Name: name, Attempt: attempt, State: state, ExitCode: code, Init: init,
		StartedAt: time.Unix(100, 0), ImageID: "img@sha256:x"}
	if state == runtime.Exited {
		c.FinishedAt = time.Unix(200, 0)
		c.Reason = "Completed"
		if code != 0 {
			c.Reason = "Error"
		}
	}
	return c
}

func TestStatus(t *testing.T) {
	now := time.Unix(1000, 0)
	app := func(names ...string) []*corev1.Container {
		var cs []*corev1.Container
		for _, n := range names {
			cs = append(cs, &corev1.Container{Name: n, Image: "busybox"})
		}
		return cs
	}
	for _, tc := range []struct {
		name      string
		policy    string
		init      []*corev1.Container
		cs        []runtime.Container
		waiting   map[string]Waiting
		probe     func(string) ProbeResult
		phase     string
		ready     string
		inited    string
		states    string // state of each app container
		restarts  int32
		lastState string
	}{
		{name: "nothing yet", policy: "Always", phase: "Pending", ready: "False", inited: "True", states: "waiting:ContainerCreating"},
		{name: "running", policy: "Always", cs: []runtime.Container{ctr("a", 0, runtime.Running, 0, false)}, phase: "Running", ready: "True", inited: "True", states: "running"},
		{name: "running, not ready", policy: "Always", cs: []runtime.Container{ctr("a", 0, runtime.Running, 0, false)},
			probe: func(string) ProbeResult { return ProbeResult{Started: true, Live: true} }, phase: "Running", ready: "False", inited: "True", states: "running"},
		{name: "crash loop", policy: "Always", cs: []runtime.Container{ctr("a", 0, runtime.Exited, 1, false), ctr("a", 1, runtime.Exited, 1, false)},
			waiting: map[string]Waiting{"a": {Reason: "CrashLoopBackOff"}}, phase: "Running", ready: "False", inited: "True",
			states: "waiting:CrashLoopBackOff", restarts: 1, lastState: "Error"},
		{name: "restarted and running", policy: "Always", cs: []runtime.Container{ctr("a", 0, runtime.Exited, 0, false), ctr("a", 1, runtime.Running, 0, false)},
			phase: "Running", ready: "True", inited: "True", states: "running", restarts: 1, lastState: "Completed"},
		{name: "succeeded", policy: "OnFailure", cs: []runtime.Container{ctr("a", 0, runtime.Exited, 0, false)}, phase: "Succeeded", ready: "False", inited: "True", states: "terminated:Completed"},
		{name: "never fails", policy: "Never", cs: []runtime.Container{ctr("a", 0, runtime.Exited, 2, false)}, phase: "Failed", ready: "False", inited: "True", states: "terminated:Error"},
		{name: "always, all exited", policy: "Always", cs: []runtime.Container{ctr("a", 0, runtime.Exited, 0, false)}, phase: "Running", ready: "False", inited: "True", states: "terminated:Completed"},
		{name: "image pull", policy: "Always", waiting: map[string]Waiting{"a": {Reason: "ImagePullBackOff", Message: "Back-off"}}, phase: "Pending", ready: "False", inited: "True", states: "waiting:ImagePullBackOff"},
		{name: "initializing", policy: "Always", init: app("i"), cs: []runtime.Container{ctr("i", 0, runtime.Running, 0, true)},
			phase: "Pending", ready: "False", inited: "False", states: "waiting:PodInitializing"},
		{name: "init failed, never", policy: "Never", init: app("i"), cs: []runtime.Container{ctr("i", 0, runtime.Exited, 1, true)},
			phase: "Failed", ready: "False", inited: "False", states: "waiting:PodInitializing"},
		{name: "init failed, restarting", policy: "OnFailure", init: app("i"), cs: []runtime.Container{ctr("i", 0, runtime.Exited, 1, true)},
			phase: "Pending", ready: "False", inited: "False", states: "waiting:PodInitializing"},
		{name: "init done", policy: "Always", init: app("i"), cs: []runtime.Container{ctr("i", 0, runtime.Exited, 0, true), ctr("a", 0, runtime.Running, 0, false)},
			phase: "Running", ready: "True", inited: "True", states: "running"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := podWith(app("a")...)
			p.Spec.RestartPolicy, p.Spec.InitContainers = tc.policy, tc.init
			st := Status(p, nil, StatusInput{Containers: tc.cs, Waiting: tc.waiting, Probe: tc.probe, PodIP: "10.0.0.2", HostIP: "1.2.3.4", SandboxReady: true, Now: now})
			if st.GetPhase() != tc.phase {
				t.Errorf("phase %s, want %s", st.GetPhase(), tc.phase)
			}
			conds := map[string]string{}
			for _, c := range st.GetConditions() {
				conds[c.GetType()] = c.GetStatus()
			}
			if conds["Ready"] != tc.ready || conds["ContainersReady"] != tc.ready || conds["Initialized"] != tc.inited || conds["PodScheduled"] != "True" {
				t.Errorf("conditions %v", conds)
			}
			cs := st.GetContainerStatuses()[0]
			var state string
			switch s := cs.GetState(); {
			case s.GetRunning() != nil:
				state = "running"
			case s.GetWaiting() != nil:
				state = "waiting:" + s.GetWaiting().GetReason()
			case s.GetTerminated() != nil:
				state = "terminated:" + s.GetTerminated().GetReason()
			}
			if state != tc.states {
				t.Errorf("state %s, want %s", state, tc.states)
			}
			if cs.GetRestartCount() != tc.restarts {
				t.Errorf("restarts %d, want %d", cs.GetRestartCount(), tc.restarts)
			}
			if got := cs.GetLastTerminationState().GetTerminated().GetReason(); got != tc.lastState {
				t.Errorf("last state %q, want %q", got, tc.lastState)
			}
			if st.GetPodIp() != "10.0.0.2" || st.GetHostIp() != "1.2.3.4" || st.GetStartTime() == nil || st.GetQosClass() != BestEffort {
				t.Errorf("status %v", st)
			}
		})
	}
}

func TestStatusKeepsTimesAndTerminalPhase(t *testing.T) {
	p := podWith(&corev1.Container{Name: "a"})
	t0, t1 := time.Unix(1000, 0), time.Unix(2000, 0)
	in := StatusInput{Containers: []runtime.Container{ctr("a", 0, runtime.Running, 0, false)}, SandboxReady: true, Now: t0}
	first := Status(p, nil, in)
	in.Now = t1
	second := Status(p, first, in)
	if !second.GetStartTime().AsTime().Equal(t0) {
		t.Errorf("start time moved: %v", second.GetStartTime().AsTime())
	}
	for _, c := range second.GetConditions() {
		if !c.GetLastTransitionTime().AsTime().Equal(t0) {
			t.Errorf("%s transition time moved", c.GetType())
		}
	}
	// A terminal phase never goes back, even if containers look alive.
	done := Status(p, first, StatusInput{Terminal: &Terminal{Phase: PhaseFailed, Reason: ReasonDeadlineExceeded}, Now: t1, Containers: in.Containers})
	if done.GetPhase() != PhaseFailed || done.GetReason() != ReasonDeadlineExceeded {
		t.Fatalf("terminal %v", done)
	}
	again := Status(p, done, in)
	if again.GetPhase() != PhaseFailed || again.GetReason() != ReasonDeadlineExceeded {
		t.Errorf("terminal phase lost: %v", again)
	}
}

func TestAdmit(t *testing.T) {
	alloc := map[string]resource.Quantity{"cpu": resource.MustParse("2"), "memory": resource.MustParse("1Gi"), "pods": resource.MustParse("3")}
	mk := func(cpu, mem string, init ...string) *corev1.Pod {
		p := podWith(&corev1.Container{Name: "a", Resources: res(map[string]string{"cpu": cpu, "memory": mem}, nil)})
		for _, c := range init {
			p.Spec.InitContainers = append(p.Spec.InitContainers, &corev1.Container{Name: "i", Resources: res(map[string]string{"cpu": c}, nil)})
		}
		return p
	}
	// An init container larger than the app containers sets the request.
	if r, want := Requests(mk("100m", "1Mi", "1500m"))["cpu"], resource.MustParse("1500m"); r.Cmp(want) != 0 {
		t.Errorf("requests %v", r)
	}
	for _, tc := range []struct {
		name    string
		pod     *corev1.Pod
		running []*corev1.Pod
		reason  string
	}{
		{"fits", mk("1", "512Mi"), []*corev1.Pod{mk("500m", "256Mi")}, ""},
		{"exactly full", mk("1", "512Mi"), []*corev1.Pod{mk("1", "512Mi")}, ""},
		{"cpu", mk("1500m", "1Mi"), []*corev1.Pod{mk("1", "1Mi")}, "OutOfcpu"},
		{"memory", mk("1m", "600Mi"), []*corev1.Pod{mk("1m", "500Mi")}, "OutOfmemory"},
		{"init container counts", mk("100m", "1Mi", "3"), nil, "OutOfcpu"},
		{"pods", mk("1m", "1Mi"), []*corev1.Pod{mk("1m", "1Mi"), mk("1m", "1Mi"), mk("1m", "1Mi")}, "OutOfpods"},
	} {
		rej := Admit(tc.pod, tc.running, alloc)
		switch {
		case tc.reason == "" && rej != nil:
			t.Errorf("%s: rejected %+v", tc.name, rej)
		case tc.reason != "" && (rej == nil || rej.Reason != tc.reason):
			t.Errorf("%s: %+v, want %s", tc.name, rej, tc.reason)
		}
	}
}

func TestServiceEnv(t *testing.T) {
	svc := &corev1.Service{Metadata: &metav1.ObjectMeta{Name: "kubernetes"}, Spec: &corev1.ServiceSpec{ClusterIp: "10.96.0.1",
		Ports: []*corev1.ServicePort{{Name: "https", Protocol: "TCP", Port: 443}}}}
	want := []string{
		"KUBERNETES_SERVICE_HOST=10.96.0.1", "KUBERNETES_SERVICE_PORT=443", "KUBERNETES_SERVICE_PORT_HTTPS=443",
		"KUBERNETES_PORT=tcp://10.96.0.1:443", "KUBERNETES_PORT_443_TCP=tcp://10.96.0.1:443",
		"KUBERNETES_PORT_443_TCP_PROTO=tcp", "KUBERNETES_PORT_443_TCP_PORT=443", "KUBERNETES_PORT_443_TCP_ADDR=10.96.0.1",
	}
	if got := ServiceEnv(svc); !slices.Equal(got, want) {
		t.Errorf("ServiceEnv:\n got %v\nwant %v", got, want)
	}
	headless := &corev1.Service{Metadata: &metav1.ObjectMeta{Name: "db"}, Spec: &corev1.ServiceSpec{ClusterIp: "None",
		Ports: []*corev1.ServicePort{{Port: 5432}}}}
	if got := ServiceEnv(headless); got != nil {
		t.Errorf("headless: %v", got)
	}
	// Env puts them first, so env may refer to them.
	pod := &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: "p", Namespace: "ns"}}
	c := &corev1.Container{Env: []*corev1.EnvVar{{Name: "API", Value: "https://$(KUBERNETES_SERVICE_HOST):$(KUBERNETES_SERVICE_PORT)"}}}
	env, err := Env(context.Background(), pod, c, EnvInput{ServiceEnv: ServiceEnv(svc)})
	if err != nil || env[0] != want[0] || env[len(env)-1] != "API=https://10.96.0.1:443" {
		t.Errorf("Env: %v %v", env, err)
	}
}
