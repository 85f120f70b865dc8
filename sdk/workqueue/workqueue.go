// Package workqueue is the controllers' queue of keys to reconcile. It is
// client-go's typed work queue (de-duplicating, rate-limited, delayed adds)
// with Flotilla's Prometheus metrics, plus Run, the standard worker loop.
//
// Semantics, as in client-go: an item added several times before a worker
// takes it is handed out once; an item added while a worker holds it is
// handed out again only after Done; Forget clears its retry history.
package workqueue

import (
	"time"

	"golang.org/x/time/rate"
	"k8s.io/client-go/util/workqueue"
)

// Queue is a rate-limited, de-duplicating, delaying work queue.
type Queue[T comparable] = workqueue.TypedRateLimitingInterface[T]

// RateLimiter decides how long an item waits before its next retry.
type RateLimiter[T comparable] = workqueue.TypedRateLimiter[T]

// Options tune New. The zero value is fine.
type Options[T comparable] struct {
	// RateLimiter defaults to DefaultRateLimiter.
	RateLimiter RateLimiter[T]
	// Metrics, when set, records the queue's depth, adds, latency and retries
	// under its name.
	Metrics *Metrics
}

// New makes a queue. name labels its metrics and should be unique in the
// process (e.g. "replicaset").
func New[T comparable](name string, opts Options[T]) Queue[T] {
	rl := opts.RateLimiter
	if rl == nil {
		rl = DefaultRateLimiter[T]()
	}
	cfg := workqueue.TypedRateLimitingQueueConfig[T]{Name: name}
	if opts.Metrics != nil {
		cfg.MetricsProvider = opts.Metrics
	} else {
		// client-go falls back to a process-global provider; ours are always
		// injected, so an unmetered queue stays unmetered.
		cfg.MetricsProvider = noMetrics{}
	}
	return workqueue.NewTypedRateLimitingQueueWithConfig(rl, cfg)
}

// DefaultRateLimiter retries an item after 5ms doubling to 1000s, and all
// retries together at 10/s with bursts of 100 (client-go's default).
func DefaultRateLimiter[T comparable]() RateLimiter[T] {
	return workqueue.DefaultTypedControllerRateLimiter[T]()
}

// ExponentialRateLimiter retries an item after base, doubling up to max.
func ExponentialRateLimiter[T comparable](base, max time.Duration) RateLimiter[T] {
	return workqueue.NewTypedItemExponentialFailureRateLimiter[T](base, max)
}

// BucketRateLimiter limits all retries together to qps with bursts of burst.
func BucketRateLimiter[T comparable](qps float64, burst int) RateLimiter[T] {
	return &workqueue.TypedBucketRateLimiter[T]{Limiter: rate.NewLimiter(rate.Limit(qps), burst)}
}

// MaxOfRateLimiter waits the longest of its limiters.
func MaxOfRateLimiter[T comparable](limiters ...RateLimiter[T]) RateLimiter[T] {
	return workqueue.NewTypedMaxOfRateLimiter(limiters...)
}
