package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
	"flotilla.io/sdk/client"
)

// KubeletCase is one pod startup measurement.
type KubeletCase struct {
	Name string
	Pods int
	// Startup is create (the call starting) to Running (seen on a watch).
	Startup Latencies
	Elapsed time.Duration
}

// KubeletResult is what the kubelet benchmark measured.
type KubeletResult struct {
	Cases []KubeletCase
	// RSS is the kubelet's resident memory with every pod running.
	RSS int64
	// RunningPods is how many pods ran when RSS was read.
	RunningPods int
}

// Print writes the results as a table.
func (r *KubeletResult) Print(w io.Writer) {
	fmt.Fprintf(w, "kubelet benchmark (etcd + apiserver + kubelet processes, private containerd 1.6 + runc; busybox:1.35 loaded locally; pod network on)\n")
	for _, c := range r.Cases {
		fmt.Fprintf(w, "  %-58s p50 %s  p99 %s  (%d pods in %.1fs)\n", c.Name+": create -> Running", ms(c.Startup.Percentile(50)), ms(c.Startup.Percentile(99)), c.Pods, c.Elapsed.Seconds())
	}
	fmt.Fprintf(w, "  %-58s %s\n", fmt.Sprintf("kubelet RSS with %d pods running", r.RunningPods), MiB(r.RSS))
}

// repoRoot is the workspace root above binDir (bin/ lives there).
func repoRoot(binDir string) (string, error) {
	abs, err := filepath.Abs(binDir)
	if err != nil {
		return "", err
	}
	for dir := abs; dir != "/"; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
	}
	return "", fmt.Errorf("no go.work above %s", abs)
}

// Kubelet measures pod startup latency on one node: pods created at a
// steady 5 pods/s, then a burst, pods bound at creation (no scheduler), and
// the kubelet's RSS with all of them running.
func Kubelet(ctx context.Context, binDir string, pods int, progress io.Writer) (*KubeletResult, error) {
	root, err := repoRoot(binDir)
	if err != nil {
		return nil, err
	}
	c, err := StartCluster(ctx, binDir)
	if err != nil {
		return nil, err
	}
	defer c.Stop()
	// A private containerd in a short path (socket paths are limited).
	cdir, err := os.MkdirTemp("", "flt-bench-ctrd-")
	if err != nil {
		return nil, err
	}
	script := filepath.Join(root, "hack", "containerd.sh")
	out, err := exec.CommandContext(ctx, "bash", script, cdir).Output()
	if err != nil {
		return nil, fmt.Errorf("hack/containerd.sh: %w", err)
	}
	sock := strings.TrimSpace(string(out[strings.LastIndexByte(strings.TrimSpace(string(out)), '\n')+1:]))
	defer func() {
		_ = exec.Command("bash", script, "stop", cdir).Run()
		_ = os.RemoveAll(cdir)
	}()
	const ns = "flotilla-bench"
	tar := filepath.Join(binDir, "images", "busybox-1.35.tar")
	if _, err := os.Stat(tar); err != nil {
		fmt.Fprintf(progress, "kubelet: building the busybox image ...\n")
		cmd := exec.CommandContext(ctx, "go", "run", "./kubelet/cmd/mkimages", "--out", filepath.Join(binDir, "images"))
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("mkimages: %w: %s", err, out)
		}
	}
	if out, err := exec.CommandContext(ctx, "ctr", "--address", sock, "--namespace", ns, "images", "import", "--snapshotter", "overlayfs", tar).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("import busybox: %w: %s", err, out)
	}
	adm, _ := freePort()
	const node, bridge = "bench-node", "fltbench0"
	kl, err := start(c.Dir, "kubelet", filepath.Join(binDir, "kubelet"),
		"--server", c.Config.Server, "--token", c.Config.Token, "--certificate-authority", filepath.Join(c.Dir, "ca.crt"),
		"--node-name", node, "--root-dir", filepath.Join(c.Dir, "kubelet"), "--containerd", sock, "--containerd-namespace", ns,
		"--pod-cidr", "10.244.250.0/24", "--bridge-name", bridge, "--node-ip", "127.0.0.1",
		"--admin-address", fmt.Sprintf("127.0.0.1:%d", adm), "--max-pods", "250", "--log-level", "warn")
	if err != nil {
		return nil, err
	}
	defer func() {
		kl.Stop()
		_ = exec.Command("ip", "link", "del", bridge).Run()
	}()
	cli, err := client.New(ctx, c.Config)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	if err := waitNodeReady(ctx, cli, node); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.Dir, "kubelet.log"))
		return nil, fmt.Errorf("%w\n%s", err, log)
	}

	r := &KubeletResult{}
	steady := pods
	// 5 pods/s: about half of what two cores start per second (see the
	// burst), so this measures latency rather than a queue.
	fmt.Fprintf(progress, "kubelet: %d pods at 5 pods/s ...\n", steady)
	kc, err := startPods(ctx, cli, node, "steady", steady, 200*time.Millisecond)
	if err != nil {
		return nil, err
	}
	kc.Name = fmt.Sprintf("%d pods at 5 pods/s", steady)
	r.Cases = append(r.Cases, *kc)
	r.RunningPods = steady
	time.Sleep(2 * time.Second) // let status writes and probes settle
	if r.RSS, err = kl.RSS(); err != nil {
		return nil, err
	}
	fmt.Fprintf(progress, "kubelet: removing them ...\n")
	if err := deleteAll(ctx, cli, "bench-steady"); err != nil {
		return nil, err
	}
	burst := 30
	fmt.Fprintf(progress, "kubelet: a burst of %d pods ...\n", burst)
	if kc, err = startPods(ctx, cli, node, "burst", burst, 0); err != nil {
		return nil, err
	}
	kc.Name = fmt.Sprintf("a burst of %d pods created at once", burst)
	r.Cases = append(r.Cases, *kc)
	if err := deleteAll(ctx, cli, "bench-burst"); err != nil {
		return nil, err
	}
	return r, nil
}

func waitNodeReady(ctx context.Context, cli *client.Client, node string) error {
	nodes := client.For[*corev1.Node](cli)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if n, err := nodes.Get(ctx, "", node); err == nil {
			for _, c := range n.GetStatus().GetConditions() {
				if c.GetType() == "Ready" && c.GetStatus() == "True" {
					return nil
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("node %s not Ready after 60s", node)
}

func kubeletBenchPod(ns, name, node string) *corev1.Pod {
	return &corev1.Pod{
		Metadata: &metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": "bench"}},
		Spec: &corev1.PodSpec{
			NodeName: node, TerminationGracePeriodSeconds: proto.Int64(1),
			Containers: []*corev1.Container{{
				Name: "main", Image: "busybox:1.35", Command: []string{"sleep", "3600"},
				Resources: &corev1.ResourceRequirements{Requests: map[string]*metav1.Quantity{"cpu": {String_: "5m"}, "memory": {String_: "8Mi"}}},
			}},
		},
	}
}

// startPods creates n pods in namespace bench-<name>, one every interval
// (0: all at once from 16 workers), and times each to Running.
func startPods(ctx context.Context, cli *client.Client, node, name string, n int, interval time.Duration) (*KubeletCase, error) {
	ns := "bench-" + name
	if _, err := cli.Dynamic().Create(ctx, &corev1.Namespace{Metadata: &metav1.ObjectMeta{Name: ns}}); err != nil && !client.IsAlreadyExists(err) {
		return nil, err
	}
	// The pods' token volume needs their service account; no
	// controller-manager runs here to make it.
	if _, err := cli.Dynamic().Create(ctx, &corev1.ServiceAccount{Metadata: &metav1.ObjectMeta{Name: "default", Namespace: ns}}); err != nil && !client.IsAlreadyExists(err) {
		return nil, err
	}
	podsAPI := client.For[*corev1.Pod](cli)
	list, err := podsAPI.List(ctx, client.ListOptions{Namespace: ns})
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	w, err := podsAPI.Watch(wctx, client.WatchOptions{Namespace: ns, ResourceVersion: list.ResourceVersion})
	if err != nil {
		return nil, err
	}
	defer w.Stop()
	var mu sync.Mutex
	created := map[string]time.Time{}
	errs := make(chan error, n)
	begin := time.Now()
	go func() {
		sem := make(chan struct{}, 16)
		var wg sync.WaitGroup
		for i := range n {
			if interval > 0 {
				time.Sleep(time.Until(begin.Add(time.Duration(i) * interval)))
			}
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				pname := fmt.Sprintf("p-%03d", i)
				mu.Lock()
				created[pname] = time.Now()
				mu.Unlock()
				if _, err := podsAPI.Create(wctx, kubeletBenchPod(ns, pname, node)); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
	}()
	kc := &KubeletCase{Pods: n}
	running := map[string]bool{}
	for len(running) < n {
		select {
		case err := <-errs:
			return nil, fmt.Errorf("create: %w", err)
		default:
		}
		ev, err := w.Next()
		if err != nil {
			return nil, fmt.Errorf("watch (%d of %d running): %w", len(running), n, err)
		}
		p := ev.Object
		if p.GetStatus().GetPhase() != "Running" || running[p.GetMetadata().GetName()] {
			continue
		}
		now := time.Now()
		mu.Lock()
		t0 := created[p.GetMetadata().GetName()]
		mu.Unlock()
		running[p.GetMetadata().GetName()] = true
		kc.Startup = append(kc.Startup, now.Sub(t0))
	}
	kc.Elapsed = time.Since(begin)
	return kc, nil
}

// deleteAll deletes the namespace's pods and waits until the kubelet has
// confirmed every deletion.
func deleteAll(ctx context.Context, cli *client.Client, ns string) error {
	podsAPI := client.For[*corev1.Pod](cli)
	list, err := podsAPI.ListAll(ctx, client.ListOptions{Namespace: ns})
	if err != nil {
		return err
	}
	for _, p := range list.Items {
		if err := podsAPI.Delete(ctx, ns, p.GetMetadata().GetName(), client.DeleteOptions{}); err != nil && !client.IsNotFound(err) {
			return err
		}
	}
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		l, err := podsAPI.List(ctx, client.ListOptions{Namespace: ns})
		if err == nil && len(l.Items) == 0 {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("pods in %s not deleted after 3 minutes", ns)
}
