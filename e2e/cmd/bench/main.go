// Command bench measures Flotilla on this machine and prints the numbers
// (`make bench`). It starts its own etcd and apiserver processes from --bin.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"flotilla.io/e2e/bench"
)

func main() {
	bin := flag.String("bin", "bin", "directory holding the etcd and apiserver binaries")
	pods := flag.Int("pods", 10000, "pods the apiserver memory measurement holds")
	flag.Parse()
	if err := run(*bin, *pods); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(bin string, pods int) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	c, err := bench.StartCluster(ctx, bin)
	if err != nil {
		return err
	}
	defer c.Stop()
	r, err := bench.APIServer(ctx, c, pods, os.Stderr)
	if err != nil {
		return err
	}
	r.Print(os.Stdout)
	return nil
}
