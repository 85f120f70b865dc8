// Command controller-manager runs Flotilla's control loops.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"flotilla.io/sdk/client"
	"flotilla.io/sdk/component"
	"flotilla.io/sdk/leaderelection"

	controllermanager "flotilla.io/controller-manager"
	"flotilla.io/controller-manager/internal/controller"
	"flotilla.io/controller-manager/internal/endpointslice"
	"flotilla.io/controller-manager/internal/nodelifecycle"
	"flotilla.io/controller-manager/internal/serviceaccount"
	"flotilla.io/controller-manager/internal/volume"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "controller-manager:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	var opts component.Options
	var controllers string
	var workers int
	fs := flag.NewFlagSet("controller-manager", flag.ExitOnError)
	opts.AddFlags(fs, "127.0.0.1:10257")
	fs.StringVar(&controllers, "controllers", "*", "loops to run: * for the default set, foo to enable, -foo to disable; known: "+strings.Join(controller.Names(), ", "))
	fs.IntVar(&workers, "concurrent-syncs", 5, "keys each loop reconciles in parallel")
	nodelifecycle.Flags.AddFlags(fs)
	endpointslice.Flags.AddFlags(fs)
	serviceaccount.Flags.AddFlags(fs)
	volume.Flags.AddFlags(fs)
	_ = fs.Parse(args)
	log, err := opts.Logger("controller-manager")
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	ccfg, err := opts.ClientConfig()
	if err != nil {
		return err
	}
	reg := component.NewRegistry("controller-manager")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return controllermanager.Run(ctx, controllermanager.Config{
		Client:      ccfg,
		Controllers: strings.Split(controllers, ","),
		Workers:     workers,
		Election: func(c *client.Client, reg prometheus.Registerer, log *zap.Logger) (*leaderelection.Config, error) {
			return opts.Election(c, "controller-manager", reg, log)
		},
		Log:      log,
		Registry: reg,
		Admin:    opts.NewAdmin("controller-manager", reg, log),
	})
}
