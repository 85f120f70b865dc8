// Package leaderelection lets one of several replicas of a daemon lead,
// using a coordination/v1 Lease through the apiserver. It follows client-go's
// leaderelection: the holder renews the lease every RetryPeriod; others take
// it over once it has not changed for LeaseDuration, measured on their own
// clock (so clock skew between machines does not matter); every write is a
// compare-and-swap on the lease's resourceVersion.
package leaderelection

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	coordinationv1 "flotilla.io/proto/flotilla/coordination/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"

	"flotilla.io/sdk/client"
)

// Defaults, as client-go's.
const (
	DefaultLeaseDuration = 15 * time.Second
	DefaultRenewDeadline = 10 * time.Second
	DefaultRetryPeriod   = 2 * time.Second
)

// jitter spreads candidates' retries like client-go's JitterFactor.
const jitter = 1.2

// ErrLeadershipLost is returned by Run when the lease could not be renewed
// within RenewDeadline. Daemons exit on it: their leader work was cancelled
// and another replica may already lead.
var ErrLeadershipLost = errors.New("leadership lost")

// Config configures an Elector.
type Config struct {
	Client *client.Client
	// Namespace and Name name the Lease, e.g. "flotilla-system"/"scheduler".
	Namespace, Name string
	// Identity must be unique among candidates, e.g. the hostname.
	Identity string

	// LeaseDuration is how long others wait after the lease last changed
	// before taking it over. RenewDeadline is how long the leader keeps
	// retrying a renewal before giving up. RetryPeriod is the wait between
	// attempts. Zero means the defaults (15s, 10s, 2s).
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration

	// ReleaseOnCancel clears the holder when ctx ends while leading, so the
	// next leader need not wait out LeaseDuration. Only safe if the leader
	// work has stopped, which Run guarantees.
	ReleaseOnCancel bool

	// OnStartedLeading runs the leader's work; its ctx ends when leadership
	// ends. Required.
	OnStartedLeading func(ctx context.Context)
	// OnStoppedLeading runs after OnStartedLeading has returned, when
	// leadership ended. Optional.
	OnStoppedLeading func()
	// OnNewLeader is told each time a different holder is observed
	// (including this one). Optional; must not block.
	OnNewLeader func(identity string)

	Logger *zap.Logger
	// Registerer, when set, gets flotilla_leader_election_is_leader{lease}.
	Registerer prometheus.Registerer
}

// Elector runs one candidate.
type Elector struct {
	cfg    Config
	leases *client.Resource[*coordinationv1.Lease]
	log    *zap.Logger
	gauge  prometheus.Gauge

	mu           sync.Mutex
	observedRV   string
	observedTime time.Time
	holder       string
	leading      bool
}

// New checks cfg and makes an Elector.
func New(cfg Config) (*Elector, error) {
	if cfg.LeaseDuration == 0 {
		cfg.LeaseDuration = DefaultLeaseDuration
	}
	if cfg.RenewDeadline == 0 {
		cfg.RenewDeadline = DefaultRenewDeadline
	}
	if cfg.RetryPeriod == 0 {
		cfg.RetryPeriod = DefaultRetryPeriod
	}
	switch {
	case cfg.Client == nil:
		return nil, errors.New("leader election: no client")
	case cfg.Name == "" || cfg.Identity == "":
		return nil, errors.New("leader election: lease name and identity are required")
	case cfg.OnStartedLeading == nil:
		return nil, errors.New("leader election: OnStartedLeading is required")
	case cfg.LeaseDuration <= cfg.RenewDeadline:
		return nil, errors.New("leader election: lease duration must exceed renew deadline")
	case float64(cfg.RenewDeadline) <= jitter*float64(cfg.RetryPeriod):
		return nil, fmt.Errorf("leader election: renew deadline must exceed %v × retry period", jitter)
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	leases := client.For[*coordinationv1.Lease](cfg.Client)
	if err := leases.Err(); err != nil {
		return nil, fmt.Errorf("leader election: %w", err)
	}
	e := &Elector{
		cfg:    cfg,
		leases: leases,
		log:    cfg.Logger.With(zap.String("lease", cfg.Namespace+"/"+cfg.Name), zap.String("identity", cfg.Identity)),
		gauge:  prometheus.NewGauge(prometheus.GaugeOpts{}), // unregistered stand-in
	}
	if cfg.Registerer != nil {
		e.gauge = isLeaderVec(cfg.Registerer).WithLabelValues(cfg.Name)
	}
	return e, nil
}

func isLeaderVec(reg prometheus.Registerer) *prometheus.GaugeVec {
	v := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "flotilla_leader_election_is_leader",
		Help: "1 while this process holds the named lease.",
	}, []string{"lease"})
	if err := reg.Register(v); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.GaugeVec); ok {
				return existing
			}
		}
		panic(err) // a clashing metric name is a programming error
	}
	return v
}

// IsLeader reports whether this candidate holds the lease now.
func (e *Elector) IsLeader() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.leading
}

// Leader is the last observed holder ("" when none).
func (e *Elector) Leader() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.holder
}

// Run campaigns until it leads, runs OnStartedLeading, and keeps renewing.
// It returns nil when ctx ends and ErrLeadershipLost when renewing failed;
// either way only after OnStartedLeading has returned. Run once per Elector.
func (e *Elector) Run(ctx context.Context) error {
	if !e.acquire(ctx) {
		return nil
	}
	e.setLeading(true)
	e.log.Info("became leader")
	leaderCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.cfg.OnStartedLeading(leaderCtx)
	}()
	lost := e.renew(leaderCtx)
	cancel()
	<-done
	e.setLeading(false)
	if !lost && e.cfg.ReleaseOnCancel {
		e.release()
	}
	if e.cfg.OnStoppedLeading != nil {
		e.cfg.OnStoppedLeading()
	}
	if lost {
		e.log.Warn("leadership lost")
		return ErrLeadershipLost
	}
	e.log.Info("stopped leading")
	return nil
}

func (e *Elector) setLeading(v bool) {
	e.mu.Lock()
	e.leading = v
	e.mu.Unlock()
	if v {
		e.gauge.Set(1)
	} else {
		e.gauge.Set(0)
	}
}

// sleep waits d or until ctx ends, reporting whether the full wait passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// acquire retries every RetryPeriod (jittered) until it holds the lease or
// ctx ends.
func (e *Elector) acquire(ctx context.Context) bool {
	for {
		if e.tryAcquireOrRenew(ctx) {
			return true
		}
		wait := e.cfg.RetryPeriod + time.Duration(rand.Float64()*jitter*float64(e.cfg.RetryPeriod))
		if !sleep(ctx, wait) {
			return false
		}
	}
}

// renew keeps the lease until a renewal fails for RenewDeadline (true:
// lost) or ctx ends (false).
func (e *Elector) renew(ctx context.Context) (lost bool) {
	for {
		deadline, cancel := context.WithTimeout(ctx, e.cfg.RenewDeadline)
		ok := e.tryAcquireOrRenew(deadline)
		for !ok && sleep(deadline, e.cfg.RetryPeriod) {
			ok = e.tryAcquireOrRenew(deadline)
		}
		cancel()
		if ctx.Err() != nil {
			return false
		}
		if !ok {
			return true
		}
		if !sleep(ctx, e.cfg.RetryPeriod) {
			return false
		}
	}
}

// tryAcquireOrRenew makes one attempt to take or extend the lease.
func (e *Elector) tryAcquireOrRenew(ctx context.Context) bool {
	now := time.Now()
	spec := &coordinationv1.LeaseSpec{
		HolderIdentity:       proto.String(e.cfg.Identity),
		LeaseDurationSeconds: proto.Int32(int32((e.cfg.LeaseDuration + time.Second - 1) / time.Second)),
		AcquireTime:          timestamppb.New(now),
		RenewTime:            timestamppb.New(now),
		LeaseTransitions:     proto.Int32(0),
	}
	lease, err := e.leases.Get(ctx, e.cfg.Namespace, e.cfg.Name)
	if client.IsNotFound(err) {
		lease, err = e.leases.Create(ctx, &coordinationv1.Lease{
			Metadata: &metav1.ObjectMeta{Namespace: e.cfg.Namespace, Name: e.cfg.Name},
			Spec:     spec,
		})
		if err != nil {
			e.log.Debug("create lease", zap.Error(err))
			return false
		}
		e.observe(lease, now)
		return true
	}
	if err != nil {
		e.log.Debug("get lease", zap.Error(err))
		return false
	}
	e.observe(lease, now)
	old := lease.GetSpec()
	holder := old.GetHolderIdentity()
	if holder != "" && holder != e.cfg.Identity && !e.expired(old, now) {
		return false
	}
	if holder == e.cfg.Identity {
		spec.AcquireTime, spec.LeaseTransitions = old.GetAcquireTime(), proto.Int32(old.GetLeaseTransitions())
	} else {
		spec.LeaseTransitions = proto.Int32(old.GetLeaseTransitions() + 1)
	}
	lease = proto.Clone(lease).(*coordinationv1.Lease)
	lease.Spec = spec
	// The resourceVersion from Get makes this a compare-and-swap: if another
	// candidate wrote in between, we get a conflict and lose this round.
	lease, err = e.leases.Update(ctx, lease)
	if err != nil {
		e.log.Debug("update lease", zap.Error(err))
		return false
	}
	e.observe(lease, now)
	return true
}

// observe notes when the lease last changed, on our clock.
func (e *Elector) observe(lease *coordinationv1.Lease, now time.Time) {
	e.mu.Lock()
	rv := lease.GetMetadata().GetResourceVersion()
	if rv != e.observedRV {
		e.observedRV, e.observedTime = rv, now
	}
	holder := lease.GetSpec().GetHolderIdentity()
	changed := holder != e.holder
	e.holder = holder
	e.mu.Unlock()
	if changed && holder != "" {
		e.log.Info("new leader observed", zap.String("leader", holder))
		if e.cfg.OnNewLeader != nil {
			e.cfg.OnNewLeader(holder)
		}
	}
}

// expired reports whether the lease has gone unchanged for its duration
// (the holder's setting, in whole seconds, rounded up).
func (e *Elector) expired(spec *coordinationv1.LeaseSpec, now time.Time) bool {
	d := time.Duration(spec.GetLeaseDurationSeconds()) * time.Second
	if d <= 0 {
		d = e.cfg.LeaseDuration
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return !e.observedTime.Add(d).After(now)
}

// release gives the lease up so the next candidate need not wait it out.
func (e *Elector) release() {
	ctx, cancel := context.WithTimeout(context.Background(), e.cfg.RenewDeadline)
	defer cancel()
	lease, err := e.leases.Get(ctx, e.cfg.Namespace, e.cfg.Name)
	if err != nil || lease.GetSpec().GetHolderIdentity() != e.cfg.Identity {
		return
	}
	now := timestamppb.Now()
	lease = proto.Clone(lease).(*coordinationv1.Lease)
	lease.Spec = &coordinationv1.LeaseSpec{
		HolderIdentity:       proto.String(""),
		LeaseDurationSeconds: proto.Int32(1),
		AcquireTime:          now,
		RenewTime:            now,
		LeaseTransitions:     proto.Int32(lease.GetSpec().GetLeaseTransitions()),
	}
	if _, err := e.leases.Update(ctx, lease); err != nil {
		e.log.Warn("release lease", zap.Error(err))
		return
	}
	e.log.Info("released lease")
}
