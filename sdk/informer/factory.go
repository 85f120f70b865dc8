package informer

import (
	"context"
	"reflect"
	"sync"

	"google.golang.org/protobuf/proto"

	"flotilla.io/sdk/client"
)

// Factory hands out one shared informer per kind, so several controllers
// in a process watch each kind once.
type Factory struct {
	c    *client.Client
	opts Options

	mu        sync.Mutex
	informers map[reflect.Type]runner
	// run starts an informer once the factory is started; nil before.
	run func(runner)
}

type runner interface {
	Start(ctx context.Context) error
	Syncer
}

// NewFactory makes informers with opts (usually just Logger and Resync).
func NewFactory(c *client.Client, opts Options) *Factory {
	return &Factory{c: c, opts: opts, informers: map[reflect.Type]runner{}}
}

// For returns the factory's informer for T, making it on first use. An
// informer asked for after Start starts at once.
func For[T proto.Message](f *Factory) *Informer[T] {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := reflect.TypeFor[T]()
	if inf, ok := f.informers[t]; ok {
		return inf.(*Informer[T])
	}
	inf := New[T](f.c, f.opts)
	f.informers[t] = inf
	if f.run != nil {
		f.run(inf)
	}
	return inf
}

// Start runs every informer until ctx ends. The first informer error (an
// unregistered kind) stops them all and is returned.
func (f *Factory) Start(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	f.mu.Lock()
	f.run = func(r runner) {
		wg.Go(func() {
			if err := r.Start(ctx); err != nil {
				errOnce.Do(func() { firstErr = err; cancel() })
			}
		})
	}
	for _, r := range f.informers {
		f.run(r)
	}
	f.mu.Unlock()
	<-ctx.Done()
	f.mu.Lock()
	f.run = func(runner) {} // informers asked for after shutdown never start
	f.mu.Unlock()
	wg.Wait()
	return firstErr
}

// WaitForSync waits for every informer made so far to sync.
func (f *Factory) WaitForSync(ctx context.Context) bool {
	f.mu.Lock()
	syncers := make([]Syncer, 0, len(f.informers))
	for _, r := range f.informers {
		syncers = append(syncers, r)
	}
	f.mu.Unlock()
	return WaitForSync(ctx, syncers...)
}
