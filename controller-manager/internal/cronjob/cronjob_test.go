package cronjob

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	batchv1 "flotilla.io/proto/flotilla/batch/v1"
	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"

	"flotilla.io/apiserver/testserver"
	"flotilla.io/sdk/client"
	"flotilla.io/sdk/events"
	"flotilla.io/sdk/informer"

	"flotilla.io/controller-manager/internal/controller"
	"flotilla.io/controller-manager/internal/controllerutil"
)

// clock is a fake clock the test moves by whole minutes.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

type env struct {
	ctx   context.Context
	cjs   *client.Resource[*batchv1.CronJob]
	jobs  *client.Resource[*batchv1.Job]
	clock *clock
	ctrl  *Controller
}

func start(t *testing.T) *env {
	t.Helper()
	s := testserver.Start(t)
	c := s.Client(s.Config)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	// A little past the next minute: the first "* * * * *" run is due.
	clk := &clock{now: time.Now().Truncate(time.Minute).Add(time.Minute + 5*time.Second)}
	factory := informer.NewFactory(c, informer.Options{})
	b := events.NewBroadcaster(events.Config{Client: c, Component: "test"})
	cc := &controller.Context{Client: c, Informers: factory, Recorder: b.Recorder(), Log: zap.NewNop(), Registry: prometheus.NewRegistry(), Workers: 2}
	ctrl, err := New(cc, Options{Now: clk.Now})
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
	wg.Go(func() { _ = ctrl.Start(ctx) })
	return &env{ctx: ctx, cjs: client.For[*batchv1.CronJob](c), jobs: client.For[*batchv1.Job](c), clock: clk, ctrl: ctrl}
}

// tick moves the clock a minute on and wakes the controller.
func (e *env) tick() {
	e.clock.mu.Lock()
	e.clock.now = e.clock.now.Add(time.Minute)
	e.clock.mu.Unlock()
	e.ctrl.Resync()
}

func (e *env) create(t *testing.T, name string, mut func(*batchv1.CronJobSpec)) {
	t.Helper()
	cj := &batchv1.CronJob{
		Metadata: &metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: &batchv1.CronJobSpec{Schedule: "* * * * *", JobTemplate: &batchv1.JobTemplateSpec{Spec: &batchv1.JobSpec{
			Template: &corev1.PodTemplateSpec{Spec: &corev1.PodSpec{RestartPolicy: "Never", Containers: []*corev1.Container{{Name: "c", Image: "busybox:1.35"}}}},
		}}},
	}
	if mut != nil {
		mut(cj.Spec)
	}
	if _, err := e.cjs.Create(e.ctx, cj); err != nil {
		t.Fatal(err)
	}
}

// owned lists the Jobs of a CronJob (not being deleted), oldest first.
func (e *env) owned(t *testing.T, cj string) []*batchv1.Job {
	t.Helper()
	l, err := e.jobs.List(e.ctx, client.ListOptions{Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	var out []*batchv1.Job
	for _, j := range l.Items {
		if r := controllerutil.ControllerOf(j.Metadata); r != nil && r.Name == cj && j.Metadata.DeletionTimestamp == nil {
			out = append(out, j)
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Metadata.Name < out[b].Metadata.Name })
	return out
}

// waitJobs waits until the CronJob has n Jobs and n active in its status.
func (e *env) waitJobs(t *testing.T, cj string, n, active int) []*batchv1.Job {
	t.Helper()
	var jobs []*batchv1.Job
	eventually(t, cj+" jobs", func() bool {
		jobs = e.owned(t, cj)
		c, err := e.cjs.Get(e.ctx, "default", cj)
		return err == nil && len(jobs) == n && len(c.GetStatus().GetActive()) == active
	})
	return jobs
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %s", what)
		}
	}
}

func (e *env) finish(t *testing.T, j *batchv1.Job, cond string) {
	t.Helper()
	now := timestamppb.New(e.clock.Now())
	j.Status = &batchv1.JobStatus{StartTime: now, Conditions: []*batchv1.JobCondition{{Type: cond, Status: "True", LastTransitionTime: now}}}
	if cond == "Complete" {
		j.Status.Conditions = append(j.Status.Conditions, &batchv1.JobCondition{Type: "SuccessCriteriaMet", Status: "True", LastTransitionTime: now})
		j.Status.CompletionTime, j.Status.Succeeded = now, 1
	} else {
		j.Status.Conditions = append(j.Status.Conditions, &batchv1.JobCondition{Type: "FailureTarget", Status: "True", LastTransitionTime: now})
		j.Status.Failed = 1
	}
	if _, err := e.jobs.UpdateStatus(e.ctx, j); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrencyPolicies(t *testing.T) {
	e := start(t)
	e.create(t, "allow", nil)
	e.create(t, "forbid", func(s *batchv1.CronJobSpec) { s.ConcurrencyPolicy = "Forbid" })
	e.create(t, "replace", func(s *batchv1.CronJobSpec) { s.ConcurrencyPolicy = "Replace" })
	e.ctrl.Resync()
	first := map[string]*batchv1.Job{}
	for _, n := range []string{"allow", "forbid", "replace"} {
		jobs := e.waitJobs(t, n, 1, 1)
		first[n] = jobs[0]
		want := jobName(&batchv1.CronJob{Metadata: &metav1.ObjectMeta{Name: n}}, e.clock.Now().Truncate(time.Minute))
		if jobs[0].Metadata.Name != want {
			t.Errorf("job %s, want %s", jobs[0].Metadata.Name, want)
		}
	}
	e.tick()
	e.waitJobs(t, "allow", 2, 2)
	jobs := e.waitJobs(t, "replace", 1, 1)
	if jobs[0].Metadata.Uid == first["replace"].Metadata.Uid {
		t.Error("Replace kept the old job")
	}
	e.waitJobs(t, "forbid", 1, 1)
	c, _ := e.cjs.Get(e.ctx, "default", "forbid")
	if !c.Status.LastScheduleTime.AsTime().Equal(e.clock.Now().Add(-time.Minute).Truncate(time.Minute)) {
		t.Errorf("forbid lastScheduleTime %v moved while skipping", c.Status.LastScheduleTime.AsTime())
	}
	// Once the forbidding job ends, the skipped run starts.
	e.finish(t, first["forbid"], "Complete")
	e.waitJobs(t, "forbid", 2, 1)
	// Status is written after the jobs: wait for it rather than race it.
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, _ = e.cjs.Get(e.ctx, "default", "forbid")
		if c.GetStatus().GetLastSuccessfulTime() != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no lastSuccessfulTime")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestHistoryLimits(t *testing.T) {
	e := start(t)
	e.create(t, "hist", func(s *batchv1.CronJobSpec) {
		s.SuccessfulJobsHistoryLimit, s.FailedJobsHistoryLimit = proto.Int32(2), proto.Int32(1)
	})
	e.ctrl.Resync()
	outcomes := []string{"Complete", "Failed", "Complete", "Failed", "Complete"}
	var kept []string
	for i, o := range outcomes {
		jobs := e.waitJobs(t, "hist", min(i, 3)+1, 1)
		last := jobs[len(jobs)-1]
		e.finish(t, last, o)
		kept = append(kept, last.Metadata.Name)
		e.waitJobs(t, "hist", min(i+1, 3), 0)
		e.tick()
	}
	// Kept: the last two successes (runs 2 and 4) and the last failure (3).
	want := []string{kept[2], kept[3], kept[4]}
	jobs := e.waitJobs(t, "hist", 4, 1)
	var got []string
	for _, j := range jobs[:3] {
		got = append(got, j.Metadata.Name)
	}
	if len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("kept %v, want %v", got, want)
	}
}

func TestSuspend(t *testing.T) {
	e := start(t)
	e.create(t, "sus", func(s *batchv1.CronJobSpec) { s.Suspend = proto.Bool(true) })
	e.ctrl.Resync()
	e.tick()
	time.Sleep(300 * time.Millisecond) // nothing to wait for: give it a chance to act wrongly
	if n := len(e.owned(t, "sus")); n != 0 {
		t.Fatalf("suspended CronJob created %d jobs", n)
	}
	c, err := e.cjs.Get(e.ctx, "default", "sus")
	if err != nil {
		t.Fatal(err)
	}
	c.Spec.Suspend = proto.Bool(false)
	if _, err := e.cjs.Update(e.ctx, c); err != nil {
		t.Fatal(err)
	}
	// Only the most recent missed run starts.
	jobs := e.waitJobs(t, "sus", 1, 1)
	want := jobName(c, e.clock.Now().Truncate(time.Minute))
	if jobs[0].Metadata.Name != want {
		t.Errorf("job %s, want %s", jobs[0].Metadata.Name, want)
	}
}
