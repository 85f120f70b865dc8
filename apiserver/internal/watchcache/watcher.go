package watchcache

import (
	"sync"

	apiv1 "flotilla.io/proto/flotilla/api/v1"

	"flotilla.io/apiserver/internal/filter"
)

// Watcher is one API watch served from a cache.
type Watcher struct {
	cache   *Cache
	filter  *filter.Filter
	initial []Event
	ch      chan Event
	done    chan struct{}
	once    sync.Once
	err     error
}

// Initial is what the watcher must send before anything from Events: the
// current objects or the replayed changes.
func (w *Watcher) Initial() []Event { return w.initial }

// Events delivers changes in revision order.
func (w *Watcher) Events() <-chan Event { return w.ch }

// Done is closed when the cache ends the watcher; Err then says why.
func (w *Watcher) Done() <-chan struct{} { return w.done }

// Err is why the watcher ended (ErrExpired when it fell behind).
func (w *Watcher) Err() error {
	<-w.done
	return w.err
}

// Stop ends the watcher from the client side.
func (w *Watcher) Stop() {
	c := w.cache
	c.mu.Lock()
	if _, ok := c.watchers[w]; ok {
		c.drop(w, nil)
	}
	c.mu.Unlock()
}

// Bookmark returns a revision the watcher may report as fully seen once it has
// sent everything queued now: every change up to it is already in the queue.
func (w *Watcher) Bookmark() int64 { return w.cache.Revision() }

func (w *Watcher) stop(err error) {
	w.once.Do(func() {
		w.err = err
		close(w.done)
	})
}

// view decides how a change looks through the watcher's filter: a change that
// moves an object into the filter is ADDED, out of it DELETED.
func (w *Watcher) view(typ apiv1.EventType, p *payload) (apiv1.EventType, bool) {
	switch typ {
	case apiv1.EventType_EVENT_TYPE_ADDED, apiv1.EventType_EVENT_TYPE_DELETED:
		return typ, w.filter.Match(p.obj)
	}
	now, before := w.filter.Match(p.obj), w.filter.Match(p.prev)
	switch {
	case now && before:
		return typ, true
	case now:
		return apiv1.EventType_EVENT_TYPE_ADDED, true
	case before:
		return apiv1.EventType_EVENT_TYPE_DELETED, true
	}
	return typ, false
}
