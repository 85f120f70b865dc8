// Package daemonset is the DaemonSet controller: one pod on every eligible
// node (nodeSelector, required node affinity, taints against tolerations plus
// upstream's default daemon tolerations), replacing pods as the template
// changes with RollingUpdate (maxUnavailable, maxSurge) or OnDelete.
//
// Daemon pods are created with spec.nodeName set, so they run even without a
// scheduler, and with upstream's required node affinity on metadata.name.
// There is no ControllerRevision kind: a pod's revision is the hash of the
// template it was made from, in its controller-revision-hash label.
package daemonset

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
	controller.Register("daemonset", func(c *controller.Context) (controller.Loop, error) { return New(c) })
}

const ownerIndex = "daemonset-controller-uid"

// Controller is the DaemonSet loop.
type Controller struct {
	cc     *controller.Context
	log    *zap.Logger
	dss    *informer.Informer[*appsv1.DaemonSet]
	pods   *informer.Informer[*corev1.Pod]
	nodes  *informer.Informer[*corev1.Node]
	dsAPI  *client.Resource[*appsv1.DaemonSet]
	podAPI *client.Resource[*corev1.Pod]
	queue  workqueue.Queue[string]
}

// New builds the DaemonSet controller from the shared informers.
func New(cc *controller.Context) (*Controller, error) {
	c := &Controller{
		cc: cc, log: cc.Log.Named("daemonset"),
		dss:    informer.For[*appsv1.DaemonSet](cc.Informers),
		pods:   informer.For[*corev1.Pod](cc.Informers),
		nodes:  informer.For[*corev1.Node](cc.Informers),
		dsAPI:  client.For[*appsv1.DaemonSet](cc.Client),
		podAPI: client.For[*corev1.Pod](cc.Client),
		queue:  workqueue.New("daemonset", workqueue.Options[string]{Metrics: workqueue.NewMetrics(cc.Registry)}),
	}
	if err := c.pods.AddIndex(ownerIndex, func(p *corev1.Pod) []string {
		if r := controllerutil.ControllerOf(p.GetMetadata()); r != nil && r.Kind == "DaemonSet" {
			return []string{r.Uid}
		}
		return nil
	}); err != nil {
		return nil, err
	}
	enqueue := func(ds *appsv1.DaemonSet) { c.queue.Add(informer.KeyOf(ds)) }
	c.dss.AddHandler(informer.Handler[*appsv1.DaemonSet]{OnAdd: enqueue, OnUpdate: func(_, ds *appsv1.DaemonSet) { enqueue(ds) }})
	podChanged := func(p *corev1.Pod) {
		if r := controllerutil.ControllerOf(p.GetMetadata()); r != nil && r.Kind == "DaemonSet" {
			c.queue.Add(informer.Key(p.Metadata.Namespace, r.Name))
		}
	}
	c.pods.AddHandler(informer.Handler[*corev1.Pod]{OnAdd: podChanged, OnUpdate: func(_, p *corev1.Pod) { podChanged(p) }, OnDelete: podChanged})
	nodeChanged := func(old, n *corev1.Node) {
		if old != nil && sameScheduling(old, n) {
			return
		}
		for _, ds := range c.dss.Lister().List(nil) {
			enqueue(ds)
		}
	}
	c.nodes.AddHandler(informer.Handler[*corev1.Node]{
		OnAdd: func(n *corev1.Node) { nodeChanged(nil, n) }, OnUpdate: nodeChanged, OnDelete: func(n *corev1.Node) { nodeChanged(nil, n) },
	})
	return c, nil
}

// sameScheduling reports that nothing a daemon pod's placement depends on
// changed (labels, taints).
func sameScheduling(a, b *corev1.Node) bool {
	if len(a.GetMetadata().GetLabels()) != len(b.GetMetadata().GetLabels()) || len(a.GetSpec().GetTaints()) != len(b.GetSpec().GetTaints()) {
		return false
	}
	for k, v := range a.GetMetadata().GetLabels() {
		if b.GetMetadata().GetLabels()[k] != v {
			return false
		}
	}
	for i, t := range a.GetSpec().GetTaints() {
		u := b.GetSpec().GetTaints()[i]
		if t.Key != u.Key || t.Value != u.Value || t.Effect != u.Effect {
			return false
		}
	}
	return true
}

// Start runs the workers until ctx ends.
func (c *Controller) Start(ctx context.Context) error {
	workqueue.Run(ctx, c.queue, c.cc.Workers, c.log, c.reconcile)
	return nil
}

func (c *Controller) reconcile(ctx context.Context, key string) (workqueue.Result, error) {
	ns, name := informer.SplitKey(key)
	cached, err := c.dss.Lister().Get(ns, name)
	if client.IsNotFound(err) {
		return workqueue.Result{}, nil
	}
	ds := proto.Clone(cached).(*appsv1.DaemonSet)
	if ds.Metadata.DeletionTimestamp != nil {
		return workqueue.Result{}, nil
	}
	pods, err := c.pods.Lister().ByIndex(ownerIndex, ds.Metadata.Uid)
	if err != nil {
		return workqueue.Result{}, err
	}
	p := decide(ds, c.nodes.Lister().List(nil), pods, time.Now())
	var errs []error
	var removed []*corev1.Pod
	for _, pod := range p.remove {
		err := c.podAPI.Delete(ctx, pod.Metadata.Namespace, pod.Metadata.Name, client.DeleteOptions{Preconditions: &client.Preconditions{UID: pod.Metadata.Uid}})
		switch {
		case err == nil:
			removed = append(removed, pod)
			c.cc.Recorder.Eventf(ds, events.Normal, "SuccessfulDelete", "Deleted pod: %s", pod.Metadata.Name)
		case !client.IsNotFound(err) && !client.IsPreconditionFailed(err):
			errs = append(errs, err)
		}
	}
	var created []string
	for _, node := range p.create {
		pod, err := c.podAPI.Create(ctx, newPod(ds, node))
		if err != nil {
			c.cc.Recorder.Eventf(ds, events.Warning, "FailedCreate", "Error creating: %v", err)
			errs = append(errs, err)
			continue
		}
		created = append(created, pod.Metadata.Name)
		c.cc.Recorder.Eventf(ds, events.Normal, "SuccessfulCreate", "Created pod: %s", pod.Metadata.Name)
	}
	if !proto.Equal(p.status, ds.GetStatus()) {
		ds.Status = p.status
		if _, err := c.dsAPI.UpdateStatus(ctx, ds); err != nil {
			errs = append(errs, err)
		}
	}
	controllerutil.WaitForPodCache(ctx, c.pods.Lister(), ns, created, removed)
	if err := errors.Join(errs...); err != nil {
		return workqueue.Result{}, err
	}
	return workqueue.Result{RequeueAfter: p.requeue}, nil
}
