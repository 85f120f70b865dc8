package component_test

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"flotilla.io/sdk/client"
	"flotilla.io/sdk/component"
	"flotilla.io/sdk/fakeserver"
	"flotilla.io/sdk/leaderelection"
	"flotilla.io/sdk/version"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestNewLogger(t *testing.T) {
	for _, tc := range []struct {
		level, format string
		ok            bool
	}{
		{"info", "json", true}, {"debug", "console", true}, {"warn", "", true},
		{"loud", "json", false}, {"info", "xml", false},
	} {
		log, err := component.NewLogger(tc.level, tc.format)
		if (err == nil) != tc.ok {
			t.Errorf("NewLogger(%q,%q) err = %v", tc.level, tc.format, err)
		}
		if err == nil && tc.level == "warn" && log.Core().Enabled(zap.InfoLevel) {
			t.Error("warn logger logs info")
		}
	}
}

func parse(t *testing.T, args ...string) *component.Options {
	t.Helper()
	var o component.Options
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	o.AddFlags(fs, ":9100")
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return &o
}

func TestClientConfig(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("HOME", dir)
	t.Setenv(client.ConfigEnv, "")
	path := filepath.Join(dir, "cfg")
	(&client.Config{Server: "file:1", Token: "file-token", CAData: []byte("pem")}).Save(path)

	if o := parse(t); o.AdminAddr != ":9100" || o.LogLevel != "info" || o.LeaseDuration != 15*time.Second {
		t.Errorf("defaults: %+v", o)
	}
	cfg, err := parse(t, "--config", path).ClientConfig()
	if err != nil || cfg.Server != "file:1" || cfg.Token != "file-token" {
		t.Fatalf("from file: %+v, %v", cfg, err)
	}
	cfg, err = parse(t, "--config", path, "--server", "flag:2", "--token-file", "/tok", "--certificate-authority", "/ca").ClientConfig()
	if err != nil || cfg.Server != "flag:2" || cfg.Token != "" || cfg.TokenFile != "/tok" || cfg.CAData != nil || cfg.CAFile != "/ca" {
		t.Fatalf("flags override: %+v, %v", cfg, err)
	}
	// No ~/.flotilla/config is fine when flags say where to go...
	if cfg, err := parse(t, "--server", "flag:2").ClientConfig(); err != nil || cfg.Server != "flag:2" {
		t.Fatalf("flags only: %+v, %v", cfg, err)
	}
	// ...but not when they do not, nor when a named file is missing.
	if _, err := parse(t).ClientConfig(); err == nil {
		t.Error("no server anywhere accepted")
	}
	if _, err := parse(t, "--config", filepath.Join(dir, "missing"), "--server", "x:1").ClientConfig(); err == nil {
		t.Error("missing named config accepted")
	}
	// The default file is used when present.
	os.MkdirAll(filepath.Join(dir, ".flotilla"), 0o700)
	os.Rename(path, filepath.Join(dir, ".flotilla", "config"))
	if cfg, err := parse(t).ClientConfig(); err != nil || cfg.Server != "file:1" {
		t.Fatalf("default file: %+v, %v", cfg, err)
	}
}

func TestElection(t *testing.T) {
	if cfg, err := parse(t).Election(nil, "sched", nil, nil); cfg != nil || err != nil {
		t.Errorf("election without --leader-elect: %v, %v", cfg, err)
	}
	cfg, err := parse(t, "--leader-elect", "--leader-elect-retry-period", "1s").Election(nil, "sched", nil, nil)
	if err != nil || cfg.Name != "sched" || cfg.Namespace != "flotilla-system" || cfg.RetryPeriod != time.Second || cfg.Identity == "" {
		t.Fatalf("election config: %+v, %v", cfg, err)
	}
	other, _ := parse(t, "--leader-elect").Election(nil, "sched", nil, nil)
	if other.Identity == cfg.Identity {
		t.Error("two replicas on one host share an identity")
	}
}

func TestAdmin(t *testing.T) {
	version.Version, version.Revision = "v9", "rev9"
	defer func() { version.Version, version.Revision = "dev", "" }()
	reg := component.NewRegistry("scheduler")
	admin := component.NewAdmin(":0", "scheduler", reg, zap.NewNop())
	srv := httptest.NewServer(admin.Handler())
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	if code, body := get("/healthz"); code != 200 || body != "ok" {
		t.Errorf("/healthz = %d %q", code, body)
	}
	var synced atomic.Bool
	admin.AddReadyz("informers", func(context.Context) error {
		if !synced.Load() {
			return errors.New("not synced")
		}
		return nil
	})
	admin.AddReadyz("ping", func(context.Context) error { return nil })
	if code, body := get("/readyz"); code != 500 || !strings.Contains(body, "[-]informers failed: not synced") || !strings.Contains(body, "[+]ping ok") {
		t.Errorf("/readyz unsynced = %d %q", code, body)
	}
	synced.Store(true)
	if code, body := get("/readyz?verbose"); code != 200 || !strings.Contains(body, "[+]informers ok") {
		t.Errorf("/readyz synced = %d %q", code, body)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Error("readiness check leaked into /healthz")
	}

	code, body := get("/version")
	var v map[string]string
	if err := json.Unmarshal([]byte(body), &v); code != 200 || err != nil || v["component"] != "scheduler" || v["version"] != "v9" || v["revision"] != "rev9" {
		t.Errorf("/version = %d %s", code, body)
	}

	code, body = get("/metrics")
	for _, want := range []string{`flotilla_build_info{component="scheduler",revision="rev9",version="v9"} 1`, "go_goroutines", "process_cpu_seconds_total"} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestAdminProfiling(t *testing.T) {
	for _, tc := range []struct {
		args []string
		path string
		code int
		want string
	}{
		{nil, "/debug/pprof/", 200, "heap"},
		{nil, "/debug/pprof/heap?debug=1", 200, "heap profile:"},
		{nil, "/debug/pprof/goroutine?debug=1", 200, "goroutine profile:"},
		{nil, "/debug/pprof/cmdline", 200, ""},
		{nil, "/debug/pprof/nosuch", 404, "Unknown profile"},
		{[]string{"--profiling=false"}, "/debug/pprof/", 404, ""},
		{[]string{"--profiling=false"}, "/debug/pprof/heap", 404, ""},
	} {
		admin := parse(t, tc.args...).NewAdmin("x", component.NewRegistry("x"), zap.NewNop())
		srv := httptest.NewServer(admin.Handler())
		resp, err := http.Get(srv.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		srv.Close()
		if resp.StatusCode != tc.code || !strings.Contains(string(b), tc.want) {
			t.Errorf("%v GET %s = %d %.80q, want %d containing %q", tc.args, tc.path, resp.StatusCode, b, tc.code, tc.want)
		}
	}
}

func TestAdminServeStopsOnCancel(t *testing.T) {
	admin := component.NewAdmin("", "x", component.NewRegistry("x"), zap.NewNop())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- admin.Serve(ctx, lis) }()
	resp, err := http.Get("http://" + lis.Addr().String() + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz over TCP: %v %v", resp, err)
	}
	resp.Body.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve after cancel: %v", err)
	}
	if err := component.NewAdmin("256.0.0.1:1", "x", component.NewRegistry("x"), zap.NewNop()).Start(context.Background()); err == nil {
		t.Error("Start on a bad address succeeded")
	}
}

// blocker runs until ctx ends and records that it ran.
func blocker(ran *atomic.Int32) component.Runnable {
	return component.RunnableFunc(func(ctx context.Context) error {
		ran.Add(1)
		<-ctx.Done()
		return ctx.Err() // reads as a clean stop, not a failure
	})
}

func TestGroupFirstErrorStopsAll(t *testing.T) {
	var ran atomic.Int32
	boom := errors.New("boom")
	var g component.Group
	g.Add(blocker(&ran), blocker(&ran), component.RunnableFunc(func(context.Context) error {
		time.Sleep(20 * time.Millisecond)
		return boom
	}))
	g.AddLeader(blocker(&ran)) // no Election: runs at once
	if err := g.Run(context.Background()); !errors.Is(err, boom) {
		t.Fatalf("Run = %v, want boom", err)
	}
	if ran.Load() != 3 {
		t.Errorf("%d runnables ran, want 3", ran.Load())
	}
}

func TestGroupCancel(t *testing.T) {
	var ran atomic.Int32
	var g component.Group
	g.Add(blocker(&ran))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := g.Run(ctx); err != nil {
		t.Fatalf("Run after cancel = %v", err)
	}
}

func election(c *client.Client, id string) *leaderelection.Config {
	return &leaderelection.Config{
		Client: c, Namespace: "sys", Name: "cm", Identity: id,
		LeaseDuration: time.Second, RenewDeadline: 600 * time.Millisecond, RetryPeriod: 100 * time.Millisecond,
	}
}

func TestGroupLeaderRunnables(t *testing.T) {
	srv, c := fakeserver.Start(t)
	var everywhere, leaderOnly atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	results := make(chan error, 2)
	for _, id := range []string{"a", "b"} {
		g := component.Group{Election: election(c, id)}
		g.Add(blocker(&everywhere))
		g.AddLeader(blocker(&leaderOnly))
		go func() { results <- g.Run(ctx) }()
	}
	time.Sleep(700 * time.Millisecond)
	if everywhere.Load() != 2 || leaderOnly.Load() != 1 {
		t.Fatalf("everywhere=%d leaderOnly=%d, want 2 and 1", everywhere.Load(), leaderOnly.Load())
	}

	// The apiserver refuses renewals: the leader's group ends with
	// ErrLeadershipLost (and the daemon would exit).
	srv.Intercept(func(method string, _ proto.Message) error {
		if method == "Update" || method == "Create" {
			return status.Error(codes.Unavailable, "down")
		}
		return nil
	})
	select {
	case err := <-results:
		if !errors.Is(err, leaderelection.ErrLeadershipLost) {
			t.Fatalf("leader group Run = %v, want ErrLeadershipLost", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("leader group kept running without its lease")
	}
	cancel()
	if err := <-results; err != nil {
		t.Fatalf("follower group Run = %v", err)
	}
}

func TestGroupLeaderRunnableError(t *testing.T) {
	_, c := fakeserver.Start(t)
	boom := errors.New("controller failed")
	var ran atomic.Int32
	g := component.Group{Election: election(c, "a")}
	g.Add(blocker(&ran))
	g.AddLeader(component.RunnableFunc(func(context.Context) error { return boom }))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := g.Run(ctx); !errors.Is(err, boom) {
		t.Fatalf("Run = %v, want the leader runnable's error", err)
	}
}
