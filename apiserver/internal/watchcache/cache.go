// Package watchcache keeps, per kind, a copy of every object and a window of
// recent changes, fed by one etcd watch. Any number of API watchers are served
// from it: each gets its own buffer, so a slow watcher is dropped (and told to
// relist) instead of holding up the others or etcd.
package watchcache

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	apiv1 "flotilla.io/proto/flotilla/api/v1"
	"flotilla.io/proto/kind"
	"flotilla.io/proto/object"

	"flotilla.io/apiserver/internal/filter"
	"flotilla.io/apiserver/internal/storage"
)

// Errors a watch can end with.
var (
	// ErrExpired: the requested revision is older than the cache's window, or
	// the watcher fell too far behind. The client must relist.
	ErrExpired = errors.New("resource version too old: relist and watch again")
	// ErrTooNew: the requested revision is ahead of what this server has seen.
	ErrTooNew = errors.New("resource version is newer than this server has seen")
	// ErrNotReady: the cache has not finished its first list.
	ErrNotReady = errors.New("watch cache is not ready")
)

// payload is one change, shared by every watcher it is sent to.
type payload struct {
	obj  proto.Message // new state; for a deletion the last state
	prev proto.Message // state before the change, nil for a creation
	rv   int64
	key  string
	typ  apiv1.EventType // the change as stored: ADDED, MODIFIED or DELETED

	once sync.Once
	any  *anypb.Any
	err  error
}

// Event is a change as one watcher sees it: its type can differ from the
// stored change when the watcher's filter matched only the old or new state.
type Event struct {
	Type apiv1.EventType
	*payload
}

// Object is the event's object.
func (e Event) Object() proto.Message { return e.obj }

// RV is the revision of the change.
func (e Event) RV() int64 { return e.rv }

// Any is the wire form of the object, encoded once for all watchers.
func (e Event) Any() (*anypb.Any, error) {
	e.once.Do(func() { e.any, e.err = anypb.New(e.obj) })
	return e.any, e.err
}

// Metrics are shared by the caches of every kind.
type Metrics struct {
	Watchers *prometheus.GaugeVec
	Events   *prometheus.CounterVec
	Dropped  *prometheus.CounterVec
}

// NewMetrics registers the cache metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Watchers: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "flotilla_apiserver_watchers", Help: "Open watches, by kind.",
		}, []string{"kind"}),
		Events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flotilla_apiserver_watch_cache_events_total", Help: "Changes received from etcd, by kind.",
		}, []string{"kind"}),
		Dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flotilla_apiserver_watchers_dropped_total", Help: "Watchers ended because they fell behind, by kind.",
		}, []string{"kind"}),
	}
	if reg != nil {
		reg.MustRegister(m.Watchers, m.Events, m.Dropped)
	}
	return m
}

// Cache is the watch cache of one kind.
type Cache struct {
	info     *kind.Info
	store    *storage.Store
	prefix   string
	size     int
	bufSize  int
	log      *zap.Logger
	metrics  *Metrics
	progress func()

	mu       sync.Mutex
	objs     map[string]proto.Message
	ring     []*payload // circular window of recent changes
	head     int        // index of the oldest change
	count    int
	rv       int64 // every change up to rv is applied
	oldest   int64 // a watch may start at any revision >= oldest
	ready    bool
	advanced chan struct{} // closed and replaced whenever rv moves
	watchers map[*Watcher]struct{}
	changes  int64 // counts changes applied, so derived state knows when to rebuild
}

// Config sizes a cache.
type Config struct {
	// History is how many recent changes are kept for watches that resume.
	History int
	// WatcherBuffer is how many events a watcher may have pending before it
	// is dropped.
	WatcherBuffer int
}

func newCache(info *kind.Info, store *storage.Store, cfg Config, log *zap.Logger, m *Metrics, progress func()) *Cache {
	return &Cache{
		info:     info,
		store:    store,
		prefix:   store.KindPrefix(info, ""),
		size:     cfg.History,
		bufSize:  cfg.WatcherBuffer,
		log:      log.With(zap.String("kind", info.Kind)),
		metrics:  m,
		progress: progress,
		objs:     map[string]proto.Message{},
		ring:     make([]*payload, cfg.History),
		advanced: make(chan struct{}),
		watchers: map[*Watcher]struct{}{},
	}
}

// run keeps the cache in step with etcd until ctx ends, relisting whenever the
// etcd watch breaks (compaction, leader loss, network).
func (c *Cache) run(ctx context.Context, watchCtx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := c.sync(ctx, watchCtx)
		if ctx.Err() != nil {
			break
		}
		c.log.Warn("watch cache resyncing", zap.Error(err))
		c.reset()
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
	c.reset()
}

func (c *Cache) sync(ctx, watchCtx context.Context) error {
	page, err := c.store.List(ctx, c.info, c.prefix, "", 0, 0, nil)
	if err != nil {
		return fmt.Errorf("list: %w", err)
	}
	c.mu.Lock()
	c.objs = make(map[string]proto.Message, len(page.Items))
	for _, obj := range page.Items {
		c.objs[c.store.Key(c.info, object.Meta(obj).GetNamespace(), object.Meta(obj).GetName())] = obj
	}
	c.head, c.count = 0, 0
	clear(c.ring)
	c.oldest = page.Revision
	c.ready = true
	c.changes++
	c.advance(page.Revision)
	c.mu.Unlock()

	wctx, cancel := context.WithCancel(watchCtx)
	defer cancel()
	go func() { // end the etcd watch with ctx, not only watchCtx
		select {
		case <-ctx.Done():
			cancel()
		case <-wctx.Done():
		}
	}()
	wch := c.store.Client().Watch(wctx, c.prefix, clientv3.WithPrefix(), clientv3.WithRev(page.Revision+1), clientv3.WithProgressNotify())
	for resp := range wch {
		if err := resp.Err(); err != nil {
			return fmt.Errorf("etcd watch: %w", err)
		}
		if resp.IsProgressNotify() {
			c.mu.Lock()
			c.advance(resp.Header.Revision)
			c.mu.Unlock()
			continue
		}
		if err := c.apply(resp.Events); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return errors.New("etcd watch closed")
}

// apply records a batch of etcd changes and hands them to the watchers.
func (c *Cache) apply(events []*clientv3.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ev := range events {
		key := string(ev.Kv.Key)
		p := &payload{key: key, rv: ev.Kv.ModRevision, prev: c.objs[key]}
		typ := apiv1.EventType_EVENT_TYPE_MODIFIED
		switch {
		case ev.Type == clientv3.EventTypeDelete:
			typ = apiv1.EventType_EVENT_TYPE_DELETED
			if p.prev == nil {
				continue // never seen: nothing to tell anyone
			}
			// The deleted object carries the revision of its deletion.
			obj := proto.Clone(p.prev)
			object.Meta(obj).ResourceVersion = fmt.Sprint(p.rv)
			p.obj = obj
			delete(c.objs, key)
		default:
			obj, err := c.store.Decode(c.info, ev.Kv.Value, ev.Kv.ModRevision)
			if err != nil {
				return err
			}
			if p.prev == nil {
				typ = apiv1.EventType_EVENT_TYPE_ADDED
			}
			p.obj = obj
			c.objs[key] = obj
		}
		p.typ = typ
		c.changes++
		c.record(p)
		c.dispatch(typ, p)
		c.metrics.Events.WithLabelValues(c.info.Kind).Inc()
		c.advance(p.rv)
	}
	return nil
}

func (c *Cache) record(p *payload) {
	if c.size == 0 {
		c.oldest = p.rv
		return
	}
	if c.count == c.size {
		c.oldest = c.ring[c.head].rv
		c.ring[c.head] = nil
		c.head = (c.head + 1) % c.size
		c.count--
	}
	c.ring[(c.head+c.count)%c.size] = p
	c.count++
}

func (c *Cache) advance(rv int64) {
	if rv > c.rv {
		c.rv = rv
		close(c.advanced)
		c.advanced = make(chan struct{})
	}
}

// reset forgets the cache's state and ends every watcher with ErrExpired so
// they relist against the next, complete state.
func (c *Cache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ready = false
	for w := range c.watchers {
		c.drop(w, ErrExpired)
	}
}

func (c *Cache) drop(w *Watcher, err error) {
	delete(c.watchers, w)
	c.metrics.Watchers.WithLabelValues(c.info.Kind).Dec()
	w.stop(err)
}

// dispatch hands one change to every watcher whose filter it concerns.
func (c *Cache) dispatch(typ apiv1.EventType, p *payload) {
	for w := range c.watchers {
		t, ok := w.view(typ, p)
		if !ok {
			continue
		}
		select {
		case w.ch <- Event{Type: t, payload: p}:
		default:
			c.metrics.Dropped.WithLabelValues(c.info.Kind).Inc()
			c.drop(w, ErrExpired)
		}
	}
}

// waitFresh waits until the cache has applied every change up to rv, asking
// etcd for a progress notification to learn that quickly when the kind is idle.
func (c *Cache) waitFresh(ctx context.Context, rv int64) error {
	deadline := time.NewTimer(3 * time.Second)
	defer deadline.Stop()
	asked := false
	for {
		c.mu.Lock()
		ready, cur, ch := c.ready, c.rv, c.advanced
		c.mu.Unlock()
		if ready && cur >= rv {
			return nil
		}
		if ready && !asked {
			c.progress()
			asked = true
		}
		select {
		case <-ch:
		case <-time.After(50 * time.Millisecond):
			asked = false // ask again: a progress request can be coalesced away
		case <-deadline.C:
			if !ready {
				return ErrNotReady
			}
			return ErrTooNew
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// List returns the objects matching f, sorted by key, as of a revision at
// least minRV, and that revision.
func (c *Cache) List(ctx context.Context, f *filter.Filter, minRV int64) ([]proto.Message, int64, error) {
	if err := c.waitFresh(ctx, minRV); err != nil {
		return nil, 0, err
	}
	c.mu.Lock()
	type kv struct {
		key string
		obj proto.Message
	}
	matched := make([]kv, 0, len(c.objs))
	for k, obj := range c.objs {
		if f.Match(obj) {
			matched = append(matched, kv{k, obj})
		}
	}
	rv := c.rv
	c.mu.Unlock()
	sort.Slice(matched, func(a, b int) bool { return matched[a].key < matched[b].key })
	out := make([]proto.Message, len(matched))
	for n, m := range matched {
		out[n] = m.obj
	}
	return out, rv, nil
}

// Get returns the cached object at key, or nil. The object is shared: never
// modify it.
func (c *Cache) Get(key string) proto.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.objs[key]
}

// Ready reports whether the cache has listed.
func (c *Cache) Ready() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ready
}

// Revision is the revision the cache has applied every change up to.
func (c *Cache) Revision() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rv
}

// Watch starts a watcher for changes matching f. With fromRV 0 it first
// delivers every object as of revision minRV or later as ADDED (pass etcd's
// current revision for a consistent start); otherwise it delivers the changes
// after fromRV.
func (c *Cache) Watch(ctx context.Context, f *filter.Filter, fromRV, minRV int64) (*Watcher, error) {
	if err := c.waitFresh(ctx, max(fromRV, minRV)); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.ready {
		return nil, ErrNotReady
	}
	w := &Watcher{cache: c, filter: f, ch: make(chan Event, c.bufSize), done: make(chan struct{})}
	if fromRV == 0 {
		keys := make([]string, 0, len(c.objs))
		for k, obj := range c.objs {
			if f.Match(obj) {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			obj := c.objs[k]
			w.initial = append(w.initial, Event{Type: apiv1.EventType_EVENT_TYPE_ADDED, payload: &payload{obj: obj, key: k, rv: c.rv}})
		}
	} else {
		if fromRV < c.oldest {
			return nil, ErrExpired
		}
		for n := 0; n < c.count; n++ {
			p := c.ring[(c.head+n)%c.size]
			if p.rv <= fromRV {
				continue
			}
			if t, ok := w.view(p.typ, p); ok {
				w.initial = append(w.initial, Event{Type: t, payload: p})
			}
		}
	}
	c.watchers[w] = struct{}{}
	c.metrics.Watchers.WithLabelValues(c.info.Kind).Inc()
	return w, nil
}

// Snapshot returns every cached object (shared: never modify them) and a
// counter that moves whenever the set changes.
func (c *Cache) Snapshot() ([]proto.Message, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]proto.Message, 0, len(c.objs))
	for _, obj := range c.objs {
		out = append(out, obj)
	}
	return out, c.changes
}

// Changes is the counter Snapshot returns.
func (c *Cache) Changes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changes
}
