// Package endpoint is the Endpoints controller: it joins every Service that
// has a selector to the pods it selects, writing an Endpoints object of the
// Service's name with ready and not-ready addresses and each pod's resolved
// ports, as upstream's pkg/controller/endpoint does.
package endpoint

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
	"flotilla.io/sdk/client"
	"flotilla.io/sdk/informer"
	"flotilla.io/sdk/workqueue"

	"flotilla.io/controller-manager/internal/controller"
)

// HeadlessLabel marks the Endpoints of a headless Service.
const HeadlessLabel = "service.kubernetes.io/headless"

func init() { controller.Register("endpoint", New) }

// Controller is the Endpoints loop.
type Controller struct {
	c         *controller.Context
	src       Sources
	endpoints *informer.Informer[*corev1.Endpoints]
	api       *client.Resource[*corev1.Endpoints]
	queue     workqueue.Queue[string]
}

// New builds the loop.
func New(c *controller.Context) (controller.Loop, error) {
	ctl := &Controller{
		c:         c,
		endpoints: informer.For[*corev1.Endpoints](c.Informers),
		api:       client.For[*corev1.Endpoints](c.Client),
		queue:     workqueue.New("endpoint", workqueue.Options[string]{Metrics: workqueue.NewMetrics(c.Registry)}),
	}
	ctl.src = Watch(c, ctl.queue)
	// An Endpoints object changed or deleted by someone else is put back.
	again := func(ep *corev1.Endpoints) { ctl.queue.Add(informer.KeyOf(ep)) }
	ctl.endpoints.AddHandler(informer.Handler[*corev1.Endpoints]{OnUpdate: func(_, ep *corev1.Endpoints) { again(ep) }, OnDelete: again})
	return ctl, nil
}

// Start runs the workers until ctx ends.
func (ctl *Controller) Start(ctx context.Context) error {
	workqueue.Run(ctx, ctl.queue, ctl.c.Workers, ctl.c.Log.Named("endpoint"), ctl.sync)
	return nil
}

func (ctl *Controller) sync(ctx context.Context, key string) (workqueue.Result, error) {
	ns, name := informer.SplitKey(key)
	svc, err := ctl.src.Services.Lister().Get(ns, name)
	if client.IsNotFound(err) {
		// The Service is gone: so are its endpoints.
		if _, err := ctl.endpoints.Lister().Get(ns, name); err == nil {
			if err := ctl.api.Delete(ctx, ns, name, client.DeleteOptions{}); err != nil && !client.IsNotFound(err) {
				return workqueue.Result{}, err
			}
		}
		return workqueue.Result{}, nil
	}
	if !Managed(svc) {
		return workqueue.Result{}, nil // selector-less Services have user-managed endpoints
	}
	subsets := Subsets(svc, ctl.src.SelectedPods(svc))
	want := Labels(svc)
	cur, err := ctl.endpoints.Lister().Get(ns, name)
	if client.IsNotFound(err) {
		ep := &corev1.Endpoints{Metadata: &metav1.ObjectMeta{Namespace: ns, Name: name, Labels: want}, Subsets: subsets}
		if _, err := ctl.api.Create(ctx, ep); err != nil && !client.IsAlreadyExists(err) {
			if isTerminating(err) {
				return workqueue.Result{}, nil
			}
			return workqueue.Result{}, err
		}
		return workqueue.Result{}, nil
	}
	if maps.Equal(cur.GetMetadata().GetLabels(), want) && equalSubsets(cur.GetSubsets(), subsets) {
		return workqueue.Result{}, nil
	}
	next := proto.Clone(cur).(*corev1.Endpoints)
	next.Metadata.Labels, next.Subsets = want, subsets
	_, err = ctl.api.Update(ctx, next)
	return workqueue.Result{}, err
}

// isTerminating is the apiserver refusing a create in a namespace being
// deleted; the namespace controller is removing everything anyway.
func isTerminating(err error) bool {
	return client.IsPreconditionFailed(err) && strings.Contains(err.Error(), "being terminated")
}

func equalSubsets(a, b []*corev1.EndpointSubset) bool {
	return slices.EqualFunc(a, b, func(x, y *corev1.EndpointSubset) bool { return proto.Equal(x, y) })
}

// Labels are the Service's labels plus the headless marker, as upstream.
func Labels(svc *corev1.Service) map[string]string {
	out := maps.Clone(svc.GetMetadata().GetLabels())
	if Headless(svc) {
		if out == nil {
			out = map[string]string{}
		}
		out[HeadlessLabel] = ""
	}
	return out
}

// Subsets computes a Service's endpoints from the pods it selects: pods
// serving the same resolved ports share a subset; ready pods (every pod,
// with publishNotReadyAddresses) are addresses, the others notReady
// addresses. The result is sorted, so equal inputs give equal outputs.
func Subsets(svc *corev1.Service, pods []*corev1.Pod) []*corev1.EndpointSubset {
	publish := svc.GetSpec().GetPublishNotReadyAddresses()
	byPorts := map[string]*corev1.EndpointSubset{}
	for _, pod := range pods {
		if !Include(pod, publish) {
			continue
		}
		ports := PodPorts(svc, pod)
		if len(ports) == 0 && !(Headless(svc) && len(svc.GetSpec().GetPorts()) == 0) {
			continue // serves none of the Service's ports
		}
		key := portsKey(ports)
		ss := byPorts[key]
		if ss == nil {
			ss = &corev1.EndpointSubset{}
			for _, p := range ports {
				ss.Ports = append(ss.Ports, &corev1.EndpointPort{Name: p.Name, Port: p.Port, Protocol: p.Protocol, AppProtocol: p.AppProtocol})
			}
			byPorts[key] = ss
		}
		addr := &corev1.EndpointAddress{
			Ip: PodIP(pod), Hostname: Hostname(svc, pod),
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Metadata.Namespace, Name: pod.Metadata.Name, Uid: pod.Metadata.Uid},
		}
		if n := pod.GetSpec().GetNodeName(); n != "" {
			addr.NodeName = proto.String(n)
		}
		if publish || PodReady(pod) {
			ss.Addresses = append(ss.Addresses, addr)
		} else {
			ss.NotReadyAddresses = append(ss.NotReadyAddresses, addr)
		}
	}
	out := make([]*corev1.EndpointSubset, 0, len(byPorts))
	for _, key := range slices.Sorted(maps.Keys(byPorts)) {
		ss := byPorts[key]
		byIP := func(a, b *corev1.EndpointAddress) int {
			return strings.Compare(a.Ip+"/"+a.TargetRef.Name, b.Ip+"/"+b.TargetRef.Name)
		}
		slices.SortFunc(ss.Addresses, byIP)
		slices.SortFunc(ss.NotReadyAddresses, byIP)
		out = append(out, ss)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func portsKey(ports []Port) string {
	parts := make([]string, len(ports))
	for n, p := range ports {
		parts[n] = fmt.Sprintf("%s/%s/%s", p.Name, strconv.Itoa(int(p.Port)), p.Protocol)
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}
