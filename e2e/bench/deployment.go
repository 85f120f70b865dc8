package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	appsv1 "flotilla.io/proto/flotilla/apps/v1"
	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
	"flotilla.io/sdk/client"
)

// DeploymentResult is what the Deployment benchmark measured.
type DeploymentResult struct {
	Replicas                 int
	Binder                   string
	Created, Bound, Ready    time.Duration
	RolloutCreated, Rollout  time.Duration
	RSSIdle, RSSPeak, RSSEnd int64
}

// Print writes the results as a table.
func (r *DeploymentResult) Print(w io.Writer) {
	fmt.Fprintf(w, "deployment benchmark (controller-manager process, %d replicas, pods bound by %s, marked ready by the bench)\n", r.Replicas, r.Binder)
	fmt.Fprintf(w, "  %-46s %s\n", fmt.Sprintf("create → %d pods exist", r.Replicas), secs(r.Created))
	fmt.Fprintf(w, "  %-46s %s\n", fmt.Sprintf("create → %d pods bound", r.Replicas), secs(r.Bound))
	fmt.Fprintf(w, "  %-46s %s\n", "create → deployment available (all ready)", secs(r.Ready))
	fmt.Fprintf(w, "  %-46s %s\n", fmt.Sprintf("rolling update → %d new pods exist", r.Replicas), secs(r.RolloutCreated))
	fmt.Fprintf(w, "  %-46s %s\n", "rolling update → complete", secs(r.Rollout))
	fmt.Fprintf(w, "  %-46s %s / %s / %s\n", "controller-manager RSS idle / peak / end", MiB(r.RSSIdle), MiB(r.RSSPeak), MiB(r.RSSEnd))
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

// Deployment runs a Deployment of replicas pods to availability and then
// through a rolling update, on simulated nodes, timing each stage.
func Deployment(ctx context.Context, binDir string, replicas int, progress io.Writer) (*DeploymentResult, error) {
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
	r := &DeploymentResult{Replicas: replicas}
	nodes := replicas/100 + 10 // 110 pods fit on each
	fmt.Fprintf(progress, "deployment: %d nodes ...\n", nodes)
	if err := createNodes(ctx, cli, nodes); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if sched, err := startScheduler(ctx, c, binDir); err == nil {
		defer sched.Stop()
		r.Binder = "bin/scheduler"
	} else {
		fmt.Fprintf(progress, "deployment: no working scheduler (%v); binding from the bench\n", firstLine(err))
		r.Binder = "the bench (concurrent Bind calls)"
		go bindLoop(ctx, cli, nodes)
	}
	cm, err := startControllerManager(ctx, c, binDir)
	if err != nil {
		return nil, err
	}
	defer cm.Stop()
	time.Sleep(time.Second)
	if r.RSSIdle, err = cm.RSS(); err != nil {
		return nil, err
	}
	var peak atomic.Int64
	go func() {
		for ctx.Err() == nil {
			if rss, err := cm.RSS(); err == nil && rss > peak.Load() {
				peak.Store(rss)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()

	tr := newPodTracker()
	go kubeletLoop(ctx, cli, tr)
	if _, err := cli.Dynamic().Create(ctx, &corev1.Namespace{Metadata: &metav1.ObjectMeta{Name: "bench-deploy"}}); err != nil {
		return nil, err
	}
	deploys := client.For[*appsv1.Deployment](cli)
	d := &appsv1.Deployment{
		Metadata: &metav1.ObjectMeta{Name: "web", Namespace: "bench-deploy"},
		Spec: &appsv1.DeploymentSpec{
			Replicas: proto.Int32(int32(replicas)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "bench"}},
			Template: &corev1.PodTemplateSpec{
				Metadata: &metav1.ObjectMeta{Labels: map[string]string{"app": "bench"}},
				Spec:     benchPod("", "").Spec,
			},
		},
	}
	fmt.Fprintf(progress, "deployment: %d replicas ...\n", replicas)
	t0 := time.Now()
	if _, err := deploys.Create(ctx, d); err != nil {
		return nil, err
	}
	if r.Created, err = tr.waitFor(ctx, t0, func(s podCounts) bool { return s.created >= replicas }); err != nil {
		return nil, err
	}
	if r.Bound, err = tr.waitFor(ctx, t0, func(s podCounts) bool { return s.bound >= replicas }); err != nil {
		return nil, err
	}
	if r.Ready, err = waitDeployment(ctx, deploys, t0); err != nil {
		return nil, err
	}

	fmt.Fprintln(progress, "deployment: rolling update ...")
	cur, err := deploys.Get(ctx, "bench-deploy", "web")
	if err != nil {
		return nil, err
	}
	before := tr.counts().created
	cur.Spec.Template.Spec.Containers[0].Image = "busybox:1.36"
	t1 := time.Now()
	if _, err := deploys.Update(ctx, cur); err != nil {
		return nil, err
	}
	if r.RolloutCreated, err = tr.waitFor(ctx, t1, func(s podCounts) bool { return s.created-before >= replicas }); err != nil {
		return nil, err
	}
	if r.Rollout, err = waitDeployment(ctx, deploys, t1); err != nil {
		return nil, err
	}
	r.RSSPeak = peak.Load()
	if r.RSSEnd, err = cm.RSS(); err != nil {
		return nil, err
	}
	r.RSSPeak = max(r.RSSPeak, r.RSSEnd)
	return r, nil
}

func firstLine(err error) string {
	s := err.Error()
	for i := range len(s) {
		if s[i] == '\n' {
			return s[:i]
		}
	}
	return s
}

// waitDeployment waits until the rollout is complete: every replica
// updated and available, the latest generation observed.
func waitDeployment(ctx context.Context, deploys *client.Resource[*appsv1.Deployment], since time.Time) (time.Duration, error) {
	deadline := time.Now().Add(10 * time.Minute)
	for {
		d, err := deploys.Get(ctx, "bench-deploy", "web")
		if err != nil {
			return 0, err
		}
		st, want := d.GetStatus(), d.Spec.GetReplicas()
		if st.GetObservedGeneration() >= d.Metadata.Generation && st.GetUpdatedReplicas() == want && st.GetReplicas() == want && st.GetAvailableReplicas() == want {
			return time.Since(since), nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("deployment not complete after 10 minutes: %v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type podCounts struct{ created, bound int }

// podTracker counts pods seen created and bound, from a watch.
type podTracker struct {
	mu      sync.Mutex
	c       podCounts
	bound   map[string]bool
	changed chan struct{}
	work    chan *corev1.Pod
}

func newPodTracker() *podTracker {
	return &podTracker{bound: map[string]bool{}, changed: make(chan struct{}, 1), work: make(chan *corev1.Pod, 1<<16)}
}

func (t *podTracker) counts() podCounts {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.c
}

func (t *podTracker) waitFor(ctx context.Context, since time.Time, done func(podCounts) bool) (time.Duration, error) {
	deadline := time.After(10 * time.Minute)
	for {
		if c := t.counts(); done(c) {
			return time.Since(since), nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-deadline:
			return 0, fmt.Errorf("timed out; pods seen: %+v", t.counts())
		case <-t.changed:
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// kubeletLoop plays the kubelets: every bound pod is reported Running and
// Ready, every terminating pod's deletion is confirmed. 32 workers.
func kubeletLoop(ctx context.Context, cli *client.Client, t *podTracker) {
	pods := client.For[*corev1.Pod](cli)
	for range 32 {
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case p := <-t.work:
					if p.Metadata.DeletionTimestamp != nil {
						_ = pods.Delete(ctx, p.Metadata.Namespace, p.Metadata.Name, client.DeleteOptions{GracePeriodSeconds: proto.Int64(0)})
						continue
					}
					now := timestamppb.Now()
					p = proto.Clone(p).(*corev1.Pod)
					p.Status = &corev1.PodStatus{Phase: "Running", StartTime: now, PodIp: "10.0.0.1", Conditions: []*corev1.PodCondition{
						{Type: "PodScheduled", Status: "True", LastTransitionTime: now},
						{Type: "Ready", Status: "True", LastTransitionTime: now},
					}}
					_, _ = pods.UpdateStatus(ctx, p)
				}
			}
		}()
	}
	for ctx.Err() == nil {
		w, err := pods.Watch(ctx, client.WatchOptions{Namespace: "bench-deploy"})
		if err != nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		for {
			ev, err := w.Next()
			if err != nil {
				break
			}
			p := ev.Object
			if ev.Type == client.Bookmark || ev.Type == client.Deleted || p.GetMetadata() == nil {
				continue
			}
			t.mu.Lock()
			if ev.Type == client.Added {
				t.c.created++
			}
			if p.Spec.GetNodeName() != "" && !t.bound[p.Metadata.Name] {
				t.bound[p.Metadata.Name] = true
				t.c.bound++
			}
			t.mu.Unlock()
			select {
			case t.changed <- struct{}{}:
			default:
			}
			if p.Metadata.DeletionTimestamp != nil || (p.Spec.GetNodeName() != "" && p.GetStatus().GetPhase() != "Running") {
				t.work <- p
			}
		}
		w.Stop()
	}
}

// bindLoop binds unscheduled pods round robin, with many concurrent Bind
// calls, when there is no scheduler.
func bindLoop(ctx context.Context, cli *client.Client, nodes int) {
	pods := client.For[*corev1.Pod](cli)
	work := make(chan *corev1.Pod, 1<<16)
	var next atomic.Int64
	for range 32 {
		go func() {
			for p := range work {
				node := fmt.Sprintf("node-%04d", next.Add(1)%int64(nodes))
				_, _ = cli.Bind(ctx, p.Metadata.Namespace, p.Metadata.Name, p.Metadata.Uid, node)
			}
		}()
	}
	defer close(work)
	for ctx.Err() == nil {
		w, err := pods.Watch(ctx, client.WatchOptions{Namespace: "bench-deploy", FieldSelector: "spec.nodeName="})
		if err != nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		for {
			ev, err := w.Next()
			if err != nil {
				break
			}
			if ev.Type == client.Added && ev.Object.GetSpec().GetNodeName() == "" {
				work <- ev.Object
			}
		}
		w.Stop()
	}
}

// startControllerManager runs bin/controller-manager with the replica and
// deployment loops and waits until it is ready.
func startControllerManager(ctx context.Context, c *Cluster, binDir string) (*Proc, error) {
	ca := filepath.Join(c.Dir, "bench-ca.crt")
	if err := os.WriteFile(ca, c.Config.CAData, 0o600); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	admin := fmt.Sprintf("127.0.0.1:%d", port)
	p, err := start(c.Dir, "controller-manager", filepath.Join(binDir, "controller-manager"),
		"--server", c.Config.Server, "--token", c.Config.Token, "--certificate-authority", ca,
		"--admin-address", admin, "--log-level", "warn", "--controllers", "replicaset,deployment")
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			p.Stop()
			log, _ := os.ReadFile(filepath.Join(c.Dir, "controller-manager.log"))
			return nil, fmt.Errorf("controller-manager not ready: %v\n%s", err, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
