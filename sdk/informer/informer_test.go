package informer_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"

	"flotilla.io/sdk/client"
	"flotilla.io/sdk/fakeserver"
	"flotilla.io/sdk/informer"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func pod(name, node string) *corev1.Pod {
	return &corev1.Pod{Metadata: &metav1.ObjectMeta{Namespace: "ns", Name: name}, Spec: &corev1.PodSpec{NodeName: node}}
}

// recorder logs handler calls as "add a", "update a n1->n2", "delete a@n2".
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) log(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, fmt.Sprintf(format, args...))
}

func (r *recorder) handler() informer.Handler[*corev1.Pod] {
	return informer.Handler[*corev1.Pod]{
		OnAdd: func(p *corev1.Pod) { r.log("add %s", p.GetMetadata().GetName()) },
		OnUpdate: func(old, new *corev1.Pod) {
			r.log("update %s %s->%s", new.GetMetadata().GetName(), old.GetSpec().GetNodeName(), new.GetSpec().GetNodeName())
		},
		OnDelete: func(p *corev1.Pod) { r.log("delete %s@%s", p.GetMetadata().GetName(), p.GetSpec().GetNodeName()) },
	}
}

// take waits for n events and returns them sorted (relists deliver in any order).
func (r *recorder) take(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r.mu.Lock()
		if len(r.events) >= n {
			got := slices.Clone(r.events)
			r.events = nil
			r.mu.Unlock()
			slices.Sort(got)
			return got
		}
		r.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("waited for %d events, have %v", n, r.events)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (r *recorder) none(t *testing.T) {
	t.Helper()
	time.Sleep(50 * time.Millisecond)
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.events) > 0 {
		t.Fatalf("unexpected events %v", r.events)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// counter counts calls per method through the fake's interceptor and can
// fail chosen methods.
type counter struct {
	mu    sync.Mutex
	calls map[string]int
	fail  map[string]error
}

func intercept(srv *fakeserver.Server) *counter {
	c := &counter{calls: map[string]int{}, fail: map[string]error{}}
	srv.Intercept(func(method string, _ proto.Message) error {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.calls[method]++
		return c.fail[method]
	})
	return c
}

func (c *counter) n(method string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[method]
}

func (c *counter) setFail(method string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fail[method] = err
}

type fixture struct {
	srv  *fakeserver.Server
	c    *client.Client
	pods *client.Resource[*corev1.Pod]
	ctx  context.Context
}

func setup(t *testing.T) *fixture {
	srv, c := fakeserver.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return &fixture{srv: srv, c: c, pods: client.For[*corev1.Pod](c), ctx: ctx}
}

// run starts inf and stops it, waiting for it to return, when the test ends.
func run[T proto.Message](t *testing.T, f *fixture, inf *informer.Informer[T]) {
	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan error, 1)
	go func() { done <- inf.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Start: %v", err)
		}
	})
	if !informer.WaitForSync(f.ctx, inf) {
		t.Fatal("informer never synced")
	}
}

func (f *fixture) mustCreate(t *testing.T, p *corev1.Pod) *corev1.Pod {
	t.Helper()
	p, err := f.pods.Create(f.ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (f *fixture) move(t *testing.T, name, node string) {
	t.Helper()
	p, err := f.pods.Get(f.ctx, "ns", name)
	if err != nil {
		t.Fatal(err)
	}
	p.Spec.NodeName = node
	if _, err := f.pods.Update(f.ctx, p); err != nil {
		t.Fatal(err)
	}
}

func fast() informer.Options {
	return informer.Options{MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}
}

func TestListThenWatch(t *testing.T) {
	f := setup(t)
	f.mustCreate(t, pod("a", "n1"))
	f.mustCreate(t, pod("b", ""))

	inf := informer.New[*corev1.Pod](f.c, fast())
	if err := inf.AddIndex("node", informer.FieldIndex[*corev1.Pod]("spec.nodeName")); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	inf.AddHandler(rec.handler())
	if inf.HasSynced() {
		t.Fatal("synced before start")
	}
	run(t, f, inf)
	if got := rec.take(t, 2); !slices.Equal(got, []string{"add a", "add b"}) {
		t.Fatalf("initial events %v", got)
	}

	f.mustCreate(t, pod("c", "n1"))
	f.move(t, "a", "n2")
	f.pods.Delete(f.ctx, "ns", "b", client.DeleteOptions{})
	if got := rec.take(t, 3); !slices.Equal(got, []string{"add c", "delete b@", "update a n1->n2"}) {
		t.Fatalf("watch events %v", got)
	}
	// The cache and its indexes follow.
	waitFor(t, "cache to hold a on n2", func() bool {
		on2, _ := inf.Lister().ByIndex("node", "n2")
		return len(on2) == 1 && on2[0].GetMetadata().GetName() == "a"
	})
	if _, err := inf.Lister().Get("ns", "b"); !client.IsNotFound(err) {
		t.Errorf("deleted pod still cached: %v", err)
	}
}

func TestTransform(t *testing.T) {
	f := setup(t)
	withImage := func(name, node string) *corev1.Pod {
		p := pod(name, node)
		p.Spec.Containers = []*corev1.Container{{Name: "c", Image: "busybox"}}
		return p
	}
	f.mustCreate(t, withImage("listed", "n1"))
	inf := informer.New[*corev1.Pod](f.c, fast())
	if err := inf.AddIndex("node", informer.FieldIndex[*corev1.Pod]("spec.nodeName")); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []string // what handlers saw: name and container count
	note := func(p *corev1.Pod) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, fmt.Sprintf("%s:%d", p.GetMetadata().GetName(), len(p.GetSpec().GetContainers())))
	}
	inf.AddHandler(informer.Handler[*corev1.Pod]{OnAdd: note, OnUpdate: func(_, p *corev1.Pod) { note(p) }, OnDelete: note})
	if err := inf.SetTransform(func(p *corev1.Pod) *corev1.Pod {
		p.Spec.Containers = nil // in place: the informer owns the decoded object
		return p
	}); err != nil {
		t.Fatal(err)
	}
	run(t, f, inf)
	if err := inf.SetTransform(nil); err == nil {
		t.Error("SetTransform after Start succeeded")
	}
	f.mustCreate(t, withImage("watched", ""))
	f.move(t, "watched", "n2")
	if err := f.pods.Delete(f.ctx, "ns", "listed", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "four handler calls", func() bool { mu.Lock(); defer mu.Unlock(); return len(seen) == 4 })
	want := []string{"listed:0", "watched:0", "watched:0", "listed:0"}
	mu.Lock()
	if !slices.Equal(seen, want) {
		t.Errorf("handlers saw %v, want %v", seen, want)
	}
	mu.Unlock()
	got, err := inf.Lister().ByIndex("node", "n2")
	if err != nil || len(got) != 1 || len(got[0].GetSpec().GetContainers()) != 0 {
		t.Errorf("cache holds %v, %v; want watched, transformed", got, err)
	}
	// The server still has the whole object: only the cache is smaller.
	if p, err := f.pods.Get(f.ctx, "ns", "watched"); err != nil || len(p.GetSpec().GetContainers()) != 1 {
		t.Errorf("server copy %v, %v", p, err)
	}
}

func TestLateHandlerSeesCachedObjects(t *testing.T) {
	f := setup(t)
	f.mustCreate(t, pod("a", ""))
	inf := informer.New[*corev1.Pod](f.c, fast())
	run(t, f, inf)
	rec := &recorder{}
	inf.AddHandler(rec.handler())
	if got := rec.take(t, 1); !slices.Equal(got, []string{"add a"}) {
		t.Fatalf("late handler got %v", got)
	}
	f.mustCreate(t, pod("b", ""))
	if got := rec.take(t, 1); !slices.Equal(got, []string{"add b"}) {
		t.Fatalf("late handler got %v", got)
	}
}

func TestRelistAfterExpiry(t *testing.T) {
	f := setup(t)
	for _, n := range []string{"a", "b", "c"} {
		f.mustCreate(t, pod(n, "n1"))
	}
	calls := intercept(f.srv)
	inf := informer.New[*corev1.Pod](f.c, fast())
	rec := &recorder{}
	inf.AddHandler(rec.handler())
	run(t, f, inf)
	rec.take(t, 3)

	// Cut the watch and keep it down while the world changes and the history
	// is compacted: the informer's revision is then too old to resume from.
	calls.setFail("Watch", status.Error(codes.Unavailable, "down"))
	f.srv.EndWatches(status.Error(codes.Unavailable, "down"))
	waitFor(t, "watch to end", func() bool { return f.srv.Watches() == 0 })
	f.pods.Delete(f.ctx, "ns", "b", client.DeleteOptions{})
	f.move(t, "c", "n2")
	f.mustCreate(t, pod("d", "n3"))
	f.srv.Compact()
	lists := calls.n("List")
	calls.setFail("Watch", nil)

	// The relist reconciles the cache: a delete with b's last known state,
	// an update for c, an add for d; a untouched stays quiet.
	if got := rec.take(t, 3); !slices.Equal(got, []string{"add d", "delete b@n1", "update c n1->n2"}) {
		t.Fatalf("relist events %v", got)
	}
	if calls.n("List") != lists+1 {
		t.Errorf("List calls = %d, want %d", calls.n("List"), lists+1)
	}
	rec.none(t)
	if keys := inf.Store().Keys(); !slices.Equal(keys, []string{"ns/a", "ns/c", "ns/d"}) {
		t.Errorf("cache keys %v", keys)
	}
	// And watching resumes.
	f.mustCreate(t, pod("e", ""))
	if got := rec.take(t, 1); !slices.Equal(got, []string{"add e"}) {
		t.Fatalf("after relist %v", got)
	}
}

func TestExpiredMidWatchRelists(t *testing.T) {
	f := setup(t)
	f.mustCreate(t, pod("a", ""))
	calls := intercept(f.srv)
	inf := informer.New[*corev1.Pod](f.c, fast())
	run(t, f, inf)
	f.srv.EndWatches(status.Error(codes.OutOfRange, "compacted"))
	waitFor(t, "relist", func() bool { return calls.n("List") == 2 })
}

func TestResumeWithoutRelist(t *testing.T) {
	f := setup(t)
	f.mustCreate(t, pod("a", ""))
	calls := intercept(f.srv)
	inf := informer.New[*corev1.Pod](f.c, fast())
	rec := &recorder{}
	inf.AddHandler(rec.handler())
	run(t, f, inf)
	rec.take(t, 1)

	// A cleanly closed watch resumes from the last revision seen, replaying
	// what happened in between.
	calls.setFail("Watch", status.Error(codes.Unavailable, "down"))
	f.srv.EndWatches(nil)
	waitFor(t, "watch to end", func() bool { return f.srv.Watches() == 0 })
	f.mustCreate(t, pod("b", ""))
	calls.setFail("Watch", nil)
	if got := rec.take(t, 1); !slices.Equal(got, []string{"add b"}) {
		t.Fatalf("events %v", got)
	}
	if calls.n("List") != 1 {
		t.Errorf("List calls = %d, want 1 (no relist)", calls.n("List"))
	}
}

func TestBookmarkAdvancesRevision(t *testing.T) {
	f := setup(t)
	f.mustCreate(t, pod("a", "")) // so the informer's revision is not "0" (= from scratch)
	calls := intercept(f.srv)
	inf := informer.New[*corev1.Pod](f.c, fast())
	run(t, f, inf)
	waitFor(t, "watch", func() bool { return f.srv.Watches() == 1 })

	// Changes to another kind move the revision without any pod event; only
	// a bookmark tells the pod informer it has seen up to there.
	nodes := client.For[*corev1.Node](f.c)
	for _, n := range []string{"n1", "n2"} {
		if _, err := nodes.Create(f.ctx, &corev1.Node{Metadata: &metav1.ObjectMeta{Name: n}}); err != nil {
			t.Fatal(err)
		}
	}
	f.srv.Bookmark()
	time.Sleep(50 * time.Millisecond) // let the bookmark arrive
	f.srv.Compact()
	f.srv.EndWatches(nil)
	waitFor(t, "rewatch", func() bool { return calls.n("Watch") >= 2 })
	time.Sleep(100 * time.Millisecond) // time to fail and relist, were it to
	if calls.n("List") != 1 || calls.n("Watch") != 2 {
		t.Errorf("List, Watch calls = %d, %d: the informer relisted despite the bookmark", calls.n("List"), calls.n("Watch"))
	}
}

func TestBackoffOnErrors(t *testing.T) {
	f := setup(t)
	f.mustCreate(t, pod("a", ""))
	calls := intercept(f.srv)
	calls.setFail("List", status.Error(codes.Unavailable, "down"))
	inf := informer.New[*corev1.Pod](f.c, informer.Options{MinBackoff: 20 * time.Millisecond, MaxBackoff: 40 * time.Millisecond})
	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan error, 1)
	go func() { done <- inf.Start(ctx) }()
	defer func() { cancel(); <-done }()

	time.Sleep(150 * time.Millisecond)
	// 0, 20, 60, 100, 140ms: backoff keeps retries to a handful.
	if n := calls.n("List"); n < 2 || n > 7 || inf.HasSynced() {
		t.Fatalf("List calls in 150ms = %d (synced %v), want 2..7 and not synced", n, inf.HasSynced())
	}
	calls.setFail("List", nil)
	waitFor(t, "sync after the server recovers", inf.HasSynced)
}

func TestResync(t *testing.T) {
	f := setup(t)
	f.mustCreate(t, pod("a", "n1"))
	opts := fast()
	opts.Resync = 30 * time.Millisecond
	inf := informer.New[*corev1.Pod](f.c, opts)
	rec := &recorder{}
	inf.AddHandler(rec.handler())
	run(t, f, inf)
	if got := rec.take(t, 3); !slices.Equal(got, []string{"add a", "update a n1->n1", "update a n1->n1"}) {
		t.Fatalf("resync events %v", got)
	}
}

func TestNamespaceAndSelectors(t *testing.T) {
	f := setup(t)
	f.mustCreate(t, pod("a", "n1"))
	f.mustCreate(t, pod("b", "n2"))
	other := pod("c", "n1")
	other.Metadata.Namespace = "other"
	f.mustCreate(t, other)
	opts := fast()
	opts.FieldSelector = "spec.nodeName=n1"
	opts.Namespace = "ns"
	inf := informer.New[*corev1.Pod](f.c, opts)
	rec := &recorder{}
	inf.AddHandler(rec.handler())
	run(t, f, inf)
	if got := rec.take(t, 1); !slices.Equal(got, []string{"add a"}) {
		t.Fatalf("events %v", got)
	}
	// A pod moving onto the node enters the selection, one leaving exits it.
	f.move(t, "b", "n1")
	f.move(t, "a", "n9")
	if got := rec.take(t, 2); !slices.Equal(got, []string{"add b", "delete a@n9"}) {
		t.Fatalf("events %v", got)
	}
}

func TestFactorySharesInformers(t *testing.T) {
	f := setup(t)
	f.mustCreate(t, pod("a", ""))
	fac := informer.NewFactory(f.c, fast())
	calls := intercept(f.srv)
	p1, p2 := informer.For[*corev1.Pod](fac), informer.For[*corev1.Pod](fac)
	if p1 != p2 {
		t.Fatal("factory made two pod informers")
	}
	r1, r2 := &recorder{}, &recorder{}
	p1.AddHandler(r1.handler())
	p2.AddHandler(r2.handler())

	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan error, 1)
	go func() { done <- fac.Start(ctx) }()
	if !fac.WaitForSync(f.ctx) {
		t.Fatal("no sync")
	}
	r1.take(t, 1)
	r2.take(t, 1)
	// An informer asked for after Start runs at once.
	nodes := informer.For[*corev1.Node](fac)
	if !informer.WaitForSync(f.ctx, nodes) {
		t.Fatal("late informer never synced")
	}
	if calls.n("List") != 2 {
		t.Errorf("List calls = %d, want one per kind", calls.n("List"))
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestUnregisteredKind(t *testing.T) {
	f := setup(t)
	if err := informer.New[*metav1.ObjectMeta](f.c, fast()).Start(f.ctx); err == nil {
		t.Fatal("Start on an unregistered kind succeeded")
	}
	fac := informer.NewFactory(f.c, fast())
	informer.For[*metav1.ObjectMeta](fac)
	if err := fac.Start(f.ctx); err == nil {
		t.Fatal("factory Start with an unregistered kind succeeded")
	}
}
