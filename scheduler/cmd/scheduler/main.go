// Command scheduler runs Flotilla's scheduler: it binds pending pods to
// nodes. Run several replicas with --leader-elect; one schedules.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"flotilla.io/sdk/client"
	"flotilla.io/sdk/component"
	"flotilla.io/sdk/leaderelection"

	"flotilla.io/scheduler"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "scheduler:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	var opts component.Options
	var configFile string
	var binds int
	fs := flag.NewFlagSet("scheduler", flag.ExitOnError)
	opts.AddFlags(fs, "127.0.0.1:10259")
	// --config is the shared apiserver client config flag, so the
	// scheduler's own configuration file takes another name.
	fs.StringVar(&configFile, "scheduler-config", "", "scheduler configuration file (KubeSchedulerConfiguration subset: profiles[0].schedulerName, plugins.filter/score, percentageOfNodesToScore, backoff)")
	fs.IntVar(&binds, "bind-concurrency", 64, "binds in flight at once")
	_ = fs.Parse(args)
	log, err := opts.Logger("scheduler")
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	var file *scheduler.File
	if configFile != "" {
		if file, err = scheduler.LoadFile(configFile); err != nil {
			return err
		}
	}
	ccfg, err := opts.ClientConfig()
	if err != nil {
		return err
	}
	reg := component.NewRegistry("scheduler")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return scheduler.Run(ctx, scheduler.Config{
		Client:          ccfg,
		File:            file,
		BindConcurrency: binds,
		Election: func(c *client.Client, reg prometheus.Registerer, log *zap.Logger) (*leaderelection.Config, error) {
			return opts.Election(c, "scheduler", reg, log)
		},
		Log:      log,
		Registry: reg,
		Admin:    opts.NewAdmin("scheduler", reg, log),
	})
}
