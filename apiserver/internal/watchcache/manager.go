package watchcache

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"flotilla.io/proto/kind"

	"flotilla.io/apiserver/internal/storage"
)

// Caches holds the watch cache of every kind. All their etcd watches share one
// gRPC stream, so one progress request refreshes every idle kind at once.
type Caches struct {
	store    *storage.Store
	log      *zap.Logger
	byKind   map[string]*Cache
	watchCtx context.Context

	mu        sync.Mutex
	lastAsked time.Time
}

// New makes a cache for every registered kind. Start them with Run.
func New(store *storage.Store, cfg Config, log *zap.Logger, reg prometheus.Registerer) *Caches {
	if cfg.History <= 0 {
		cfg.History = 10000
	}
	if cfg.WatcherBuffer <= 0 {
		cfg.WatcherBuffer = 2048
	}
	cs := &Caches{store: store, log: log, byKind: map[string]*Cache{}}
	m := NewMetrics(reg)
	for _, info := range kind.All() {
		cs.byKind[info.Kind] = newCache(info, store, cfg, log, m, cs.requestProgress)
	}
	return cs
}

// Run feeds every cache until ctx ends.
func (cs *Caches) Run(ctx context.Context) {
	cs.watchCtx = clientv3.WithRequireLeader(ctx)
	var wg sync.WaitGroup
	for _, c := range cs.byKind {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.run(ctx, cs.watchCtx)
		}()
	}
	// Keep idle kinds' revisions moving so bookmarks stay fresh.
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-tick.C:
			cs.requestProgress()
		}
	}
}

// For returns the cache of a kind.
func (cs *Caches) For(k string) *Cache { return cs.byKind[k] }

// Ready reports whether every cache has listed.
func (cs *Caches) Ready() bool {
	for _, c := range cs.byKind {
		if !c.Ready() {
			return false
		}
	}
	return true
}

// WaitFresh waits until every cache has applied all changes up to rev.
func (cs *Caches) WaitFresh(ctx context.Context, rev int64) error {
	for _, c := range cs.byKind {
		if err := c.waitFresh(ctx, rev); err != nil {
			return fmt.Errorf("%s cache: %w", c.info.Kind, err)
		}
	}
	return nil
}

// requestProgress asks etcd to tell every watch on the shared stream how far it
// is, at most once per 10 ms.
func (cs *Caches) requestProgress() {
	cs.mu.Lock()
	if time.Since(cs.lastAsked) < 10*time.Millisecond || cs.watchCtx == nil {
		cs.mu.Unlock()
		return
	}
	cs.lastAsked = time.Now()
	ctx := cs.watchCtx
	cs.mu.Unlock()
	go func() {
		if err := cs.store.Client().RequestProgress(ctx); err != nil && ctx.Err() == nil {
			cs.log.Debug("etcd progress request", zap.Error(err))
		}
	}()
}
