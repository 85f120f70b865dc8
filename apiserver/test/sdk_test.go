package test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	coordinationv1 "flotilla.io/proto/flotilla/coordination/v1"
	corev1 "flotilla.io/proto/flotilla/core/v1"
	"flotilla.io/sdk/client"
	"flotilla.io/sdk/informer"
	"flotilla.io/sdk/leaderelection"

	"flotilla.io/apiserver/testserver"
)

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The SDK informer against the real apiserver: it lists, follows changes,
// and after its watch expires it relists and reconciles what it missed.
func TestInformerAgainstRealServer(t *testing.T) {
	s := testserver.StartWith(t, testserver.Options{WatchCacheHistory: 3})
	c := s.Client(s.Config)
	ctx, cancel := context.WithCancel(ctxFor(t, 60*time.Second))
	defer cancel()
	cms := client.For[*corev1.ConfigMap](c)
	if _, err := cms.Create(ctx, cm("pre", nil)); err != nil {
		t.Fatal(err)
	}
	inf := informer.New[*corev1.ConfigMap](c, informer.Options{Namespace: "default"})
	var adds, updates, deletes atomic.Int32
	inf.AddHandler(informer.Handler[*corev1.ConfigMap]{
		OnAdd:    func(*corev1.ConfigMap) { adds.Add(1) },
		OnUpdate: func(_, _ *corev1.ConfigMap) { updates.Add(1) },
		OnDelete: func(*corev1.ConfigMap) { deletes.Add(1) },
	})
	done := make(chan error, 1)
	go func() { done <- inf.Start(ctx) }()
	eventually(t, "sync", inf.HasSynced)
	if _, err := inf.Lister().Get("default", "pre"); err != nil {
		t.Fatal(err)
	}
	post, err := cms.Create(ctx, cm("post", nil))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "post in cache", func() bool { _, err := inf.Lister().Get("default", "post"); return err == nil })
	post.Data = map[string]string{"v": "2"}
	if _, err := cms.Update(ctx, post); err != nil {
		t.Fatal(err)
	}
	eventually(t, "update seen", func() bool {
		got, err := inf.Lister().Get("default", "post")
		return err == nil && got.Data["v"] == "2"
	})
	if err := cms.Delete(ctx, "default", "pre", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "delete seen", func() bool { return deletes.Load() == 1 })
	if adds.Load() != 2 || updates.Load() < 1 {
		t.Fatalf("handlers: %d adds, %d updates", adds.Load(), updates.Load())
	}
	// Many writes while the apiserver restarts with a tiny history: the
	// informer's watch expires, it relists and ends up with the same state.
	s.Restart()
	cms = client.For[*corev1.ConfigMap](s.Client(s.Config))
	for n := 0; n < 10; n++ {
		if _, err := cms.Create(ctx, cm(fmt.Sprintf("burst-%d", n), nil)); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "cache matches the server", func() bool {
		l, err := cms.List(ctx, client.ListOptions{Namespace: "default"})
		return err == nil && len(l.Items) == len(inf.Lister().ListNamespace("default", nil)) && len(l.Items) == 11
	})
	cancel()
	if err := <-done; err != nil && ctx.Err() == nil {
		t.Fatal(err)
	}
}

// Leader election on a real Lease: one of two candidates leads; when it
// stops, the other takes over.
func TestLeaderElectionFailoverAgainstRealServer(t *testing.T) {
	s := testserver.Start(t)
	c := s.Client(s.Config)
	root := ctxFor(t, 60*time.Second)
	var mu sync.Mutex
	leading := map[string]bool{}
	run := func(id string) (context.CancelFunc, chan error) {
		ctx, cancel := context.WithCancel(root)
		e, err := leaderelection.New(leaderelection.Config{
			Client: c, Namespace: "flotilla-system", Name: "test-lock", Identity: id,
			LeaseDuration: 2 * time.Second, RenewDeadline: 1500 * time.Millisecond, RetryPeriod: 200 * time.Millisecond,
			OnStartedLeading: func(ctx context.Context) {
				mu.Lock()
				leading[id] = true
				mu.Unlock()
				<-ctx.Done()
				mu.Lock()
				leading[id] = false
				mu.Unlock()
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- e.Run(ctx) }()
		return cancel, done
	}
	leaders := func() []string {
		mu.Lock()
		defer mu.Unlock()
		var out []string
		for id, l := range leading {
			if l {
				out = append(out, id)
			}
		}
		return out
	}
	stopA, doneA := run("a")
	eventually(t, "a leads", func() bool { l := leaders(); return len(l) == 1 && l[0] == "a" })
	stopB, doneB := run("b")
	defer stopB()
	time.Sleep(1 * time.Second)
	if l := leaders(); len(l) != 1 || l[0] != "a" {
		t.Fatalf("leaders with two candidates: %v", l)
	}
	stopA() // the leader goes away without releasing: b waits out the lease
	<-doneA
	eventually(t, "b takes over", func() bool { l := leaders(); return len(l) == 1 && l[0] == "b" })
	lease, err := client.For[*coordinationv1.Lease](c).Get(root, "flotilla-system", "test-lock")
	if err != nil {
		t.Fatal(err)
	}
	if lease.Spec.GetHolderIdentity() != "b" || lease.Spec.GetLeaseTransitions() < 1 {
		t.Fatalf("lease after failover: %v", lease.Spec)
	}
	stopB()
	<-doneB
}
