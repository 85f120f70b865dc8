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
	"strings"

	"flotilla.io/e2e/bench"
)

func main() {
	bin := flag.String("bin", "bin", "directory holding the etcd, apiserver and scheduler binaries")
	pods := flag.Int("pods", 10000, "pods the apiserver memory measurement holds")
	only := flag.String("only", "apiserver,scheduler", "benchmarks to run, comma-separated: apiserver, scheduler")
	flag.Parse()
	if err := run(*bin, *pods, strings.Split(*only, ",")); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(bin string, pods int, only []string) error {
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
	return nil
}
