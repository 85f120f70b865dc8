package nodelifecycle

import (
	"context"
	"time"

	"google.golang.org/protobuf/proto"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	"flotilla.io/sdk/client"
	"flotilla.io/sdk/informer"
	"flotilla.io/sdk/workqueue"

	"flotilla.io/controller-manager/internal/controller"
)

const byNode = "nodelifecycle.node"

// addNodeIndex files pods by spec.nodeName (shared by both loops; the
// second to ask finds it there).
func addNodeIndex(pods *informer.Informer[*corev1.Pod]) error {
	err := pods.AddIndex(byNode, informer.FieldIndex[*corev1.Pod]("spec.nodeName"))
	if err != nil {
		if _, e := pods.Lister().ByIndex(byNode, ""); e == nil {
			return nil // already there
		}
	}
	return err
}

func init() { controller.Register("taint-eviction-controller", NewEviction) }

// Eviction deletes pods from nodes whose NoExecute taints they do not
// tolerate, once their tolerationSeconds run out (upstream's taint
// eviction controller). The apiserver gives pods without them 300 s
// tolerations of not-ready and unreachable (DefaultTolerationSeconds).
type Eviction struct {
	c     *controller.Context
	nodes *informer.Informer[*corev1.Node]
	pods  *informer.Informer[*corev1.Pod]
	api   *client.Resource[*corev1.Pod]
	queue workqueue.Queue[string]
	now   func() time.Time
}

// NewEviction builds the loop.
func NewEviction(c *controller.Context) (controller.Loop, error) {
	e := &Eviction{
		c: c, nodes: informer.For[*corev1.Node](c.Informers), pods: informer.For[*corev1.Pod](c.Informers),
		api:   client.For[*corev1.Pod](c.Client),
		queue: workqueue.New("taint-eviction", workqueue.Options[string]{Metrics: workqueue.NewMetrics(c.Registry)}),
		now:   time.Now,
	}
	if err := addNodeIndex(e.pods); err != nil {
		return nil, err
	}
	addPod := func(p *corev1.Pod) {
		if p.GetSpec().GetNodeName() != "" && p.GetMetadata().GetDeletionTimestamp() == nil {
			e.queue.Add(informer.KeyOf(p))
		}
	}
	e.pods.AddHandler(informer.Handler[*corev1.Pod]{OnAdd: addPod, OnUpdate: func(old, p *corev1.Pod) {
		if old.GetSpec().GetNodeName() != p.GetSpec().GetNodeName() || !proto.Equal(&corev1.PodSpec{Tolerations: old.GetSpec().GetTolerations()}, &corev1.PodSpec{Tolerations: p.GetSpec().GetTolerations()}) {
			addPod(p)
		}
	}})
	addNode := func(n *corev1.Node) {
		pods, _ := e.pods.Lister().ByIndex(byNode, n.GetMetadata().GetName())
		for _, p := range pods {
			addPod(p)
		}
	}
	e.nodes.AddHandler(informer.Handler[*corev1.Node]{OnAdd: addNode, OnUpdate: func(old, n *corev1.Node) {
		if !equalNoExecute(old, n) {
			addNode(n)
		}
	}})
	return e, nil
}

func noExecute(n *corev1.Node) []*corev1.Taint {
	var out []*corev1.Taint
	for _, t := range n.GetSpec().GetTaints() {
		if t.GetEffect() == NoExecute {
			out = append(out, t)
		}
	}
	return out
}

func equalNoExecute(a, b *corev1.Node) bool {
	x, y := noExecute(a), noExecute(b)
	if len(x) != len(y) {
		return false
	}
	for i := range x {
		if !proto.Equal(x[i], y[i]) {
			return false
		}
	}
	return true
}

// Start runs the workers until ctx ends.
func (e *Eviction) Start(ctx context.Context) error {
	workqueue.Run(ctx, e.queue, e.c.Workers, e.c.Log.Named("taint-eviction"), e.sync)
	return nil
}

func (e *Eviction) sync(ctx context.Context, key string) (workqueue.Result, error) {
	ns, name := informer.SplitKey(key)
	p, err := e.pods.Lister().Get(ns, name)
	if client.IsNotFound(err) || p.GetMetadata().GetDeletionTimestamp() != nil || p.GetSpec().GetNodeName() == "" {
		return workqueue.Result{}, nil
	}
	n, err := e.nodes.Lister().Get("", p.Spec.NodeName)
	if client.IsNotFound(err) {
		return workqueue.Result{}, nil
	}
	now := e.now()
	at, evict := EvictAt(noExecute(n), p.GetSpec().GetTolerations(), now)
	if !evict {
		return workqueue.Result{}, nil
	}
	if wait := at.Sub(now); wait > 0 {
		return workqueue.Result{RequeueAfter: wait}, nil
	}
	e.c.Recorder.Eventf(p, "Normal", "TaintManagerEviction", "Marking for deletion Pod %s/%s", ns, name)
	err = e.api.Delete(ctx, ns, name, client.DeleteOptions{Preconditions: &client.Preconditions{UID: p.Metadata.Uid}})
	if client.IsNotFound(err) || client.IsPreconditionFailed(err) {
		return workqueue.Result{}, nil
	}
	return workqueue.Result{}, err
}
