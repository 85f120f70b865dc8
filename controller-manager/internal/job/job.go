// Package job is the Job controller: it runs a Job's pods until enough of
// them succeed (completions, parallelism, Indexed mode), retries failures with
// exponential backoff up to backoffLimit, enforces activeDeadlineSeconds and
// suspend, and deletes finished Jobs after ttlSecondsAfterFinished.
//
// Finished pods are counted the way upstream does: each pod carries the
// batch.kubernetes.io/job-tracking finalizer; a finished pod's uid is first
// written to status.uncountedTerminatedPods, then its finalizer is removed,
// then it moves into status.succeeded/failed. So a pod deleted by anyone is
// counted exactly once.
package job

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	batchv1 "flotilla.io/proto/flotilla/batch/v1"
	corev1 "flotilla.io/proto/flotilla/core/v1"

	"flotilla.io/sdk/client"
	"flotilla.io/sdk/events"
	"flotilla.io/sdk/informer"
	"flotilla.io/sdk/workqueue"

	"flotilla.io/controller-manager/internal/controller"
	"flotilla.io/controller-manager/internal/controllerutil"
)

func init() {
	controller.Register("job", func(c *controller.Context) (controller.Loop, error) { return New(c, Options{}) })
}

// Options tune the controller; zero values are upstream's.
type Options struct {
	// BackoffBase is the delay before the first replacement of a failed
	// pod, doubling per further failure up to BackoffMax (10s, 6m).
	BackoffBase, BackoffMax time.Duration
	// Now is the clock (time.Now).
	Now func() time.Time
}

// ownerIndex files pods under the uid of the Job that controls them.
const ownerIndex = "job-controller-uid"

// Controller is the Job loop.
type Controller struct {
	cc      *controller.Context
	log     *zap.Logger
	opts    Options
	jobs    *informer.Informer[*batchv1.Job]
	pods    *informer.Informer[*corev1.Pod]
	jobAPI  *client.Resource[*batchv1.Job]
	podAPI  *client.Resource[*corev1.Pod]
	queue   workqueue.Queue[string]
	backoff backoff
}

// New builds the Job controller from the shared informers.
func New(cc *controller.Context, opts Options) (*Controller, error) {
	if opts.BackoffBase <= 0 {
		opts.BackoffBase = 10 * time.Second
	}
	if opts.BackoffMax <= 0 {
		opts.BackoffMax = 6 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	c := &Controller{
		cc: cc, log: cc.Log.Named("job"), opts: opts,
		jobs:    informer.For[*batchv1.Job](cc.Informers),
		pods:    informer.For[*corev1.Pod](cc.Informers),
		jobAPI:  client.For[*batchv1.Job](cc.Client),
		podAPI:  client.For[*corev1.Pod](cc.Client),
		queue:   workqueue.New("job", workqueue.Options[string]{Metrics: workqueue.NewMetrics(cc.Registry)}),
		backoff: backoff{opts.BackoffBase, opts.BackoffMax},
	}
	if err := c.pods.AddIndex(ownerIndex, func(p *corev1.Pod) []string {
		if ref := controllerutil.ControllerOf(p.GetMetadata()); ref != nil && ref.Kind == "Job" {
			return []string{ref.Uid}
		}
		return nil
	}); err != nil {
		return nil, err
	}
	enqueue := func(j *batchv1.Job) { c.queue.Add(informer.KeyOf(j)) }
	c.jobs.AddHandler(informer.Handler[*batchv1.Job]{
		OnAdd: enqueue, OnUpdate: func(_, j *batchv1.Job) { enqueue(j) }, OnDelete: enqueue,
	})
	podChanged := func(p *corev1.Pod) {
		if ref := controllerutil.ControllerOf(p.GetMetadata()); ref != nil && ref.Kind == "Job" {
			c.queue.Add(informer.Key(p.Metadata.Namespace, ref.Name))
		}
	}
	c.pods.AddHandler(informer.Handler[*corev1.Pod]{
		OnAdd: podChanged, OnUpdate: func(_, p *corev1.Pod) { podChanged(p) }, OnDelete: podChanged,
	})
	return c, nil
}

// Start runs the workers until ctx ends.
func (c *Controller) Start(ctx context.Context) error {
	workqueue.Run(ctx, c.queue, c.cc.Workers, c.log, c.reconcile)
	return nil
}

func (c *Controller) reconcile(ctx context.Context, key string) (workqueue.Result, error) {
	ns, name := informer.SplitKey(key)
	cached, err := c.jobs.Lister().Get(ns, name)
	if client.IsNotFound(err) {
		return workqueue.Result{}, nil
	}
	j := proto.Clone(cached).(*batchv1.Job)
	now := c.opts.Now()
	if _, at, done := finished(j); done {
		return c.cleanUp(ctx, j, at, now)
	}
	if j.Metadata.DeletionTimestamp != nil {
		return workqueue.Result{}, nil
	}
	pods, err := c.pods.Lister().ByIndex(ownerIndex, j.Metadata.Uid)
	if err != nil {
		return workqueue.Result{}, err
	}

	// Count finished pods: record them as uncounted, then release them.
	t := track(j, pods)
	if len(t.succeeded)+len(t.failed) > 0 || t.failJob != nil {
		st := j.Status
		if st == nil {
			st = &batchv1.JobStatus{}
			j.Status = st
		}
		if st.UncountedTerminatedPods == nil {
			st.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{}
		}
		for _, p := range t.succeeded {
			st.UncountedTerminatedPods.Succeeded = append(st.UncountedTerminatedPods.Succeeded, p.Metadata.Uid)
		}
		for _, p := range t.failed {
			st.UncountedTerminatedPods.Failed = append(st.UncountedTerminatedPods.Failed, p.Metadata.Uid)
		}
		if t.failJob != nil {
			setCondition(st, condFailureTarget, "True", reasonPodFailurePolicy,
				fmt.Sprintf("Pod %s/%s failed with a rule of the podFailurePolicy", ns, t.failJob.Metadata.Name), now)
		}
		if j, err = c.jobAPI.UpdateStatus(ctx, j); err != nil {
			return workqueue.Result{}, err
		}
	}
	released := map[string]bool{}
	unc := j.GetStatus().GetUncountedTerminatedPods()
	listed := append(slices.Clone(unc.GetSucceeded()), unc.GetFailed()...)
	for _, p := range pods {
		if !hasFinalizer(p) || !(slices.Contains(listed, p.Metadata.Uid) || slices.Contains(t.dropped, p)) {
			continue
		}
		if err := c.releasePod(ctx, p); err != nil {
			return workqueue.Result{}, err
		}
		released[p.Metadata.Uid] = true
	}

	pl := decide(j, pods, released, now, c.backoff)
	var errs []error
	for _, p := range pl.remove {
		if err := c.podAPI.Delete(ctx, p.Metadata.Namespace, p.Metadata.Name, client.DeleteOptions{
			Preconditions: &client.Preconditions{UID: p.Metadata.Uid}, PropagationPolicy: client.Background,
		}); err != nil && !client.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	var created []string
	for _, idx := range pl.create {
		p, err := c.podAPI.Create(ctx, newPod(j, idx))
		if err != nil {
			errs = append(errs, err)
			break // a failing create would fail again; retry with backoff
		}
		created = append(created, p.Metadata.Name)
		c.cc.Recorder.Eventf(j, events.Normal, "SuccessfulCreate", "Created pod: %s", p.Metadata.Name)
	}
	for _, p := range pl.remove {
		c.cc.Recorder.Eventf(j, events.Normal, "SuccessfulDelete", "Deleted pod: %s", p.Metadata.Name)
	}
	if !proto.Equal(pl.status, j.GetStatus()) {
		j.Status = pl.status
		if _, err := c.jobAPI.UpdateStatus(ctx, j); err != nil {
			errs = append(errs, err)
		} else if pl.event != nil {
			c.cc.Recorder.Event(j, pl.event.typ, pl.event.reason, pl.event.msg)
		}
	}
	// Our next look must see our own writes, or it would create again.
	controllerutil.WaitForPodCache(ctx, c.pods.Lister(), ns, created, pl.remove)
	if err := errors.Join(errs...); err != nil {
		return workqueue.Result{}, err
	}
	j.Status = pl.status
	if _, at, done := finished(j); done {
		return c.cleanUp(ctx, j, at, now)
	}
	return workqueue.Result{RequeueAfter: pl.requeue}, nil
}

// releasePod removes the tracking finalizer.
func (c *Controller) releasePod(ctx context.Context, cached *corev1.Pod) error {
	for range 5 {
		p := proto.Clone(cached).(*corev1.Pod)
		p.Metadata.Finalizers = slices.DeleteFunc(p.Metadata.Finalizers, func(f string) bool { return f == trackingFinalizer })
		_, err := c.podAPI.Update(ctx, p)
		if err == nil || client.IsNotFound(err) {
			return nil
		}
		if !client.IsConflict(err) {
			return err
		}
		if cached, err = c.podAPI.Get(ctx, p.Metadata.Namespace, p.Metadata.Name); client.IsNotFound(err) {
			return nil
		} else if err != nil {
			return err
		}
		if !hasFinalizer(cached) {
			return nil
		}
	}
	return fmt.Errorf("release pod %s: conflicts", cached.Metadata.Name)
}

// cleanUp deletes a finished Job once its ttlSecondsAfterFinished passed.
func (c *Controller) cleanUp(ctx context.Context, j *batchv1.Job, finishedAt, now time.Time) (workqueue.Result, error) {
	ttl := j.GetSpec().TtlSecondsAfterFinished
	if ttl == nil || j.Metadata.DeletionTimestamp != nil {
		return workqueue.Result{}, nil
	}
	expiry := finishedAt.Add(time.Duration(*ttl) * time.Second)
	if now.Before(expiry) {
		return workqueue.Result{RequeueAfter: expiry.Sub(now)}, nil
	}
	err := c.jobAPI.Delete(ctx, j.Metadata.Namespace, j.Metadata.Name, client.DeleteOptions{
		Preconditions: &client.Preconditions{UID: j.Metadata.Uid}, PropagationPolicy: client.Background,
	})
	if err != nil && !client.IsNotFound(err) {
		return workqueue.Result{}, err
	}
	c.log.Info("deleted finished job after its TTL", zap.String("job", informer.KeyOf(j)))
	return workqueue.Result{}, nil
}

// newPod is a pod of j from its template; idx >= 0 is an Indexed pod's index.
func newPod(j *batchv1.Job, idx int) *corev1.Pod {
	p := controllerutil.PodFromTemplate(j.GetSpec().GetTemplate(), j.Metadata.Namespace, j.Metadata.Name,
		controllerutil.ControllerRef(j.Metadata, "batch/v1", "Job"))
	meta, spec := p.Metadata, p.Spec
	meta.Finalizers = append(meta.Finalizers, trackingFinalizer)
	if idx >= 0 {
		s := strconv.Itoa(idx)
		meta.GenerateName = fmt.Sprintf("%s-%d-", j.Metadata.Name, idx)
		if meta.Annotations == nil {
			meta.Annotations = map[string]string{}
		}
		if meta.Labels == nil {
			meta.Labels = map[string]string{}
		}
		meta.Annotations[indexAnnotation], meta.Labels[indexAnnotation] = s, s
		if spec.Hostname == "" {
			spec.Hostname = fmt.Sprintf("%s-%d", j.Metadata.Name, idx)
		}
		env := &corev1.EnvVar{Name: indexEnv, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{
			ApiVersion: "v1", FieldPath: "metadata.annotations['" + indexAnnotation + "']",
		}}}
		for _, ctr := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
			if !slices.ContainsFunc(ctr.Env, func(e *corev1.EnvVar) bool { return e.Name == indexEnv }) {
				ctr.Env = append(ctr.Env, proto.Clone(env).(*corev1.EnvVar))
			}
		}
	}
	return p
}
