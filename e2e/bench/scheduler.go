package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
	"flotilla.io/sdk/client"
)

// SchedulingCase is one scheduler throughput measurement.
type SchedulingCase struct {
	Name    string
	Nodes   int
	Pods    int
	Elapsed time.Duration // first create to last bind
	// Created is when the last create returned: when it is close to
	// Elapsed, pod creation (the apiserver) bounds the rate, not the
	// scheduler.
	Created    time.Duration
	PodsPerSec float64
	// RSS is the scheduler's resident memory once every pod is bound.
	RSS int64
	// CPU is the CPU time the scheduler used from the first create to the
	// last bind: on this small machine it competes with the apiserver.
	CPU time.Duration
}

// SchedulerResult is what the scheduler benchmark measured.
type SchedulerResult struct {
	Cases []SchedulingCase
}

// Print writes the results as a table.
func (r *SchedulerResult) Print(w io.Writer) {
	fmt.Fprintf(w, "scheduler benchmark (etcd + apiserver + scheduler processes; 16 client workers create the pods)\n")
	for _, c := range r.Cases {
		fmt.Fprintf(w, "  %-58s %6.0f pods/s  (%d pods in %.1fs)\n", fmt.Sprintf("%s: %d pods onto %d nodes", c.Name, c.Pods, c.Nodes), c.PodsPerSec, c.Pods, c.Elapsed.Seconds())
		fmt.Fprintf(w, "  %-58s %.1fs\n", "  last create returned after", c.Created.Seconds())
		fmt.Fprintf(w, "  %-58s %s\n", "  scheduler RSS after the run", MiB(c.RSS))
		fmt.Fprintf(w, "  %-58s %.1fs\n", "  scheduler CPU time during the run", c.CPU.Seconds())
	}
}

// Scheduler runs the scheduler cases, each on a fresh cluster.
func Scheduler(ctx context.Context, binDir string, progress io.Writer) (*SchedulerResult, error) {
	r := &SchedulerResult{}
	cases := []struct {
		name  string
		nodes int
		pods  int
		pod   func(n int) *corev1.Pod
	}{
		{"basic (requests 100m/128Mi)", 1000, 10000, func(n int) *corev1.Pod { return benchPod("bench-sched", fmt.Sprintf("p-%05d", n)) }},
		{"required anti-affinity (50 groups, hostname)", 500, 5000, antiAffinityPod},
		{"topology spread (maxSkew 1, hostname)", 500, 5000, spreadPod},
	}
	for _, tc := range cases {
		fmt.Fprintf(progress, "scheduler: %s ...\n", tc.name)
		c, err := runCase(ctx, binDir, tc.name, tc.nodes, tc.pods, tc.pod)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", tc.name, err)
		}
		r.Cases = append(r.Cases, *c)
	}
	return r, nil
}

func antiAffinityPod(n int) *corev1.Pod {
	p := benchPod("bench-sched", fmt.Sprintf("p-%05d", n))
	group := fmt.Sprintf("g-%02d", n%50)
	p.Metadata.Labels["group"] = group
	p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: []*corev1.PodAffinityTerm{{
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"group": group}},
			TopologyKey:   "kubernetes.io/hostname",
		}},
	}}
	return p
}

func spreadPod(n int) *corev1.Pod {
	p := benchPod("bench-sched", fmt.Sprintf("p-%05d", n))
	p.Spec.TopologySpreadConstraints = []*corev1.TopologySpreadConstraint{{
		MaxSkew: 1, TopologyKey: "kubernetes.io/hostname", WhenUnsatisfiable: "DoNotSchedule",
		LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "bench"}},
	}}
	return p
}

func runCase(ctx context.Context, binDir, name string, nodes, pods int, mkPod func(int) *corev1.Pod) (*SchedulingCase, error) {
	c, err := StartCluster(ctx, binDir)
	if err != nil {
		return nil, err
	}
	defer c.Stop()
	cli, err := client.New(ctx, c.Config)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	if _, err := cli.Dynamic().Create(ctx, &corev1.Namespace{Metadata: &metav1.ObjectMeta{Name: "bench-sched"}}); err != nil {
		return nil, err
	}
	if err := createNodes(ctx, cli, nodes); err != nil {
		return nil, err
	}
	sched, admin, err := startSchedulerAdmin(ctx, c, binDir)
	if err != nil {
		return nil, err
	}
	defer sched.Stop()

	podsAPI := client.For[*corev1.Pod](cli)
	list, err := podsAPI.List(ctx, client.ListOptions{Namespace: "bench-sched"})
	if err != nil {
		return nil, err
	}
	w, err := podsAPI.Watch(ctx, client.WatchOptions{Namespace: "bench-sched", ResourceVersion: list.ResourceVersion})
	if err != nil {
		return nil, err
	}
	defer w.Stop()
	lastBind := make(chan time.Time, 1)
	watchErr := make(chan error, 1)
	go func() {
		bound := map[string]bool{}
		for len(bound) < pods {
			ev, err := w.Next()
			if err != nil {
				watchErr <- err
				return
			}
			if ev.Object.GetSpec().GetNodeName() != "" {
				bound[ev.Object.GetMetadata().GetName()] = true
			}
		}
		lastBind <- time.Now()
	}()

	profDir := os.Getenv(HeapProfileDirEnv)
	base := filepath.Join(profDir, fmt.Sprintf("scheduler-%d-nodes-%d-pods-%s", nodes, pods, strings.Fields(name)[0]))
	cpuProfile := make(chan error, 1)
	if profDir != "" {
		go func() { cpuProfile <- saveAdmin(admin, "/debug/pprof/profile?seconds=5", base+".cpu.pb.gz") }()
	} else {
		cpuProfile <- nil
	}
	cpu0, err := cpuTime(sched)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if err := createPods(ctx, podsAPI, pods, 16, mkPod); err != nil {
		return nil, err
	}
	created := time.Since(start)
	var end time.Time
	select {
	case end = <-lastBind:
	case err := <-watchErr:
		return nil, fmt.Errorf("watch: %w", err)
	case <-time.After(10 * time.Minute):
		return nil, fmt.Errorf("not every pod was bound after 10 minutes; see %s", filepath.Join(c.Dir, "scheduler.log"))
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	cpu1, err := cpuTime(sched)
	if err != nil {
		return nil, err
	}
	res := &SchedulingCase{Name: name, Nodes: nodes, Pods: pods, Elapsed: end.Sub(start), Created: created, CPU: cpu1 - cpu0}
	res.PodsPerSec = float64(pods) / res.Elapsed.Seconds()
	time.Sleep(time.Second) // let the last bind events settle
	if res.RSS, err = sched.RSS(); err != nil {
		return nil, err
	}
	if err := <-cpuProfile; err != nil {
		return nil, err
	}
	if profDir != "" {
		if err := saveAdmin(admin, "/metrics", base+".metrics"); err != nil {
			return nil, err
		}
		if err := saveAdmin(admin, "/debug/pprof/heap?gc=1", base+".heap.pb.gz"); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// cpuTime is the user plus system CPU time p has used, from
// /proc/<pid>/stat (in clock ticks of 1/100 s on Linux).
func cpuTime(p *Proc) (time.Duration, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.Cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// Fields after the parenthesised command name: state is field 3,
	// utime and stime are fields 14 and 15.
	_, rest, ok := strings.Cut(string(raw), ") ")
	f := strings.Fields(rest)
	if !ok || len(f) < 13 {
		return 0, fmt.Errorf("cannot parse /proc/%d/stat", p.Cmd.Process.Pid)
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", p.Cmd.Process.Pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}

// HeapProfileDirEnv names a directory: when set, each scheduler case saves
// there a CPU profile of the scheduler's first 5 seconds of work, and after
// the run its metrics (go_memstats_*) and heap profile (go tool pprof reads
// the profiles).
const HeapProfileDirEnv = "FLOTILLA_BENCH_HEAP_DIR"

// saveAdmin saves what the admin server answers on path.
func saveAdmin(admin, path, file string) error {
	resp, err := http.Get("http://" + admin + path)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	return os.WriteFile(file, b, 0o644)
}

// createNodes makes Ready nodes of the upstream measurement's size (cpu 32,
// memory 128Gi, pods 110) with 16 workers.
func createNodes(ctx context.Context, cli *client.Client, count int) error {
	nodes := client.For[*corev1.Node](cli)
	var next atomic.Int64
	g, ctx := errgroup.WithContext(ctx)
	for range 16 {
		g.Go(func() error {
			for {
				n := next.Add(1) - 1
				if n >= int64(count) {
					return nil
				}
				name := fmt.Sprintf("node-%04d", n)
				created, err := nodes.Create(ctx, &corev1.Node{Metadata: &metav1.ObjectMeta{Name: name, Labels: map[string]string{
					"kubernetes.io/hostname": name, "topology.kubernetes.io/zone": fmt.Sprintf("zone-%d", n%3),
				}}})
				if err != nil {
					return err
				}
				q := func(s string) *metav1.Quantity { return &metav1.Quantity{String_: s} }
				res := map[string]*metav1.Quantity{"cpu": q("32"), "memory": q("128Gi"), "pods": q("110")}
				created.Status = &corev1.NodeStatus{Capacity: res, Allocatable: res, Conditions: []*corev1.NodeCondition{{Type: "Ready", Status: "True"}}}
				if _, err := nodes.UpdateStatus(ctx, created); err != nil {
					return err
				}
			}
		})
	}
	return g.Wait()
}

func createPods(ctx context.Context, pods *client.Resource[*corev1.Pod], count, workers int, mk func(int) *corev1.Pod) error {
	var next atomic.Int64
	g, ctx := errgroup.WithContext(ctx)
	for range workers {
		g.Go(func() error {
			for {
				n := next.Add(1) - 1
				if n >= int64(count) {
					return nil
				}
				if _, err := pods.Create(ctx, mk(int(n))); err != nil {
					return err
				}
			}
		})
	}
	return g.Wait()
}

// startScheduler runs bin/scheduler against the cluster and waits until
// it is ready (informers synced).
func startScheduler(ctx context.Context, c *Cluster, binDir string) (*Proc, error) {
	p, _, err := startSchedulerAdmin(ctx, c, binDir)
	return p, err
}

// startSchedulerAdmin is startScheduler that also returns the scheduler's
// admin address.
func startSchedulerAdmin(ctx context.Context, c *Cluster, binDir string) (*Proc, string, error) {
	ca := filepath.Join(c.Dir, "bench-ca.crt")
	if err := os.WriteFile(ca, c.Config.CAData, 0o600); err != nil {
		return nil, "", err
	}
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	admin := fmt.Sprintf("127.0.0.1:%d", port)
	p, err := start(c.Dir, "scheduler", filepath.Join(binDir, "scheduler"),
		"--server", c.Config.Server, "--token", c.Config.Token, "--certificate-authority", ca,
		"--admin-address", admin, "--log-level", "warn")
	if err != nil {
		return nil, "", err
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, admin, nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			p.Stop()
			log, _ := os.ReadFile(filepath.Join(c.Dir, "scheduler.log"))
			return nil, "", fmt.Errorf("scheduler not ready: %v\n%s", err, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
