package bench

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/protobuf/proto"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
	"flotilla.io/sdk/client"
)

// APIServerResult is what the apiserver benchmark measured.
type APIServerResult struct {
	RSSIdle, RSSLoaded      int64
	LoadedPods              int
	Create, Get, List1k     Latencies
	CreatesPerSecond        float64
	Watch                   Latencies
	Watchers, WatchedEvents int
}

// Print writes the results as a table.
func (r *APIServerResult) Print(w io.Writer) {
	fmt.Fprintf(w, "apiserver benchmark (etcd + apiserver processes on this machine)\n")
	fmt.Fprintf(w, "  %-46s %s\n", "create latency p50 / p99 (sequential)", r.Create)
	fmt.Fprintf(w, "  %-46s %s\n", "get latency p50 / p99", r.Get)
	fmt.Fprintf(w, "  %-46s %s\n", "list of 1,000 pods p50 / p99", r.List1k)
	fmt.Fprintf(w, "  %-46s %.0f/s\n", "creates per second (16 workers)", r.CreatesPerSecond)
	fmt.Fprintf(w, "  %-46s %s\n", fmt.Sprintf("watch delivery p50 / p99 (%d watchers, %d events)", r.Watchers, r.WatchedEvents), r.Watch)
	fmt.Fprintf(w, "  %-46s %s\n", "apiserver RSS idle", MiB(r.RSSIdle))
	fmt.Fprintf(w, "  %-46s %s\n", fmt.Sprintf("apiserver RSS holding %d pods", r.LoadedPods), MiB(r.RSSLoaded))
}

func benchPod(ns, name string) *corev1.Pod {
	return &corev1.Pod{
		Metadata: &metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": "bench", "tier": "web"}},
		Spec: &corev1.PodSpec{Containers: []*corev1.Container{{
			Name: "c", Image: "busybox:1.35", Command: []string{"sleep", "3600"},
			Resources: &corev1.ResourceRequirements{Requests: map[string]*metav1.Quantity{"cpu": {String_: "100m"}, "memory": {String_: "128Mi"}}},
		}}},
	}
}

// APIServer runs the apiserver benchmark against a running cluster. total is
// how many pods the memory measurement holds (10,000 in `make bench`).
func APIServer(ctx context.Context, c *Cluster, total int, progress io.Writer) (*APIServerResult, error) {
	r := &APIServerResult{LoadedPods: total}
	time.Sleep(2 * time.Second) // let the fresh process settle before measuring idle memory
	var err error
	if r.RSSIdle, err = c.APIServer.RSS(); err != nil {
		return nil, err
	}
	cli, err := client.New(ctx, c.Config)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	dyn := cli.Dynamic()
	pods := client.For[*corev1.Pod](cli)
	for _, ns := range []string{"bench-seq", "bench-list", "bench-par", "bench-watch", "bench-fill"} {
		if _, err := dyn.Create(ctx, &corev1.Namespace{Metadata: &metav1.ObjectMeta{Name: ns}}); err != nil {
			return nil, err
		}
	}

	fmt.Fprintln(progress, "sequential creates and gets ...")
	for n := 0; n < 1000; n++ {
		t0 := time.Now()
		if _, err := pods.Create(ctx, benchPod("bench-seq", fmt.Sprintf("p-%05d", n))); err != nil {
			return nil, err
		}
		r.Create = append(r.Create, time.Since(t0))
	}
	for n := 0; n < 1000; n++ {
		t0 := time.Now()
		if _, err := pods.Get(ctx, "bench-seq", fmt.Sprintf("p-%05d", n)); err != nil {
			return nil, err
		}
		r.Get = append(r.Get, time.Since(t0))
	}

	fmt.Fprintln(progress, "lists of 1,000 pods ...")
	if err := createParallel(ctx, pods, "bench-list", 1000, 16); err != nil {
		return nil, err
	}
	for n := 0; n < 50; n++ {
		t0 := time.Now()
		l, err := pods.List(ctx, client.ListOptions{Namespace: "bench-list"})
		if err != nil {
			return nil, err
		}
		if len(l.Items) != 1000 {
			return nil, fmt.Errorf("list returned %d pods", len(l.Items))
		}
		r.List1k = append(r.List1k, time.Since(t0))
	}

	fmt.Fprintln(progress, "parallel creates ...")
	const parallel = 4000
	t0 := time.Now()
	if err := createParallel(ctx, pods, "bench-par", parallel, 16); err != nil {
		return nil, err
	}
	r.CreatesPerSecond = parallel / time.Since(t0).Seconds()

	fmt.Fprintln(progress, "watch delivery ...")
	if r.Watch, err = watchDelivery(ctx, cli, 100, 500); err != nil {
		return nil, err
	}
	r.Watchers, r.WatchedEvents = 100, 500

	have := 1000 + 1000 + parallel
	if total > have {
		fmt.Fprintf(progress, "filling to %d pods ...\n", total)
		if err := createParallel(ctx, pods, "bench-fill", total-have, 16); err != nil {
			return nil, err
		}
	}
	time.Sleep(2 * time.Second)
	if r.RSSLoaded, err = c.APIServer.RSS(); err != nil {
		return nil, err
	}
	return r, nil
}

func createParallel(ctx context.Context, pods *client.Resource[*corev1.Pod], ns string, count, workers int) error {
	var next atomic.Int64
	g, ctx := errgroup.WithContext(ctx)
	for w := 0; w < workers; w++ {
		g.Go(func() error {
			for {
				n := next.Add(1) - 1
				if n >= int64(count) {
					return nil
				}
				if _, err := pods.Create(ctx, benchPod(ns, fmt.Sprintf("p-%05d", n))); err != nil {
					return err
				}
			}
		})
	}
	return g.Wait()
}

// watchDelivery times, for each of events writes, how long after the write
// was sent each of watchers watchers received it.
func watchDelivery(ctx context.Context, cli *client.Client, watchers, events int) (Latencies, error) {
	cms := client.For[*corev1.ConfigMap](cli)
	list, err := cms.List(ctx, client.ListOptions{Namespace: "bench-watch"})
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	sent := make(map[string]time.Time, events)
	var lat Latencies
	var wg sync.WaitGroup
	errs := make(chan error, watchers)
	for n := 0; n < watchers; n++ {
		w, err := cms.Watch(ctx, client.WatchOptions{Namespace: "bench-watch", ResourceVersion: list.ResourceVersion})
		if err != nil {
			return nil, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer w.Stop()
			for got := 0; got < events; {
				ev, err := w.Next()
				if err != nil {
					errs <- err
					return
				}
				if ev.Type != client.Added {
					continue
				}
				now := time.Now()
				mu.Lock()
				lat = append(lat, now.Sub(sent[ev.Object.Metadata.Name]))
				mu.Unlock()
				got++
			}
		}()
	}
	for n := 0; n < events; n++ {
		name := fmt.Sprintf("cm-%05d", n)
		obj := &corev1.ConfigMap{Metadata: &metav1.ObjectMeta{Name: name, Namespace: "bench-watch"}, Data: map[string]string{"n": fmt.Sprint(n)}}
		mu.Lock()
		sent[name] = time.Now()
		mu.Unlock()
		if _, err := cms.Create(ctx, proto.Clone(obj).(*corev1.ConfigMap)); err != nil {
			return nil, err
		}
		time.Sleep(2 * time.Millisecond) // a steady stream, not one burst
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return nil, err
	}
	return lat, nil
}
