// Package cronjob is the CronJob controller: it creates a Job for each time
// a CronJob's schedule comes due (cron syntax or macros, in spec.timeZone),
// following concurrencyPolicy and startingDeadlineSeconds, keeps
// status.active and the last schedule/success times, and prunes finished
// Jobs beyond the history limits.
package cronjob

import (
	"context"
	"errors"
	"slices"
	"time"
	_ "time/tzdata" // spec.timeZone works in a scratch image too

	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	batchv1 "flotilla.io/proto/flotilla/batch/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"

	"flotilla.io/sdk/client"
	"flotilla.io/sdk/events"
	"flotilla.io/sdk/informer"
	"flotilla.io/sdk/workqueue"

	"flotilla.io/controller-manager/internal/controller"
	"flotilla.io/controller-manager/internal/controllerutil"
)

func init() {
	controller.Register("cronjob", func(c *controller.Context) (controller.Loop, error) { return New(c, Options{}) })
}

// Options tune the controller.
type Options struct {
	// Now is the clock (time.Now); tests move a fake one and call Resync.
	Now func() time.Time
}

const ownerIndex = "cronjob-controller-uid"

// Controller is the CronJob loop.
type Controller struct {
	cc       *controller.Context
	log      *zap.Logger
	now      func() time.Time
	cronJobs *informer.Informer[*batchv1.CronJob]
	jobs     *informer.Informer[*batchv1.Job]
	cjAPI    *client.Resource[*batchv1.CronJob]
	jobAPI   *client.Resource[*batchv1.Job]
	queue    workqueue.Queue[string]
}

// New builds the CronJob controller from the shared informers.
func New(cc *controller.Context, opts Options) (*Controller, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	c := &Controller{
		cc: cc, log: cc.Log.Named("cronjob"), now: opts.Now,
		cronJobs: informer.For[*batchv1.CronJob](cc.Informers),
		jobs:     informer.For[*batchv1.Job](cc.Informers),
		cjAPI:    client.For[*batchv1.CronJob](cc.Client),
		jobAPI:   client.For[*batchv1.Job](cc.Client),
		queue:    workqueue.New("cronjob", workqueue.Options[string]{Metrics: workqueue.NewMetrics(cc.Registry)}),
	}
	if err := c.jobs.AddIndex(ownerIndex, func(j *batchv1.Job) []string {
		if r := controllerutil.ControllerOf(j.GetMetadata()); r != nil && r.Kind == "CronJob" {
			return []string{r.Uid}
		}
		return nil
	}); err != nil {
		return nil, err
	}
	enqueue := func(cj *batchv1.CronJob) { c.queue.Add(informer.KeyOf(cj)) }
	c.cronJobs.AddHandler(informer.Handler[*batchv1.CronJob]{
		OnAdd: enqueue, OnUpdate: func(_, cj *batchv1.CronJob) { enqueue(cj) },
	})
	jobChanged := func(j *batchv1.Job) {
		if r := controllerutil.ControllerOf(j.GetMetadata()); r != nil && r.Kind == "CronJob" {
			c.queue.Add(informer.Key(j.Metadata.Namespace, r.Name))
		}
	}
	c.jobs.AddHandler(informer.Handler[*batchv1.Job]{
		OnAdd: jobChanged, OnUpdate: func(_, j *batchv1.Job) { jobChanged(j) }, OnDelete: jobChanged,
	})
	return c, nil
}

// Start runs the workers until ctx ends.
func (c *Controller) Start(ctx context.Context) error {
	workqueue.Run(ctx, c.queue, c.cc.Workers, c.log, c.reconcile)
	return nil
}

// Resync queues every CronJob, as after a clock change.
func (c *Controller) Resync() {
	for _, cj := range c.cronJobs.Lister().List(nil) {
		c.queue.Add(informer.KeyOf(cj))
	}
}

func (c *Controller) reconcile(ctx context.Context, key string) (workqueue.Result, error) {
	ns, name := informer.SplitKey(key)
	cached, err := c.cronJobs.Lister().Get(ns, name)
	if client.IsNotFound(err) {
		return workqueue.Result{}, nil
	}
	cj := proto.Clone(cached).(*batchv1.CronJob)
	jobs, err := c.jobs.Lister().ByIndex(ownerIndex, cj.Metadata.Uid)
	if err != nil {
		return workqueue.Result{}, err
	}
	p := decide(cj, jobs, c.now())
	for _, e := range p.events {
		c.cc.Recorder.Event(cj, e.typ, e.reason, e.msg)
	}
	var errs []error
	for _, r := range p.replace {
		if err := c.deleteJob(ctx, cj, r.Name, r.Uid); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 && p.create != nil {
		j, err := c.jobAPI.Create(ctx, newJob(cj, *p.create))
		switch {
		case client.IsAlreadyExists(err):
			// Created by an earlier attempt; the cache will show it.
		case err != nil:
			p.status.LastScheduleTime = cj.GetStatus().GetLastScheduleTime()
			errs = append(errs, err)
		default:
			p.status.Active = append(p.status.Active, ref(j))
			c.cc.Recorder.Eventf(cj, events.Normal, "SuccessfulCreate", "Created job %s", j.Metadata.Name)
		}
	}
	for _, j := range p.prune {
		if err := c.deleteJob(ctx, cj, j.Metadata.Name, j.Metadata.Uid); err != nil {
			errs = append(errs, err)
		}
	}
	if !proto.Equal(p.status, cj.GetStatus()) {
		cj.Status = p.status
		if _, err := c.cjAPI.UpdateStatus(ctx, cj); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return workqueue.Result{}, err
	}
	return workqueue.Result{RequeueAfter: p.requeue}, nil
}

func (c *Controller) deleteJob(ctx context.Context, cj *batchv1.CronJob, name, uid string) error {
	err := c.jobAPI.Delete(ctx, cj.Metadata.Namespace, name, client.DeleteOptions{
		Preconditions: &client.Preconditions{UID: uid}, PropagationPolicy: client.Background,
	})
	if client.IsNotFound(err) || client.IsPreconditionFailed(err) {
		return nil
	}
	if err == nil {
		c.cc.Recorder.Eventf(cj, events.Normal, "SuccessfulDelete", "Deleted job %s", name)
	}
	return err
}

// newJob is the Job of cj scheduled at t.
func newJob(cj *batchv1.CronJob, t time.Time) *batchv1.Job {
	tmpl := cj.GetSpec().GetJobTemplate()
	meta := proto.Clone(tmpl.GetMetadata()).(*metav1.ObjectMeta)
	if meta == nil {
		meta = &metav1.ObjectMeta{}
	}
	meta.Name, meta.GenerateName, meta.Namespace = jobName(cj, t), "", cj.Metadata.Namespace
	if meta.Annotations == nil {
		meta.Annotations = map[string]string{}
	}
	meta.Annotations[scheduledAnnotation] = t.In(location(cj)).Format(time.RFC3339)
	meta.OwnerReferences = []*metav1.OwnerReference{controllerutil.ControllerRef(cj.Metadata, "batch/v1", "CronJob")}
	meta.Finalizers = slices.Clone(meta.Finalizers)
	return &batchv1.Job{Metadata: meta, Spec: proto.Clone(tmpl.GetSpec()).(*batchv1.JobSpec)}
}

func location(cj *batchv1.CronJob) *time.Location {
	if tz := cj.GetSpec().TimeZone; tz != nil {
		if loc, err := time.LoadLocation(*tz); err == nil {
			return loc
		}
	}
	return time.Local
}
