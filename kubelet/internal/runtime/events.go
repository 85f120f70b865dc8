package runtime

import (
	"context"
	"time"

	apievents "github.com/containerd/containerd/api/events"
	"github.com/containerd/containerd/v2/core/events"
	"github.com/containerd/typeurl/v2"
	"go.uber.org/zap"
)

type eventsEnvelope = events.Envelope

// Watch follows containerd's /tasks/exit and /tasks/oom events for the
// kubelet's namespace until ctx ends: an OOM is remembered for the exit
// that follows it; an exit of a container's init process is recorded and
// OnExit told. A broken stream is re-made and OnReconnect called, since
// exits may have been missed meanwhile.
func (r *Runtime) Watch(ctx context.Context) error {
	ns := quote(r.cfg.Namespace)
	backoff := 100 * time.Millisecond
	first := true
	for ctx.Err() == nil {
		sctx, cancel := context.WithCancel(r.ctx(ctx))
		evs, errs := r.client.Subscribe(sctx,
			`topic=="/tasks/exit",namespace==`+ns,
			`topic=="/tasks/oom",namespace==`+ns)
		if !first && r.cfg.OnReconnect != nil {
			r.cfg.OnReconnect()
		}
		first = false
		r.follow(sctx, evs, errs, &backoff)
		cancel()
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
			backoff = min(2*backoff, 5*time.Second)
		}
	}
	return nil
}

func (r *Runtime) follow(ctx context.Context, evs <-chan *eventsEnvelope, errs <-chan error, backoff *time.Duration) {
	for {
		select {
		case <-ctx.Done():
			return
		case err := <-errs:
			if err != nil && ctx.Err() == nil {
				r.log.Warn("containerd event stream ended", zap.Error(err))
			}
			return
		case env := <-evs:
			if env == nil {
				continue
			}
			*backoff = 100 * time.Millisecond
			v, err := typeurl.UnmarshalAny(env.Event)
			if err != nil {
				r.log.Debug("decode containerd event", zap.String("topic", env.Topic), zap.Error(err))
				continue
			}
			switch e := v.(type) {
			case *apievents.TaskOOM:
				r.mu.Lock()
				r.oom[e.ContainerID] = true
				r.mu.Unlock()
			case *apievents.TaskExit:
				if e.ID != e.ContainerID {
					continue // an exec'd process
				}
				go r.exited(ctx, e.ContainerID)
			}
		}
	}
}

func (r *Runtime) exited(ctx context.Context, id string) {
	ctx = r.ctx(ctx)
	if err := r.finalize(ctx, id); err != nil {
		r.log.Warn("record container exit", zap.String("container", id), zap.Error(err))
	}
	c, labels, err := r.ours(ctx, id)
	if err != nil || c == nil {
		return
	}
	if r.cfg.OnExit != nil {
		r.cfg.OnExit(labels[LabelPodUID])
	}
}
