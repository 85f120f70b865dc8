package test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
	"flotilla.io/sdk/client"

	"flotilla.io/apiserver/testserver"
)

func cm(name string, labels map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{Metadata: &metav1.ObjectMeta{Name: name, Namespace: "default", Labels: labels}}
}

type seen struct {
	typ  client.EventType
	name string
	rv   string
}

func (s seen) String() string { return string(s.typ) + " " + s.name }

// next reads events until n non-bookmark events arrived.
func next(t *testing.T, w *client.Watcher[*corev1.ConfigMap], n int) []seen {
	t.Helper()
	var out []seen
	for len(out) < n {
		ev, err := w.Next()
		if err != nil {
			t.Fatalf("after %v: %v", out, err)
		}
		if ev.Type == client.Bookmark {
			continue
		}
		out = append(out, seen{ev.Type, ev.Object.Metadata.Name, ev.ResourceVersion})
	}
	return out
}

func TestWatchFromResourceVersion(t *testing.T) {
	_, c := start(t)
	ctx := ctxFor(t, 30*time.Second)
	cms := client.For[*corev1.ConfigMap](c)
	a, err := cms.Create(ctx, cm("a", map[string]string{"app": "x"}))
	if err != nil {
		t.Fatal(err)
	}
	list, err := cms.List(ctx, client.ListOptions{Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Create(ctx, cm("b", nil)); err != nil {
		t.Fatal(err)
	}
	a.Data = map[string]string{"k": "v"}
	if _, err := cms.Update(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := cms.Delete(ctx, "default", "b", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	w, err := cms.Watch(ctx, client.WatchOptions{Namespace: "default", ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	got := next(t, w, 3)
	if fmt.Sprint(got) != "[ADDED b MODIFIED a DELETED b]" {
		t.Fatalf("events after %s: %v", list.ResourceVersion, got)
	}
	// From "" a watch starts with the current objects.
	w2, err := cms.Watch(ctx, client.WatchOptions{Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Stop()
	got = next(t, w2, 1)
	if fmt.Sprint(got) != "[ADDED a]" {
		t.Fatalf("initial events: %v", got)
	}
	// A filtered watch sees objects enter and leave its selector.
	w3, err := cms.Watch(ctx, client.WatchOptions{Namespace: "default", LabelSelector: "app=x", ResourceVersion: got[0].rv})
	if err != nil {
		t.Fatal(err)
	}
	defer w3.Stop()
	cur, _ := cms.Get(ctx, "default", "a")
	cur.Metadata.Labels = map[string]string{"app": "y"}
	cur, _ = cms.Update(ctx, cur)
	if _, err := cms.Create(ctx, cm("c", map[string]string{"app": "x"})); err != nil {
		t.Fatal(err)
	}
	cur.Metadata.Labels = map[string]string{"app": "x"}
	if _, err := cms.Update(ctx, cur); err != nil {
		t.Fatal(err)
	}
	if got := next(t, w3, 3); fmt.Sprint(got) != "[DELETED a ADDED c ADDED a]" {
		t.Fatalf("filtered events: %v", got)
	}
}

func TestWatchBookmarks(t *testing.T) {
	_, c := start(t)
	ctx := ctxFor(t, 30*time.Second)
	cms := client.For[*corev1.ConfigMap](c)
	list, err := cms.List(ctx, client.ListOptions{Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	w, err := cms.Watch(ctx, client.WatchOptions{Namespace: "default", ResourceVersion: list.ResourceVersion, AllowBookmarks: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	// Other kinds move etcd's revision; the bookmark follows it.
	pods := client.For[*corev1.Pod](c)
	p, err := pods.Create(ctx, pod("default", "p", nil))
	if err != nil {
		t.Fatal(err)
	}
	for {
		ev, err := w.Next()
		if err != nil {
			t.Fatal(err)
		}
		if ev.Type != client.Bookmark {
			t.Fatalf("unexpected %s", ev.Type)
		}
		if ev.ResourceVersion >= p.Metadata.ResourceVersion && len(ev.ResourceVersion) >= len(p.Metadata.ResourceVersion) {
			return
		}
	}
}

func TestWatchExpiredAfterCompaction(t *testing.T) {
	s := testserver.StartWith(t, testserver.Options{WatchCacheHistory: 5})
	c := s.Client(s.Config)
	ctx := ctxFor(t, 30*time.Second)
	cms := client.For[*corev1.ConfigMap](c)
	first, err := cms.Create(ctx, cm("first", nil))
	if err != nil {
		t.Fatal(err)
	}
	for n := 0; n < 10; n++ {
		if _, err := cms.Create(ctx, cm(fmt.Sprintf("cm-%d", n), nil)); err != nil {
			t.Fatal(err)
		}
	}
	// The window of 5 changes no longer reaches back to "first".
	w, err := cms.Watch(ctx, client.WatchOptions{Namespace: "default", ResourceVersion: first.Metadata.ResourceVersion})
	if err == nil {
		_, err = w.Next()
	}
	if !client.IsExpired(err) {
		t.Fatalf("watch from outside the window: want expired, got %v", err)
	}
	// etcd compaction: a page token from before it is expired too.
	page, err := cms.List(ctx, client.ListOptions{Namespace: "default", PageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	last, err := cms.Create(ctx, cm("last", nil))
	if err != nil {
		t.Fatal(err)
	}
	e := s.Etcd
	ecli := testserverEtcdClient(t, e[0])
	if _, err := ecli.Compact(ctx, rvOf(t, last)); err != nil {
		t.Fatal(err)
	}
	_, err = cms.List(ctx, client.ListOptions{Namespace: "default", PageSize: 2, PageToken: page.NextPageToken})
	if !client.IsExpired(err) {
		t.Fatalf("page after compaction: want expired, got %v", err)
	}
	// After a restart the cache starts past the compaction: old revisions are expired.
	s.Restart()
	c2 := s.Client(s.Config)
	w, err = client.For[*corev1.ConfigMap](c2).Watch(ctx, client.WatchOptions{Namespace: "default", ResourceVersion: first.Metadata.ResourceVersion})
	if err == nil {
		_, err = w.Next()
	}
	if !client.IsExpired(err) {
		t.Fatalf("watch from compacted revision after restart: want expired, got %v", err)
	}
}

func TestManyWatchersReceiveEveryEventInOrder(t *testing.T) {
	_, c := start(t)
	ctx := ctxFor(t, 60*time.Second)
	cms := client.For[*corev1.ConfigMap](c)
	list, err := cms.List(ctx, client.ListOptions{Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	const watchers, events = 200, 100
	ws := make([]*client.Watcher[*corev1.ConfigMap], watchers)
	for n := range ws {
		if ws[n], err = cms.Watch(ctx, client.WatchOptions{Namespace: "default", ResourceVersion: list.ResourceVersion}); err != nil {
			t.Fatal(err)
		}
		defer ws[n].Stop()
	}
	var want []string
	for n := 0; n < events; n++ {
		name := fmt.Sprintf("cm-%03d", n)
		want = append(want, "ADDED "+name)
		if _, err := cms.Create(ctx, cm(name, nil)); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan string, watchers)
	for n, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var got []string
			prev := ""
			for len(got) < events {
				ev, err := w.Next()
				if err != nil {
					errs <- fmt.Sprintf("watcher %d after %d events: %v", n, len(got), err)
					return
				}
				if ev.Type == client.Bookmark {
					continue
				}
				if len(ev.ResourceVersion) < len(prev) || (len(ev.ResourceVersion) == len(prev) && ev.ResourceVersion <= prev) {
					errs <- fmt.Sprintf("watcher %d: revision %s after %s", n, ev.ResourceVersion, prev)
					return
				}
				prev = ev.ResourceVersion
				got = append(got, string(ev.Type)+" "+ev.Object.Metadata.Name)
			}
			if strings.Join(got, ",") != strings.Join(want, ",") {
				errs <- fmt.Sprintf("watcher %d got %v", n, got)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestSlowWatcherDoesNotDelayOthers(t *testing.T) {
	s := testserver.StartWith(t, testserver.Options{WatcherBuffer: 64})
	c := s.Client(s.Config)
	ctx := ctxFor(t, 60*time.Second)
	cms := client.For[*corev1.ConfigMap](c)
	list, err := cms.List(ctx, client.ListOptions{Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	slow, err := cms.Watch(ctx, client.WatchOptions{Namespace: "default", ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Stop()
	fast, err := cms.Watch(ctx, client.WatchOptions{Namespace: "default", ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Stop()
	// Big objects fill the slow watcher's transport windows quickly.
	payload := strings.Repeat("x", 256<<10)
	const events = 200
	done := make(chan error, 1)
	go func() {
		for n := 0; n < events; n++ {
			ev, err := fast.Next()
			if err != nil {
				done <- err
				return
			}
			if ev.Type == client.Bookmark {
				n--
			}
		}
		done <- nil
	}()
	for n := 0; n < events; n++ {
		obj := cm(fmt.Sprintf("big-%03d", n), nil)
		obj.Data = map[string]string{"blob": payload}
		if _, err := cms.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("fast watcher: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("fast watcher did not get every event while a slow one stalled")
	}
	// The slow watcher, once it reads, finds itself dropped and told to relist.
	for {
		_, err := slow.Next()
		if err != nil {
			if !client.IsExpired(err) {
				t.Fatalf("slow watcher ended with %v, want expired", err)
			}
			return
		}
	}
}

func TestRestartLosesNothing(t *testing.T) {
	s := testserver.Start(t)
	c := s.Client(s.Config)
	ctx := ctxFor(t, 30*time.Second)
	cms := client.For[*corev1.ConfigMap](c)
	var before []*corev1.ConfigMap
	for n := 0; n < 20; n++ {
		obj, err := cms.Create(ctx, cm(fmt.Sprintf("keep-%02d", n), nil))
		if err != nil {
			t.Fatal(err)
		}
		before = append(before, obj)
	}
	s.Restart()
	c2 := s.Client(s.Config)
	cms2 := client.For[*corev1.ConfigMap](c2)
	for _, want := range before {
		got, err := cms2.Get(ctx, "default", want.Metadata.Name)
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(got, want) {
			t.Fatalf("after restart %s differs:\n%v\n%v", want.Metadata.Name, got, want)
		}
	}
	list, err := cms2.List(ctx, client.ListOptions{Namespace: "default"})
	if err != nil || len(list.Items) != len(before) {
		t.Fatalf("list after restart: %d items, %v", len(list.Items), err)
	}
	after, err := cms2.Create(ctx, cm("after", nil))
	if err != nil {
		t.Fatal(err)
	}
	if rvOf(t, after) <= rvOf(t, before[len(before)-1]) {
		t.Fatalf("revision went backwards across a restart")
	}
}

func TestTwoAPIServersShareOneEtcd(t *testing.T) {
	a := testserver.Start(t)
	b := testserver.StartAPIServer(t, a.Etcd, testserver.Options{})
	ca, cb := client.For[*corev1.ConfigMap](a.Client(a.Config)), client.For[*corev1.ConfigMap](b.Client(b.Config))
	ctx := ctxFor(t, 30*time.Second)
	wb, err := cb.Watch(ctx, client.WatchOptions{Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	defer wb.Stop()
	wa, err := ca.Watch(ctx, client.WatchOptions{Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	defer wa.Stop()
	if _, err := ca.Create(ctx, cm("via-a", nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := cb.Create(ctx, cm("via-b", nil)); err != nil {
		t.Fatal(err)
	}
	for name, w := range map[string]*client.Watcher[*corev1.ConfigMap]{"a": wa, "b": wb} {
		if got := next(t, w, 2); fmt.Sprint(got) != "[ADDED via-a ADDED via-b]" {
			t.Errorf("watch on %s: %v", name, got)
		}
	}
	if _, err := ca.Get(ctx, "default", "via-b"); err != nil {
		t.Fatal(err)
	}
	// A conflict is detected across servers.
	x, _ := ca.Get(ctx, "default", "via-a")
	y := proto.Clone(x).(*corev1.ConfigMap)
	x.Data = map[string]string{"by": "a"}
	if _, err := ca.Update(ctx, x); err != nil {
		t.Fatal(err)
	}
	y.Data = map[string]string{"by": "b"}
	if _, err := cb.Update(ctx, y); !client.IsConflict(err) {
		t.Fatalf("cross-server stale write: %v", err)
	}
}

func TestAuthentication(t *testing.T) {
	s := testserver.Start(t)
	ctx := ctxFor(t, 10*time.Second)
	for _, token := range []string{"", "wrong"} {
		cfg := *s.Config
		cfg.Token = token
		c, err := client.New(context.Background(), &cfg)
		if err != nil {
			t.Fatal(err)
		}
		_, err = client.For[*corev1.ConfigMap](c).List(ctx, client.ListOptions{Namespace: "default"})
		c.Close()
		if !strings.Contains(fmt.Sprint(err), "Unauthenticated") {
			t.Errorf("token %q: want Unauthenticated, got %v", token, err)
		}
	}
}
