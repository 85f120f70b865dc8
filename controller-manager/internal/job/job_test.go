package job

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	batchv1 "flotilla.io/proto/flotilla/batch/v1"
	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"

	"flotilla.io/apiserver/testserver"
	"flotilla.io/sdk/client"
	"flotilla.io/sdk/events"
	"flotilla.io/sdk/informer"

	"flotilla.io/controller-manager/internal/controller"
	"flotilla.io/controller-manager/internal/testkubelet"
)

type env struct {
	ctx  context.Context
	c    *client.Client
	jobs *client.Resource[*batchv1.Job]
	pods *client.Resource[*corev1.Pod]
	kl   *testkubelet.Kubelet
}

// start runs a real apiserver, the stand-in kubelet with two nodes and the
// Job controller with a 100ms backoff base.
func start(t *testing.T) *env {
	t.Helper()
	s := testserver.Start(t)
	c := s.Client(s.Config)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	kl, err := testkubelet.Start(ctx, c, "n1", "n2")
	if err != nil {
		t.Fatal(err)
	}
	factory := informer.NewFactory(c, informer.Options{})
	b := events.NewBroadcaster(events.Config{Client: c, Component: "test"})
	cc := &controller.Context{Client: c, Informers: factory, Recorder: b.Recorder(), Log: zap.NewNop(), Registry: prometheus.NewRegistry(), Workers: 2}
	jc, err := New(cc, Options{BackoffBase: 100 * time.Millisecond, BackoffMax: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	t.Cleanup(cancel)
	wg.Go(func() { _ = factory.Start(ctx) })
	wg.Go(func() { _ = b.Start(ctx) })
	if !factory.WaitForSync(ctx) {
		t.Fatal("informers never synced")
	}
	wg.Go(func() { _ = jc.Start(ctx) })
	return &env{ctx: ctx, c: c, jobs: client.For[*batchv1.Job](c), pods: client.For[*corev1.Pod](c), kl: kl}
}

func newJob(name string, ann map[string]string, mut func(*batchv1.JobSpec)) *batchv1.Job {
	j := &batchv1.Job{
		Metadata: &metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: &batchv1.JobSpec{Template: &corev1.PodTemplateSpec{
			Metadata: &metav1.ObjectMeta{Annotations: ann},
			Spec:     &corev1.PodSpec{RestartPolicy: "Never", Containers: []*corev1.Container{{Name: "c", Image: "busybox:1.35"}}},
		}},
	}
	if mut != nil {
		mut(j.Spec)
	}
	return j
}

func (e *env) create(t *testing.T, j *batchv1.Job) *batchv1.Job {
	t.Helper()
	j, err := e.jobs.Create(e.ctx, j)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// waitFor polls until cond holds for the Job (30 s).
func (e *env) waitFor(t *testing.T, name, what string, cond func(*batchv1.Job) bool) *batchv1.Job {
	t.Helper()
	var j *batchv1.Job
	eventually(t, "job "+name+" "+what, func() bool {
		var err error
		j, err = e.jobs.Get(e.ctx, "default", name)
		return err == nil && cond(j)
	})
	return j
}

// eventually polls cond for up to 30 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %s", what)
		}
	}
}

func (e *env) jobPods(t *testing.T, j *batchv1.Job) []*corev1.Pod {
	t.Helper()
	l, err := e.pods.List(e.ctx, client.ListOptions{Namespace: "default", LabelSelector: "batch.kubernetes.io/job-name=" + j.Metadata.Name})
	if err != nil {
		t.Fatal(err)
	}
	return l.Items
}

func hasCond(typ, reason string) func(*batchv1.Job) bool {
	return func(j *batchv1.Job) bool {
		c := condition(j.GetStatus(), typ)
		return c != nil && c.Status == "True" && (reason == "" || c.Reason == reason)
	}
}

func TestCompletionsAndParallelism(t *testing.T) {
	e := start(t)
	j := e.create(t, newJob("par", map[string]string{testkubelet.ExitCode: "0", testkubelet.RunFor: "300ms"}, func(s *batchv1.JobSpec) {
		s.Completions, s.Parallelism = proto.Int32(5), proto.Int32(2)
	}))
	// Watch the pods: never more than two running at once.
	w, err := e.pods.Watch(e.ctx, client.WatchOptions{Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	maxActive := 0
	go func() {
		live := map[string]bool{}
		for {
			ev, err := w.Next()
			if err != nil {
				return
			}
			p := ev.Object
			if p == nil {
				continue
			}
			running := !terminal(p) && p.Metadata.DeletionTimestamp == nil && ev.Type != client.Deleted
			live[p.Metadata.Uid] = running
			n := 0
			for _, r := range live {
				if r {
					n++
				}
			}
			mu.Lock()
			maxActive = max(maxActive, n)
			mu.Unlock()
		}
	}()
	j = e.waitFor(t, "par", "completed", hasCond(condComplete, ""))
	w.Stop()
	if j.Status.Succeeded != 5 || j.Status.Active != 0 || j.Status.CompletionTime == nil {
		t.Errorf("status = %v, want 5 succeeded, 0 active, completionTime", j.Status)
	}
	if !hasCond(condSuccessCriteriaMet, "")(j) {
		t.Error("no SuccessCriteriaMet condition")
	}
	mu.Lock()
	if maxActive > 2 || maxActive == 0 {
		t.Errorf("at most %d pods active at once, want 2", maxActive)
	}
	mu.Unlock()
	pods := e.jobPods(t, j)
	if len(pods) != 5 {
		t.Errorf("%d pods, want 5", len(pods))
	}
	for _, p := range pods {
		if hasFinalizer(p) {
			t.Errorf("pod %s still has the tracking finalizer", p.Metadata.Name)
		}
	}
}

func TestBackoffLimit(t *testing.T) {
	e := start(t)
	e.create(t, newJob("fail", map[string]string{testkubelet.ExitCode: "1"}, func(s *batchv1.JobSpec) { s.BackoffLimit = proto.Int32(2) }))
	j := e.waitFor(t, "fail", "failed", hasCond(condFailed, reasonBackoffLimit))
	if j.Status.Failed != 3 || j.Status.Succeeded != 0 || j.Status.Active != 0 {
		t.Errorf("status = %v, want 3 failed", j.Status)
	}
	if !hasCond(condFailureTarget, reasonBackoffLimit)(j) {
		t.Error("no FailureTarget condition")
	}
	if n := len(e.jobPods(t, j)); n != 3 {
		t.Errorf("%d pods, want 3 (backoffLimit 2 + 1)", n)
	}
}

func TestActiveDeadline(t *testing.T) {
	e := start(t)
	e.create(t, newJob("slow", nil, func(s *batchv1.JobSpec) { s.ActiveDeadlineSeconds = proto.Int64(1) }))
	j := e.waitFor(t, "slow", "failed by deadline", hasCond(condFailed, reasonDeadline))
	if j.Status.Active != 0 {
		t.Errorf("active = %d after the deadline", j.Status.Active)
	}
	eventually(t, "the running pod deleted", func() bool { return len(e.jobPods(t, j)) == 0 })
}

func TestIndexed(t *testing.T) {
	e := start(t)
	e.create(t, newJob("idx", map[string]string{testkubelet.ExitCode: "0"}, func(s *batchv1.JobSpec) {
		s.Completions, s.Parallelism, s.CompletionMode = proto.Int32(4), proto.Int32(2), proto.String("Indexed")
	}))
	j := e.waitFor(t, "idx", "completed", hasCond(condComplete, ""))
	if j.Status.CompletedIndexes != "0-3" || j.Status.Succeeded != 4 {
		t.Errorf("status = %v, want completedIndexes 0-3", j.Status)
	}
	seen := map[string]bool{}
	for _, p := range e.jobPods(t, j) {
		idx := p.Metadata.Annotations[indexAnnotation]
		seen[idx] = true
		if !strings.HasPrefix(p.Metadata.Name, "idx-"+idx+"-") || p.Spec.Hostname != "idx-"+idx {
			t.Errorf("pod %s (hostname %s) for index %s", p.Metadata.Name, p.Spec.Hostname, idx)
		}
		ev := p.Spec.Containers[0].Env
		if len(ev) != 1 || ev[0].Name != indexEnv || ev[0].GetValueFrom().GetFieldRef().GetFieldPath() != "metadata.annotations['batch.kubernetes.io/job-completion-index']" {
			t.Errorf("pod %s env = %v", p.Metadata.Name, ev)
		}
	}
	for i := range 4 {
		if !seen[fmt.Sprint(i)] {
			t.Errorf("no pod for index %d", i)
		}
	}
}

func TestSuspendResume(t *testing.T) {
	e := start(t)
	e.create(t, newJob("sus", nil, func(s *batchv1.JobSpec) { s.Parallelism, s.Completions = proto.Int32(2), proto.Int32(2) }))
	j := e.waitFor(t, "sus", "running two pods", func(j *batchv1.Job) bool { return j.GetStatus().GetActive() == 2 })
	j.Spec.Suspend = proto.Bool(true)
	if _, err := e.jobs.Update(e.ctx, j); err != nil {
		t.Fatal(err)
	}
	j = e.waitFor(t, "sus", "suspended", func(j *batchv1.Job) bool {
		return hasCond(condSuspended, "JobSuspended")(j) && j.Status.Active == 0 && j.Status.GetTerminating() == 0
	})
	if j.Status.Failed != 0 || j.Status.StartTime != nil {
		t.Errorf("suspended status = %v, want no failures and no startTime", j.Status)
	}
	eventually(t, "pods of the suspended job gone", func() bool { return len(e.jobPods(t, j)) == 0 })
	j.Spec.Suspend = proto.Bool(false)
	if _, err := e.jobs.Update(e.ctx, j); err != nil {
		t.Fatal(err)
	}
	j = e.waitFor(t, "sus", "resumed", func(j *batchv1.Job) bool {
		c := condition(j.GetStatus(), condSuspended)
		return c != nil && c.Status == "False" && c.Reason == "JobResumed" && j.Status.Active == 2
	})
	if j.Status.StartTime == nil {
		t.Error("no startTime after resume")
	}
}

func TestTTLAfterFinished(t *testing.T) {
	e := start(t)
	e.create(t, newJob("ttl", map[string]string{testkubelet.ExitCode: "0"}, func(s *batchv1.JobSpec) { s.TtlSecondsAfterFinished = proto.Int32(1) }))
	e.waitFor(t, "ttl", "completed", hasCond(condComplete, ""))
	eventually(t, "finished job deleted after its TTL", func() bool {
		_, err := e.jobs.Get(e.ctx, "default", "ttl")
		return client.IsNotFound(err)
	})
}

func TestPodFailurePolicy(t *testing.T) {
	e := start(t)
	e.create(t, newJob("pfp", map[string]string{testkubelet.ExitCode: "42"}, func(s *batchv1.JobSpec) {
		s.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []*batchv1.PodFailurePolicyRule{{
			Action: "FailJob", OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: "In", Values: []int32{42}},
		}}}
	}))
	j := e.waitFor(t, "pfp", "failed by policy", hasCond(condFailed, reasonPodFailurePolicy))
	if j.Status.Failed != 1 {
		t.Errorf("failed = %d, want 1 (no retries)", j.Status.Failed)
	}
}
