// Command bench measures Flotilla on this machine and prints the numbers
// (`make bench`). It starts its own etcd, apiserver and scheduler processes
// from --bin.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"

	"flotilla.io/e2e/bench"
)

// The proxy benchmark's sizes: services (5 endpoints each) and changes
// measured at each size.
var (
	proxyServices = flag.String("proxy-services", "1000,10000", "service counts the proxy benchmark measures at, comma-separated")
	proxyChanges  = flag.Int("proxy-changes", 200, "single-service changes the proxy benchmark times at each size")
	kubeletPods   = flag.Int("kubelet-pods", 100, "pods the kubelet benchmark starts on its one node")
)

func main() {
	bin := flag.String("bin", "bin", "directory holding the etcd, apiserver and scheduler binaries")
	pods := flag.Int("pods", 10000, "pods the apiserver memory measurement holds")
	only := flag.String("only", "apiserver,scheduler,deployment,proxy,kubelet", "benchmarks to run, comma-separated: apiserver, scheduler, deployment, proxy, kubelet")
	replicas := flag.Int("deployment-replicas", 3000, "replicas of the deployment benchmark")
	flag.Parse()
	if err := run(*bin, *pods, *replicas, strings.Split(*only, ",")); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(bin string, pods, replicas int, only []string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if slices.Contains(only, "apiserver") {
		c, err := bench.StartCluster(ctx, bin)
		if err != nil {
			return err
		}
		r, err := bench.APIServer(ctx, c, pods, os.Stderr)
		c.Stop()
		if err != nil {
			return err
		}
		r.Print(os.Stdout)
	}
	if slices.Contains(only, "scheduler") {
		r, err := bench.Scheduler(ctx, bin, os.Stderr)
		if err != nil {
			return err
		}
		r.Print(os.Stdout)
	}
	if slices.Contains(only, "deployment") {
		r, err := bench.Deployment(ctx, bin, replicas, os.Stderr)
		if err != nil {
			return err
		}
		r.Print(os.Stdout)
	}
	if slices.Contains(only, "proxy") {
		var sizes []int
		for _, f := range strings.Split(*proxyServices, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				return fmt.Errorf("--proxy-services: %w", err)
			}
			sizes = append(sizes, n)
		}
		r, err := bench.Proxy(ctx, bin, sizes, *proxyChanges, os.Stderr)
		if err != nil {
			return err
		}
		r.Print(os.Stdout)
	}
	if slices.Contains(only, "kubelet") {
		r, err := bench.Kubelet(ctx, bin, *kubeletPods, os.Stderr)
		if err != nil {
			return err
		}
		r.Print(os.Stdout)
	}
	return nil
}
