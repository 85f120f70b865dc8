// Package serviceaccount holds two loops, as upstream's
// pkg/controller/serviceaccount: "serviceaccount" keeps a "default"
// ServiceAccount in every active namespace (re-creating it when deleted),
// and "serviceaccount-token" gives every ServiceAccount an API token Secret
// (see token.go).
package serviceaccount

import (
	"context"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
	"flotilla.io/sdk/client"
	"flotilla.io/sdk/informer"
	"flotilla.io/sdk/workqueue"

	"flotilla.io/controller-manager/internal/controller"
)

// DefaultName is the ServiceAccount every namespace gets.
const DefaultName = "default"

func init() { controller.Register("serviceaccount", NewDefaults) }

// Defaults is the loop keeping a default ServiceAccount per namespace.
type Defaults struct {
	c          *controller.Context
	namespaces *informer.Informer[*corev1.Namespace]
	accounts   *informer.Informer[*corev1.ServiceAccount]
	api        *client.Resource[*corev1.ServiceAccount]
	queue      workqueue.Queue[string]
}

// NewDefaults builds the loop.
func NewDefaults(c *controller.Context) (controller.Loop, error) {
	d := &Defaults{
		c:          c,
		namespaces: informer.For[*corev1.Namespace](c.Informers),
		accounts:   informer.For[*corev1.ServiceAccount](c.Informers),
		api:        client.For[*corev1.ServiceAccount](c.Client),
		queue:      workqueue.New("serviceaccount", workqueue.Options[string]{Metrics: workqueue.NewMetrics(c.Registry)}),
	}
	add := func(ns *corev1.Namespace) { d.queue.Add(ns.GetMetadata().GetName()) }
	d.namespaces.AddHandler(informer.Handler[*corev1.Namespace]{OnAdd: add, OnUpdate: func(_, ns *corev1.Namespace) { add(ns) }})
	d.accounts.AddHandler(informer.Handler[*corev1.ServiceAccount]{OnDelete: func(sa *corev1.ServiceAccount) {
		if sa.GetMetadata().GetName() == DefaultName {
			d.queue.Add(sa.GetMetadata().GetNamespace())
		}
	}})
	return d, nil
}

// Start runs the workers until ctx ends.
func (d *Defaults) Start(ctx context.Context) error {
	workqueue.Run(ctx, d.queue, d.c.Workers, d.c.Log.Named("serviceaccount"), d.sync)
	return nil
}

func (d *Defaults) sync(ctx context.Context, name string) (workqueue.Result, error) {
	ns, err := d.namespaces.Lister().Get("", name)
	if client.IsNotFound(err) || ns.GetMetadata().GetDeletionTimestamp() != nil || ns.GetStatus().GetPhase() == "Terminating" {
		return workqueue.Result{}, nil
	}
	if _, err := d.accounts.Lister().Get(name, DefaultName); err == nil {
		return workqueue.Result{}, nil
	}
	sa := &corev1.ServiceAccount{Metadata: &metav1.ObjectMeta{Namespace: name, Name: DefaultName}}
	if _, err := d.api.Create(ctx, sa); err != nil && !client.IsAlreadyExists(err) && !client.IsPreconditionFailed(err) && !client.IsNotFound(err) {
		return workqueue.Result{}, err
	}
	return workqueue.Result{}, nil
}
