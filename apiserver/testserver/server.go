package testserver

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"flotilla.io/sdk/client"
	"flotilla.io/sdk/pki"

	"flotilla.io/apiserver"
)

// Tokens every test server accepts, one identity per component as in a real
// cluster.
const (
	AdminToken = "admin-token"
	UserToken  = "alice-token"
)

// Server is an apiserver running in the test process.
type Server struct {
	// Config reaches the server as the admin.
	Config   *client.Config
	Addr     string
	Etcd     []string
	Registry *prometheus.Registry

	t      testing.TB
	dir    string
	opts   Options
	cancel context.CancelFunc
	done   chan error
}

// Options adjust a test server.
type Options struct {
	// WatchCacheHistory overrides the number of changes kept per kind.
	WatchCacheHistory int
	// WatcherBuffer overrides how many events a watcher may have queued.
	WatcherBuffer int
	// ServiceClusterIPRange overrides the service CIDR.
	ServiceClusterIPRange string
	// EncryptionProviderConfig is passed to the apiserver.
	EncryptionProviderConfig string
	// Listen is the listen address (default 127.0.0.1:0).
	Listen string
	// AdvertiseAddress is published as the kubernetes Service's endpoint
	// (the test listener is on loopback, which publishes nothing).
	AdvertiseAddress string
	// EndpointReconcileInterval overrides how often that endpoint is renewed.
	EndpointReconcileInterval time.Duration
	// Quiet drops the server's logs instead of sending them to the test log.
	Quiet bool
}

// Start runs etcd and an apiserver against it.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWith(t, Options{})
}

// StartWith runs etcd and an apiserver with options.
func StartWith(t testing.TB, opts Options) *Server {
	t.Helper()
	e := StartEtcd(t)
	return StartAPIServer(t, []string{e.Endpoint}, opts)
}

// StartAPIServer runs an apiserver against existing etcd endpoints; it stops
// when the test ends.
func StartAPIServer(t testing.TB, etcd []string, opts Options) *Server {
	t.Helper()
	dir := t.TempDir()
	ca, _, err := pki.EnsureServing(dir, "apiserver")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pki.EnsureClient(dir, "apiserver-kubelet-client", "apiserver-kubelet-client", "system:masters"); err != nil {
		t.Fatal(err)
	}
	if _, err := pki.EnsureKey(dir, "sa"); err != nil {
		t.Fatal(err)
	}
	tokens := fmt.Sprintf("%s,admin,1,system:masters\n%s,alice,2,developers\n", AdminToken, UserToken)
	if err := os.WriteFile(filepath.Join(dir, "tokens.csv"), []byte(tokens), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &Server{t: t, dir: dir, Etcd: etcd, Config: &client.Config{CAData: ca.CertPEM, Token: AdminToken}}
	s.opts = opts
	listen := opts.Listen
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	s.start(opts, listen)
	t.Cleanup(s.Stop)
	return s
}

func (s *Server) start(opts Options, addr string) {
	t := s.t
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = lis.Addr().String()
	s.Config.Server = s.Addr
	s.Registry = prometheus.NewRegistry()
	log := zap.NewNop()
	if !opts.Quiet {
		log = zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	}
	ready := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.done = cancel, make(chan error, 1)
	go func() {
		s.done <- apiserver.Run(ctx, apiserver.Config{
			EtcdServers:                  s.Etcd,
			Listener:                     lis,
			TLSCertFile:                  filepath.Join(s.dir, "apiserver.crt"),
			TLSKeyFile:                   filepath.Join(s.dir, "apiserver.key"),
			TokenFile:                    filepath.Join(s.dir, "tokens.csv"),
			KubeletClientCertFile:        filepath.Join(s.dir, "apiserver-kubelet-client.crt"),
			KubeletClientKeyFile:         filepath.Join(s.dir, "apiserver-kubelet-client.key"),
			KubeletCAFile:                filepath.Join(s.dir, "ca.crt"),
			ClientCAFile:                 filepath.Join(s.dir, "ca.crt"),
			ServiceAccountSigningKeyFile: filepath.Join(s.dir, "sa.key"),
			WatchCacheHistory:            opts.WatchCacheHistory,
			WatcherBuffer:                opts.WatcherBuffer,
			ServiceClusterIPRange:        opts.ServiceClusterIPRange,
			EncryptionProviderConfig:     opts.EncryptionProviderConfig,
			AdvertiseAddress:             opts.AdvertiseAddress,
			EndpointReconcileInterval:    opts.EndpointReconcileInterval,
			BookmarkInterval:             time.Second,
			Log:                          log,
			Registry:                     s.Registry,
			Ready:                        func() { close(ready) },
		})
	}()
	select {
	case <-ready:
	case err := <-s.done:
		t.Fatalf("apiserver exited: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("apiserver not ready after 30s")
	}
}

// Stop ends the apiserver (etcd keeps running).
func (s *Server) Stop() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	if err := <-s.done; err != nil {
		s.t.Errorf("apiserver: %v", err)
	}
	s.cancel = nil
}

// Restart stops the apiserver and starts a new one on the same address and
// etcd, as an upgrade or crash would.
func (s *Server) Restart() {
	s.t.Helper()
	s.RestartWith(s.opts)
}

// RestartWith restarts the apiserver with new options.
func (s *Server) RestartWith(opts Options) {
	s.t.Helper()
	addr := s.Addr
	s.Stop()
	s.opts = opts
	s.start(opts, addr)
}

// CADir is where the cluster CA (ca.crt, ca.key) and the server's
// certificates live: tests sign kubelet certificates with it.
func (s *Server) CADir() string { return s.dir }

// Client connects to the server with cfg (s.Config for the admin); closed
// when the test ends.
func (s *Server) Client(cfg *client.Config) *client.Client {
	s.t.Helper()
	c, err := client.New(context.Background(), cfg)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { _ = c.Close() })
	return c
}
