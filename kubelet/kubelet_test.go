package kubelet_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"google.golang.org/protobuf/proto"

	coordinationv1 "flotilla.io/proto/flotilla/coordination/v1"
	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"

	"flotilla.io/sdk/client"

	"flotilla.io/apiserver/testserver"

	"flotilla.io/kubelet"
	"flotilla.io/kubelet/internal/runtime"
	"flotilla.io/kubelet/internal/runtime/runtimetest"
)

var kubeletBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kubelet-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	kubeletBinary = filepath.Join(dir, "kubelet")
	// The log driver runs as `kubelet log-driver`: the shims need the real
	// binary, not this test binary.
	if out, err := exec.Command("go", "build", "-o", kubeletBinary, "./cmd/kubelet").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build kubelet: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	runtimetest.Stop()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

var seq atomic.Int64

// cluster is an apiserver, a containerd namespace with busybox and a
// kubelet that can be stopped and started again.
type cluster struct {
	t      *testing.T
	srv    *testserver.Server
	c      *client.Client
	pods   *client.Resource[*corev1.Pod]
	cfg    kubelet.Config
	ns     string
	sock   string
	cancel context.CancelFunc
	done   chan error
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	sock := runtimetest.Socket(t)
	srv := testserver.StartWith(t, testserver.Options{Quiet: true})
	c := srv.Client(srv.Config)
	n := seq.Add(1)
	ns := fmt.Sprintf("kl-test-%d-%d", os.Getpid(), n)
	node := fmt.Sprintf("node-%d", n)
	rt, err := runtime.New(context.Background(), runtime.Config{Address: sock, Namespace: ns, NodeName: node})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rt.LoadImage(context.Background(), bytes.NewReader(runtimetest.BusyboxTar(t))); err != nil {
		t.Fatal(err)
	}
	// Pods get a projected token of their service account, which the
	// controller-manager (not running here) would make.
	if _, err := client.For[*corev1.ServiceAccount](c).Create(context.Background(),
		&corev1.ServiceAccount{Metadata: &metav1.ObjectMeta{Name: "default", Namespace: "default"}}); err != nil {
		t.Fatal(err)
	}
	cl := &cluster{t: t, srv: srv, c: c, pods: client.For[*corev1.Pod](c), ns: ns, sock: sock}
	cl.cfg = kubelet.Config{
		Client: srv.Config, NodeName: node, RootDir: t.TempDir(), ContainerdAddress: sock, ContainerdNamespace: ns,
		NodeIP: "127.0.0.1", Port: 0, KubeletBinary: kubeletBinary,
		Log: zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel)),
	}
	t.Cleanup(func() {
		// Delete every pod while the kubelet runs, so it unmounts their
		// volumes and removes their containers, then stop it.
		if cl.cancel != nil {
			ctx := context.Background()
			if l, err := cl.pods.ListAll(ctx, client.ListOptions{}); err == nil {
				for _, p := range l.Items {
					_ = cl.pods.Delete(ctx, p.GetMetadata().GetNamespace(), p.GetMetadata().GetName(), client.DeleteOptions{GracePeriodSeconds: new(int64)})
				}
			}
			deadline := time.Now().Add(60 * time.Second)
			for time.Now().Before(deadline) {
				dirs, _ := os.ReadDir(filepath.Join(cl.cfg.RootDir, "pods"))
				if cs, err := rt.List(ctx, ""); err == nil && len(cs) == 0 && len(dirs) == 0 {
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
		cl.stop()
		cs, _ := rt.List(context.Background(), "")
		for _, c := range cs {
			_ = rt.Remove(context.Background(), c.ID)
		}
		runtimetest.DropNamespace(rt.Client(), ns)
		_ = rt.Close()
	})
	cl.start()
	return cl
}

func (cl *cluster) start() {
	ctx, cancel := context.WithCancel(context.Background())
	cl.cancel, cl.done = cancel, make(chan error, 1)
	go func() { cl.done <- kubelet.Run(ctx, cl.cfg) }()
}

func (cl *cluster) stop() {
	if cl.cancel == nil {
		return
	}
	cl.cancel()
	select {
	case err := <-cl.done:
		if err != nil {
			cl.t.Errorf("kubelet: %v", err)
		}
	case <-time.After(60 * time.Second):
		cl.t.Error("kubelet did not stop")
	}
	cl.cancel = nil
}

// run creates the pod and binds it to the kubelet's node.
func (cl *cluster) run(p *corev1.Pod) *corev1.Pod {
	cl.t.Helper()
	ctx := context.Background()
	if p.Metadata.Namespace == "" {
		p.Metadata.Namespace = "default"
	}
	created, err := cl.pods.Create(ctx, p)
	if err != nil {
		cl.t.Fatal(err)
	}
	md := created.GetMetadata()
	bound, err := cl.c.Bind(ctx, md.GetNamespace(), md.GetName(), md.GetUid(), cl.cfg.NodeName)
	if err != nil {
		cl.t.Fatal(err)
	}
	return bound
}

// wait polls the pod until cond holds (generous: the machine is shared).
func (cl *cluster) wait(p *corev1.Pod, what string, cond func(*corev1.Pod) bool) *corev1.Pod {
	cl.t.Helper()
	deadline := time.Now().Add(120 * time.Second)
	var last *corev1.Pod
	for time.Now().Before(deadline) {
		cur, err := cl.pods.Get(context.Background(), p.GetMetadata().GetNamespace(), p.GetMetadata().GetName())
		if err == nil {
			last = cur
			if cond(cur) {
				return cur
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	cl.t.Fatalf("pod %s: timed out waiting for %s; last status: %v", p.GetMetadata().GetName(), what, last.GetStatus())
	return nil
}

func (cl *cluster) runtime() *runtime.Runtime {
	cl.t.Helper()
	rt, err := runtime.New(context.Background(), runtime.Config{Address: cl.sock, Namespace: cl.ns, NodeName: cl.cfg.NodeName})
	if err != nil {
		cl.t.Fatal(err)
	}
	cl.t.Cleanup(func() { _ = rt.Close() })
	return rt
}

func busybox(name string, script string) *corev1.Pod {
	return &corev1.Pod{
		Metadata: &metav1.ObjectMeta{Name: name},
		Spec: &corev1.PodSpec{
			TerminationGracePeriodSeconds: proto.Int64(2),
			Containers:                    []*corev1.Container{{Name: "main", Image: "busybox:1.35", Command: []string{"sh", "-c", script}}},
		},
	}
}

func q(s string) *metav1.Quantity { return &metav1.Quantity{String_: s} }

func phase(want string) func(*corev1.Pod) bool {
	return func(p *corev1.Pod) bool { return p.GetStatus().GetPhase() == want }
}

func condition(p *corev1.Pod, typ string) string {
	for _, c := range p.GetStatus().GetConditions() {
		if c.GetType() == typ {
			return c.GetStatus()
		}
	}
	return ""
}

func TestPodRunsAndIsDeletedGracefully(t *testing.T) {
	cl := newCluster(t)
	ctx := context.Background()

	// The node registers with capacity, labels and a lease.
	var n *corev1.Node
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		var err error
		if n, err = client.For[*corev1.Node](cl.c).Get(ctx, "", cl.cfg.NodeName); err == nil && len(n.GetStatus().GetConditions()) > 0 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if n == nil || n.GetMetadata().GetLabels()["kubernetes.io/hostname"] != cl.cfg.NodeName || n.GetStatus().GetCapacity()["cpu"] == nil ||
		n.GetStatus().GetAllocatable()["memory"] == nil || n.GetStatus().GetNodeInfo().GetContainerRuntimeVersion() == "" {
		t.Fatalf("node: %v", n)
	}
	ready := false
	for _, c := range n.GetStatus().GetConditions() {
		ready = ready || (c.GetType() == "Ready" && c.GetStatus() == "True")
	}
	if !ready {
		t.Errorf("node not Ready: %v", n.GetStatus().GetConditions())
	}
	if len(n.GetStatus().GetImages()) == 0 {
		t.Errorf("node lists no images")
	}
	if _, err := client.For[*coordinationv1.Lease](cl.c).Get(ctx, "flotilla-node-lease", cl.cfg.NodeName); err != nil {
		t.Errorf("lease: %v", err)
	}

	p := busybox("web", "trap 'exit 0' TERM; echo started; while true; do sleep 1; done")
	p.Spec.Containers[0].Resources = &corev1.ResourceRequirements{
		Requests: map[string]*metav1.Quantity{"cpu": q("100m"), "memory": q("32Mi")},
		Limits:   map[string]*metav1.Quantity{"memory": q("64Mi")},
	}
	p = cl.run(p)
	got := cl.wait(p, "Running and Ready", func(p *corev1.Pod) bool {
		return p.GetStatus().GetPhase() == "Running" && condition(p, "Ready") == "True"
	})
	st := got.GetStatus()
	cs := st.GetContainerStatuses()
	if len(cs) != 1 || !cs[0].GetReady() || !cs[0].GetStarted() || cs[0].GetState().GetRunning() == nil ||
		!strings.HasPrefix(cs[0].GetContainerId(), "containerd://"+p.GetMetadata().GetUid()+"-main-0") ||
		!strings.HasPrefix(cs[0].GetImageId(), "docker.io/library/busybox@sha256:") || cs[0].GetRestartCount() != 0 {
		t.Errorf("container status: %v", cs)
	}
	if st.GetQosClass() != "Burstable" || st.GetHostIp() != "127.0.0.1" || st.GetPodIp() == "" || st.GetStartTime() == nil {
		t.Errorf("pod status: %v", st)
	}
	for _, c := range []string{"PodScheduled", "PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready"} {
		if condition(got, c) != "True" {
			t.Errorf("condition %s = %q", c, condition(got, c))
		}
	}
	// cgroup limits as DESIGN.md lays them out.
	cg := fmt.Sprintf("/sys/fs/cgroup/memory/flotilla/%s/burstable/pod%s/%s-main-0/memory.limit_in_bytes", cl.cfg.NodeName, p.GetMetadata().GetUid(), p.GetMetadata().GetUid())
	if b, err := os.ReadFile(cg); err != nil || strings.TrimSpace(string(b)) != fmt.Sprint(64<<20) {
		t.Errorf("memory limit %s: %q %v", cg, b, err)
	}
	// cpu shares from the 100m request (102), no quota without a cpu limit.
	cpu := strings.Replace(strings.Replace(cg, "/memory/", "/cpu/", 1), "memory.limit_in_bytes", "cpu.shares", 1)
	if b, err := os.ReadFile(cpu); err != nil || strings.TrimSpace(string(b)) != "102" {
		t.Errorf("cpu shares %s: %q %v", cpu, b, err)
	}
	// The log is in CRI format at the DESIGN.md path.
	logPath := filepath.Join(cl.cfg.RootDir, "logs", "default_web_"+p.GetMetadata().GetUid(), "main", "0.log")
	waitFile(t, logPath, " stdout F started")

	// A new image restarts the container.
	upd := proto.Clone(got).(*corev1.Pod)
	upd.Spec.Containers[0].Image = "docker.io/library/busybox:1.35"
	if _, err := cl.pods.Update(ctx, upd); err != nil {
		t.Fatal(err)
	}
	cl.wait(p, "a restart with the new image", func(p *corev1.Pod) bool {
		cs := p.GetStatus().GetContainerStatuses()
		return len(cs) == 1 && cs[0].GetRestartCount() == 1 && cs[0].GetState().GetRunning() != nil && cs[0].GetImage() == "docker.io/library/busybox:1.35"
	})

	// Graceful deletion: the kubelet stops the container and confirms.
	if err := cl.pods.Delete(ctx, "default", "web", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitGone(t, cl, "default", "web")
	rt := cl.runtime()
	waitFor(t, "containers removed", func() bool {
		cs, err := rt.List(ctx, p.GetMetadata().GetUid())
		return err == nil && len(cs) == 0
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(120 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func waitFile(t *testing.T, path, substr string) string {
	t.Helper()
	var b []byte
	waitFor(t, fmt.Sprintf("%q in %s", substr, path), func() bool {
		b, _ = os.ReadFile(path)
		return strings.Contains(string(b), substr)
	})
	return string(b)
}

func waitGone(t *testing.T, cl *cluster, ns, name string) {
	t.Helper()
	waitFor(t, "pod "+name+" deleted", func() bool {
		_, err := cl.pods.Get(context.Background(), ns, name)
		return client.IsNotFound(err)
	})
}

func TestRestartPolicies(t *testing.T) {
	cl := newCluster(t)
	always := busybox("always", "exit 0")
	always.Spec.RestartPolicy = "Always"
	onFailureFails := busybox("onfailure-fails", "exit 2")
	onFailureFails.Spec.RestartPolicy = "OnFailure"
	onFailureOK := busybox("onfailure-ok", "exit 0")
	onFailureOK.Spec.RestartPolicy = "OnFailure"
	never := busybox("never", "echo boom > /dev/termination-log; exit 3")
	never.Spec.RestartPolicy = "Never"
	for _, p := range []*corev1.Pod{always, onFailureFails, onFailureOK, never} {
		cl.run(p)
	}
	restarts := func(p *corev1.Pod) int32 {
		if cs := p.GetStatus().GetContainerStatuses(); len(cs) == 1 {
			return cs[0].GetRestartCount()
		}
		return -1
	}
	// First restart at once, the second after the 10 s backoff, in
	// CrashLoopBackOff meanwhile.
	sawBackoff := false
	cl.wait(always, "two restarts", func(p *corev1.Pod) bool {
		if w := p.GetStatus().GetContainerStatuses(); len(w) == 1 && w[0].GetState().GetWaiting().GetReason() == "CrashLoopBackOff" {
			sawBackoff = true
			if w[0].GetLastTerminationState().GetTerminated().GetReason() != "Completed" {
				t.Errorf("lastState: %v", w[0].GetLastTerminationState())
			}
		}
		return restarts(p) >= 2 && p.GetStatus().GetPhase() == "Running"
	})
	if !sawBackoff {
		t.Error("never saw CrashLoopBackOff")
	}
	cl.wait(onFailureFails, "a restart after failing", func(p *corev1.Pod) bool {
		return restarts(p) >= 1 && p.GetStatus().GetPhase() == "Running"
	})
	ok := cl.wait(onFailureOK, "Succeeded", phase("Succeeded"))
	if restarts(ok) != 0 || ok.GetStatus().GetContainerStatuses()[0].GetState().GetTerminated().GetReason() != "Completed" {
		t.Errorf("onfailure-ok: %v", ok.GetStatus())
	}
	failed := cl.wait(never, "Failed", phase("Failed"))
	term := failed.GetStatus().GetContainerStatuses()[0].GetState().GetTerminated()
	if restarts(failed) != 0 || term.GetExitCode() != 3 || term.GetReason() != "Error" || term.GetMessage() != "boom\n" || condition(failed, "Ready") != "False" {
		t.Errorf("never: %v", failed.GetStatus())
	}
}

func TestOOMKilled(t *testing.T) {
	cl := newCluster(t)
	p := busybox("hog", "x=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa; while true; do x=$x$x; done")
	p.Spec.RestartPolicy = "Never"
	p.Spec.Containers[0].Resources = &corev1.ResourceRequirements{Limits: map[string]*metav1.Quantity{"memory": q("16Mi"), "cpu": q("500m")}}
	p = cl.run(p)
	// The CFS quota follows the 500m limit (period 100ms) while it runs.
	quota := fmt.Sprintf("/sys/fs/cgroup/cpu/flotilla/%s/guaranteed/pod%s/%s-main-0/cpu.cfs_quota_us", cl.cfg.NodeName, p.GetMetadata().GetUid(), p.GetMetadata().GetUid())
	sawQuota := false
	got := cl.wait(p, "Failed", func(p *corev1.Pod) bool {
		if b, err := os.ReadFile(quota); err == nil && strings.TrimSpace(string(b)) == "50000" {
			sawQuota = true
		}
		return p.GetStatus().GetPhase() == "Failed"
	})
	if !sawQuota {
		t.Logf("the hog died before its cpu quota could be read at %s", quota)
	}
	term := got.GetStatus().GetContainerStatuses()[0].GetState().GetTerminated()
	if term.GetReason() != "OOMKilled" || term.GetExitCode() != 137 {
		t.Errorf("hog: %v", term)
	}
	if got.GetStatus().GetQosClass() != "Guaranteed" {
		t.Errorf("qos %s", got.GetStatus().GetQosClass())
	}
}

func TestInitContainers(t *testing.T) {
	cl := newCluster(t)
	bad := busybox("init-fails", "sleep 3600")
	bad.Spec.RestartPolicy = "Never"
	bad.Spec.InitContainers = []*corev1.Container{
		{Name: "ok", Image: "busybox:1.35", Command: []string{"true"}},
		{Name: "fails", Image: "busybox:1.35", Command: []string{"sh", "-c", "exit 1"}},
	}
	good := busybox("init-ok", "sleep 3600")
	good.Spec.InitContainers = []*corev1.Container{{Name: "setup", Image: "busybox:1.35", Command: []string{"sh", "-c", "echo done"}}}
	bad, good = cl.run(bad), cl.run(good)

	failed := cl.wait(bad, "Failed", phase("Failed"))
	ics := failed.GetStatus().GetInitContainerStatuses()
	if len(ics) != 2 || ics[0].GetState().GetTerminated().GetReason() != "Completed" || ics[1].GetState().GetTerminated().GetExitCode() != 1 {
		t.Errorf("init statuses: %v", ics)
	}
	if w := failed.GetStatus().GetContainerStatuses()[0].GetState().GetWaiting(); w.GetReason() != "PodInitializing" {
		t.Errorf("app container: %v", failed.GetStatus().GetContainerStatuses())
	}
	if condition(failed, "Initialized") != "False" {
		t.Errorf("Initialized: %v", failed.GetStatus().GetConditions())
	}
	cs, err := cl.runtime().List(context.Background(), bad.GetMetadata().GetUid())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if !c.Init {
			t.Errorf("app container created despite the failed init container: %+v", c)
		}
	}

	running := cl.wait(good, "Running", phase("Running"))
	if ics := running.GetStatus().GetInitContainerStatuses(); len(ics) != 1 || ics[0].GetState().GetTerminated().GetReason() != "Completed" || condition(running, "Initialized") != "True" {
		t.Errorf("init-ok: %v", running.GetStatus())
	}
}

func TestEnvFromSecretAndConfigMap(t *testing.T) {
	cl := newCluster(t)
	ctx := context.Background()
	if _, err := client.For[*corev1.Secret](cl.c).Create(ctx, &corev1.Secret{
		Metadata: &metav1.ObjectMeta{Name: "creds", Namespace: "default"}, Data: map[string][]byte{"password": []byte("s3cret")},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.For[*corev1.ConfigMap](cl.c).Create(ctx, &corev1.ConfigMap{
		Metadata: &metav1.ObjectMeta{Name: "settings", Namespace: "default"}, Data: map[string]string{"MODE": "fast"},
	}); err != nil {
		t.Fatal(err)
	}
	p := busybox("env", `echo "pw=$PASSWORD mode=$CFG_MODE pod=$POD_NAME ns=$POD_NS combo=$COMBO wd=$(pwd)"; sleep 3600`)
	p.Spec.Containers[0].WorkingDir = "/tmp"
	p.Spec.Containers[0].EnvFrom = []*corev1.EnvFromSource{{Prefix: "CFG_", ConfigMapRef: &corev1.ConfigMapEnvSource{Name: "settings"}}}
	p.Spec.Containers[0].Env = []*corev1.EnvVar{
		{Name: "PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{Name: "creds", Key: "password"}}},
		{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		{Name: "POD_NS", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
		{Name: "COMBO", Value: "$(POD_NAME)-$(CFG_MODE)-$(UNDEFINED)"},
	}
	p = cl.run(p)
	cl.wait(p, "Running", phase("Running"))
	logPath := filepath.Join(cl.cfg.RootDir, "logs", "default_env_"+p.GetMetadata().GetUid(), "main", "0.log")
	waitFile(t, logPath, "pw=s3cret mode=fast pod=env ns=default combo=env-fast-$(UNDEFINED) wd=/tmp")

	code, out, err := cl.runtime().ExecSync(ctx, p, "main", []string{"sh", "-c", "echo $PASSWORD"}, 30*time.Second)
	if err != nil || code != 0 || strings.TrimSpace(string(out)) != "s3cret" {
		t.Errorf("exec: %d %q %v", code, out, err)
	}

	// A missing secret is CreateContainerConfigError, not a crash.
	missing := busybox("missing", "sleep 3600")
	missing.Spec.Containers[0].Env = []*corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{Name: "nope", Key: "k"}}}}
	cl.wait(cl.run(missing), "CreateContainerConfigError", func(p *corev1.Pod) bool {
		cs := p.GetStatus().GetContainerStatuses()
		return len(cs) == 1 && cs[0].GetState().GetWaiting().GetReason() == "CreateContainerConfigError" &&
			strings.Contains(cs[0].GetState().GetWaiting().GetMessage(), `secret "nope" not found`)
	})
}

func TestImagePullBackOff(t *testing.T) {
	cl := newCluster(t)
	p := busybox("nopull", "true")
	p.Spec.Containers[0].Image = "127.0.0.1:1/nothing/here:1.0"
	got := cl.wait(cl.run(p), "ImagePullBackOff", func(p *corev1.Pod) bool {
		cs := p.GetStatus().GetContainerStatuses()
		return len(cs) == 1 && cs[0].GetState().GetWaiting().GetReason() == "ImagePullBackOff"
	})
	if got.GetStatus().GetPhase() != "Pending" {
		t.Errorf("phase %s", got.GetStatus().GetPhase())
	}
}

func TestActiveDeadline(t *testing.T) {
	cl := newCluster(t)
	p := busybox("deadline", "sleep 3600")
	p.Spec.ActiveDeadlineSeconds = proto.Int64(2)
	got := cl.wait(cl.run(p), "Failed", phase("Failed"))
	if got.GetStatus().GetReason() != "DeadlineExceeded" {
		t.Errorf("status %v", got.GetStatus())
	}
	if term := got.GetStatus().GetContainerStatuses()[0].GetState().GetTerminated(); term == nil {
		t.Errorf("container not stopped: %v", got.GetStatus().GetContainerStatuses())
	}
}

func TestRestartAdoptsContainersAndLeavesForeignOnesAlone(t *testing.T) {
	cl := newCluster(t)
	ctx := namespaces.WithNamespace(context.Background(), cl.ns)

	// A container in the same namespace that the kubelet did not make.
	rt := cl.runtime()
	cc := rt.Client()
	img, err := cc.GetImage(ctx, "docker.io/library/busybox:1.35")
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := cc.NewContainer(ctx, "foreign", containerd.WithSnapshotter("overlayfs"), containerd.WithNewSnapshot("foreign", img),
		containerd.WithNewSpec(oci.WithImageConfig(img), oci.WithProcessArgs("sleep", "3600")))
	if err != nil {
		t.Fatal(err)
	}
	task, err := foreign.NewTask(ctx, cio.NullIO)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = task.Delete(ctx, containerd.WithProcessKill)
		_ = foreign.Delete(ctx, containerd.WithSnapshotCleanup)
	})

	p := cl.run(busybox("adopted", "sleep 3600"))
	before := cl.wait(p, "Running", phase("Running"))
	id := before.GetStatus().GetContainerStatuses()[0].GetContainerId()
	cl.stop()
	// The container outlives the kubelet.
	cs, err := rt.List(ctx, p.GetMetadata().GetUid())
	if err != nil || len(cs) != 1 || cs[0].State != runtime.Running {
		t.Fatalf("after stop: %+v %v", cs, err)
	}
	pid := cs[0].Pid
	cl.start()
	// Let the restarted kubelet sync the pod and post its status.
	time.Sleep(3 * time.Second)
	after := cl.wait(p, "Running after restart", phase("Running"))
	st := after.GetStatus().GetContainerStatuses()[0]
	if st.GetContainerId() != id || st.GetRestartCount() != 0 || st.GetState().GetRunning() == nil {
		t.Errorf("after restart: %v (before %s)", st, id)
	}
	cs, err = rt.List(ctx, p.GetMetadata().GetUid())
	if err != nil || len(cs) != 1 || cs[0].Pid != pid {
		t.Errorf("container replaced: %+v %v (pid before %d)", cs, err, pid)
	}

	// Deleting the pod leaves the foreign container running.
	if err := cl.pods.Delete(context.Background(), "default", "adopted", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitGone(t, cl, "default", "adopted")
	s, err := task.Status(ctx)
	if err != nil || s.Status != containerd.Running {
		t.Errorf("foreign container: %v %v", s, err)
	}
}

func TestProbesAndPreStop(t *testing.T) {
	cl := newCluster(t)
	ctx := context.Background()

	live := busybox("live", "touch /tmp/healthy; sleep 2; rm /tmp/healthy; sleep 3600")
	live.Spec.Containers[0].LivenessProbe = &corev1.Probe{
		Exec: &corev1.ExecAction{Command: []string{"test", "-f", "/tmp/healthy"}}, PeriodSeconds: 1, FailureThreshold: 1, TimeoutSeconds: 5,
	}
	unready := busybox("unready", "sleep 3600")
	unready.Spec.Containers[0].ReadinessProbe = &corev1.Probe{
		Exec: &corev1.ExecAction{Command: []string{"false"}}, PeriodSeconds: 1, FailureThreshold: 1, TimeoutSeconds: 5,
	}
	out := t.TempDir()
	stop := busybox("prestop", "trap 'echo term > /out/term; exit 0' TERM; while true; do sleep 1; done")
	stop.Spec.TerminationGracePeriodSeconds = proto.Int64(20)
	stop.Spec.Volumes = []*corev1.Volume{{Name: "out", HostPath: &corev1.HostPathVolumeSource{Path: out}}}
	stop.Spec.Containers[0].VolumeMounts = []*corev1.VolumeMount{{Name: "out", MountPath: "/out"}}
	stop.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{
		Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "echo bye > /out/prestop"}},
	}}
	live, unready, stop = cl.run(live), cl.run(unready), cl.run(stop)

	// A failing liveness probe restarts the container.
	cl.wait(live, "a liveness restart", func(p *corev1.Pod) bool {
		cs := p.GetStatus().GetContainerStatuses()
		return len(cs) == 1 && cs[0].GetRestartCount() >= 1
	})
	// A failing readiness probe keeps the pod Running but never Ready.
	cl.wait(unready, "Running", phase("Running"))
	for range 10 {
		p, err := cl.pods.Get(ctx, "default", "unready")
		if err != nil {
			t.Fatal(err)
		}
		if condition(p, "Ready") == "True" || p.GetStatus().GetContainerStatuses()[0].GetReady() {
			t.Fatalf("unready pod is Ready: %v", p.GetStatus())
		}
		time.Sleep(300 * time.Millisecond)
	}

	// Graceful deletion runs the preStop hook, then SIGTERM.
	cl.wait(stop, "Running", phase("Running"))
	if err := cl.pods.Delete(ctx, "default", "prestop", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitGone(t, cl, "default", "prestop")
	for _, f := range []string{"prestop", "term"} {
		if b, err := os.ReadFile(filepath.Join(out, f)); err != nil || len(b) == 0 {
			t.Errorf("%s: %q %v", f, b, err)
		}
	}
}

func TestAdmissionRejectsWhatDoesNotFit(t *testing.T) {
	cl := newCluster(t)
	big := busybox("big", "sleep 3600")
	big.Spec.Containers[0].Resources = &corev1.ResourceRequirements{Requests: map[string]*metav1.Quantity{"cpu": q("1000")}}
	got := cl.wait(cl.run(big), "Failed", phase("Failed"))
	if got.GetStatus().GetReason() != "OutOfcpu" || !strings.Contains(got.GetStatus().GetMessage(), "Node didn't have enough resource: cpu") {
		t.Errorf("status %v", got.GetStatus())
	}
	cs, err := cl.runtime().List(context.Background(), got.GetMetadata().GetUid())
	if err != nil || len(cs) != 0 {
		t.Errorf("containers of a rejected pod: %+v %v", cs, err)
	}
	// A pod that fits still runs.
	cl.wait(cl.run(busybox("small", "sleep 3600")), "Running", phase("Running"))
}
