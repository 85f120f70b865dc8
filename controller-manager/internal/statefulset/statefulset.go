// Package statefulset is the StatefulSet controller: pods with stable names
// <sts>-<ordinal>, hostnames and subdomain (the serviceName), created in
// order each Running and Ready before the next (OrderedReady) or all at once
// (Parallel), removed from the highest ordinal, updated in reverse ordinal
// order down to the partition (RollingUpdate) or when deleted (OnDelete), and
// PersistentVolumeClaims <claim>-<sts>-<ordinal> from volumeClaimTemplates
// that outlive their pods as persistentVolumeClaimRetentionPolicy says.
//
// There is no ControllerRevision kind: a revision is the hash of the pod
// template, in each pod's controller-revision-hash label and in
// status.currentRevision/updateRevision. Old templates are not stored, so a
// pod below the partition that is deleted comes back with the new template.
package statefulset

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	appsv1 "flotilla.io/proto/flotilla/apps/v1"
	corev1 "flotilla.io/proto/flotilla/core/v1"

	"flotilla.io/sdk/client"
	"flotilla.io/sdk/events"
	"flotilla.io/sdk/informer"
	"flotilla.io/sdk/workqueue"

	"flotilla.io/controller-manager/internal/controller"
	"flotilla.io/controller-manager/internal/controllerutil"
)

func init() {
	controller.Register("statefulset", func(c *controller.Context) (controller.Loop, error) { return New(c) })
}

const ownerIndex = "statefulset-controller-uid"

// Controller is the StatefulSet loop.
type Controller struct {
	cc       *controller.Context
	log      *zap.Logger
	sets     *informer.Informer[*appsv1.StatefulSet]
	pods     *informer.Informer[*corev1.Pod]
	claims   *informer.Informer[*corev1.PersistentVolumeClaim]
	setAPI   *client.Resource[*appsv1.StatefulSet]
	podAPI   *client.Resource[*corev1.Pod]
	claimAPI *client.Resource[*corev1.PersistentVolumeClaim]
	queue    workqueue.Queue[string]
}

// New builds the StatefulSet controller from the shared informers.
func New(cc *controller.Context) (*Controller, error) {
	c := &Controller{
		cc: cc, log: cc.Log.Named("statefulset"),
		sets:     informer.For[*appsv1.StatefulSet](cc.Informers),
		pods:     informer.For[*corev1.Pod](cc.Informers),
		claims:   informer.For[*corev1.PersistentVolumeClaim](cc.Informers),
		setAPI:   client.For[*appsv1.StatefulSet](cc.Client),
		podAPI:   client.For[*corev1.Pod](cc.Client),
		claimAPI: client.For[*corev1.PersistentVolumeClaim](cc.Client),
		queue:    workqueue.New("statefulset", workqueue.Options[string]{Metrics: workqueue.NewMetrics(cc.Registry)}),
	}
	if err := c.pods.AddIndex(ownerIndex, func(p *corev1.Pod) []string {
		if r := controllerutil.ControllerOf(p.GetMetadata()); r != nil && r.Kind == "StatefulSet" {
			return []string{r.Uid}
		}
		return nil
	}); err != nil {
		return nil, err
	}
	enqueue := func(s *appsv1.StatefulSet) { c.queue.Add(informer.KeyOf(s)) }
	c.sets.AddHandler(informer.Handler[*appsv1.StatefulSet]{OnAdd: enqueue, OnUpdate: func(_, s *appsv1.StatefulSet) { enqueue(s) }})
	podChanged := func(p *corev1.Pod) {
		if r := controllerutil.ControllerOf(p.GetMetadata()); r != nil && r.Kind == "StatefulSet" {
			c.queue.Add(informer.Key(p.Metadata.Namespace, r.Name))
		}
	}
	c.pods.AddHandler(informer.Handler[*corev1.Pod]{OnAdd: podChanged, OnUpdate: func(_, p *corev1.Pod) { podChanged(p) }, OnDelete: podChanged})
	return c, nil
}

// Start runs the workers until ctx ends.
func (c *Controller) Start(ctx context.Context) error {
	workqueue.Run(ctx, c.queue, c.cc.Workers, c.log, c.reconcile)
	return nil
}

func (c *Controller) reconcile(ctx context.Context, key string) (workqueue.Result, error) {
	ns, name := informer.SplitKey(key)
	cached, err := c.sets.Lister().Get(ns, name)
	if client.IsNotFound(err) {
		return workqueue.Result{}, nil
	}
	sts := proto.Clone(cached).(*appsv1.StatefulSet)
	if sts.Metadata.DeletionTimestamp != nil {
		return workqueue.Result{}, nil
	}
	pods, err := c.pods.Lister().ByIndex(ownerIndex, sts.Metadata.Uid)
	if err != nil {
		return workqueue.Result{}, err
	}
	claims := map[string]bool{}
	for _, pvc := range c.claims.Lister().ListNamespace(ns, nil) {
		if pvc.Metadata.DeletionTimestamp == nil {
			claims[pvc.Metadata.Name] = true
		}
	}
	now := time.Now()
	p := decide(sts, pods, claims, now)
	var errs []error
	for _, pvc := range p.claims {
		if _, err := c.claimAPI.Create(ctx, pvc); err != nil && !client.IsAlreadyExists(err) {
			c.cc.Recorder.Eventf(sts, events.Warning, "FailedCreate", "create Claim %s for StatefulSet %s failed error: %v", pvc.Metadata.Name, name, err)
			errs = append(errs, err)
		} else if err == nil {
			c.cc.Recorder.Eventf(sts, events.Normal, "SuccessfulCreate", "create Claim %s in StatefulSet %s success", pvc.Metadata.Name, name)
		}
	}
	var created []string
	if len(errs) == 0 {
		for _, o := range p.create {
			pod, err := c.podAPI.Create(ctx, newPod(sts, o))
			if err != nil {
				if !client.IsAlreadyExists(err) {
					c.cc.Recorder.Eventf(sts, events.Warning, "FailedCreate", "create Pod %s in StatefulSet %s failed error: %v", podName(sts, o), name, err)
					errs = append(errs, err)
				}
				continue
			}
			created = append(created, pod.Metadata.Name)
			c.cc.Recorder.Eventf(sts, events.Normal, "SuccessfulCreate", "create Pod %s in StatefulSet %s successful", pod.Metadata.Name, name)
		}
	}
	var removed []*corev1.Pod
	for _, pod := range p.remove {
		err := c.podAPI.Delete(ctx, ns, pod.Metadata.Name, client.DeleteOptions{Preconditions: &client.Preconditions{UID: pod.Metadata.Uid}})
		switch {
		case err == nil:
			removed = append(removed, pod)
			c.cc.Recorder.Eventf(sts, events.Normal, "SuccessfulDelete", "delete Pod %s in StatefulSet %s successful", pod.Metadata.Name, name)
		case !client.IsNotFound(err) && !client.IsPreconditionFailed(err):
			errs = append(errs, err)
		}
	}
	for _, n := range p.removeClaims {
		if err := c.claimAPI.Delete(ctx, ns, n, client.DeleteOptions{}); err != nil && !client.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	if !proto.Equal(p.status, sts.GetStatus()) {
		sts.Status = p.status
		if _, err := c.setAPI.UpdateStatus(ctx, sts); err != nil {
			errs = append(errs, err)
		}
	}
	controllerutil.WaitForPodCache(ctx, c.pods.Lister(), ns, created, removed)
	if err := errors.Join(errs...); err != nil {
		return workqueue.Result{}, err
	}
	return workqueue.Result{RequeueAfter: controllerutil.NextAvailableCheck(pods, sts.GetSpec().GetMinReadySeconds(), now)}, nil
}
