package controllerutil

import (
	"sync"
	"time"
)

// ExpectationsTimeout is how long unmet expectations hold a controller back:
// a create or delete whose watch event never came (the object failed to be
// written, or the event was missed) stops blocking after this, as upstream.
const ExpectationsTimeout = 5 * time.Minute

// Expectations remember, per controller key, the creates and deletes a
// controller has issued but not yet seen in its informer. A controller that
// syncs only when its expectations are satisfied never acts twice on a stale
// cache, so a burst of events never overshoots. Deletions are tracked by pod
// key, so a pod seen deleted twice (terminating, then gone) counts once.
type Expectations struct {
	mu  sync.Mutex
	m   map[string]*expectation
	now func() time.Time
}

type expectation struct {
	adds    int
	deletes map[string]bool
	at      time.Time
}

// NewExpectations makes an empty set.
func NewExpectations() *Expectations {
	return &Expectations{m: map[string]*expectation{}, now: time.Now}
}

// Satisfied reports whether key may sync: nothing is pending, or what is
// pending has expired, or nothing was ever recorded.
func (e *Expectations) Satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.m[key]
	if !ok {
		return true
	}
	if x.adds <= 0 && len(x.deletes) == 0 {
		return true
	}
	return e.now().Sub(x.at) > ExpectationsTimeout
}

// ExpectCreations records that n creates are about to be issued, replacing
// anything pending.
func (e *Expectations) ExpectCreations(key string, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.m[key] = &expectation{adds: n, deletes: map[string]bool{}, at: e.now()}
}

// ExpectDeletions records that the objects with these keys are about to be
// deleted, replacing anything pending.
func (e *Expectations) ExpectDeletions(key string, objKeys []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	d := make(map[string]bool, len(objKeys))
	for _, k := range objKeys {
		d[k] = true
	}
	e.m[key] = &expectation{deletes: d, at: e.now()}
}

// CreationObserved lowers the pending creates by one: the informer saw one,
// or the create failed and never will be seen.
func (e *Expectations) CreationObserved(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		x.adds--
	}
}

// DeletionObserved clears one pending delete: the informer saw the object
// go (or start terminating), or the delete failed.
func (e *Expectations) DeletionObserved(key, objKey string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		delete(x.deletes, objKey)
	}
}

// Delete forgets key (its controller object is gone).
func (e *Expectations) Delete(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, key)
}

// Pending reports the outstanding creates and deletes of key, for tests and
// logs.
func (e *Expectations) Pending(key string) (adds, deletes int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		return x.adds, len(x.deletes)
	}
	return 0, 0
}
