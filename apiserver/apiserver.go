// Package apiserver is Flotilla's API server as a library: Run serves the
// ResourceService over gRPC with TLS, persisting to an external etcd cluster.
// cmd/apiserver is a thin main around it; tests run it in-process.
package apiserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"

	"google.golang.org/protobuf/proto"

	apiv1 "flotilla.io/proto/flotilla/api/v1"
	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
	schedulingv1 "flotilla.io/proto/flotilla/scheduling/v1"

	"flotilla.io/apiserver/internal/admission"
	"flotilla.io/apiserver/internal/alloc"
	"flotilla.io/apiserver/internal/auth"
	"flotilla.io/apiserver/internal/encryption"
	"flotilla.io/apiserver/internal/kubernetesservice"
	"flotilla.io/apiserver/internal/nodeproxy"
	"flotilla.io/apiserver/internal/rbac"
	"flotilla.io/apiserver/internal/server"
	"flotilla.io/apiserver/internal/storage"
	"flotilla.io/apiserver/internal/watchcache"
)

// DefaultNamespaces exist from the first start.
var DefaultNamespaces = []string{"default", "flotilla-system", "flotilla-node-lease"}

// Config is everything the apiserver needs.
type Config struct {
	// EtcdServers are the etcd client URLs.
	EtcdServers []string
	// EtcdPrefix is the key prefix for every object ("/registry").
	EtcdPrefix string
	// EtcdCAFile, EtcdCertFile and EtcdKeyFile enable TLS to etcd.
	EtcdCAFile, EtcdCertFile, EtcdKeyFile string

	// BindAddress is where gRPC listens ("127.0.0.1:6443"), unless Listener
	// is set.
	BindAddress string
	Listener    net.Listener
	// AdvertiseAddress is the IP pods reach this apiserver at, published as
	// an endpoint of the default/kubernetes Service (default: the bind IP,
	// or for a wildcard bind the address of the default route's interface;
	// a loopback address publishes nothing).
	AdvertiseAddress string
	// EndpointReconcileInterval is how often the kubernetes Service's
	// endpoints are renewed (default 10s).
	EndpointReconcileInterval time.Duration
	// TLSCertFile and TLSKeyFile are the serving certificate.
	TLSCertFile, TLSKeyFile string
	// TokenFile holds the static bearer tokens (token,user,uid,"groups").
	TokenFile string
	// ClientCAFile verifies client certificates: the common name is the
	// user, the organizations the groups.
	ClientCAFile string
	// ServiceAccountKeyFiles verify service account tokens;
	// ServiceAccountSigningKeyFile signs the tokens CreateToken issues.
	ServiceAccountKeyFiles       []string
	ServiceAccountSigningKeyFile string
	// ServiceAccountIssuer is the iss of issued tokens; APIAudiences the
	// audiences accepted (default: the issuer).
	ServiceAccountIssuer string
	APIAudiences         []string
	// KubeletClientCertFile and KubeletClientKeyFile authenticate the
	// apiserver to kubelets (logs, exec, image loading); KubeletCAFile
	// verifies the kubelets' serving certificates (empty: not verified, as
	// upstream without --kubelet-certificate-authority).
	KubeletClientCertFile, KubeletClientKeyFile, KubeletCAFile string

	// ServiceClusterIPRange is the CIDR cluster IPs come from
	// (default 10.96.0.0/12); ServiceNodePortRange the node port range
	// (default 30000-32767).
	ServiceClusterIPRange, ServiceNodePortRange string

	// EncryptionProviderConfig is an EncryptionConfiguration file: the
	// listed resources are encrypted at rest.
	EncryptionProviderConfig string

	// DefaultNotReadyTolerationSeconds and DefaultUnreachableTolerationSeconds
	// bound the tolerations admission adds to pods for those taints
	// (default 300).
	DefaultNotReadyTolerationSeconds, DefaultUnreachableTolerationSeconds int64

	// AuthorizationMode is "RBAC" (default) or "AlwaysAllow".
	AuthorizationMode string

	// WatchCacheHistory is how many recent changes of each kind a watch can
	// resume from.
	WatchCacheHistory int
	// WatcherBuffer is how many events a watcher may have queued before it is
	// dropped as too slow.
	WatcherBuffer int
	// BookmarkInterval is how often idle watches get a bookmark.
	BookmarkInterval time.Duration

	Log      *zap.Logger
	Registry *prometheus.Registry
	// Ready, when set, is called once the server serves and its caches are
	// filled.
	Ready func()
	// ReadyCheck, when set, receives a function reporting readiness (etcd
	// reachable, caches synced) for the admin server's /readyz.
	ReadyCheck func(check func(context.Context) error)
}

// Run serves until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	log := cfg.Log
	if log == nil {
		log = zap.NewNop()
	}
	if cfg.EtcdPrefix == "" {
		cfg.EtcdPrefix = "/registry"
	}
	if len(cfg.EtcdServers) == 0 {
		return errors.New("--etcd-servers: Required value")
	}
	creds, err := serverTLS(cfg.TLSCertFile, cfg.TLSKeyFile, cfg.ClientCAFile)
	if err != nil {
		return err
	}
	etcd, err := newEtcdClient(cfg)
	if err != nil {
		return err
	}
	defer etcd.Close()

	var reg prometheus.Registerer = cfg.Registry
	if cfg.Registry == nil {
		reg = prometheus.NewRegistry()
	}
	store := storage.New(etcd, cfg.EtcdPrefix, reg)
	if cfg.EncryptionProviderConfig != "" {
		ts, err := encryption.Load(cfg.EncryptionProviderConfig)
		if err != nil {
			return err
		}
		store.SetTransformers(ts)
	}
	if cfg.ServiceClusterIPRange == "" {
		cfg.ServiceClusterIPRange = "10.96.0.0/12"
	}
	if cfg.ServiceNodePortRange == "" {
		cfg.ServiceNodePortRange = "30000-32767"
	}
	services, err := alloc.New(alloc.Config{
		CIDR: cfg.ServiceClusterIPRange, NodePorts: cfg.ServiceNodePortRange,
		IPKeyPrefix: store.ClaimPrefix("serviceips"), PortKeyPrefix: store.ClaimPrefix("nodeports"),
	})
	if err != nil {
		return err
	}
	caches := watchcache.New(store, watchcache.Config{History: cfg.WatchCacheHistory, WatcherBuffer: cfg.WatcherBuffer}, log, reg)
	var authorizer auth.Authorizer = auth.AllowAll{}
	var rbacAuthz *rbac.Authorizer
	switch cfg.AuthorizationMode {
	case "", "RBAC":
		rbacAuthz = rbac.NewAuthorizer(caches)
		authorizer = rbacAuthz
	case "AlwaysAllow":
	default:
		return fmt.Errorf("--authorization-mode: %q is not RBAC or AlwaysAllow", cfg.AuthorizationMode)
	}
	scfg := server.Config{
		Store: store, Caches: caches, Authorizer: authorizer, Log: log, Registry: reg,
		BookmarkInterval: cfg.BookmarkInterval, Services: services,
		Admission: admission.Options{
			NotReadyTolerationSeconds:    cfg.DefaultNotReadyTolerationSeconds,
			UnreachableTolerationSeconds: cfg.DefaultUnreachableTolerationSeconds,
		},
	}
	if rbacAuthz != nil {
		scfg.Escalation = rbacAuthz
	}
	srv := server.New(scfg)
	authn, saTokens, err := authenticators(cfg, store)
	if err != nil {
		return err
	}
	proxy, err := nodeproxy.New(nodeproxy.Config{
		Store: store, Authorizer: authorizer, Log: log,
		ClientCertFile: cfg.KubeletClientCertFile, ClientKeyFile: cfg.KubeletClientKeyFile, CAFile: cfg.KubeletCAFile,
	})
	if err != nil {
		return err
	}
	defer proxy.Close()
	if cfg.ReadyCheck != nil {
		cfg.ReadyCheck(func(ctx context.Context) error {
			if _, err := store.Revision(ctx); err != nil {
				return fmt.Errorf("etcd: %w", err)
			}
			if !caches.Ready() {
				return errors.New("watch caches not synced")
			}
			return nil
		})
	}

	lis := cfg.Listener
	if lis == nil {
		if lis, err = net.Listen("tcp", cfg.BindAddress); err != nil {
			return fmt.Errorf("listen %s: %w", cfg.BindAddress, err)
		}
	}
	gs := grpc.NewServer(
		grpc.Creds(creds),
		grpc.MaxRecvMsgSize(8<<20),
		grpc.MaxSendMsgSize(256<<20),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.ChainUnaryInterceptor(unaryAuth(authn), unaryRecover(log)),
		grpc.ChainStreamInterceptor(streamAuth(authn), streamRecover(log)),
	)
	apiv1.RegisterResourceServiceServer(gs, srv)
	apiv1.RegisterNodeProxyServiceServer(gs, proxy)
	apiv1.RegisterAuthServiceServer(gs, &server.Access{Authorizer: authorizer, Tokens: saTokens, Store: store})

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cachesDone := make(chan struct{})
	go func() {
		defer close(cachesDone)
		caches.Run(ctx)
	}()
	serveErr := make(chan error, 1)
	go func() { serveErr <- gs.Serve(lis) }()
	log.Info("apiserver serving", zap.String("address", lis.Addr().String()), zap.Strings("etcd", cfg.EtcdServers))

	if err := ensureDefaults(auth.WithUser(ctx, apiserverUser), srv); err != nil {
		gs.Stop()
		cancel()
		<-cachesDone
		return err
	}
	if err := startKubernetesService(ctx, cfg, lis, store, srv, log); err != nil {
		gs.Stop()
		cancel()
		<-cachesDone
		return err
	}
	go func() {
		// Ready once every cache has caught up with etcd as of now, so the
		// first requests are authorized against the bootstrap policy.
		for ctx.Err() == nil {
			rev, err := store.Revision(ctx)
			if err == nil && caches.WaitFresh(ctx, rev) == nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if ctx.Err() == nil && cfg.Ready != nil {
			cfg.Ready()
		}
	}()

	select {
	case <-ctx.Done():
		// Give in-flight requests a moment, then cut watches.
		stopped := make(chan struct{})
		go func() { gs.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(2 * time.Second):
			gs.Stop()
		}
		err = nil
	case err = <-serveErr:
		err = fmt.Errorf("grpc serve: %w", err)
	}
	cancel()
	<-cachesDone
	return err
}

// startKubernetesService runs the reconciler of the default/kubernetes
// Service, which points pods at the live apiservers.
func startKubernetesService(ctx context.Context, cfg Config, lis net.Listener, store *storage.Store, srv *server.Server, log *zap.Logger) error {
	ip, err := kubernetesservice.FirstIP(cfg.ServiceClusterIPRange)
	if err != nil {
		return err
	}
	bind := lis.Addr().String()
	addr, err := kubernetesservice.AdvertiseAddress(cfg.AdvertiseAddress, bind)
	if err != nil {
		return err
	}
	port := 0
	if ap, err := netip.ParseAddrPort(bind); err == nil {
		port = int(ap.Port())
	}
	r, err := kubernetesservice.New(kubernetesservice.Config{
		API: srv, Etcd: store.Client(), KeyPrefix: store.InternalPrefix("apiserver-endpoints"),
		ServiceIP: ip, Address: addr, Port: port, Interval: cfg.EndpointReconcileInterval, Log: log.Named("kubernetes-service"),
	})
	if err != nil {
		return err
	}
	log.Info("kubernetes service", zap.String("clusterIP", ip), zap.String("advertise", addr.String()), zap.Int("port", port))
	go r.Run(auth.WithUser(ctx, apiserverUser))
	return nil
}

// apiserverUser is the identity of the apiserver's own writes.
var apiserverUser = &auth.User{Name: "system:apiserver", Groups: []string{rbac.Masters}}

// ensureDefaults creates the default namespaces and the bootstrap RBAC
// policy, retrying while etcd is still electing a leader.
func ensureDefaults(ctx context.Context, srv *server.Server) error {
	var objs []proto.Message
	for _, ns := range DefaultNamespaces {
		objs = append(objs, &corev1.Namespace{Metadata: &metav1.ObjectMeta{Name: ns}})
	}
	// Upstream's built-in priority classes for critical add-ons.
	objs = append(objs,
		&schedulingv1.PriorityClass{Metadata: &metav1.ObjectMeta{Name: "system-cluster-critical"}, Value: 2000000000, Description: "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary."},
		&schedulingv1.PriorityClass{Metadata: &metav1.ObjectMeta{Name: "system-node-critical"}, Value: 2000001000, Description: "Used for system critical pods that must not be moved from their current node."},
	)
	roles, bindings := rbac.Bootstrap()
	for _, r := range roles {
		objs = append(objs, r)
	}
	for _, b := range bindings {
		objs = append(objs, b)
	}
	backoff := 100 * time.Millisecond
	for {
		var err error
		for _, obj := range objs {
			if err = srv.Ensure(ctx, obj); err != nil {
				break
			}
		}
		if err == nil || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

func serverTLS(certFile, keyFile, clientCAFile string) (credentials.TransportCredentials, error) {
	if certFile == "" || keyFile == "" {
		return nil, errors.New("--tls-cert-file and --tls-private-key-file: Required value (the apiserver serves TLS only)")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("serving certificate: %w", err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if clientCAFile != "" {
		pem, err := os.ReadFile(clientCAFile)
		if err != nil {
			return nil, fmt.Errorf("--client-ca-file: %w", err)
		}
		tc.ClientCAs = x509.NewCertPool()
		if !tc.ClientCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--client-ca-file %s: no certificates", clientCAFile)
		}
		tc.ClientAuth = tls.VerifyClientCertIfGiven // tokens remain an alternative
	}
	return credentials.NewTLS(tc), nil
}

// authenticators builds the chain: client certificates, static tokens,
// service account tokens.
func authenticators(cfg Config, store *storage.Store) (auth.Chain, *auth.ServiceAccountTokens, error) {
	var chain auth.Chain
	if cfg.ClientCAFile != "" {
		chain = append(chain, auth.ClientCert{})
	}
	if cfg.TokenFile != "" {
		tf, err := auth.LoadTokenFile(cfg.TokenFile)
		if err != nil {
			return nil, nil, err
		}
		chain = append(chain, tf)
	}
	var sa *auth.ServiceAccountTokens
	if len(cfg.ServiceAccountKeyFiles) > 0 || cfg.ServiceAccountSigningKeyFile != "" {
		issuer := cfg.ServiceAccountIssuer
		if issuer == "" {
			issuer = "https://flotilla.default.svc"
		}
		var err error
		if sa, err = auth.NewServiceAccountTokens(issuer, cfg.APIAudiences, cfg.ServiceAccountKeyFiles, cfg.ServiceAccountSigningKeyFile, server.Objects{Store: store}); err != nil {
			return nil, nil, err
		}
		chain = append(chain, sa)
	}
	if len(chain) == 0 {
		return nil, nil, errors.New("no authentication configured: give --token-file, --client-ca-file or service account keys")
	}
	return chain, sa, nil
}

func newEtcdClient(cfg Config) (*clientv3.Client, error) {
	ec := clientv3.Config{
		Endpoints:            cfg.EtcdServers,
		DialTimeout:          5 * time.Second,
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: 5 * time.Second,
		MaxCallSendMsgSize:   8 << 20,
		MaxCallRecvMsgSize:   512 << 20,
		Logger:               zap.NewNop(),
	}
	if cfg.EtcdCAFile != "" || cfg.EtcdCertFile != "" {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if cfg.EtcdCAFile != "" {
			pem, err := os.ReadFile(cfg.EtcdCAFile)
			if err != nil {
				return nil, fmt.Errorf("etcd CA: %w", err)
			}
			tc.RootCAs = x509.NewCertPool()
			tc.RootCAs.AppendCertsFromPEM(pem)
		}
		if cfg.EtcdCertFile != "" {
			cert, err := tls.LoadX509KeyPair(cfg.EtcdCertFile, cfg.EtcdKeyFile)
			if err != nil {
				return nil, fmt.Errorf("etcd client certificate: %w", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		ec.TLS = tc
	}
	cli, err := clientv3.New(ec)
	if err != nil {
		return nil, fmt.Errorf("etcd client for %s: %w", strings.Join(cfg.EtcdServers, ","), err)
	}
	return cli, nil
}
