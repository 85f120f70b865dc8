// Package component is the scaffolding every Flotilla daemon's Run(ctx, cfg)
// shares: common flags, logging, a per-process metrics registry, the admin
// HTTP server (/metrics, /healthz, /readyz, /version, /debug/pprof/) and a group of
// Runnables, some of which run only while this replica leads.
package component

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"flotilla.io/sdk/client"
	"flotilla.io/sdk/leaderelection"
)

// Options are the flags every daemon shares. Bind them with AddFlags.
type Options struct {
	AdminAddr string
	// Profiling serves /debug/pprof/ on the admin server (default on).
	Profiling bool
	LogLevel  string
	LogFormat string

	// Config is the apiserver client config file ("" = $FLOTILLA_CONFIG or
	// $HOME/.flotilla/config); Server, Token, TokenFile and CAFile override
	// its fields, so a daemon can run from flags alone.
	Config    string
	Server    string
	Token     string
	TokenFile string
	CAFile    string

	LeaderElect    bool
	LeaseNamespace string
	LeaseDuration  time.Duration
	RenewDeadline  time.Duration
	RetryPeriod    time.Duration
}

// AddFlags binds the options to fs with the given default admin address.
func (o *Options) AddFlags(fs *flag.FlagSet, defaultAdminAddr string) {
	fs.StringVar(&o.AdminAddr, "admin-address", defaultAdminAddr, "address serving /metrics, /healthz, /readyz, /version and /debug/pprof/")
	fs.BoolVar(&o.Profiling, "profiling", true, "serve Go runtime profiles under /debug/pprof/ on the admin address")
	fs.StringVar(&o.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&o.LogFormat, "log-format", "json", "log format: json or console")
	fs.StringVar(&o.Config, "config", "", "apiserver client config file (default $"+client.ConfigEnv+" or ~/.flotilla/config)")
	fs.StringVar(&o.Server, "server", "", "apiserver host:port, overriding the config file")
	fs.StringVar(&o.Token, "token", "", "bearer token, overriding the config file")
	fs.StringVar(&o.TokenFile, "token-file", "", "file holding the bearer token")
	fs.StringVar(&o.CAFile, "certificate-authority", "", "PEM file of the CA that signs the apiserver certificate")
	fs.BoolVar(&o.LeaderElect, "leader-elect", false, "run leader-only loops only while holding the lease (for several replicas)")
	fs.StringVar(&o.LeaseNamespace, "leader-elect-namespace", "flotilla-system", "namespace of the leader election lease")
	fs.DurationVar(&o.LeaseDuration, "leader-elect-lease-duration", leaderelection.DefaultLeaseDuration, "how long others wait before taking over an unrenewed lease")
	fs.DurationVar(&o.RenewDeadline, "leader-elect-renew-deadline", leaderelection.DefaultRenewDeadline, "how long the leader retries renewing before giving up")
	fs.DurationVar(&o.RetryPeriod, "leader-elect-retry-period", leaderelection.DefaultRetryPeriod, "wait between leader election attempts")
}

// NewAdmin makes the admin server on AdminAddr, with profiling as the
// --profiling flag says.
func (o *Options) NewAdmin(component string, reg *prometheus.Registry, log *zap.Logger) *Admin {
	a := NewAdmin(o.AdminAddr, component, reg, log)
	a.SetProfiling(o.Profiling)
	return a
}

// Logger builds the process logger from LogLevel and LogFormat, naming the
// component on every line.
func (o *Options) Logger(component string) (*zap.Logger, error) {
	log, err := NewLogger(o.LogLevel, o.LogFormat)
	if err != nil {
		return nil, err
	}
	return log.With(zap.String("component", component)), nil
}

// NewLogger builds a zap logger: level debug|info|warn|error, format
// json|console. Logs go to stderr.
func NewLogger(level, format string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("log level: %w", err)
	}
	var cfg zap.Config
	switch format {
	case "json", "":
		cfg = zap.NewProductionConfig()
		cfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	case "console":
		cfg = zap.NewDevelopmentConfig()
	default:
		return nil, fmt.Errorf("log format %q: want json or console", format)
	}
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	// Sampling drops repeated lines, which hides retry storms we want to see.
	cfg.Sampling = nil
	return cfg.Build()
}

// ClientConfig loads the apiserver config file, if any, and applies the
// flag overrides.
func (o *Options) ClientConfig() (*client.Config, error) {
	path := client.ResolvePath(o.Config)
	cfg, err := client.LoadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && o.Config == "" && os.Getenv(client.ConfigEnv) == "":
		cfg = &client.Config{} // the default file is optional; named ones are not
	case err != nil:
		return nil, err
	}
	if o.Server != "" {
		cfg.Server = o.Server
	}
	if o.Token != "" {
		cfg.Token = o.Token
	}
	if o.TokenFile != "" {
		cfg.Token, cfg.TokenFile = "", o.TokenFile
	}
	if o.CAFile != "" {
		cfg.CAData, cfg.CAFile = nil, o.CAFile
	}
	if cfg.Server == "" {
		return nil, fmt.Errorf("no apiserver address: set --server or write %s", path)
	}
	return cfg, nil
}

// Election configures leader election on the lease named name, or returns
// nil when --leader-elect is off. The identity is the hostname plus a random
// suffix, so two replicas on one machine stay distinct.
func (o *Options) Election(c *client.Client, name string, reg prometheus.Registerer, log *zap.Logger) (*leaderelection.Config, error) {
	if !o.LeaderElect {
		return nil, nil
	}
	host, err := os.Hostname()
	if err != nil {
		return nil, fmt.Errorf("leader election identity: %w", err)
	}
	return &leaderelection.Config{
		Client: c, Namespace: o.LeaseNamespace, Name: name, Identity: fmt.Sprintf("%s_%08x", host, rand.Uint32()),
		LeaseDuration: o.LeaseDuration, RenewDeadline: o.RenewDeadline, RetryPeriod: o.RetryPeriod,
		ReleaseOnCancel: true, Logger: log, Registerer: reg,
	}, nil
}
