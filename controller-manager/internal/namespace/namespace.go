// Package namespace is the namespace lifecycle controller, as upstream's
// pkg/controller/namespace: the apiserver marks a deleted Namespace
// Terminating and keeps it while spec.finalizers holds "kubernetes"; this
// loop deletes every object of every namespaced kind in it, waits until
// none is left (pods wait for their kubelets, objects with finalizers for
// their controllers), then clears the finalizer so the apiserver removes
// the Namespace.
package namespace

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	"flotilla.io/proto/kind"
	"flotilla.io/proto/object"
	"flotilla.io/sdk/client"
	"flotilla.io/sdk/informer"
	"flotilla.io/sdk/workqueue"

	"flotilla.io/controller-manager/internal/controller"
)

// Finalizer is the spec.finalizers entry this controller owns.
const Finalizer = "kubernetes"

// recheck is how often a namespace still holding objects is looked at.
const recheck = time.Second

func init() { controller.Register("namespace", New) }

// Controller is the namespace lifecycle loop.
type Controller struct {
	c          *controller.Context
	namespaces *informer.Informer[*corev1.Namespace]
	api        *client.Resource[*corev1.Namespace]
	queue      workqueue.Queue[string]
}

// New builds the loop.
func New(c *controller.Context) (controller.Loop, error) {
	ctl := &Controller{
		c:          c,
		namespaces: informer.For[*corev1.Namespace](c.Informers),
		api:        client.For[*corev1.Namespace](c.Client),
		queue:      workqueue.New("namespace", workqueue.Options[string]{Metrics: workqueue.NewMetrics(c.Registry)}),
	}
	add := func(ns *corev1.Namespace) {
		if ns.GetMetadata().GetDeletionTimestamp() != nil {
			ctl.queue.Add(ns.GetMetadata().GetName())
		}
	}
	ctl.namespaces.AddHandler(informer.Handler[*corev1.Namespace]{OnAdd: add, OnUpdate: func(_, ns *corev1.Namespace) { add(ns) }})
	return ctl, nil
}

// Start runs the workers until ctx ends.
func (ctl *Controller) Start(ctx context.Context) error {
	workqueue.Run(ctx, ctl.queue, ctl.c.Workers, ctl.c.Log.Named("namespace"), ctl.sync)
	return nil
}

func (ctl *Controller) sync(ctx context.Context, name string) (workqueue.Result, error) {
	ns, err := ctl.namespaces.Lister().Get("", name)
	if client.IsNotFound(err) || ns.GetMetadata().GetDeletionTimestamp() == nil || !slices.Contains(ns.GetSpec().GetFinalizers(), Finalizer) {
		return workqueue.Result{}, nil
	}
	remaining, err := ctl.deleteContent(ctx, name)
	if err != nil {
		return workqueue.Result{}, err
	}
	if remaining > 0 {
		return workqueue.Result{RequeueAfter: recheck}, nil
	}
	next := proto.Clone(ns).(*corev1.Namespace)
	next.Spec.Finalizers = slices.DeleteFunc(next.Spec.Finalizers, func(f string) bool { return f == Finalizer })
	if _, err := ctl.api.Update(ctx, next); err != nil && !client.IsNotFound(err) {
		return workqueue.Result{}, err
	}
	return workqueue.Result{}, nil
}

// deleteContent deletes every object in the namespace not yet being
// deleted and counts the objects still there.
func (ctl *Controller) deleteContent(ctx context.Context, ns string) (int, error) {
	d := ctl.c.Client.Dynamic()
	remaining := 0
	var errs []error
	for _, info := range kind.All() {
		if !info.Namespaced {
			continue
		}
		l, err := d.ListAll(ctx, info.Kind, client.ListOptions{Namespace: ns})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, obj := range l.Items {
			remaining++
			md := object.Meta(obj)
			if md.DeletionTimestamp != nil {
				continue
			}
			_, _, err := d.Delete(ctx, info.Kind, ns, md.Name, client.DeleteOptions{Preconditions: &client.Preconditions{UID: md.Uid}})
			if err != nil && !client.IsNotFound(err) && !client.IsPreconditionFailed(err) {
				errs = append(errs, fmt.Errorf("namespace %s: %w", ns, err))
			}
		}
	}
	return remaining, errors.Join(errs...)
}
