package workqueue_test

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	corev1 "flotilla.io/proto/flotilla/core/v1"

	"flotilla.io/sdk/client"
	"flotilla.io/sdk/informer"
	"flotilla.io/sdk/workqueue"
)

// A controller in the house style: handlers only queue keys; the worker
// re-reads the cache, clones before writing, and lets Run handle retries.
func Example_controller() {
	var (
		ctx = context.Background()
		c   *client.Client // from client.New
		log = zap.NewNop()
		reg = prometheus.NewRegistry()
	)
	factory := informer.NewFactory(c, informer.Options{Logger: log})
	pods := informer.For[*corev1.Pod](factory)
	queue := workqueue.New("pod-labeler", workqueue.Options[string]{Metrics: workqueue.NewMetrics(reg)})
	enqueue := func(p *corev1.Pod) { queue.Add(informer.KeyOf(p)) }
	pods.AddHandler(informer.Handler[*corev1.Pod]{
		OnAdd:    enqueue,
		OnUpdate: func(_, p *corev1.Pod) { enqueue(p) },
		OnDelete: enqueue,
	})

	reconcile := func(ctx context.Context, key string) (workqueue.Result, error) {
		ns, name := informer.SplitKey(key)
		cached, err := pods.Lister().Get(ns, name)
		if client.IsNotFound(err) {
			return workqueue.Result{}, nil // gone: nothing to do
		}
		if cached.GetMetadata().GetLabels()["seen"] == "true" {
			return workqueue.Result{}, nil
		}
		p := proto.Clone(cached).(*corev1.Pod) // never mutate the cache
		if p.Metadata.Labels == nil {
			p.Metadata.Labels = map[string]string{}
		}
		p.Metadata.Labels["seen"] = "true"
		_, err = client.For[*corev1.Pod](c).Update(ctx, p) // a conflict just retries
		return workqueue.Result{}, err
	}

	go factory.Start(ctx)
	if informer.WaitForSync(ctx, pods) {
		workqueue.Run(ctx, queue, 2, log, reconcile)
	}
}
