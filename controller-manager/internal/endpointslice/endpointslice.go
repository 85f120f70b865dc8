// Package endpointslice is the EndpointSlice controller: for every Service
// with a selector it keeps discovery.k8s.io/v1 EndpointSlices (at most
// --max-endpoints-per-slice endpoints each) listing the selected pods with
// their ready/serving/terminating conditions, as upstream's
// pkg/controller/endpointslice does. Slices are labelled
// kubernetes.io/service-name and endpointslice.kubernetes.io/managed-by and
// owned by their Service.
package endpointslice

import (
	"context"
	"errors"
	"flag"
	"time"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	discoveryv1 "flotilla.io/proto/flotilla/discovery/v1"
	"flotilla.io/sdk/client"
	"flotilla.io/sdk/informer"
	"flotilla.io/sdk/workqueue"
	"k8s.io/apimachinery/pkg/labels"

	"flotilla.io/controller-manager/internal/controller"
	"flotilla.io/controller-manager/internal/endpoint"
)

// Options tune the controller.
type Options struct {
	// MaxEndpointsPerSlice caps each slice (upstream default 100).
	MaxEndpointsPerSlice int
}

// Flags holds the values the process's flags set (see AddFlags).
var Flags = Options{MaxEndpointsPerSlice: 100}

// AddFlags binds o to command-line flags.
func (o *Options) AddFlags(fs *flag.FlagSet) {
	fs.IntVar(&o.MaxEndpointsPerSlice, "max-endpoints-per-slice", o.MaxEndpointsPerSlice, "the most endpoints one EndpointSlice holds")
}

func init() {
	controller.Register("endpointslice", func(c *controller.Context) (controller.Loop, error) { return New(c, Flags) })
}

const byService = "endpointslice.service"

// Controller is the EndpointSlice loop.
type Controller struct {
	c      *controller.Context
	opts   Options
	src    endpoint.Sources
	slices *informer.Informer[*discoveryv1.EndpointSlice]
	nodes  *informer.Informer[*corev1.Node]
	api    *client.Resource[*discoveryv1.EndpointSlice]
	queue  workqueue.Queue[string]
	// writes remembers this controller's own writes until the cache shows
	// them, so a sync never plans from a cache that misses a slice it just
	// made (which would make a duplicate).
	writes *tracker
}

// New builds the loop.
func New(c *controller.Context, o Options) (*Controller, error) {
	if o.MaxEndpointsPerSlice <= 0 || o.MaxEndpointsPerSlice > 1000 {
		return nil, errors.New("--max-endpoints-per-slice must be 1..1000")
	}
	ctl := &Controller{
		c: c, opts: o,
		slices: informer.For[*discoveryv1.EndpointSlice](c.Informers),
		nodes:  informer.For[*corev1.Node](c.Informers),
		api:    client.For[*discoveryv1.EndpointSlice](c.Client),
		queue:  workqueue.New("endpointslice", workqueue.Options[string]{Metrics: workqueue.NewMetrics(c.Registry)}),
		writes: newTracker(),
	}
	ctl.src = endpoint.Watch(c, ctl.queue)
	if err := ctl.slices.AddIndex(byService, func(s *discoveryv1.EndpointSlice) []string {
		l := s.GetMetadata().GetLabels()
		if l[ManagedByLabel] != ControllerName || l[ServiceNameLabel] == "" {
			return nil
		}
		return []string{informer.Key(s.GetMetadata().GetNamespace(), l[ServiceNameLabel])}
	}); err != nil {
		return nil, err
	}
	again := func(s *discoveryv1.EndpointSlice) {
		if l := s.GetMetadata().GetLabels(); l[ManagedByLabel] == ControllerName && l[ServiceNameLabel] != "" {
			ctl.queue.Add(informer.Key(s.GetMetadata().GetNamespace(), l[ServiceNameLabel]))
		}
	}
	ctl.slices.AddHandler(informer.Handler[*discoveryv1.EndpointSlice]{OnUpdate: func(_, s *discoveryv1.EndpointSlice) { again(s) }, OnDelete: again})
	// A node's zone label is copied into its endpoints.
	ctl.nodes.AddHandler(informer.Handler[*corev1.Node]{OnUpdate: func(old, n *corev1.Node) {
		if old.GetMetadata().GetLabels()[ZoneLabel] != n.GetMetadata().GetLabels()[ZoneLabel] {
			for _, svc := range ctl.src.Services.Lister().List(labels.Everything()) {
				ctl.queue.Add(informer.KeyOf(svc))
			}
		}
	}})
	return ctl, nil
}

// Start runs the workers until ctx ends.
func (ctl *Controller) Start(ctx context.Context) error {
	workqueue.Run(ctx, ctl.queue, ctl.c.Workers, ctl.c.Log.Named("endpointslice"), ctl.sync)
	return nil
}

func (ctl *Controller) sync(ctx context.Context, key string) (workqueue.Result, error) {
	ns, name := informer.SplitKey(key)
	existing, _ := ctl.slices.Lister().ByIndex(byService, key)
	if !ctl.writes.seen(key, existing) {
		return workqueue.Result{RequeueAfter: 50 * time.Millisecond}, nil
	}
	svc, err := ctl.src.Services.Lister().Get(ns, name)
	if client.IsNotFound(err) || (err == nil && !endpoint.Managed(svc)) {
		var errs []error
		for _, s := range existing {
			errs = append(errs, ctl.delete(ctx, s))
		}
		return workqueue.Result{}, errors.Join(errs...)
	}
	pods := ctl.src.SelectedPods(svc)
	zones := map[string]string{}
	for _, p := range pods {
		if n := p.GetSpec().GetNodeName(); n != "" {
			if node, err := ctl.nodes.Lister().Get("", n); err == nil {
				zones[n] = node.GetMetadata().GetLabels()[ZoneLabel]
			}
		}
	}
	var mine []*discoveryv1.EndpointSlice
	for _, s := range existing {
		if s.GetMetadata().GetDeletionTimestamp() == nil {
			mine = append(mine, s)
		}
	}
	plan := Compute(svc, pods, zones, mine, ctl.opts.MaxEndpointsPerSlice)
	var errs []error
	for _, s := range plan.Create {
		out, err := ctl.api.Create(ctx, s)
		if err != nil && !terminating(err) {
			errs = append(errs, err)
		} else if err == nil {
			ctl.writes.wrote(key, out)
		}
	}
	for _, s := range plan.Update {
		out, err := ctl.api.Update(ctx, s)
		if err != nil {
			errs = append(errs, err)
		} else {
			ctl.writes.wrote(key, out)
		}
	}
	for _, s := range plan.Delete {
		if err := ctl.delete(ctx, s); err != nil {
			errs = append(errs, err)
		} else {
			ctl.writes.deleted(key, s)
		}
	}
	return workqueue.Result{}, errors.Join(errs...)
}

func (ctl *Controller) delete(ctx context.Context, s *discoveryv1.EndpointSlice) error {
	err := ctl.api.Delete(ctx, s.Metadata.Namespace, s.Metadata.Name, client.DeleteOptions{Preconditions: &client.Preconditions{UID: s.Metadata.Uid}})
	if client.IsNotFound(err) || client.IsPreconditionFailed(err) {
		return nil
	}
	return err
}

// terminating is a create refused because the namespace is being deleted.
func terminating(err error) bool { return client.IsPreconditionFailed(err) }
