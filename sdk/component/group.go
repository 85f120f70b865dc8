package component

import (
	"context"
	"errors"

	"golang.org/x/sync/errgroup"

	"flotilla.io/sdk/leaderelection"
)

// Runnable is anything a daemon runs: Start blocks until ctx ends (return
// nil) or it fails (return the error, which stops the whole daemon).
// Informers, factories, the admin server and controllers are Runnables.
type Runnable interface {
	Start(ctx context.Context) error
}

// RunnableFunc adapts a function to Runnable.
type RunnableFunc func(ctx context.Context) error

func (f RunnableFunc) Start(ctx context.Context) error { return f(ctx) }

// Group runs Runnables together: the first error cancels the rest, and Run
// returns once all have stopped. Leader runnables start only after this
// replica wins Election; losing the lease ends Run with
// leaderelection.ErrLeadershipLost, and the daemon should exit so its
// replacement starts clean.
type Group struct {
	// Election, when set, gates the leader runnables; its OnStartedLeading
	// and OnStoppedLeading are the group's. When nil, leader runnables start
	// at once (a single replica).
	Election *leaderelection.Config

	runnables []Runnable
	leaders   []Runnable
}

// Add adds runnables that run on every replica (informers, admin server).
func (g *Group) Add(r ...Runnable) { g.runnables = append(g.runnables, r...) }

// AddLeader adds runnables that run only on the leader (controllers).
func (g *Group) AddLeader(r ...Runnable) { g.leaders = append(g.leaders, r...) }

// Run starts everything and blocks until ctx ends (nil) or a runnable fails
// (its error).
func (g *Group) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	eg, gctx := errgroup.WithContext(ctx)
	for _, r := range g.runnables {
		eg.Go(func() error { return quiet(gctx, r.Start(gctx)) })
	}
	switch {
	case len(g.leaders) == 0:
	case g.Election == nil:
		eg.Go(func() error { return runAll(gctx, g.leaders) })
	default:
		eg.Go(func() error {
			var leaderErr error
			cfg := *g.Election
			cfg.OnStartedLeading = func(lctx context.Context) {
				if err := runAll(lctx, g.leaders); err != nil {
					leaderErr = err
					cancel()
				}
			}
			cfg.OnStoppedLeading = nil
			el, err := leaderelection.New(cfg)
			if err != nil {
				return err
			}
			// Run returns only after OnStartedLeading has, so leaderErr is
			// safe to read.
			if err := el.Run(gctx); err != nil {
				return err
			}
			return leaderErr
		})
	}
	return eg.Wait()
}

func runAll(ctx context.Context, rs []Runnable) error {
	eg, ctx := errgroup.WithContext(ctx)
	for _, r := range rs {
		eg.Go(func() error { return quiet(ctx, r.Start(ctx)) })
	}
	return eg.Wait()
}

// quiet drops the context error a runnable returns because it was told to
// stop, so it does not read as a failure.
func quiet(ctx context.Context, err error) error {
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return nil
	}
	return err
}
