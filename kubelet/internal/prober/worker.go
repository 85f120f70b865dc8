package prober

import (
	"context"
	"time"

	"go.uber.org/zap"

	corev1 "flotilla.io/proto/flotilla/core/v1"
)

// Defaults of the probe timing fields (upstream's).
const (
	defaultPeriod           = 10 * time.Second
	defaultTimeout          = time.Second
	defaultFailureThreshold = 3
)

// worker probes one container instance with one probe kind.
type worker struct {
	m     *Manager
	key   key
	in    *instance
	kind  kind
	probe *corev1.Probe

	lastSuccess bool
	streak      int // consecutive results equal to lastSuccess
}

func seconds(v int32, def time.Duration) time.Duration {
	if v <= 0 {
		return def
	}
	return time.Duration(v) * time.Second
}

func (w *worker) successThreshold() int {
	if w.kind != readiness || w.probe.GetSuccessThreshold() <= 0 {
		return 1 // must be 1 for liveness and startup
	}
	return int(w.probe.GetSuccessThreshold())
}

func (w *worker) failureThreshold() int {
	if w.probe.GetFailureThreshold() <= 0 {
		return defaultFailureThreshold
	}
	return int(w.probe.GetFailureThreshold())
}

// run waits out initialDelaySeconds (counted from the container's start),
// then probes every periodSeconds until ctx ends or the worker is done.
func (w *worker) run(ctx context.Context) {
	clk := w.m.clock
	first := w.in.startedAt.Add(time.Duration(w.probe.GetInitialDelaySeconds()) * time.Second)
	if d := first.Sub(clk.Now()); d > 0 {
		select {
		case <-clk.After(d):
		case <-ctx.Done():
			return
		}
	}
	ticker := clk.NewTicker(seconds(w.probe.GetPeriodSeconds(), defaultPeriod))
	defer ticker.Stop()
	for {
		if !w.step(ctx) {
			return
		}
		select {
		case <-ticker.C():
		case <-ctx.Done():
			return
		}
	}
}

// step makes one probe and records it; false ends the worker.
func (w *worker) step(ctx context.Context) bool {
	if ctx.Err() != nil {
		return false
	}
	if w.kind != startup && !w.m.isStarted(w.in) {
		w.report("skipped")
		return true
	}
	pod, ip, c, ok := w.m.target(w.key, w.in)
	if !ok {
		return false
	}
	timeout := seconds(w.probe.GetTimeoutSeconds(), defaultTimeout)
	pctx, cancel := context.WithTimeout(ctx, timeout)
	success, msg := w.m.runProbe(pctx, w.probe, pod, ip, c, timeout)
	cancel()
	if ctx.Err() != nil {
		return false
	}
	if !success {
		w.m.log.Debug("probe failed", zap.String("pod", w.key.uid), zap.String("container", w.key.container),
			zap.Stringer("probe", w.kind), zap.String("message", msg))
	}
	if success == w.lastSuccess && w.streak > 0 {
		w.streak++
	} else {
		w.lastSuccess, w.streak = success, 1
	}
	keepGoing := true
	switch {
	case success && w.streak >= w.successThreshold():
		w.m.set(ctx, w.key, w.in, func(in *instance) {
			switch w.kind {
			case startup:
				in.started = true
			case readiness:
				in.ready = true
			}
		})
		// A startup probe is done once it succeeds.
		keepGoing = w.kind != startup
	case !success && w.streak >= w.failureThreshold():
		if w.kind != readiness {
			w.m.log.Info("probe failed: container will be restarted", zap.String("pod", w.key.uid),
				zap.String("container", w.key.container), zap.Stringer("probe", w.kind), zap.String("message", msg))
		}
		w.m.set(ctx, w.key, w.in, func(in *instance) {
			switch w.kind {
			case readiness:
				in.ready = false
			default:
				in.live = false
			}
		})
		// A failed liveness or startup probe holds until the restart
		// replaces this instance.
		keepGoing = w.kind == readiness
	}
	if success {
		w.report("success")
	} else {
		w.report("failure")
	}
	return keepGoing
}

func (w *worker) report(outcome string) {
	if w.m.probed != nil {
		w.m.probed(event{container: w.key.container, kind: w.kind, outcome: outcome})
	}
}
