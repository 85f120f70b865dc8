// Command dns is the cluster DNS add-on.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"flotilla.io/sdk/component"

	"flotilla.io/dns"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "dns:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	var opts component.Options
	var cfg dns.Config
	var upstreams string
	var ttl uint
	fs := flag.NewFlagSet("dns", flag.ExitOnError)
	opts.AddFlags(fs, "127.0.0.1:10054")
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:10053", "UDP and TCP address to answer on")
	fs.StringVar(&cfg.Domain, "cluster-domain", "cluster.local", "the cluster's DNS domain")
	fs.StringVar(&upstreams, "upstream", "", "comma-separated resolvers (host:port) for names outside the cluster; empty refuses them")
	fs.UintVar(&ttl, "ttl", 5, "TTL of answers in seconds")
	_ = fs.Parse(args)
	log, err := opts.Logger("dns")
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	if cfg.Client, err = opts.ClientConfig(); err != nil {
		return err
	}
	for _, u := range strings.Split(upstreams, ",") {
		if u = strings.TrimSpace(u); u != "" {
			cfg.Upstreams = append(cfg.Upstreams, u)
		}
	}
	cfg.TTL = uint32(ttl)
	reg := component.NewRegistry("dns")
	cfg.Log, cfg.Registry = log, reg
	cfg.Admin = opts.NewAdmin("dns", reg, log)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return dns.Run(ctx, cfg)
}
