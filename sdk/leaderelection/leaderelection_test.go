package leaderelection_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	coordinationv1 "flotilla.io/proto/flotilla/coordination/v1"

	"flotilla.io/sdk/client"
	"flotilla.io/sdk/fakeserver"
	"flotilla.io/sdk/leaderelection"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// candidate runs one elector and records what it was told.
type candidate struct {
	id        string
	el        *leaderelection.Elector
	started   chan struct{}
	leaderCtx atomic.Pointer[context.Context]
	stopped   atomic.Bool
	cancel    context.CancelFunc
	done      chan error
}

func start(t *testing.T, c *client.Client, id string, reg prometheus.Registerer, tweak func(*leaderelection.Config)) *candidate {
	t.Helper()
	cd := &candidate{id: id, started: make(chan struct{}), done: make(chan error, 1)}
	cfg := leaderelection.Config{
		Client: c, Namespace: "sys", Name: "scheduler", Identity: id,
		LeaseDuration: time.Second, RenewDeadline: 600 * time.Millisecond, RetryPeriod: 100 * time.Millisecond,
		OnStartedLeading: func(ctx context.Context) {
			cd.leaderCtx.Store(&ctx)
			close(cd.started)
			<-ctx.Done()
		},
		OnStoppedLeading: func() { cd.stopped.Store(true) },
		Registerer:       reg,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	el, err := leaderelection.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cd.el = el
	ctx, cancel := context.WithCancel(context.Background())
	cd.cancel = cancel
	go func() { cd.done <- el.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-cd.done })
	return cd
}

func (cd *candidate) leads(d time.Duration) bool {
	select {
	case <-cd.started:
		return true
	case <-time.After(d):
		return false
	}
}

func (cd *candidate) stop(t *testing.T) error {
	t.Helper()
	cd.cancel()
	select {
	case err := <-cd.done:
		cd.done <- err // for Cleanup
		return err
	case <-time.After(3 * time.Second):
		t.Fatal("Run did not return")
		return nil
	}
}

func lease(t *testing.T, c *client.Client) *coordinationv1.Lease {
	t.Helper()
	l, err := client.For[*coordinationv1.Lease](c).Get(context.Background(), "sys", "scheduler")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestAcquireRenewRelease(t *testing.T) {
	_, c := fakeserver.Start(t)
	reg := prometheus.NewRegistry()
	a := start(t, c, "a", reg, func(cfg *leaderelection.Config) { cfg.ReleaseOnCancel = true })
	if !a.leads(2 * time.Second) {
		t.Fatal("sole candidate did not lead")
	}
	if !a.el.IsLeader() || a.el.Leader() != "a" {
		t.Errorf("IsLeader=%v Leader=%q", a.el.IsLeader(), a.el.Leader())
	}
	if n, err := testutil.GatherAndCount(reg, "flotilla_leader_election_is_leader"); err != nil || n != 1 {
		t.Fatalf("gauge count %d, %v", n, err)
	}
	gauge := func() float64 {
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() == "flotilla_leader_election_is_leader" {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		return -1
	}
	if gauge() != 1 {
		t.Errorf("is_leader gauge = %v, want 1", gauge())
	}

	l := lease(t, c)
	sp := l.GetSpec()
	if sp.GetHolderIdentity() != "a" || sp.GetLeaseDurationSeconds() != 1 || sp.GetLeaseTransitions() != 0 || sp.GetAcquireTime() == nil {
		t.Fatalf("lease after acquire: %v", sp)
	}
	time.Sleep(350 * time.Millisecond)
	l2 := lease(t, c).GetSpec()
	if !l2.GetRenewTime().AsTime().After(sp.GetRenewTime().AsTime()) || !proto.Equal(l2.GetAcquireTime(), sp.GetAcquireTime()) {
		t.Errorf("renewal: renew %v -> %v, acquire %v -> %v", sp.GetRenewTime().AsTime(), l2.GetRenewTime().AsTime(), sp.GetAcquireTime(), l2.GetAcquireTime())
	}

	if err := a.stop(t); err != nil {
		t.Fatalf("Run after cancel: %v", err)
	}
	if ctx := *a.leaderCtx.Load(); ctx.Err() == nil {
		t.Error("leader ctx still live after Run returned")
	}
	if !a.stopped.Load() || a.el.IsLeader() || gauge() != 0 {
		t.Errorf("after stop: OnStoppedLeading=%v IsLeader=%v gauge=%v", a.stopped.Load(), a.el.IsLeader(), gauge())
	}
	if h := lease(t, c).GetSpec().GetHolderIdentity(); h != "" {
		t.Errorf("ReleaseOnCancel left holder %q", h)
	}
}

func TestOnlyOneLeadsAndFailover(t *testing.T) {
	for _, release := range []bool{true, false} {
		t.Run(map[bool]string{true: "released", false: "expired"}[release], func(t *testing.T) {
			_, c := fakeserver.Start(t)
			var newLeaders sync.Map
			tweak := func(cfg *leaderelection.Config) {
				cfg.ReleaseOnCancel = release
				cfg.OnNewLeader = func(id string) { newLeaders.Store(cfg.Identity+"->"+id, true) }
			}
			a := start(t, c, "a", nil, tweak)
			if !a.leads(2 * time.Second) {
				t.Fatal("a did not lead")
			}
			b := start(t, c, "b", nil, tweak)
			if b.leads(1500 * time.Millisecond) {
				t.Fatal("b led while a renewed its lease")
			}
			if b.el.Leader() != "a" {
				t.Errorf("b observed leader %q", b.el.Leader())
			}
			if _, ok := newLeaders.Load("b->a"); !ok {
				t.Error("OnNewLeader not told b about a")
			}
			stoppedAt := time.Now()
			a.stop(t)
			if !b.leads(3 * time.Second) {
				t.Fatal("b did not take over")
			}
			took := time.Since(stoppedAt)
			// A released lease is free at once; an abandoned one only once it
			// went unchanged for its duration (1s) on b's clock.
			if release && took > 700*time.Millisecond {
				t.Errorf("takeover of a released lease took %v", took)
			}
			if !release && took < 800*time.Millisecond {
				t.Errorf("b took an unexpired lease after %v", took)
			}
			sp := lease(t, c).GetSpec()
			if sp.GetHolderIdentity() != "b" || sp.GetLeaseTransitions() != 1 {
				t.Errorf("lease after failover: %v", sp)
			}
		})
	}
}

func TestLosingTheLeaseCancelsLeaderWork(t *testing.T) {
	for name, cut := range map[string]func(*fakeserver.Server, *client.Client){
		// The apiserver stops accepting our renewals.
		"renewals fail": func(srv *fakeserver.Server, _ *client.Client) {
			srv.Intercept(func(method string, _ proto.Message) error {
				if method == "Update" {
					return status.Error(codes.Unavailable, "etcd down")
				}
				return nil
			})
		},
		// Someone else took the lease (e.g. an operator, or we were paused).
		"lease taken": func(srv *fakeserver.Server, c *client.Client) {
			leases := client.For[*coordinationv1.Lease](c)
			for { // retry while racing a's renewals
				l, _ := leases.Get(context.Background(), "sys", "scheduler")
				l.Spec.HolderIdentity = proto.String("intruder")
				l.Spec.RenewTime = timestamppb.Now()
				l.Spec.LeaseDurationSeconds = proto.Int32(30)
				_, err := leases.Update(context.Background(), l)
				if err == nil {
					return
				}
				if !client.IsConflict(err) {
					panic(err)
				}
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			srv, c := fakeserver.Start(t)
			a := start(t, c, "a", nil, nil)
			if !a.leads(2 * time.Second) {
				t.Fatal("a did not lead")
			}
			cutAt := time.Now()
			cut(srv, c)
			var err error
			select {
			case err = <-a.done:
				a.done <- err
			case <-time.After(3 * time.Second):
				t.Fatal("Run kept going after losing the lease")
			}
			if !errors.Is(err, leaderelection.ErrLeadershipLost) {
				t.Fatalf("Run = %v, want ErrLeadershipLost", err)
			}
			if took := time.Since(cutAt); took > 2*time.Second {
				t.Errorf("noticed the loss after %v, want about the renew deadline", took)
			}
			if ctx := *a.leaderCtx.Load(); ctx.Err() == nil || !a.stopped.Load() {
				t.Error("leader ctx not cancelled or OnStoppedLeading not called")
			}
		})
	}
}

func TestConflictingWritesElectOne(t *testing.T) {
	srv, c := fakeserver.Start(t)
	// Slow every Get so candidates race between their Get and Update; the
	// resourceVersion check must still let only one win.
	srv.Intercept(func(method string, _ proto.Message) error {
		if method == "Get" {
			time.Sleep(20 * time.Millisecond)
		}
		return nil
	})
	var leaders atomic.Int32
	var cands []*candidate
	for _, id := range []string{"a", "b", "c", "d"} {
		cands = append(cands, start(t, c, id, nil, func(cfg *leaderelection.Config) {
			cfg.OnStartedLeading = func(ctx context.Context) {
				leaders.Add(1)
				<-ctx.Done()
			}
		}))
	}
	time.Sleep(1500 * time.Millisecond)
	if n := leaders.Load(); n != 1 {
		t.Fatalf("%d leaders, want 1", n)
	}
	n := 0
	for _, cd := range cands {
		if cd.el.IsLeader() {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d candidates think they lead", n)
	}
}

func TestConfigValidation(t *testing.T) {
	_, c := fakeserver.Start(t)
	ok := func(context.Context) {}
	for name, cfg := range map[string]leaderelection.Config{
		"no client":         {Name: "l", Identity: "a", OnStartedLeading: ok},
		"no identity":       {Client: c, Name: "l", OnStartedLeading: ok},
		"no callback":       {Client: c, Name: "l", Identity: "a"},
		"lease <= deadline": {Client: c, Name: "l", Identity: "a", OnStartedLeading: ok, LeaseDuration: 5 * time.Second, RenewDeadline: 5 * time.Second},
		"deadline <= retry": {Client: c, Name: "l", Identity: "a", OnStartedLeading: ok, RenewDeadline: 2 * time.Second, RetryPeriod: 2 * time.Second},
	} {
		if _, err := leaderelection.New(cfg); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
	if _, err := leaderelection.New(leaderelection.Config{Client: c, Name: "l", Identity: "a", OnStartedLeading: ok}); err != nil {
		t.Errorf("defaults rejected: %v", err)
	}
}
