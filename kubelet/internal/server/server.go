// Package server serves flotilla.kubelet.v1.KubeletService (container logs,
// exec, image loading, stats) over TLS. Clients must present a certificate
// signed by the client CA (--client-ca-file): in a cluster only the
// apiserver holds one, and users reach the kubelet through the apiserver's
// NodeProxyService. The work itself is delegated to a Runtime (the core's
// containerd wrapper) and a StatsProvider.
package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	kubeletv1 "flotilla.io/proto/flotilla/kubelet/v1"
	"flotilla.io/sdk/pki"

	"flotilla.io/kubelet/internal/logs"
)

// Runtime does what the service asks. Errors may be gRPC status errors
// (e.g. NotFound for an unknown pod or container); os.ErrNotExist maps to
// NotFound, anything else to Internal.
type Runtime interface {
	// LogPath is the log file of a container's current (or previous)
	// instance; container "" means the pod's only container.
	LogPath(namespace, pod, container string, previous bool) (string, error)
	// Exec runs cmd in a running container and returns its exit code.
	// stdin is nil unless asked for; with tty, stderr is not used and
	// resize carries terminal size changes.
	Exec(ctx context.Context, namespace, pod, container string, cmd []string, tty bool,
		stdin io.Reader, stdout, stderr io.Writer, resize <-chan *kubeletv1.TerminalSize) (exitCode int, err error)
	// LoadImage imports an OCI or docker-archive tar and returns the image
	// references imported.
	LoadImage(ctx context.Context, archive io.Reader) ([]string, error)
}

// StatsProvider answers Stats (internal/stats.Provider).
type StatsProvider interface {
	Stats(ctx context.Context, req *kubeletv1.StatsRequest) (*kubeletv1.StatsResponse, error)
}

// Config wires the server.
type Config struct {
	// Address to listen on, e.g. "0.0.0.0:10250".
	Address string
	// TLSCertFile and TLSKeyFile are the serving certificate; when empty a
	// self-signed one (and its own CA) is made in CertDir for Hosts.
	TLSCertFile, TLSKeyFile string
	CertDir                 string
	Hosts                   []string
	// ClientCAFile verifies client certificates; required.
	ClientCAFile string
	// AuthorizedClients are the certificate common names allowed in
	// (default DefaultAuthorizedClients): other components' certificates
	// come from the same CA but must not reach logs and exec.
	AuthorizedClients []string
	Runtime           Runtime
	Stats             StatsProvider
	Log               *zap.Logger
}

// DefaultAuthorizedClients is the apiserver's client certificate name.
var DefaultAuthorizedClients = []string{"apiserver-kubelet-client"}

// Server is the kubelet's gRPC server.
type Server struct {
	kubeletv1.UnimplementedKubeletServiceServer
	cfg  Config
	log  *zap.Logger
	grpc *grpc.Server
}

// New loads the certificates and builds the server.
func New(cfg Config) (*Server, error) {
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Runtime == nil {
		return nil, errors.New("kubelet server: no runtime")
	}
	tc, err := tlsConfig(cfg)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Log}
	s.grpc = grpc.NewServer(
		grpc.Creds(credentials.NewTLS(tc)),
		grpc.MaxRecvMsgSize(16<<20),
		grpc.ChainUnaryInterceptor(s.unaryLog),
		grpc.ChainStreamInterceptor(s.streamLog),
	)
	kubeletv1.RegisterKubeletServiceServer(s.grpc, s)
	return s, nil
}

func tlsConfig(cfg Config) (*tls.Config, error) {
	if cfg.ClientCAFile == "" {
		return nil, errors.New("kubelet server: --client-ca-file is required: only clients with certificates signed by it (the apiserver) may call the kubelet")
	}
	caPEM, err := os.ReadFile(cfg.ClientCAFile)
	if err != nil {
		return nil, fmt.Errorf("client CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("client CA %s: no certificates", cfg.ClientCAFile)
	}
	certFile, keyFile := cfg.TLSCertFile, cfg.TLSKeyFile
	if certFile == "" {
		if cfg.CertDir == "" {
			return nil, errors.New("kubelet server: neither --tls-cert-file nor a directory for a self-signed certificate")
		}
		if _, _, err := pki.EnsureServing(cfg.CertDir, "kubelet", cfg.Hosts...); err != nil {
			return nil, err
		}
		certFile, keyFile = filepath.Join(cfg.CertDir, "kubelet.crt"), filepath.Join(cfg.CertDir, "kubelet.key")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("serving certificate: %w", err)
	}
	allowed := cfg.AuthorizedClients
	if len(allowed) == 0 {
		allowed = DefaultAuthorizedClients
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		// Called after the chain is verified against ClientCAs.
		VerifyPeerCertificate: func(_ [][]byte, chains [][]*x509.Certificate) error {
			if len(chains) == 0 || len(chains[0]) == 0 {
				return errors.New("no verified client certificate")
			}
			if cn := chains[0][0].Subject.CommonName; !slices.Contains(allowed, cn) {
				return fmt.Errorf("client %q may not use the kubelet API (allowed: %s)", cn, strings.Join(allowed, ", "))
			}
			return nil
		},
	}, nil
}

// Run listens on cfg.Address and serves until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	lis, err := net.Listen("tcp", s.cfg.Address)
	if err != nil {
		return fmt.Errorf("kubelet server: %w", err)
	}
	return s.Serve(ctx, lis)
}

// Serve serves on lis until ctx ends; streams still open then (log
// followers, exec sessions) are cut after a short grace.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	s.log.Info("kubelet server listening", zap.String("address", lis.Addr().String()))
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
		case <-done:
			return
		}
		stopped := make(chan struct{})
		go func() { s.grpc.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(5 * time.Second):
			s.grpc.Stop()
		}
	}()
	if err := s.grpc.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return err
	}
	return nil
}

func caller(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return ""
	}
	if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(ti.State.PeerCertificates) > 0 {
		return ti.State.PeerCertificates[0].Subject.CommonName
	}
	return p.Addr.String()
}

func (s *Server) unaryLog(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	resp, err := h(ctx, req)
	s.log.Debug("call", zap.String("method", info.FullMethod), zap.String("caller", caller(ctx)), zap.Error(err))
	return resp, toStatus(err)
}

func (s *Server) streamLog(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	err := h(srv, ss)
	s.log.Debug("stream", zap.String("method", info.FullMethod), zap.String("caller", caller(ss.Context())), zap.Error(err))
	return toStatus(err)
}

// toStatus maps errors to gRPC codes once, at the edge.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	switch {
	case errors.Is(err, os.ErrNotExist):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}

// ContainerLogs streams a log file.
func (s *Server) ContainerLogs(req *kubeletv1.ContainerLogsRequest, stream kubeletv1.KubeletService_ContainerLogsServer) error {
	if req.Namespace == "" || req.Pod == "" {
		return status.Error(codes.InvalidArgument, "namespace and pod are required")
	}
	path, err := s.cfg.Runtime.LogPath(req.Namespace, req.Pod, req.Container, req.Previous)
	if err != nil {
		return err
	}
	w := newChunkWriter(func(b []byte) error {
		return stream.Send(&kubeletv1.ContainerLogsResponse{Data: b})
	})
	err = logs.Read(stream.Context(), path, req, w)
	if ferr := w.Close(); err == nil {
		err = ferr
	}
	return err
}

// chunkWriter batches small writes into messages of up to chunkSize,
// flushing at least every flushEvery so followers see lines promptly.
type chunkWriter struct {
	send func([]byte) error
	mu   sync.Mutex
	buf  []byte
	err  error
	stop chan struct{}
	done chan struct{}
}

const (
	chunkSize  = 32 << 10
	flushEvery = 100 * time.Millisecond
)

func newChunkWriter(send func([]byte) error) *chunkWriter {
	w := &chunkWriter{send: send, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		t := time.NewTicker(flushEvery)
		defer t.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-t.C:
				w.mu.Lock()
				w.flushLocked()
				w.mu.Unlock()
			}
		}
	}()
	return w
}

func (w *chunkWriter) flushLocked() {
	if len(w.buf) == 0 || w.err != nil {
		return
	}
	w.err = w.send(w.buf)
	w.buf = nil
}

func (w *chunkWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return 0, w.err
	}
	w.buf = append(w.buf, p...)
	if len(w.buf) >= chunkSize {
		w.flushLocked()
	}
	return len(p), w.err
}

// Close flushes and stops the flusher.
func (w *chunkWriter) Close() error {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	w.flushLocked()
	return w.err
}

// Stats answers from the stats provider.
func (s *Server) Stats(ctx context.Context, req *kubeletv1.StatsRequest) (*kubeletv1.StatsResponse, error) {
	if s.cfg.Stats == nil {
		return nil, status.Error(codes.Unimplemented, "this kubelet reports no stats")
	}
	return s.cfg.Stats.Stats(ctx, req)
}
