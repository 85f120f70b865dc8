// Command flotctl is the command-line client of a Flotilla cluster, modelled
// on kubectl: apply, get, describe, delete, label, annotate, patch, wait.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"flotilla.io/flotctl/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], cli.Streams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr})
	stop()
	os.Exit(code)
}
