// Command apiserver serves the Flotilla API over gRPC, persisting to etcd.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"

	"flotilla.io/sdk/component"
	"flotilla.io/sdk/pki"

	"flotilla.io/apiserver"
	"flotilla.io/apiserver/internal/kubernetesservice"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "apiserver:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	var (
		cfg                 apiserver.Config
		etcd, sans          string
		saKeys, audiences   string
		certDir, adminAddr  string
		logLevel, logFormat string
	)
	fs := flag.NewFlagSet("apiserver", flag.ExitOnError)
	fs.StringVar(&etcd, "etcd-servers", "", "etcd client URLs, comma separated")
	fs.StringVar(&cfg.EtcdPrefix, "etcd-prefix", "/registry", "key prefix of every object in etcd")
	fs.StringVar(&cfg.EtcdCAFile, "etcd-cafile", "", "CA bundle verifying etcd's certificate")
	fs.StringVar(&cfg.EtcdCertFile, "etcd-certfile", "", "client certificate for etcd")
	fs.StringVar(&cfg.EtcdKeyFile, "etcd-keyfile", "", "client key for etcd")
	fs.StringVar(&cfg.BindAddress, "bind-address", "127.0.0.1:6443", "gRPC listen address")
	fs.StringVar(&cfg.AdvertiseAddress, "advertise-address", "", "IP published as the endpoint of the default/kubernetes Service (default: the bind IP, or the default route's address for a wildcard bind)")
	fs.StringVar(&cfg.TLSCertFile, "tls-cert-file", "", "serving certificate (default: apiserver.crt in --cert-dir)")
	fs.StringVar(&cfg.TLSKeyFile, "tls-private-key-file", "", "serving key (default: apiserver.key in --cert-dir)")
	fs.StringVar(&certDir, "cert-dir", "", "where a CA and serving certificate are made when --tls-cert-file is not given")
	fs.StringVar(&sans, "tls-san", "", "extra names and IPs for a generated serving certificate, comma separated")
	fs.StringVar(&cfg.TokenFile, "token-file", "", "static bearer tokens: token,user,uid,\"group1,group2\"")
	fs.StringVar(&cfg.ClientCAFile, "client-ca-file", "", "CA verifying client certificates (CN = user, O = groups); default ca.crt in --cert-dir")
	fs.StringVar(&saKeys, "service-account-key-file", "", "PEM key files verifying service account tokens, comma separated; default sa.key in --cert-dir")
	fs.StringVar(&cfg.ServiceAccountSigningKeyFile, "service-account-signing-key-file", "", "PEM private key signing issued service account tokens; default sa.key in --cert-dir")
	fs.StringVar(&cfg.ServiceAccountIssuer, "service-account-issuer", "https://flotilla.default.svc", "issuer (iss) of issued service account tokens")
	fs.StringVar(&audiences, "api-audiences", "", "audiences service account tokens must carry, comma separated (default: the issuer)")
	fs.StringVar(&cfg.KubeletClientCertFile, "kubelet-client-certificate", "", "client certificate for kubelets (default: apiserver-kubelet-client.crt in --cert-dir)")
	fs.StringVar(&cfg.KubeletClientKeyFile, "kubelet-client-key", "", "client key for kubelets")
	fs.StringVar(&cfg.KubeletCAFile, "kubelet-certificate-authority", "", "CA verifying kubelets' serving certificates (empty: not verified, as upstream)")
	fs.StringVar(&cfg.EncryptionProviderConfig, "encryption-provider-config", "", "EncryptionConfiguration file: resources to encrypt at rest (aesgcm) and their keys")
	fs.Int64Var(&cfg.DefaultNotReadyTolerationSeconds, "default-not-ready-toleration-seconds", 300, "tolerationSeconds of the not-ready:NoExecute toleration added to pods without one")
	fs.Int64Var(&cfg.DefaultUnreachableTolerationSeconds, "default-unreachable-toleration-seconds", 300, "tolerationSeconds of the unreachable:NoExecute toleration added to pods without one")
	fs.StringVar(&cfg.AuthorizationMode, "authorization-mode", "RBAC", "RBAC, or AlwaysAllow to let every authenticated request through")
	fs.StringVar(&cfg.ServiceClusterIPRange, "service-cluster-ip-range", "10.96.0.0/12", "CIDR Service cluster IPs are allocated from")
	fs.StringVar(&cfg.ServiceNodePortRange, "service-node-port-range", "30000-32767", "range Service node ports are allocated from")
	fs.IntVar(&cfg.WatchCacheHistory, "watch-cache-history", 10000, "recent changes per kind a watch can resume from")
	fs.IntVar(&cfg.WatcherBuffer, "watcher-buffer", 2048, "events a watcher may have queued before it is dropped as too slow")
	fs.StringVar(&adminAddr, "admin-address", "127.0.0.1:6444", "address serving /metrics, /healthz, /readyz and /version")
	profiling := fs.Bool("profiling", true, "serve /debug/pprof/ on the admin address")
	fs.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&logFormat, "log-format", "json", "log format: json or console")
	_ = fs.Parse(args)

	if etcd != "" {
		cfg.EtcdServers = strings.Split(etcd, ",")
	}
	if cfg.TLSCertFile == "" && cfg.TLSKeyFile == "" {
		if certDir == "" {
			return fmt.Errorf("--tls-cert-file and --tls-private-key-file, or --cert-dir: Required value")
		}
		// Pods reach the apiserver as the kubernetes Service (by name or
		// cluster IP) and at its advertised address.
		hosts := pki.KubernetesServiceNames("cluster.local")
		if ip, err := kubernetesservice.FirstIP(cmp.Or(cfg.ServiceClusterIPRange, "10.96.0.0/12")); err == nil {
			hosts = append(hosts, ip)
		}
		if a, err := kubernetesservice.AdvertiseAddress(cfg.AdvertiseAddress, cfg.BindAddress); err == nil && a.IsValid() {
			hosts = append(hosts, a.String())
		}
		if sans != "" {
			hosts = append(hosts, strings.Split(sans, ",")...)
		}
		if _, _, err := pki.EnsureServing(certDir, "apiserver", hosts...); err != nil {
			return err
		}
		cfg.TLSCertFile, cfg.TLSKeyFile = filepath.Join(certDir, "apiserver.crt"), filepath.Join(certDir, "apiserver.key")
	}
	if saKeys != "" {
		cfg.ServiceAccountKeyFiles = strings.Split(saKeys, ",")
	}
	if audiences != "" {
		cfg.APIAudiences = strings.Split(audiences, ",")
	}
	if certDir != "" {
		if cfg.ClientCAFile == "" {
			cfg.ClientCAFile = filepath.Join(certDir, "ca.crt")
		}
		if cfg.ServiceAccountSigningKeyFile == "" && len(cfg.ServiceAccountKeyFiles) == 0 {
			key, err := pki.EnsureKey(certDir, "sa")
			if err != nil {
				return err
			}
			cfg.ServiceAccountSigningKeyFile = key
		}
	}
	if cfg.KubeletClientCertFile == "" && certDir != "" {
		if _, err := pki.EnsureClient(certDir, "apiserver-kubelet-client", "apiserver-kubelet-client", "system:masters"); err != nil {
			return err
		}
		cfg.KubeletClientCertFile = filepath.Join(certDir, "apiserver-kubelet-client.crt")
		cfg.KubeletClientKeyFile = filepath.Join(certDir, "apiserver-kubelet-client.key")
	}
	log, err := component.NewLogger(logLevel, logFormat)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	cfg.Log = log.Named("apiserver")
	cfg.Registry = component.NewRegistry("apiserver")
	admin := component.NewAdmin(adminAddr, "apiserver", cfg.Registry, cfg.Log)
	admin.SetProfiling(*profiling)
	// Not ready until Run hands over its check (etcd reachable, caches synced).
	var ready atomic.Pointer[func(context.Context) error]
	admin.AddReadyz("etcd-and-caches", func(ctx context.Context) error {
		if check := ready.Load(); check != nil {
			return (*check)(ctx)
		}
		return errors.New("starting")
	})
	cfg.ReadyCheck = func(check func(context.Context) error) { ready.Store(&check) }

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var g component.Group
	g.Add(admin, component.RunnableFunc(func(ctx context.Context) error { return apiserver.Run(ctx, cfg) }))
	return g.Run(ctx)
}
