package runtime_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	"go.uber.org/zap/zaptest"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"

	"flotilla.io/kubelet/internal/runtime"
	"flotilla.io/kubelet/internal/runtime/runtimetest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	runtimetest.Stop()
	os.Exit(code)
}

func newRuntime(t *testing.T, node string, onExit func(string)) (*runtime.Runtime, string) {
	t.Helper()
	sock := runtimetest.Socket(t)
	ns := fmt.Sprintf("rt-test-%d", time.Now().UnixNano())
	r, err := runtime.New(context.Background(), runtime.Config{Address: sock, Namespace: ns, NodeName: node, OnExit: onExit, Log: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cs, _ := r.List(context.Background(), "")
		for _, c := range cs {
			_ = r.Remove(context.Background(), c.ID)
		}
		runtimetest.DropNamespace(r.Client(), ns)
		_ = r.Close()
	})
	if _, err := r.LoadImage(context.Background(), bytes.NewReader(runtimetest.BusyboxTar(t))); err != nil {
		t.Fatal(err)
	}
	return r, ns
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func state(t *testing.T, r *runtime.Runtime, id string) runtime.Container {
	t.Helper()
	cs, err := r.List(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if c.ID == id {
			return c
		}
	}
	t.Fatalf("container %s not listed", id)
	return runtime.Container{}
}

func TestLifecycle(t *testing.T) {
	exits := make(chan string, 10)
	r, _ := newRuntime(t, "n1", func(uid string) { exits <- uid })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = r.Watch(ctx) }()

	id, err := r.EnsureImage(ctx, "busybox:1.35", "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(id, "docker.io/library/busybox@sha256:") {
		t.Errorf("image ID %q", id)
	}
	logPath := filepath.Join(t.TempDir(), "c.log")
	c, err := r.Create(ctx, runtime.Spec{PodUID: "uid1", PodName: "p", PodNamespace: "default", Name: "c", Image: "busybox:1.35",
		Command: []string{"sh", "-c"}, Args: []string{"echo hello $GREETING; exit 3"}, Env: []string{"GREETING=world"}, LogPath: logPath,
		CgroupsPath: "/flotilla-test/n1/uid1-c-0", MemoryLimit: 64 << 20, CPUShares: 512, CPUQuota: 50000, CPUPeriod: 100000})
	if err != nil {
		t.Fatal(err)
	}
	if c.State != runtime.Created || c.ID != "uid1-c-0" {
		t.Fatalf("created %+v", c)
	}
	if err := r.Start(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	select {
	case uid := <-exits:
		if uid != "uid1" {
			t.Errorf("exit for %q", uid)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("no exit event")
	}
	got := state(t, r, c.ID)
	if got.State != runtime.Exited || got.ExitCode != 3 || got.Reason != "Error" || got.StartedAt.IsZero() || got.FinishedAt.IsZero() {
		t.Errorf("exited %+v", got)
	}
	b, _ := os.ReadFile(logPath)
	if !strings.Contains(string(b), "hello world") {
		t.Errorf("log %q", b)
	}

	// A long runner: exec into it, then stop it gracefully (sh as PID 1
	// ignores SIGTERM, so the grace runs out and SIGKILL ends it).
	c2, err := r.Create(ctx, runtime.Spec{PodUID: "uid1", PodName: "p", PodNamespace: "default", Name: "d", Image: "busybox:1.35",
		Command: []string{"sleep", "3600"}, LogPath: filepath.Join(t.TempDir(), "d.log")})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx, c2.ID); err != nil {
		t.Fatal(err)
	}
	if s := state(t, r, c2.ID); s.State != runtime.Running || s.Pid == 0 {
		t.Fatalf("running %+v", s)
	}
	pod := &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: "p", Namespace: "default", Uid: "uid1"}}
	code, out, err := r.ExecSync(ctx, pod, "d", []string{"sh", "-c", "echo out; exit 7"}, 10*time.Second)
	if err != nil || code != 7 || strings.TrimSpace(string(out)) != "out" {
		t.Errorf("exec: %d %q %v", code, out, err)
	}
	if _, _, err := r.ExecSync(ctx, pod, "d", []string{"sleep", "10"}, 200*time.Millisecond); err != runtime.ErrExecTimeout {
		t.Errorf("exec timeout: %v", err)
	}
	if err := r.Stop(ctx, c2.ID, time.Second, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if s := state(t, r, c2.ID); s.State != runtime.Exited || s.ExitCode != 137 {
		t.Errorf("stopped %+v", s)
	}
	if p, err := r.LogPath("default", "p", "d", false); err != nil || p == "" {
		t.Errorf("log path %q %v", p, err)
	}

	// A command that does not exist is a start error, recorded.
	c3, err := r.Create(ctx, runtime.Spec{PodUID: "uid1", PodName: "p", PodNamespace: "default", Name: "e", Image: "busybox:1.35", Command: []string{"/nope"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx, c3.ID); err == nil {
		t.Error("start of /nope succeeded")
	}
	if s := state(t, r, c3.ID); s.State != runtime.Exited || s.ExitCode != 128 || s.Reason != "StartError" {
		t.Errorf("start error %+v", s)
	}
}

func TestOOMKilled(t *testing.T) {
	r, _ := newRuntime(t, "n1", nil)
	ctx := context.Background()
	if _, err := r.EnsureImage(ctx, "busybox:1.35", ""); err != nil {
		t.Fatal(err)
	}
	c, err := r.Create(ctx, runtime.Spec{PodUID: "uid2", PodName: "hog", PodNamespace: "default", Name: "hog", Image: "busybox:1.35",
		Command:     []string{"sh", "-c", "x=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa; while true; do x=$x$x; done"},
		CgroupsPath: fmt.Sprintf("/flotilla-test/n1/oom-%d", time.Now().UnixNano()), MemoryLimit: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the hog to exit", func() bool { return state(t, r, c.ID).State == runtime.Exited })
	if s := state(t, r, c.ID); s.Reason != "OOMKilled" || s.ExitCode != 137 {
		t.Errorf("hog %+v", s)
	}
}

func TestForeignContainersUntouched(t *testing.T) {
	r, ns := newRuntime(t, "n1", nil)
	ctx := namespaces.WithNamespace(context.Background(), ns)
	if _, err := r.EnsureImage(ctx, "busybox:1.35", ""); err != nil {
		t.Fatal(err)
	}
	cl := r.Client()
	img, err := cl.GetImage(ctx, "docker.io/library/busybox:1.35")
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := cl.NewContainer(ctx, "foreign", containerd.WithSnapshotter("overlayfs"), containerd.WithNewSnapshot("foreign", img),
		containerd.WithNewSpec(oci.WithImageConfig(img)), containerd.WithContainerLabels(map[string]string{runtime.LabelManagedBy: "someone-else", runtime.LabelPodUID: "uid3"}))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = foreign.Delete(ctx, containerd.WithSnapshotCleanup) }()
	cs, err := r.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 0 {
		t.Errorf("listed foreign containers: %+v", cs)
	}
	if err := r.Remove(ctx, "foreign"); err == nil {
		t.Error("removed a foreign container")
	}
	if _, err := cl.LoadContainer(ctx, "foreign"); err != nil {
		t.Errorf("foreign container gone: %v", err)
	}
}

func TestPullPolicy(t *testing.T) {
	r, _ := newRuntime(t, "n1", nil)
	ctx := context.Background()
	if _, err := r.EnsureImage(ctx, "example.invalid/nothing:1", runtime.PullNever); err != runtime.ErrImageNeverPull {
		t.Errorf("never: %v", err)
	}
	if _, err := r.EnsureImage(ctx, "127.0.0.1:1/nothing:1", ""); err == nil {
		t.Error("pull from nowhere succeeded")
	}
	for ref, want := range map[string]string{"busybox": "Always", "busybox:latest": "Always", "busybox:1.35": "IfNotPresent", "busybox@sha256:" + strings.Repeat("a", 64): "IfNotPresent"} {
		if got := runtime.DefaultPullPolicy(ref); got != want {
			t.Errorf("DefaultPullPolicy(%s) = %s, want %s", ref, got, want)
		}
	}
}
