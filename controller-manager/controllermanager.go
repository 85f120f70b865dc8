// Package controllermanager runs many independent control loops in one
// process: Run builds each enabled loop from shared informers, waits for the
// caches, and runs the loops while this replica holds the leader lease.
package controllermanager

import (
	"context"
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"flotilla.io/sdk/client"
	"flotilla.io/sdk/component"
	"flotilla.io/sdk/events"
	"flotilla.io/sdk/informer"
	"flotilla.io/sdk/leaderelection"

	"flotilla.io/controller-manager/internal/controller"
	_ "flotilla.io/controller-manager/internal/loops" // registers every loop
)

// Config is what Run needs.
type Config struct {
	Client *client.Config
	// Controllers selects loops in upstream's syntax ("*", "foo", "-foo").
	Controllers []string
	// Workers is how many keys each loop reconciles in parallel.
	Workers int
	// Election, when set, runs the loops only while leading (built by
	// component.Options.Election).
	Election func(c *client.Client, reg prometheus.Registerer, log *zap.Logger) (*leaderelection.Config, error)
	Log      *zap.Logger
	Registry *prometheus.Registry
	// Admin, when set, is served alongside and gets a readiness check.
	Admin *component.Admin
}

// Run runs the controller-manager until ctx ends or leadership is lost.
func Run(ctx context.Context, cfg Config) error {
	log := cfg.Log
	if log == nil {
		log = zap.NewNop()
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if len(cfg.Controllers) == 0 {
		cfg.Controllers = []string{"*"}
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 5
	}
	names, err := controller.Selected(cfg.Controllers)
	if err != nil {
		return err
	}
	cli, err := client.New(ctx, cfg.Client)
	if err != nil {
		return err
	}
	defer cli.Close()
	factory := informer.NewFactory(cli, informer.Options{Logger: log.Named("informer")})
	broadcaster := events.NewBroadcaster(events.Config{Client: cli, Component: "controller-manager", Log: log, Registry: cfg.Registry})
	cctx := &controller.Context{
		Client: cli, Informers: factory, Recorder: broadcaster.Recorder(),
		Log: log, Registry: cfg.Registry, Workers: cfg.Workers,
	}
	loops, err := controller.Build(cctx, names)
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
			if !factory.WaitForSync(canceled()) {
				return errors.New("informers not synced")
			}
			return nil
		})
		g.Add(cfg.Admin)
	}
	g.Add(factory, broadcaster)
	for name, loop := range loops {
		g.AddLeader(component.RunnableFunc(func(ctx context.Context) error {
			if !factory.WaitForSync(ctx) {
				return nil // ctx ended first
			}
			log.Info("controller started", zap.String("controller", name))
			if err := loop.Start(ctx); err != nil {
				return fmt.Errorf("controller %s: %w", name, err)
			}
			return nil
		}))
	}
	log.Info("controller-manager starting", zap.Strings("controllers", names))
	return g.Run(ctx)
}

// canceled is a context that is already done: WaitForSync then only reports.
func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}
