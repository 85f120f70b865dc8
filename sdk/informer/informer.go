// Package informer keeps a local, indexed cache of one kind in step with the
// apiserver: it lists, then watches from the list's resourceVersion, and
// tells handlers about every change. One generic Informer[T] serves every
// kind; a Factory shares one informer per kind among controllers.
//
// Objects handed to handlers and returned by the Lister are shared with the
// cache and every other reader: clone them (proto.Clone) before mutating.
package informer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"flotilla.io/proto/object"

	"flotilla.io/sdk/client"
)

// Handler is told about changes. Each func may be nil. Handlers run one at a
// time on the informer's goroutine, after the cache holds the change, so
// they must be quick: enqueue a key and return.
type Handler[T proto.Message] struct {
	OnAdd func(obj T)
	// OnUpdate gets the cached object before and after. During a resync both
	// are the same object.
	OnUpdate func(old, new T)
	// OnDelete gets the object's last known state.
	OnDelete func(obj T)
}

// Options narrow what an informer caches and tune its retries.
type Options struct {
	Namespace     string
	LabelSelector string
	FieldSelector string
	// PageSize pages the initial list; 0 means 500.
	PageSize int32
	// Resync, when set, re-delivers every cached object as OnUpdate(obj, obj)
	// this often, so level-triggered controllers re-check the world.
	Resync time.Duration
	// MinBackoff and MaxBackoff bound the exponential wait between failed
	// attempts; 0 means 100ms and 30s.
	MinBackoff, MaxBackoff time.Duration
	Logger                 *zap.Logger
}

// Transform rewrites each object as it arrives, before it is cached or
// handed to a handler; see Informer.SetTransform.
type Transform[T proto.Message] func(obj T) T

// Informer caches one kind. Make it with New, add handlers and indexes,
// then run Start.
type Informer[T proto.Message] struct {
	res       *client.Resource[T]
	opts      Options
	log       *zap.Logger
	store     *Store[T]
	transform Transform[T]

	// mu orders cache writes with handler calls, so a handler added late
	// sees each object exactly once as OnAdd before any later change.
	mu       sync.Mutex
	handlers []Handler[T]
	synced   atomic.Bool
	started  atomic.Bool
}

// New makes an informer for T's kind.
func New[T proto.Message](c *client.Client, opts Options) *Informer[T] {
	if opts.PageSize == 0 {
		opts.PageSize = 500
	}
	if opts.MinBackoff == 0 {
		opts.MinBackoff = 100 * time.Millisecond
	}
	if opts.MaxBackoff == 0 {
		opts.MaxBackoff = 30 * time.Second
	}
	res := client.For[T](c)
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	if info := res.Kind(); info != nil {
		log = log.With(zap.String("kind", info.Kind))
	}
	return &Informer[T]{res: res, opts: opts, log: log, store: NewStore[T]()}
}

// AddHandler registers h. Objects already cached are delivered to it as
// OnAdd first.
func (i *Informer[T]) AddHandler(h Handler[T]) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.handlers = append(i.handlers, h)
	if h.OnAdd != nil {
		for _, obj := range i.store.List() {
			h.OnAdd(obj)
		}
	}
}

// SetTransform makes every listed and watched object pass through fn
// before it is cached, indexed or handed to a handler, so a component can
// drop fields it never reads and keep a smaller cache (upstream's
// SetTransform, used to strip managedFields). fn owns the object it gets (it
// is freshly decoded; nothing else holds it) and may change it in place or
// return another; it must keep the metadata the informer relies on
// (namespace, name, resourceVersion) and anything the indexes read. Every
// user of a shared informer sees the transformed objects, and one that
// writes an object back must read it whole from the apiserver first. It
// fails once Start has run.
func (i *Informer[T]) SetTransform(fn Transform[T]) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.started.Load() {
		return errors.New("informer: SetTransform after Start")
	}
	i.transform = fn
	return nil
}

// AddIndex adds a named index to the cache, e.g.
// AddIndex("node", FieldIndex[*corev1.Pod]("spec.nodeName")).
func (i *Informer[T]) AddIndex(name string, fn IndexFunc[T]) error {
	return i.store.AddIndex(name, fn)
}

// Lister reads the cache.
func (i *Informer[T]) Lister() *Lister[T] { return NewLister(i.store) }

// Store is the cache itself, for reads Lister lacks.
func (i *Informer[T]) Store() *Store[T] { return i.store }

// HasSynced reports whether the first list has been cached.
func (i *Informer[T]) HasSynced() bool { return i.synced.Load() }

// Start fills and maintains the cache until ctx ends, then returns nil. It
// fails at once only if T is not a registered kind or Start already ran.
func (i *Informer[T]) Start(ctx context.Context) error {
	if err := i.res.Err(); err != nil {
		return fmt.Errorf("informer: %w", err)
	}
	i.mu.Lock() // orders the start with SetTransform
	first := i.started.CompareAndSwap(false, true)
	i.mu.Unlock()
	if !first {
		return errors.New("informer: already started")
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	if i.opts.Resync > 0 {
		wg.Go(func() { i.resync(ctx) })
	}
	backoff := i.opts.MinBackoff
	rv := "" // "" means: relist before watching
	for {
		progressed := false
		err := i.listAndWatch(ctx, &rv, &progressed)
		if ctx.Err() != nil {
			return nil
		}
		if progressed {
			backoff = i.opts.MinBackoff
		}
		switch {
		case client.IsExpired(err):
			// Our revision was compacted away: only a fresh list can tell us
			// what we missed, including deletions.
			i.log.Info("resourceVersion expired, relisting", zap.String("rv", rv))
			rv = ""
			continue
		case errors.Is(err, client.ErrWatchClosed) && progressed:
			continue
		}
		i.log.Warn("list/watch failed, retrying", zap.Error(err), zap.Duration("backoff", backoff))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, i.opts.MaxBackoff)
	}
}

func (i *Informer[T]) listAndWatch(ctx context.Context, rv *string, progressed *bool) error {
	if *rv == "" {
		l, err := i.res.ListAll(ctx, client.ListOptions{
			Namespace: i.opts.Namespace, LabelSelector: i.opts.LabelSelector, FieldSelector: i.opts.FieldSelector, PageSize: i.opts.PageSize,
		})
		if err != nil {
			return err
		}
		i.replace(l.Items)
		*rv, *progressed = l.ResourceVersion, true
		i.log.Debug("listed", zap.Int("objects", len(l.Items)), zap.String("rv", *rv))
	}
	w, err := i.res.Watch(ctx, client.WatchOptions{
		Namespace: i.opts.Namespace, LabelSelector: i.opts.LabelSelector, FieldSelector: i.opts.FieldSelector,
		ResourceVersion: *rv, AllowBookmarks: true,
	})
	if err != nil {
		return err
	}
	defer w.Stop()
	for {
		ev, err := w.Next()
		if err != nil {
			return err
		}
		*progressed = true
		i.apply(ev)
		if ev.ResourceVersion != "" {
			*rv = ev.ResourceVersion
		}
	}
}

func sameVersion(a, b proto.Message) bool {
	ra := object.Meta(a).GetResourceVersion()
	return ra != "" && ra == object.Meta(b).GetResourceVersion()
}

// apply caches one watch event and notifies handlers.
func (i *Informer[T]) apply(ev client.Event[T]) {
	if ev.Type == client.Bookmark || !ev.Object.ProtoReflect().IsValid() {
		return
	}
	if i.transform != nil {
		ev.Object = i.transform(ev.Object)
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	switch ev.Type {
	case client.Added, client.Modified:
		i.upsert(ev.Object)
	case client.Deleted:
		// Only objects we knew about are announced; the event carries the
		// object's final state.
		if _, existed := i.store.Delete(object.Key(ev.Object)); existed {
			i.notifyDelete(ev.Object)
		}
	}
}

// upsert caches obj and notifies handlers unless nothing changed. i.mu is held.
func (i *Informer[T]) upsert(obj T) {
	if old, ok := i.store.Get(object.Key(obj)); ok && sameVersion(old, obj) {
		return
	}
	old, existed := i.store.Upsert(obj)
	for _, h := range i.handlers {
		switch {
		case existed && h.OnUpdate != nil:
			h.OnUpdate(old, obj)
		case !existed && h.OnAdd != nil:
			h.OnAdd(obj)
		}
	}
}

func (i *Informer[T]) notifyDelete(obj T) {
	for _, h := range i.handlers {
		if h.OnDelete != nil {
			h.OnDelete(obj)
		}
	}
}

// replace makes the cache equal a fresh list, telling handlers what changed
// since the last one: adds, updates, and deletes for vanished objects (whose
// delete events the watch missed).
func (i *Informer[T]) replace(items []T) {
	i.mu.Lock()
	defer i.mu.Unlock()
	seen := make(map[string]bool, len(items))
	for n, obj := range items {
		if i.transform != nil {
			obj = i.transform(obj)
		}
		items[n] = obj // the list must not keep the untransformed object alive
		seen[object.Key(obj)] = true
		i.upsert(obj)
	}
	for _, k := range i.store.Keys() {
		if !seen[k] {
			old, _ := i.store.Delete(k)
			i.notifyDelete(old)
		}
	}
	i.synced.Store(true)
}

func (i *Informer[T]) resync(ctx context.Context) {
	t := time.NewTicker(i.opts.Resync)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !i.HasSynced() {
			continue
		}
		i.mu.Lock()
		for _, obj := range i.store.List() {
			for _, h := range i.handlers {
				if h.OnUpdate != nil {
					h.OnUpdate(obj, obj)
				}
			}
		}
		i.mu.Unlock()
	}
}

// Syncer is anything with a HasSynced, e.g. every Informer.
type Syncer interface{ HasSynced() bool }

// WaitForSync blocks until every syncer has synced (true) or ctx ends
// (false). Controllers start workers only after it returns true.
func WaitForSync(ctx context.Context, syncers ...Syncer) bool {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		done := true
		for _, s := range syncers {
			done = done && s.HasSynced()
		}
		if done {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
}
