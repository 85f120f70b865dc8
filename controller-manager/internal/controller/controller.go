// Package controller is what every control loop of the controller-manager
// shares: the context it is built from (client, shared informers, event
// recorder, logger, metrics) and the registry the manager starts loops from.
//
// A loop follows the house pattern: informer handlers only enqueue keys; a
// worker re-reads the object from the lister and reconciles the world as it
// is (sdk/workqueue.Run); cached objects are cloned before they are changed.
package controller

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"flotilla.io/sdk/client"
	"flotilla.io/sdk/events"
	"flotilla.io/sdk/informer"
)

// Context is what a controller is built from. Informers come from the shared
// factory, so two loops watching pods share one watch and one cache.
type Context struct {
	Client    *client.Client
	Informers *informer.Factory
	Recorder  events.Recorder
	Log       *zap.Logger
	Registry  prometheus.Registerer
	// Workers is how many keys a loop reconciles in parallel.
	Workers int
}

// Loop is a started controller: Start blocks until ctx ends. It is started
// only after the informers it asked for have synced.
type Loop interface {
	Start(ctx context.Context) error
}

// LoopFunc adapts a function to Loop.
type LoopFunc func(ctx context.Context) error

// Start calls f.
func (f LoopFunc) Start(ctx context.Context) error { return f(ctx) }

// New builds a loop; it asks the Context's factory for its informers.
type New func(c *Context) (Loop, error)

var (
	mu       sync.Mutex
	registry = map[string]New{}
	disabled = map[string]bool{}
)

// Register adds a loop under its upstream-style name ("replicaset",
// "deployment", ...). Call it from an init function of the loop's package.
func Register(name string, f New) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := registry[name]; dup {
		panic(fmt.Sprintf("controller %q registered twice", name))
	}
	registry[name] = f
}

// RegisterDisabledByDefault adds a loop that runs only when named
// explicitly in --controllers.
func RegisterDisabledByDefault(name string, f New) {
	Register(name, f)
	mu.Lock()
	disabled[name] = true
	mu.Unlock()
}

// Names lists every registered loop, sorted.
func Names() []string {
	mu.Lock()
	defer mu.Unlock()
	out := make([]string, 0, len(registry))
	for n := range registry {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Selected resolves upstream's --controllers syntax: "*" is every loop
// enabled by default, "foo" enables foo, "-foo" disables it.
func Selected(spec []string) ([]string, error) {
	mu.Lock()
	defer mu.Unlock()
	on := map[string]bool{}
	for _, s := range spec {
		switch {
		case s == "*":
			for n := range registry {
				if !disabled[n] {
					on[n] = true
				}
			}
		case len(s) > 1 && s[0] == '-':
			if _, ok := registry[s[1:]]; !ok {
				return nil, fmt.Errorf("--controllers: unknown controller %q", s[1:])
			}
			delete(on, s[1:])
		default:
			if _, ok := registry[s]; !ok {
				return nil, fmt.Errorf("--controllers: unknown controller %q", s)
			}
			on[s] = true
		}
	}
	out := make([]string, 0, len(on))
	for n := range on {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}

// Build constructs the named loops.
func Build(c *Context, names []string) (map[string]Loop, error) {
	mu.Lock()
	defer mu.Unlock()
	out := map[string]Loop{}
	for _, n := range names {
		loop, err := registry[n](c)
		if err != nil {
			return nil, fmt.Errorf("controller %s: %w", n, err)
		}
		out[n] = loop
	}
	return out, nil
}
