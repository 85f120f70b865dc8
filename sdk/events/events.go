// Package events records Events about objects ("Scheduled", "FailedScheduling",
// "SuccessfulCreate") the way upstream's event recorder does: without ever
// blocking the caller, and folding repeats of the same event into one object
// whose count and lastTimestamp grow.
package events

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
	"flotilla.io/proto/kind"
	"flotilla.io/proto/object"

	"flotilla.io/sdk/client"
)

// Event types.
const (
	Normal  = "Normal"
	Warning = "Warning"
)

// Recorder records events about objects.
type Recorder interface {
	// Event records an event about obj (any registered kind).
	Event(obj proto.Message, eventType, reason, message string)
	// Eventf is Event with a format string.
	Eventf(obj proto.Message, eventType, reason, format string, args ...any)
}

// Broadcaster writes recorded events to the apiserver in the background.
// Start it as a Runnable.
type Broadcaster struct {
	events    *client.Resource[*corev1.Event]
	component string
	host      string
	log       *zap.Logger
	queue     chan *corev1.Event
	dropped   prometheus.Counter

	mu   sync.Mutex
	seen map[string]*corev1.Event // aggregation key -> last written
	now  func() time.Time

	spamMu sync.Mutex
	spam   map[string]*bucket // per involved object: upstream's spam filter
}

// bucket is a token bucket: 25 events at once per object, then one per five
// minutes, as upstream's EventSourceObjectSpamFilter.
type bucket struct {
	tokens float64
	last   time.Time
}

const (
	spamBurst = 25
	spamEvery = 5 * time.Minute
)

// allow spends a token of the object's bucket.
func (b *Broadcaster) allow(key string) bool {
	b.spamMu.Lock()
	defer b.spamMu.Unlock()
	now := b.now()
	bk, ok := b.spam[key]
	if !ok {
		if len(b.spam) > 4096 { // bound memory: forget everything, buckets start full
			b.spam = map[string]*bucket{}
		}
		bk = &bucket{tokens: spamBurst, last: now}
		b.spam[key] = bk
	}
	bk.tokens = min(spamBurst, bk.tokens+now.Sub(bk.last).Seconds()/spamEvery.Seconds())
	bk.last = now
	if bk.tokens < 1 {
		return false
	}
	bk.tokens--
	return true
}

// Config wires a Broadcaster.
type Config struct {
	Client *client.Client
	// Component names the reporter ("default-scheduler").
	Component string
	Log       *zap.Logger
	// Registry, when set, gets flotilla_events_dropped_total.
	Registry prometheus.Registerer
	// QueueSize bounds pending events; past it events are dropped (default 1000).
	QueueSize int
}

// NewBroadcaster returns a broadcaster; its Recorder may be used at once.
func NewBroadcaster(cfg Config) *Broadcaster {
	if cfg.QueueSize == 0 {
		cfg.QueueSize = 1000
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	host, _ := os.Hostname()
	b := &Broadcaster{
		events:    client.For[*corev1.Event](cfg.Client),
		component: cfg.Component,
		host:      host,
		log:       cfg.Log,
		queue:     make(chan *corev1.Event, cfg.QueueSize),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flotilla_events_dropped_total", Help: "Events not recorded because the queue was full.",
		}),
		seen: map[string]*corev1.Event{},
		spam: map[string]*bucket{},
		now:  time.Now,
	}
	if cfg.Registry != nil {
		cfg.Registry.MustRegister(b.dropped)
	}
	return b
}

// Recorder returns the broadcaster's recorder.
func (b *Broadcaster) Recorder() Recorder { return recorder{b} }

type recorder struct{ b *Broadcaster }

func (r recorder) Event(obj proto.Message, eventType, reason, message string) {
	r.b.record(obj, eventType, reason, message)
}

func (r recorder) Eventf(obj proto.Message, eventType, reason, format string, args ...any) {
	r.b.record(obj, eventType, reason, fmt.Sprintf(format, args...))
}

// Reference is the ObjectReference of a registered object.
func Reference(obj proto.Message) *corev1.ObjectReference {
	md := object.Meta(obj)
	ref := &corev1.ObjectReference{Name: md.GetName(), Namespace: md.GetNamespace(), Uid: md.GetUid(), ResourceVersion: md.GetResourceVersion()}
	if info, ok := kind.ForMessage(obj); ok {
		ref.Kind, ref.ApiVersion = info.Kind, info.APIVersion()
	}
	return ref
}

func (b *Broadcaster) record(obj proto.Message, eventType, reason, message string) {
	ref := Reference(obj)
	if !b.allow(ref.Kind + "/" + ref.Namespace + "/" + ref.Name + "/" + ref.Uid) {
		b.dropped.Inc()
		return
	}
	ns := ref.Namespace
	if ns == "" {
		ns = "default" // events about cluster-scoped objects live here, as upstream
	}
	now := timestamppb.New(b.now())
	ev := &corev1.Event{
		Metadata:            &metav1.ObjectMeta{Name: fmt.Sprintf("%s.%x", ref.Name, b.now().UnixNano()), Namespace: ns},
		InvolvedObject:      ref,
		Reason:              reason,
		Message:             message,
		Type:                eventType,
		Source:              &corev1.EventSource{Component: b.component, Host: b.host},
		FirstTimestamp:      now,
		LastTimestamp:       now,
		Count:               1,
		ReportingController: b.component,
		ReportingInstance:   b.host,
	}
	select {
	case b.queue <- ev:
	default:
		b.dropped.Inc()
	}
}

// Start writes queued events until ctx ends.
func (b *Broadcaster) Start(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-b.queue:
			b.write(ctx, ev)
		}
	}
}

// aggregationKey identifies repeats: same object, type, reason and message.
func aggregationKey(ev *corev1.Event) string {
	r := ev.InvolvedObject
	return r.Kind + "/" + r.Namespace + "/" + r.Name + "/" + r.Uid + "/" + ev.Type + "/" + ev.Reason + "/" + ev.Message
}

func (b *Broadcaster) write(ctx context.Context, ev *corev1.Event) {
	key := aggregationKey(ev)
	b.mu.Lock()
	prev := b.seen[key]
	b.mu.Unlock()
	if prev != nil && ev.LastTimestamp.AsTime().Sub(prev.LastTimestamp.AsTime()) < 10*time.Minute {
		next := proto.Clone(prev).(*corev1.Event)
		next.Count++
		next.LastTimestamp = ev.LastTimestamp
		if out, err := b.events.Update(ctx, next); err == nil {
			b.remember(key, out)
			return
		}
		// The event was deleted or changed elsewhere: record a fresh one.
	}
	out, err := b.events.Create(ctx, ev)
	if err != nil {
		if ctx.Err() == nil {
			b.log.Warn("recording event", zap.String("reason", ev.Reason), zap.String("object", ev.InvolvedObject.Name), zap.Error(err))
		}
		return
	}
	b.remember(key, out)
}

func (b *Broadcaster) remember(key string, ev *corev1.Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.seen) > 4096 { // bound memory: forget everything, repeats start over
		b.seen = map[string]*corev1.Event{}
	}
	b.seen[key] = ev
}
