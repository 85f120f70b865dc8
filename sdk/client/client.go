// Package client is the SDK's connection to the apiserver: configuration, a
// gRPC connection with TLS and a bearer token, typed access to every kind
// through generics (For[T]) and untyped access for tools (Dynamic).
package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"

	apiv1 "flotilla.io/proto/flotilla/api/v1"
)

// MaxMessageSize bounds requests and responses; large lists page instead.
const MaxMessageSize = 64 << 20

// Keepalive pings an idle connection so a dead apiserver is noticed while a
// watch waits for events. The apiserver's keepalive.EnforcementPolicy must
// allow it (MinTime <= KeepaliveTime, PermitWithoutStream).
const (
	KeepaliveTime    = 30 * time.Second
	KeepaliveTimeout = 10 * time.Second
)

// Client talks to the apiserver. It is safe for concurrent use.
type Client struct {
	conn grpc.ClientConnInterface
	// closer is set when New made the connection and Close must end it.
	closer interface{ Close() error }
	api    apiv1.ResourceServiceClient
}

// New connects to cfg.Server. The connection is made lazily and re-made after
// failures, so a daemon may start before the apiserver does; ctx only bounds
// reading files named by cfg.
func New(ctx context.Context, cfg *Config, opts ...grpc.DialOption) (*Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if cfg.Server == "" {
		return nil, fmt.Errorf("client config: no server address")
	}
	var creds credentials.PerRPCCredentials
	switch {
	case cfg.Token != "":
		creds = bearer{token: cfg.Token, secure: !cfg.Insecure}
	case cfg.TokenFile != "":
		// Read now, so a missing file fails here, and again as it ages: the
		// kubelet rotates projected service account tokens in place.
		f := &tokenFile{path: cfg.TokenFile, secure: !cfg.Insecure}
		if _, err := f.token(); err != nil {
			return nil, err
		}
		creds = f
	}
	dial := []grpc.DialOption{
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageSize), grpc.MaxCallSendMsgSize(MaxMessageSize)),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: KeepaliveTime, Timeout: KeepaliveTimeout, PermitWithoutStream: true}),
	}
	if cfg.Insecure {
		dial = append(dial, grpc.WithTransportCredentials(insecure.NewCredentials()))
	} else {
		tc, err := tlsConfig(cfg)
		if err != nil {
			return nil, err
		}
		dial = append(dial, grpc.WithTransportCredentials(credentials.NewTLS(tc)))
	}
	if creds != nil {
		dial = append(dial, grpc.WithPerRPCCredentials(creds))
	}
	conn, err := grpc.NewClient(cfg.Server, append(dial, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", cfg.Server, err)
	}
	c := NewFromConn(conn)
	c.closer = conn
	return c, nil
}

// NewFromConn wraps an existing connection (tests, in-process servers). Close
// leaves the connection open; its owner closes it.
func NewFromConn(conn grpc.ClientConnInterface) *Client {
	return &Client{conn: conn, api: apiv1.NewResourceServiceClient(conn)}
}

// Close ends the connection made by New.
func (c *Client) Close() error {
	if c.closer == nil {
		return nil
	}
	return c.closer.Close()
}

// API is the raw ResourceService, for callers needing fields the SDK hides.
func (c *Client) API() apiv1.ResourceServiceClient { return c.api }

func tlsConfig(cfg *Config) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: cfg.ServerName}
	pem := cfg.CAData
	if len(pem) == 0 && cfg.CAFile != "" {
		b, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read CA: %w", err)
		}
		pem = b
	}
	if len(pem) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("client config: CA data holds no PEM certificate")
		}
		tc.RootCAs = pool
	}
	cert, key := cfg.CertData, cfg.KeyData
	if len(cert) == 0 && cfg.CertFile != "" {
		var err error
		if cert, err = os.ReadFile(cfg.CertFile); err != nil {
			return nil, fmt.Errorf("read client certificate: %w", err)
		}
		if key, err = os.ReadFile(cfg.KeyFile); err != nil {
			return nil, fmt.Errorf("read client key: %w", err)
		}
	}
	if len(cert) > 0 {
		pair, err := tls.X509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("client config: client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	return tc, nil
}

// bearer attaches the token to every call.
type bearer struct {
	token  string
	secure bool
}

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

// RequireTransportSecurity keeps a real token off plaintext connections;
// Insecure configs (tests) opt out.
func (b bearer) RequireTransportSecurity() bool { return b.secure }

// tokenFile sends the token in a file, re-read once a minute (as
// client-go's cachingTokenSource does), so a rotated token is picked up.
type tokenFile struct {
	path   string
	secure bool

	mu     sync.Mutex
	cached string
	read   time.Time
}

// tokenFileRefresh is how long a token read from a file is used before the
// file is read again.
const tokenFileRefresh = time.Minute

func (f *tokenFile) token() (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cached != "" && time.Since(f.read) < tokenFileRefresh {
		return f.cached, nil
	}
	b, err := os.ReadFile(f.path)
	if err != nil {
		if f.cached != "" {
			return f.cached, nil // keep the last good token through a hiccup
		}
		return "", fmt.Errorf("read token: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("read token: %s is empty", f.path)
	}
	f.cached, f.read = t, time.Now()
	return t, nil
}

func (f *tokenFile) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	t, err := f.token()
	if err != nil {
		return nil, err
	}
	return map[string]string{"authorization": "Bearer " + t}, nil
}

func (f *tokenFile) RequireTransportSecurity() bool { return f.secure }

// Conn is the client's gRPC connection, for the API's other services
// (NodeProxyService: logs, exec, image loading).
func (c *Client) Conn() grpc.ClientConnInterface { return c.conn }
