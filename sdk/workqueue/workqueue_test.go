package workqueue_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"flotilla.io/sdk/workqueue"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func get(t *testing.T, q workqueue.Queue[string]) string {
	t.Helper()
	got := make(chan string, 1)
	go func() {
		item, shutdown := q.Get()
		if !shutdown {
			got <- item
		}
	}()
	select {
	case item := <-got:
		return item
	case <-time.After(2 * time.Second):
		t.Fatal("Get blocked")
		return ""
	}
}

func TestDeduplicatesAndHoldsItemsInProcess(t *testing.T) {
	q := workqueue.New[string]("test", workqueue.Options[string]{})
	defer q.ShutDown()
	q.Add("a")
	q.Add("b")
	q.Add("a")
	if q.Len() != 2 {
		t.Fatalf("Len = %d, want 2 (a de-duplicated)", q.Len())
	}
	if got := get(t, q); got != "a" {
		t.Fatalf("first Get = %s, want a (FIFO)", got)
	}
	// a is being processed: a re-add waits for Done instead of reaching a
	// second worker.
	q.Add("a")
	if got := get(t, q); got != "b" {
		t.Fatalf("second Get = %s, want b", got)
	}
	if q.Len() != 0 {
		t.Fatalf("Len = %d while a is processing, want 0", q.Len())
	}
	q.Done("a")
	if got := get(t, q); got != "a" {
		t.Fatalf("after Done, Get = %s, want a again", got)
	}
	q.Done("a")
	q.Done("b")
	if q.Len() != 0 {
		t.Fatalf("Len = %d, want 0", q.Len())
	}
}

func TestAddAfter(t *testing.T) {
	q := workqueue.New[string]("test", workqueue.Options[string]{})
	defer q.ShutDown()
	start := time.Now()
	q.AddAfter("later", 80*time.Millisecond)
	if q.Len() != 0 {
		t.Fatal("AddAfter queued at once")
	}
	if get(t, q); time.Since(start) < 80*time.Millisecond {
		t.Fatalf("item ready after %v, want >= 80ms", time.Since(start))
	}
}

func TestAddRateLimitedBacksOffUntilForget(t *testing.T) {
	q := workqueue.New("test", workqueue.Options[string]{RateLimiter: workqueue.ExponentialRateLimiter[string](20*time.Millisecond, time.Second)})
	defer q.ShutDown()
	var waits []time.Duration
	for range 3 {
		start := time.Now()
		q.AddRateLimited("x")
		get(t, q)
		waits = append(waits, time.Since(start))
		q.Done("x")
	}
	// 20ms, 40ms, 80ms.
	for i, min := range []time.Duration{20, 40, 80} {
		if waits[i] < min*time.Millisecond {
			t.Errorf("retry %d waited %v, want >= %vms", i, waits[i], min)
		}
	}
	if n := q.NumRequeues("x"); n != 3 {
		t.Errorf("NumRequeues = %d, want 3", n)
	}
	q.Forget("x")
	if n := q.NumRequeues("x"); n != 0 {
		t.Errorf("NumRequeues after Forget = %d", n)
	}
	start := time.Now()
	q.AddRateLimited("x")
	get(t, q)
	if d := time.Since(start); d > 60*time.Millisecond {
		t.Errorf("after Forget the retry waited %v, want the base delay again", d)
	}
}

func TestShutDownReleasesGet(t *testing.T) {
	q := workqueue.New[string]("test", workqueue.Options[string]{})
	done := make(chan bool)
	go func() {
		_, shutdown := q.Get()
		done <- shutdown
	}()
	time.Sleep(10 * time.Millisecond)
	q.ShutDown()
	if !<-done {
		t.Fatal("Get after ShutDown did not report shutdown")
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := workqueue.NewMetrics(reg)
	if workqueue.NewMetrics(reg) == nil { // a second provider on one registry shares the metrics
		t.Fatal("nil metrics")
	}
	q := workqueue.New("pods", workqueue.Options[string]{Metrics: m})
	defer q.ShutDown()
	q.Add("a")
	q.Add("b")
	q.Add("a")
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP flotilla_workqueue_adds_total Items added to the queue.
# TYPE flotilla_workqueue_adds_total counter
flotilla_workqueue_adds_total{name="pods"} 2
# HELP flotilla_workqueue_depth Items waiting in the queue.
# TYPE flotilla_workqueue_depth gauge
flotilla_workqueue_depth{name="pods"} 2
`), "flotilla_workqueue_adds_total", "flotilla_workqueue_depth"); err != nil {
		t.Fatal(err)
	}
	q.AddRateLimited("c")
	if n := testutil.ToFloat64(m.NewRetriesMetric("pods").(prometheus.Counter)); n != 1 {
		t.Errorf("retries = %v, want 1", n)
	}
}

func TestRun(t *testing.T) {
	q := workqueue.New("test", workqueue.Options[string]{RateLimiter: workqueue.ExponentialRateLimiter[string](time.Millisecond, 10*time.Millisecond)})
	var mu sync.Mutex
	calls := map[string]int{}
	ctx, cancel := context.WithCancel(context.Background())
	reconcile := func(_ context.Context, key string) (workqueue.Result, error) {
		mu.Lock()
		defer mu.Unlock()
		calls[key]++
		switch {
		case key == "flaky" && calls[key] < 3:
			return workqueue.Result{}, errors.New("try again")
		case key == "bad":
			return workqueue.Result{}, workqueue.Terminal(errors.New("invalid"))
		case key == "poll" && calls[key] < 2:
			return workqueue.Result{RequeueAfter: 20 * time.Millisecond}, nil
		}
		return workqueue.Result{}, nil
	}
	done := make(chan struct{})
	go func() { workqueue.Run(ctx, q, 2, nil, reconcile); close(done) }()
	for _, k := range []string{"ok", "flaky", "bad", "poll"} {
		q.Add(k)
	}
	time.Sleep(200 * time.Millisecond)
	cancel()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	want := map[string]int{"ok": 1, "flaky": 3, "bad": 1, "poll": 2}
	mu.Lock()
	defer mu.Unlock()
	for k, n := range want {
		if calls[k] != n {
			t.Errorf("%s reconciled %d times, want %d", k, calls[k], n)
		}
	}
	if q.NumRequeues("flaky") != 0 {
		t.Error("flaky not forgotten after success")
	}
	if !q.ShuttingDown() {
		t.Error("queue not shut down")
	}
	if !workqueue.IsTerminal(workqueue.Terminal(errors.New("x"))) || workqueue.IsTerminal(errors.New("x")) || workqueue.Terminal(nil) != nil {
		t.Error("Terminal/IsTerminal")
	}
}
