// Package scheduler is Flotilla's scheduler daemon: it watches pods with no
// node (for its schedulerName) and nodes, chooses a node for each pod with
// the pure algorithm in internal/core, and binds it through the apiserver.
// Run builds it from shared informers; the scheduling loop runs only while
// this replica holds the "scheduler" lease.
package scheduler

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/labels"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	schedulingv1 "flotilla.io/proto/flotilla/scheduling/v1"

	"flotilla.io/sdk/client"
	"flotilla.io/sdk/component"
	"flotilla.io/sdk/events"
	"flotilla.io/sdk/informer"
	"flotilla.io/sdk/leaderelection"

	"flotilla.io/scheduler/internal/cache"
	"flotilla.io/scheduler/internal/core"
	"flotilla.io/scheduler/internal/queue"
)

// Config is what Run needs.
type Config struct {
	Client *client.Config
	// File is the parsed --scheduler-config file; nil means defaults.
	File *File
	// BindConcurrency bounds binds in flight (default 64).
	BindConcurrency int
	// Election, when set, runs the scheduling loop only while leading
	// (built by component.Options.Election with the lease name "scheduler").
	Election func(c *client.Client, reg prometheus.Registerer, log *zap.Logger) (*leaderelection.Config, error)
	Log      *zap.Logger
	Registry *prometheus.Registry
	// Admin, when set, is served alongside and gets a readiness check.
	Admin *component.Admin
}

// Scheduler is one running scheduler (exported for tests in this module).
type Scheduler struct {
	name     string
	log      *zap.Logger
	client   *client.Client
	pods     *client.Resource[*corev1.Pod]
	recorder events.Recorder
	cache    *cache.Cache
	queue    *queue.Queue
	algo     *core.Algorithm
	metrics  *metrics
	snapshot *cache.Snapshot

	podLister  *informer.Lister[*corev1.Pod]
	nsLister   *informer.Lister[*corev1.Namespace]
	pcLister   *informer.Lister[*schedulingv1.PriorityClass]
	volumes    volumeLister
	bindSlots  chan struct{}
	writeSlots chan struct{}
}

// Run runs the scheduler until ctx ends or leadership is lost.
func Run(ctx context.Context, cfg Config) error {
	log := cfg.Log
	if log == nil {
		log = zap.NewNop()
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.BindConcurrency <= 0 {
		cfg.BindConcurrency = 64
	}
	prof, err := cfg.File.profile()
	if err != nil {
		return err
	}
	cli, err := client.New(ctx, cfg.Client)
	if err != nil {
		return err
	}
	defer cli.Close()
	factory := informer.NewFactory(cli, informer.Options{Logger: log.Named("informer")})
	name := cfg.File.schedulerName()
	broadcaster := events.NewBroadcaster(events.Config{Client: cli, Component: name, Log: log, Registry: cfg.Registry})
	initial, maxBackoff := cfg.File.backoff()
	s := &Scheduler{
		name:     name,
		log:      log,
		client:   cli,
		pods:     client.For[*corev1.Pod](cli),
		recorder: broadcaster.Recorder(),
		cache:    cache.New(30*time.Second, nil),
		queue:    queue.New(queue.Options{InitialBackoff: initial, MaxBackoff: maxBackoff}),
		snapshot: cache.NewSnapshot(),
		algo: &core.Algorithm{
			Profile:                  prof,
			PercentageOfNodesToScore: cfg.File.percentage(),
			Parallelism:              cfg.File.parallelism(),
		},
		bindSlots:  make(chan struct{}, cfg.BindConcurrency),
		writeSlots: make(chan struct{}, 8),
	}
	s.metrics = newMetrics(cfg.Registry, s.queue)
	syncers, err := s.addHandlers(factory)
	if err != nil {
		return err
	}

	var g component.Group
	if cfg.Election != nil {
		if g.Election, err = cfg.Election(cli, cfg.Registry, log); err != nil {
			return err
		}
	}
	if cfg.Admin != nil {
		cfg.Admin.AddReadyz("informers-synced", func(context.Context) error {
			for _, sy := range syncers {
				if !sy.HasSynced() {
					return errors.New("informers not synced")
				}
			}
			return nil
		})
		g.Add(cfg.Admin)
	}
	g.Add(factory, broadcaster, component.RunnableFunc(s.queue.Run), component.RunnableFunc(s.cleanup))
	g.AddLeader(component.RunnableFunc(func(ctx context.Context) error {
		if !informer.WaitForSync(ctx, syncers...) {
			return nil
		}
		log.Info("scheduling", zap.String("schedulerName", name))
		s.loop(ctx)
		return nil
	}))
	log.Info("scheduler starting", zap.String("schedulerName", name))
	return g.Run(ctx)
}

func (f *File) percentage() int {
	if f == nil {
		return 0
	}
	return f.PercentageOfNodesToScore
}

func (f *File) parallelism() int {
	if f == nil {
		return 0
	}
	return f.Parallelism
}

// cleanup expires assumed pods the informer never confirmed.
func (s *Scheduler) cleanup(ctx context.Context) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if n := s.cache.Cleanup(); n > 0 {
				s.log.Warn("expired assumed pods", zap.Int("pods", n))
			}
		}
	}
}

// namespaceLabels resolves namespaceSelectors from the namespace cache.
func (s *Scheduler) namespaceLabels(ns string) labels.Set {
	n, err := s.nsLister.Get("", ns)
	if err != nil {
		return nil
	}
	return n.GetMetadata().GetLabels()
}
