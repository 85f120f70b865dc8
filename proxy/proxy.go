// Package proxy implements Services on a node: it watches Services and
// EndpointSlices and keeps the kernel's nftables rules (or, where nftables
// is unusable, a user-space forwarder) in step, so traffic to a cluster IP,
// node port or external IP reaches a ready backend. Run is the whole
// daemon; cmd/proxy is a thin main around it.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	discoveryv1 "flotilla.io/proto/flotilla/discovery/v1"
	"flotilla.io/proto/object"
	"flotilla.io/sdk/client"
	"flotilla.io/sdk/component"
	"flotilla.io/sdk/informer"

	"flotilla.io/proxy/internal/model"
	"flotilla.io/proxy/internal/nftapply"
	"flotilla.io/proxy/internal/nftrules"
	"flotilla.io/proxy/internal/userspace"
)

// Modes of the data plane.
const (
	ModeAuto      = ""
	ModeNFTables  = "nftables"
	ModeUserspace = "userspace"
)

// Config is what Run needs.
type Config struct {
	Client *client.Config
	// Mode is nftables, userspace, or "" to use nftables when the kernel
	// supports it and fall back to user space otherwise.
	Mode string
	// NetNS is the path of the network namespace to program ("" is the
	// process's own); tests and benchmarks give each simulated node one.
	NetNS string
	// ClusterCIDR is the pod network; traffic to a service from outside it
	// is masqueraded. Empty masquerades all service traffic.
	ClusterCIDR string
	// SyncPeriod is how often everything is rewritten to repair drift
	// (default 1m).
	SyncPeriod time.Duration
	// MaxBatchMessages bounds one netlink batch of a full sync (default
	// 5000); one service's objects always go in one batch.
	MaxBatchMessages int
	// Userspace configures the user-space mode.
	Userspace userspace.Options
	Log       *zap.Logger
	Registry  *prometheus.Registry
	// Admin, when set, is served alongside and gets a readiness check.
	Admin *component.Admin
	// OnProgrammed, when set, is told each service's network programming
	// latency as it is observed (benchmarks).
	OnProgrammed func(service string, latency time.Duration)
}

// dataplane is what the proxy programs: nftables or user space.
type dataplane interface {
	// Full replaces everything with desired (service key -> ports).
	Full(desired map[string][]model.ServicePort) error
	// Update changes the given services only; nil ports remove one.
	Update(changes map[string][]model.ServicePort) error
	// Counts reports what is programmed: services, rules, map elements
	// and endpoints.
	Counts() (services, rules, elements, endpoints int)
	Close()
}

// Run runs the proxy until ctx ends. The nftables table stays in place
// when it returns, so traffic keeps flowing until the next proxy takes
// over; Cleanup removes it.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.SyncPeriod <= 0 {
		cfg.SyncPeriod = time.Minute
	}
	if cfg.MaxBatchMessages <= 0 {
		cfg.MaxBatchMessages = 5000
	}
	log := cfg.Log
	var cidr netip.Prefix
	if cfg.ClusterCIDR != "" {
		var err error
		if cidr, err = netip.ParsePrefix(cfg.ClusterCIDR); err != nil || !cidr.Addr().Is4() {
			return fmt.Errorf("cluster CIDR %q: want an IPv4 prefix", cfg.ClusterCIDR)
		}
	}
	dp, mode, err := newDataplane(ctx, cfg, cidr)
	if err != nil {
		return err
	}
	defer dp.Close()
	log.Info("proxy data plane", zap.String("mode", mode), zap.String("netns", cfg.NetNS))

	cli, err := client.New(ctx, cfg.Client)
	if err != nil {
		return err
	}
	defer cli.Close()
	factory := informer.NewFactory(cli, informer.Options{Logger: log.Named("informer")})
	p := &proxier{
		cfg: cfg, log: log, dp: dp, m: newMetrics(cfg.Registry, mode),
		services: informer.For[*corev1.Service](factory),
		slices:   informer.For[*discoveryv1.EndpointSlice](factory),
		dirty:    map[string]time.Time{},
		wake:     make(chan struct{}, 1),
	}
	if err := p.slices.AddIndex(byService, func(s *discoveryv1.EndpointSlice) []string {
		if name := s.GetMetadata().GetLabels()[model.ServiceNameLabel]; name != "" {
			return []string{s.GetMetadata().GetNamespace() + "/" + name}
		}
		return nil
	}); err != nil {
		return err
	}
	p.services.AddHandler(informer.Handler[*corev1.Service]{
		OnAdd:    func(s *corev1.Service) { p.mark(object.Key(s), time.Now()) },
		OnUpdate: func(_, s *corev1.Service) { p.mark(object.Key(s), time.Now()) },
		OnDelete: func(s *corev1.Service) { p.mark(object.Key(s), time.Now()) },
	})
	p.slices.AddHandler(informer.Handler[*discoveryv1.EndpointSlice]{
		OnAdd:    p.sliceChanged,
		OnUpdate: func(_, s *discoveryv1.EndpointSlice) { p.sliceChanged(s) },
		OnDelete: p.sliceChanged,
	})
	var g component.Group
	if cfg.Admin != nil {
		cfg.Admin.AddReadyz("synced", func(context.Context) error {
			if !p.synced.Load() {
				return errors.New("rules not yet programmed")
			}
			return nil
		})
		g.Add(cfg.Admin)
	}
	g.Add(factory, component.RunnableFunc(func(ctx context.Context) error {
		if !factory.WaitForSync(ctx) {
			return nil
		}
		return p.loop(ctx)
	}))
	return g.Run(ctx)
}

func newDataplane(ctx context.Context, cfg Config, cidr netip.Prefix) (dataplane, string, error) {
	switch cfg.Mode {
	case ModeAuto, ModeNFTables:
		nd, err := newNFT(cfg, cidr)
		if err == nil {
			return nd, ModeNFTables, nil
		}
		if cfg.Mode == ModeNFTables {
			return nil, "", err
		}
		cfg.Log.Warn("nftables unusable, falling back to the user-space proxy", zap.Error(err))
	case ModeUserspace:
	default:
		return nil, "", fmt.Errorf("mode %q: want nftables or userspace", cfg.Mode)
	}
	opts := cfg.Userspace
	opts.NetNS, opts.Log = cfg.NetNS, cfg.Log.Named("userspace")
	us, err := userspace.New(ctx, opts)
	if err != nil {
		return nil, "", err
	}
	return us, ModeUserspace, nil
}

// Cleanup removes what any mode of the proxy left in the network namespace
// at netnsPath: the nftables table and user-space service addresses.
func Cleanup(netnsPath string) error {
	var errs []error
	if c, err := nftapply.Open(netnsPath); err == nil {
		errs = append(errs, c.Delete())
		c.Close()
	}
	errs = append(errs, userspace.Cleanup(netnsPath))
	return errors.Join(errs...)
}

const byService = "service"

type proxier struct {
	cfg      Config
	log      *zap.Logger
	dp       dataplane
	m        *metrics
	services *informer.Informer[*corev1.Service]
	slices   *informer.Informer[*discoveryv1.EndpointSlice]
	synced   atomic.Bool

	mu sync.Mutex
	// dirty maps services to sync to the earliest change not yet programmed.
	dirty map[string]time.Time
	wake  chan struct{}
}

func (p *proxier) sliceChanged(s *discoveryv1.EndpointSlice) {
	name := s.GetMetadata().GetLabels()[model.ServiceNameLabel]
	if name == "" {
		return
	}
	at := time.Now()
	if v, ok := s.GetMetadata().GetAnnotations()[model.TriggerTimeAnnotation]; ok {
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil && t.Before(at) {
			at = t
		}
	}
	p.mark(s.GetMetadata().GetNamespace()+"/"+name, at)
}

func (p *proxier) mark(key string, at time.Time) {
	p.mu.Lock()
	if t, ok := p.dirty[key]; !ok || at.Before(t) {
		p.dirty[key] = at
	}
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *proxier) takeDirty() map[string]time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	d := p.dirty
	p.dirty = map[string]time.Time{}
	return d
}

// ports computes one service's ports from the caches; nil when the service
// is gone or has nothing to program.
func (p *proxier) ports(key string) []model.ServicePort {
	ns, name := informer.SplitKey(key)
	svc, err := p.services.Lister().Get(ns, name)
	if err != nil {
		return nil
	}
	slices, _ := p.slices.Lister().ByIndex(byService, key)
	return model.Build(svc, slices)
}

func (p *proxier) loop(ctx context.Context) error {
	full := time.NewTimer(0)
	defer full.Stop()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	backoff := time.Second
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-full.C:
			if err := p.fullSync(); err != nil {
				p.log.Error("full sync failed", zap.Error(err), zap.Duration("retry", backoff))
				full.Reset(backoff)
				backoff = min(2*backoff, 30*time.Second)
				continue
			}
			backoff = time.Second
			full.Reset(p.cfg.SyncPeriod)
		case <-p.wake:
			if !p.synced.Load() {
				continue // the pending full sync covers it
			}
			if err := p.partialSync(); err != nil {
				// The kernel no longer matches what we believe: rebuild.
				p.log.Warn("sync failed, scheduling a full sync", zap.Error(err))
				full.Reset(0)
			}
		}
	}
}

func (p *proxier) fullSync() error {
	start := time.Now()
	dirty := p.takeDirty()
	desired := map[string][]model.ServicePort{}
	for _, svc := range p.services.Lister().List(nil) {
		key := object.Key(svc)
		if ports := p.ports(key); len(ports) > 0 {
			desired[key] = ports
		}
	}
	if err := p.dp.Full(desired); err != nil {
		p.m.errors.WithLabelValues("full").Inc()
		p.requeue(dirty)
		return err
	}
	p.done(dirty, "full", start)
	if !p.synced.Swap(true) {
		p.log.Info("initial sync done", zap.Int("services", len(desired)), zap.Duration("took", time.Since(start)))
	}
	return nil
}

func (p *proxier) partialSync() error {
	start := time.Now()
	dirty := p.takeDirty()
	if len(dirty) == 0 {
		return nil
	}
	changes := make(map[string][]model.ServicePort, len(dirty))
	for key := range dirty {
		changes[key] = p.ports(key)
	}
	if err := p.dp.Update(changes); err != nil {
		p.m.errors.WithLabelValues("partial").Inc()
		p.requeue(dirty)
		return err
	}
	p.done(dirty, "partial", start)
	return nil
}

func (p *proxier) requeue(dirty map[string]time.Time) {
	for k, t := range dirty {
		p.mark(k, t)
	}
}

func (p *proxier) done(dirty map[string]time.Time, kind string, start time.Time) {
	now := time.Now()
	p.m.syncDuration.WithLabelValues(kind).Observe(now.Sub(start).Seconds())
	p.m.lastSync.SetToCurrentTime()
	for key, at := range dirty {
		lat := now.Sub(at)
		p.m.programming.Observe(lat.Seconds())
		if p.cfg.OnProgrammed != nil {
			p.cfg.OnProgrammed(key, lat)
		}
	}
	svcs, rules, elems, eps := p.dp.Counts()
	p.m.programmed.WithLabelValues("services").Set(float64(svcs))
	p.m.programmed.WithLabelValues("rules").Set(float64(rules))
	p.m.programmed.WithLabelValues("map_elements").Set(float64(elems))
	p.m.programmed.WithLabelValues("endpoints").Set(float64(eps))
}

type metrics struct {
	syncDuration *prometheus.HistogramVec
	programming  prometheus.Histogram
	programmed   *prometheus.GaugeVec
	errors       *prometheus.CounterVec
	lastSync     prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, mode string) *metrics {
	m := &metrics{
		syncDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "flotilla_proxy_sync_duration_seconds", Help: "Time to program one sync: full (everything) or partial (changed services).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 18),
		}, []string{"type"}),
		programming: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "flotilla_proxy_network_programming_duration_seconds",
			Help:    "From a service or endpoint change (the EndpointSlice's last-change-trigger-time, else when the proxy saw it) to its rules programmed.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 17),
		}),
		programmed: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "flotilla_proxy_programmed", Help: "What the data plane holds: services, rules, map_elements, endpoints.",
			ConstLabels: prometheus.Labels{"mode": mode},
		}, []string{"object"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flotilla_proxy_sync_errors_total", Help: "Syncs the kernel refused.",
		}, []string{"type"}),
		lastSync: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "flotilla_proxy_last_sync_timestamp_seconds", Help: "When the last sync succeeded.",
		}),
	}
	reg.MustRegister(m.syncDuration, m.programming, m.programmed, m.errors, m.lastSync)
	return m
}

// nft is the nftables data plane: the pure state and the netlink conn.
type nft struct {
	conn     *nftapply.Conn
	state    *nftrules.State
	maxBatch int
	log      *zap.Logger
}

func newNFT(cfg Config, cidr netip.Prefix) (*nft, error) {
	c, err := nftapply.Open(cfg.NetNS)
	if err != nil {
		return nil, err
	}
	if err := c.Probe(); err != nil {
		c.Close()
		return nil, err
	}
	return &nft{conn: c, state: nftrules.NewState(nftrules.Options{ClusterCIDR: cidr}), maxBatch: cfg.MaxBatchMessages, log: cfg.Log}, nil
}

func (n *nft) Full(desired map[string][]model.ServicePort) error {
	k, err := n.conn.Read()
	if err != nil {
		return err
	}
	return n.conn.ApplyGroups(n.state.Full(desired, k), n.maxBatch)
}

func (n *nft) Update(changes map[string][]model.ServicePort) error {
	var ops []nftrules.Op
	for key, ports := range changes {
		ops = append(ops, n.state.Update(key, ports)...)
	}
	if len(ops) == 0 {
		return nil
	}
	nftrules.SortOps(ops)
	if ce := n.log.Check(zap.DebugLevel, "nftables batch"); ce != nil {
		ce.Write(zap.Int("services", len(changes)), zap.String("ops", nftrules.Format(ops)))
	}
	return n.conn.Apply(ops)
}

func (n *nft) Counts() (int, int, int, int) { return n.state.Counts() }

func (n *nft) Close() { n.conn.Close() }
