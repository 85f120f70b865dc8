package prober

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testingclock "k8s.io/utils/clock/testing"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
)

// fakeExec answers exec probes with the exit code set per container.
type fakeExec struct {
	mu    sync.Mutex
	codes map[string]int
	err   error
}

func (f *fakeExec) set(container string, code int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.codes[container] = code
}

func (f *fakeExec) ExecSync(_ context.Context, _ *corev1.Pod, container string, _ []string, _ time.Duration) (int, []byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return -1, nil, f.err
	}
	return f.codes[container], []byte("out"), nil
}

type harness struct {
	t      *testing.T
	m      *Manager
	clock  *testingclock.FakeClock
	events chan event
	exec   *fakeExec
}

func newHarness(t *testing.T) *harness {
	h := &harness{
		t:      t,
		clock:  testingclock.NewFakeClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)),
		events: make(chan event, 100),
		exec:   &fakeExec{codes: map[string]int{}},
	}
	h.m = newManager(h.exec, zaptest.NewLogger(t), h.clock)
	h.m.probed = func(e event) { h.events <- e }
	t.Cleanup(func() {
		h.m.Stop()
		h.waitIdle()
	})
	return h
}

// next returns the next n probe events, in any order, as "container/kind:outcome".
func (h *harness) next(n int) map[string]int {
	h.t.Helper()
	got := map[string]int{}
	for range n {
		select {
		case e := <-h.events:
			got[fmt.Sprintf("%s/%s:%s", e.container, e.kind, e.outcome)]++
		case <-time.After(30 * time.Second):
			h.t.Fatalf("waited for %d probe events, got %v", n, got)
		}
	}
	return got
}

// tick advances the fake clock by d and returns the n probes that follow.
func (h *harness) tick(d time.Duration, n int) map[string]int {
	h.t.Helper()
	h.clock.Step(d)
	return h.next(n)
}

func (h *harness) want(got map[string]int, want ...string) {
	h.t.Helper()
	w := map[string]int{}
	for _, s := range want {
		w[s]++
	}
	if fmt.Sprint(got) != fmt.Sprint(w) {
		h.t.Fatalf("probes %v, want %v", got, w)
	}
}

func (h *harness) result(container string, want Result) {
	h.t.Helper()
	if got := h.m.Result("uid1", container); got != want {
		h.t.Fatalf("Result(%s) = %+v, want %+v", container, got, want)
	}
}

// changed expects a change notification for uid1.
func (h *harness) changed() {
	h.t.Helper()
	select {
	case uid := <-h.m.Changes():
		if uid != "uid1" {
			h.t.Fatalf("change for %q", uid)
		}
	case <-time.After(30 * time.Second):
		h.t.Fatal("no change notification")
	}
}

func (h *harness) noChange() {
	h.t.Helper()
	select {
	case uid := <-h.m.Changes():
		h.t.Fatalf("unexpected change for %q", uid)
	default:
	}
}

// waitIdle waits until every worker has ended.
func (h *harness) waitIdle() {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for h.m.active.Load() > 0 {
		if time.Now().After(deadline) {
			h.t.Fatalf("%d workers still running", h.m.active.Load())
		}
		time.Sleep(time.Millisecond)
	}
}

func execProbe(p *corev1.Probe) *corev1.Probe {
	p.Exec = &corev1.ExecAction{Command: []string{"check"}}
	return p
}

func pod(containers ...*corev1.Container) *corev1.Pod {
	return &corev1.Pod{
		Metadata: &metav1.ObjectMeta{Name: "p", Namespace: "default", Uid: "uid1"},
		Spec:     &corev1.PodSpec{Containers: containers},
	}
}

func TestLivenessFailureThresholdAndRestart(t *testing.T) {
	h := newHarness(t)
	c := &corev1.Container{Name: "app", LivenessProbe: execProbe(&corev1.Probe{PeriodSeconds: 5, FailureThreshold: 3})}
	p := pod(c)
	start := h.clock.Now()
	h.exec.set("app", 1)
	h.m.Update(p, "10.0.0.2", map[string]time.Time{"app": start})
	h.want(h.next(1), "app/liveness:failure")
	h.result("app", Result{Started: true, Ready: true, Live: true})
	h.want(h.tick(5*time.Second, 1), "app/liveness:failure")
	h.result("app", Result{Started: true, Ready: true, Live: true})
	h.noChange()
	h.want(h.tick(5*time.Second, 1), "app/liveness:failure")
	h.changed()
	h.result("app", Result{Started: true, Ready: true, Live: false})
	// The worker holds until the container restarts.
	h.waitIdle()

	// The same instance again changes nothing; a new one probes afresh.
	h.m.Update(p, "10.0.0.2", map[string]time.Time{"app": start})
	h.result("app", Result{Started: true, Ready: true, Live: false})
	h.exec.set("app", 0)
	h.m.Update(p, "10.0.0.2", map[string]time.Time{"app": h.clock.Now()})
	h.result("app", Result{Started: true, Ready: true, Live: true})
	h.want(h.next(1), "app/liveness:success")
	// One failure followed by a success resets the count.
	h.exec.set("app", 1)
	h.want(h.tick(5*time.Second, 1), "app/liveness:failure")
	h.want(h.tick(5*time.Second, 1), "app/liveness:failure")
	h.exec.set("app", 0)
	h.want(h.tick(5*time.Second, 1), "app/liveness:success")
	h.exec.set("app", 1)
	h.want(h.tick(5*time.Second, 1), "app/liveness:failure")
	h.want(h.tick(5*time.Second, 1), "app/liveness:failure")
	h.result("app", Result{Started: true, Ready: true, Live: true})
}

func TestReadinessThresholds(t *testing.T) {
	h := newHarness(t)
	c := &corev1.Container{Name: "app", ReadinessProbe: execProbe(&corev1.Probe{SuccessThreshold: 2, FailureThreshold: 2})}
	h.m.Update(pod(c), "10.0.0.2", map[string]time.Time{"app": h.clock.Now()})
	h.result("app", Result{Started: true, Ready: false, Live: true})
	h.want(h.next(1), "app/readiness:success")
	h.result("app", Result{Started: true, Ready: false, Live: true})
	h.want(h.tick(10*time.Second, 1), "app/readiness:success") // default period 10s
	h.changed()
	h.result("app", Result{Started: true, Ready: true, Live: true})
	h.exec.set("app", 1)
	h.want(h.tick(10*time.Second, 1), "app/readiness:failure")
	h.result("app", Result{Started: true, Ready: true, Live: true})
	h.want(h.tick(10*time.Second, 1), "app/readiness:failure")
	h.changed()
	h.result("app", Result{Started: true, Ready: false, Live: true})
	// Readiness keeps probing after failures; an exec error is a failure.
	h.exec.mu.Lock()
	h.exec.err = errors.New("container gone")
	h.exec.mu.Unlock()
	h.want(h.tick(10*time.Second, 1), "app/readiness:failure")
	h.result("app", Result{Started: true, Ready: false, Live: true})
}

func TestStartupProbeGatesOthers(t *testing.T) {
	h := newHarness(t)
	c := &corev1.Container{
		Name:           "app",
		StartupProbe:   execProbe(&corev1.Probe{PeriodSeconds: 1, FailureThreshold: 30}),
		ReadinessProbe: execProbe(&corev1.Probe{PeriodSeconds: 1}),
		LivenessProbe:  execProbe(&corev1.Probe{PeriodSeconds: 1}),
	}
	h.exec.set("app", 1)
	h.m.Update(pod(c), "10.0.0.2", map[string]time.Time{"app": h.clock.Now()})
	h.want(h.next(3), "app/startup:failure", "app/readiness:skipped", "app/liveness:skipped")
	h.result("app", Result{Started: false, Ready: false, Live: true})
	h.want(h.tick(time.Second, 3), "app/startup:failure", "app/readiness:skipped", "app/liveness:skipped")
	h.exec.set("app", 0)
	// In the tick where startup succeeds, the other workers may run before
	// or after it.
	got := h.tick(time.Second, 3)
	if got["app/startup:success"] != 1 || got["app/readiness:skipped"]+got["app/readiness:success"] != 1 ||
		got["app/liveness:skipped"]+got["app/liveness:success"] != 1 {
		t.Fatalf("probes %v", got)
	}
	h.changed()
	if r := h.m.Result("uid1", "app"); !r.Started || r.Ready != (got["app/readiness:success"] == 1) {
		t.Fatalf("Result = %+v after %v", r, got)
	}
	// The startup worker is done; the others now probe.
	h.want(h.tick(time.Second, 2), "app/readiness:success", "app/liveness:success")
	h.result("app", Result{Started: true, Ready: true, Live: true})
}

func TestStartupProbeFailureKills(t *testing.T) {
	h := newHarness(t)
	c := &corev1.Container{Name: "app", StartupProbe: execProbe(&corev1.Probe{PeriodSeconds: 1, FailureThreshold: 2})}
	h.exec.set("app", 1)
	h.m.Update(pod(c), "10.0.0.2", map[string]time.Time{"app": h.clock.Now()})
	h.want(h.next(1), "app/startup:failure")
	h.want(h.tick(time.Second, 1), "app/startup:failure")
	h.changed()
	h.result("app", Result{Started: false, Ready: false, Live: false})
	h.waitIdle()
}

func TestInitialDelay(t *testing.T) {
	h := newHarness(t)
	c := &corev1.Container{Name: "app", LivenessProbe: execProbe(&corev1.Probe{InitialDelaySeconds: 15, PeriodSeconds: 5})}
	h.m.Update(pod(c), "10.0.0.2", map[string]time.Time{"app": h.clock.Now()})
	deadline := time.Now().Add(30 * time.Second)
	for !h.clock.HasWaiters() {
		if time.Now().After(deadline) {
			t.Fatal("worker never waited")
		}
		time.Sleep(time.Millisecond)
	}
	h.clock.Step(14 * time.Second)
	select {
	case e := <-h.events:
		t.Fatalf("probe %v before the initial delay", e)
	default:
	}
	if !h.clock.HasWaiters() {
		t.Fatal("the delay ended early")
	}
	h.want(h.tick(time.Second, 1), "app/liveness:success")

	// A container that started long ago (kubelet restart) is probed at once.
	c2 := &corev1.Container{Name: "old", LivenessProbe: execProbe(&corev1.Probe{InitialDelaySeconds: 15})}
	h.m.Update(pod(c, c2), "10.0.0.2", map[string]time.Time{"app": h.clock.Now().Add(-15 * time.Second), "old": h.clock.Now().Add(-time.Minute)})
	h.want(h.next(1), "old/liveness:success")
}

func TestUpdateStopsAndRemove(t *testing.T) {
	h := newHarness(t)
	side := &corev1.Container{Name: "side", RestartPolicy: ptr("Always"), ReadinessProbe: execProbe(&corev1.Probe{})}
	c := &corev1.Container{Name: "app", ReadinessProbe: execProbe(&corev1.Probe{})}
	p := pod(c)
	p.Spec.InitContainers = []*corev1.Container{side, {Name: "init"}}
	now := h.clock.Now()
	h.m.Update(p, "10.0.0.2", map[string]time.Time{"app": now, "side": now})
	h.want(h.next(2), "app/readiness:success", "side/readiness:success")
	h.changed()
	h.changed()
	h.result("side", Result{Started: true, Ready: true, Live: true})
	h.result("init", Result{Live: true})
	// app stopped: its results reset.
	h.m.Update(p, "10.0.0.2", map[string]time.Time{"side": now})
	h.result("app", Result{Live: true})
	h.result("side", Result{Started: true, Ready: true, Live: true})
	h.m.Remove("uid1")
	h.result("side", Result{Live: true})
	h.waitIdle()
	h.noChange()
}

func ptr[T any](v T) *T { return &v }

func TestHTTPProbeThroughManager(t *testing.T) {
	h := newHarness(t)
	var mu sync.Mutex
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.WriteHeader(status)
	}))
	defer srv.Close()
	host, port := splitHostPort(t, srv.Listener.Addr().String())
	c := &corev1.Container{
		Name:  "web",
		Ports: []*corev1.ContainerPort{{Name: "http", ContainerPort: int32(port)}},
		LivenessProbe: &corev1.Probe{FailureThreshold: 1, HttpGet: &corev1.HTTPGetAction{
			Path: "/healthz", Port: &metav1.IntOrString{Type: 1, StrVal: "http"},
		}},
	}
	h.m.Update(pod(c), host, map[string]time.Time{"web": h.clock.Now()})
	h.want(h.next(1), "web/liveness:success")
	mu.Lock()
	status = http.StatusServiceUnavailable
	mu.Unlock()
	h.want(h.tick(10*time.Second, 1), "web/liveness:failure")
	h.changed()
	h.result("web", Result{Started: true, Ready: true, Live: false})
}

func splitHostPort(t *testing.T, addr string) (string, int) {
	t.Helper()
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(p)
	return host, port
}

func intPort(p int) *metav1.IntOrString { return &metav1.IntOrString{IntVal: int32(p)} }

func TestHTTPProbe(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "broken", http.StatusInternalServerError) })
	mux.HandleFunc("/notfound", http.NotFound)
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/fail", http.StatusFound) })
	mux.HandleFunc("/redirect-away", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://elsewhere.invalid/", http.StatusFound)
	})
	mux.HandleFunc("/headers", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Check") != "yes" || r.Host != "example.test" || r.UserAgent() != userAgent {
			w.WriteHeader(http.StatusBadRequest)
		}
	})
	mux.HandleFunc("/query", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("deep") != "1" {
			w.WriteHeader(http.StatusBadRequest)
		}
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	tlsSrv := httptest.NewTLSServer(mux)
	defer tlsSrv.Close()
	host, port := splitHostPort(t, srv.Listener.Addr().String())
	_, tlsPort := splitHostPort(t, tlsSrv.Listener.Addr().String())
	c := &corev1.Container{Name: "web", Ports: []*corev1.ContainerPort{
		{Name: "http", ContainerPort: int32(port)},
		{Name: "dns", ContainerPort: int32(port), Protocol: "UDP"},
	}}
	for _, tc := range []struct {
		name   string
		action *corev1.HTTPGetAction
		podIP  string
		want   bool
	}{
		{"200", &corev1.HTTPGetAction{Path: "/ok", Port: intPort(port)}, host, true},
		{"500", &corev1.HTTPGetAction{Path: "/fail", Port: intPort(port)}, host, false},
		{"404", &corev1.HTTPGetAction{Path: "/notfound", Port: intPort(port)}, host, false},
		{"redirect followed on the same host", &corev1.HTTPGetAction{Path: "/redirect", Port: intPort(port)}, host, false},
		{"redirect elsewhere counts as 3xx", &corev1.HTTPGetAction{Path: "/redirect-away", Port: intPort(port)}, host, true},
		{"headers and Host", &corev1.HTTPGetAction{Path: "/headers", Port: intPort(port), HttpHeaders: []*corev1.HTTPHeader{
			{Name: "X-Check", Value: "yes"}, {Name: "Host", Value: "example.test"}}}, host, true},
		{"path without slash, with query", &corev1.HTTPGetAction{Path: "query?deep=1", Port: intPort(port)}, host, true},
		{"named port", &corev1.HTTPGetAction{Path: "/ok", Port: &metav1.IntOrString{Type: 1, StrVal: "http"}}, host, true},
		{"unknown named port", &corev1.HTTPGetAction{Path: "/ok", Port: &metav1.IntOrString{Type: 1, StrVal: "nope"}}, host, false},
		{"UDP port names do not count", &corev1.HTTPGetAction{Path: "/ok", Port: &metav1.IntOrString{Type: 1, StrVal: "dns"}}, host, false},
		{"explicit host", &corev1.HTTPGetAction{Path: "/ok", Port: intPort(port), Host: host}, "192.0.2.1", true},
		{"https", &corev1.HTTPGetAction{Path: "/ok", Port: intPort(tlsPort), Scheme: "HTTPS"}, host, true},
		{"timeout", &corev1.HTTPGetAction{Path: "/slow", Port: intPort(port)}, host, false},
		{"no port", &corev1.HTTPGetAction{Path: "/ok"}, host, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			if tc.name != "timeout" {
				ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
			}
			got, msg := httpProbe(ctx, tc.action, tc.podIP, c)
			if got != tc.want {
				t.Fatalf("success = %v (%s), want %v", got, msg, tc.want)
			}
		})
	}
}

func TestTCPProbe(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	go func() {
		for {
			conn, err := lis.Accept()
			if err != nil {
				return
			}
			_ = conn.Close()
		}
	}()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, closedPort := splitHostPort(t, closed.Addr().String())
	_ = closed.Close()
	_, port := splitHostPort(t, lis.Addr().String())
	c := &corev1.Container{Name: "db", Ports: []*corev1.ContainerPort{{Name: "sql", ContainerPort: int32(port)}}}
	for _, tc := range []struct {
		name   string
		action *corev1.TCPSocketAction
		want   bool
	}{
		{"open", &corev1.TCPSocketAction{Port: intPort(port)}, true},
		{"named", &corev1.TCPSocketAction{Port: &metav1.IntOrString{Type: 1, StrVal: "sql"}}, true},
		{"closed", &corev1.TCPSocketAction{Port: intPort(closedPort)}, false},
		{"explicit host", &corev1.TCPSocketAction{Port: intPort(port), Host: "127.0.0.1"}, true},
		{"bad port", &corev1.TCPSocketAction{Port: intPort(70000)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			podIP := "127.0.0.1"
			if tc.action.Host != "" {
				podIP = "192.0.2.1"
			}
			if got, msg := tcpProbe(ctx, tc.action, podIP, c); got != tc.want {
				t.Fatalf("success = %v (%s), want %v", got, msg, tc.want)
			}
		})
	}
}

func TestGRPCProbe(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("up", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("down", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()
	_, port := splitHostPort(t, lis.Addr().String())
	for _, tc := range []struct {
		name   string
		action *corev1.GRPCAction
		want   bool
	}{
		{"default service", &corev1.GRPCAction{Port: int32(port)}, true},
		{"serving", &corev1.GRPCAction{Port: int32(port), Service: ptr("up")}, true},
		{"not serving", &corev1.GRPCAction{Port: int32(port), Service: ptr("down")}, false},
		{"unknown service", &corev1.GRPCAction{Port: int32(port), Service: ptr("what")}, false},
		{"bad port", &corev1.GRPCAction{Port: 0}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if got, msg := grpcProbe(ctx, tc.action, "127.0.0.1"); got != tc.want {
				t.Fatalf("success = %v (%s), want %v", got, msg, tc.want)
			}
		})
	}
}
