package workqueue

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Result tells Run what to do with an item that reconciled without error.
type Result struct {
	// RequeueAfter, when set, looks at the item again after this long.
	RequeueAfter time.Duration
}

// Reconcile brings one item's part of the world to its desired state. It is
// given only the key: it re-reads current state (from an informer's cache)
// rather than trusting an event. An error retries the item with backoff.
type Reconcile[T comparable] func(ctx context.Context, item T) (Result, error)

type terminalError struct{ err error }

func (e terminalError) Error() string { return e.err.Error() }
func (e terminalError) Unwrap() error { return e.err }

// Terminal marks an error retrying cannot fix (an invalid spec): Run logs
// it and drops the item until it is added again.
func Terminal(err error) error {
	if err == nil {
		return nil
	}
	return terminalError{err}
}

// IsTerminal reports whether err was marked by Terminal.
func IsTerminal(err error) bool {
	var t terminalError
	return errors.As(err, &t)
}

// Run processes q with workers goroutines until ctx ends, then shuts q down
// and waits for the workers to finish their current items. Errors are
// handled here, once: logged and retried with the queue's rate limiter.
func Run[T comparable](ctx context.Context, q Queue[T], workers int, log *zap.Logger, reconcile Reconcile[T]) {
	if log == nil {
		log = zap.NewNop()
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-ctx.Done():
			q.ShutDown()
		case <-stop: // the queue was shut down by someone else
		}
	}()
	var wg sync.WaitGroup
	for range max(workers, 1) {
		wg.Go(func() {
			for process(ctx, q, log, reconcile) {
			}
		})
	}
	wg.Wait()
}

func process[T comparable](ctx context.Context, q Queue[T], log *zap.Logger, reconcile Reconcile[T]) bool {
	item, shutdown := q.Get()
	if shutdown {
		return false
	}
	defer q.Done(item)
	res, err := reconcile(ctx, item)
	switch {
	case err != nil && IsTerminal(err):
		log.Error("reconcile failed, not retrying", zap.Any("key", item), zap.Error(err))
		q.Forget(item)
	case err != nil:
		if ctx.Err() == nil {
			log.Info("reconcile failed, retrying", zap.Any("key", item), zap.Int("retries", q.NumRequeues(item)), zap.Error(err))
		}
		q.AddRateLimited(item)
	default:
		q.Forget(item)
		if res.RequeueAfter > 0 {
			q.AddAfter(item, res.RequeueAfter)
		}
	}
	return true
}
