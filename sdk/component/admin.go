package component

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"flotilla.io/sdk/version"
)

// Check is a named health or readiness probe; nil means healthy. It should
// answer quickly: it runs on every probe.
type Check func(ctx context.Context) error

// CheckTimeout bounds one probe of all checks.
const CheckTimeout = 5 * time.Second

type namedCheck struct {
	name  string
	check Check
}

// Admin is the daemon's admin HTTP server: /metrics, /healthz, /readyz
// (upstream's shape: 200 "ok" or 500 naming the failed checks; ?verbose
// lists each), /version and, unless turned off, Go's runtime profiles under
// /debug/pprof/ (as upstream components serve them with --profiling).
type Admin struct {
	addr      string
	component string
	reg       *prometheus.Registry
	log       *zap.Logger
	profiling bool

	mu      sync.RWMutex
	healthz []namedCheck
	readyz  []namedCheck
}

// NewAdmin makes the admin server, profiling on; Start serves it on addr.
func NewAdmin(addr, component string, reg *prometheus.Registry, log *zap.Logger) *Admin {
	return &Admin{addr: addr, component: component, reg: reg, log: log, profiling: true}
}

// SetProfiling turns the /debug/pprof/ endpoints on or off. Call it before
// Handler or Start.
func (a *Admin) SetProfiling(on bool) { a.profiling = on }

// AddHealthz adds a liveness check: failing it gets the process restarted.
func (a *Admin) AddHealthz(name string, c Check) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.healthz = append(a.healthz, namedCheck{name, c})
}

// AddReadyz adds a readiness check: failing it takes the process out of
// service (e.g. informers not yet synced) without restarting it.
func (a *Admin) AddReadyz(name string, c Check) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.readyz = append(a.readyz, namedCheck{name, c})
}

// Handler serves the admin endpoints.
func (a *Admin) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{Registry: a.reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		a.mu.RLock()
		checks := slices.Clone(a.healthz)
		a.mu.RUnlock()
		serveChecks(w, r, checks)
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		a.mu.RLock()
		checks := slices.Clone(a.readyz)
		a.mu.RUnlock()
		serveChecks(w, r, checks)
	})
	mux.HandleFunc("GET /version", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		v := version.Get()
		_ = json.NewEncoder(w).Encode(struct {
			Component string `json:"component"`
			version.Info
		}{a.component, v})
	})
	if a.profiling {
		// Index also serves the named profiles: heap, allocs, goroutine, ...
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return mux
}

func serveChecks(w http.ResponseWriter, r *http.Request, checks []namedCheck) {
	ctx, cancel := context.WithTimeout(r.Context(), CheckTimeout)
	defer cancel()
	var b strings.Builder
	failed := false
	for _, c := range checks {
		if err := c.check(ctx); err != nil {
			failed = true
			fmt.Fprintf(&b, "[-]%s failed: %v\n", c.name, err)
		} else {
			fmt.Fprintf(&b, "[+]%s ok\n", c.name)
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	switch {
	case failed:
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, b.String())
	case r.URL.Query().Has("verbose"):
		fmt.Fprint(w, b.String()+"ok\n")
	default:
		fmt.Fprint(w, "ok")
	}
}

// Start listens on the admin address and serves until ctx ends.
func (a *Admin) Start(ctx context.Context) error {
	lis, err := net.Listen("tcp", a.addr)
	if err != nil {
		return fmt.Errorf("admin server: %w", err)
	}
	return a.Serve(ctx, lis)
}

// Serve serves on lis until ctx ends, then shuts down gracefully.
func (a *Admin) Serve(ctx context.Context, lis net.Listener) error {
	srv := &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 10 * time.Second}
	ctx, cancel := context.WithCancel(ctx) // also ends the shutdown goroutine if Serve fails
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	a.log.Info("admin server listening", zap.String("address", lis.Addr().String()))
	err := srv.Serve(lis)
	cancel()
	<-done
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("admin server: %w", err)
}
