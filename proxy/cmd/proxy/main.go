// Command proxy implements Services on a node with nftables (or, where the
// kernel cannot, a user-space forwarder). `proxy --cleanup` removes what
// it programmed and exits.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"flotilla.io/sdk/component"

	"flotilla.io/proxy"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "proxy:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	var opts component.Options
	var cfg proxy.Config
	var cleanup bool
	fs := flag.NewFlagSet("proxy", flag.ExitOnError)
	opts.AddFlags(fs, "127.0.0.1:10249")
	fs.StringVar(&cfg.Mode, "mode", "", "data plane: nftables, userspace, or empty to use nftables when the kernel supports it")
	fs.StringVar(&cfg.NetNS, "netns", "", "network namespace path to program instead of the process's own (simulated nodes)")
	fs.StringVar(&cfg.ClusterCIDR, "cluster-cidr", "10.244.0.0/16", "pod network; service traffic from elsewhere is masqueraded (empty: masquerade all)")
	fs.DurationVar(&cfg.SyncPeriod, "sync-period", time.Minute, "how often all rules are rewritten to repair drift")
	fs.StringVar(&cfg.Userspace.NodePortAddress, "nodeport-address", "", "userspace mode: address node ports listen on (empty: all)")
	fs.BoolVar(&cleanup, "cleanup", false, "remove the proxy's nftables table and user-space addresses, then exit")
	_ = fs.Parse(args)
	if cleanup {
		return proxy.Cleanup(cfg.NetNS)
	}
	log, err := opts.Logger("proxy")
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	if cfg.Client, err = opts.ClientConfig(); err != nil {
		return err
	}
	reg := component.NewRegistry("proxy")
	cfg.Log, cfg.Registry = log, reg
	cfg.Admin = opts.NewAdmin("proxy", reg, log)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return proxy.Run(ctx, cfg)
}
