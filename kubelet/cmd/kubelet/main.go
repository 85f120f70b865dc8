// Command kubelet is Flotilla's node agent. `kubelet log-driver ...` is the
// containerd log driver the kubelet hands to its containers' shims.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"flotilla.io/sdk/component"

	"flotilla.io/kubelet"
	"flotilla.io/kubelet/internal/logs"
	"flotilla.io/kubelet/internal/node"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == logs.DriverCommand {
		if err := logs.RunDriver(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "kubelet log-driver:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "kubelet:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	var (
		opts                         component.Options
		cfg                          kubelet.Config
		clusterDNS                   string
		systemReserved, kubeReserved string
	)
	fs := flag.NewFlagSet("kubelet", flag.ExitOnError)
	opts.AddFlags(fs, "127.0.0.1:10248")
	fs.StringVar(&cfg.NodeName, "node-name", "", "name of the Node (default: the hostname)")
	fs.StringVar(&cfg.RootDir, "root-dir", "/var/lib/flotilla/kubelet", "directory for pod files, logs and network state")
	fs.StringVar(&cfg.ContainerdAddress, "containerd", "/run/flotilla/containerd/containerd.sock", "containerd socket (a private containerd; see hack/containerd.sh)")
	fs.StringVar(&cfg.ContainerdNamespace, "containerd-namespace", "flotilla", "containerd namespace of this kubelet's containers")
	fs.StringVar(&cfg.PodCIDR, "pod-cidr", "", "this node's pod address range, e.g. 10.244.0.0/24 (empty: pods use the host network)")
	fs.StringVar(&cfg.BridgeName, "bridge-name", "flotilla0", "the node's pod bridge")
	fs.StringVar(&clusterDNS, "cluster-dns", "", "comma-separated cluster DNS server addresses for pods' resolv.conf")
	fs.StringVar(&cfg.ClusterDomain, "cluster-domain", "cluster.local", "cluster domain for pods' DNS search path")
	fs.IntVar(&cfg.Port, "port", 10250, "port of the kubelet API (logs, exec, image load; TLS)")
	fs.StringVar(&cfg.ClientCAFile, "client-ca-file", "", "CA that signs the client certificates the kubelet API accepts")
	authorized := fs.String("authorized-clients", "apiserver-kubelet-client", "comma-separated client certificate common names the kubelet API accepts (the apiserver's)")
	fs.StringVar(&cfg.TLSCertFile, "tls-cert-file", "", "kubelet API serving certificate")
	fs.StringVar(&cfg.TLSKeyFile, "tls-private-key-file", "", "kubelet API serving key")
	fs.StringVar(&cfg.NodeIP, "node-ip", "", "the node's InternalIP (default: the address of the default route's interface)")
	fs.StringVar(&systemReserved, "system-reserved", "", "resources reserved for the system, e.g. cpu=100m,memory=256Mi")
	fs.StringVar(&kubeReserved, "kube-reserved", "", "resources reserved for Flotilla's daemons, e.g. cpu=100m,memory=128Mi")
	fs.Int64Var(&cfg.MaxPods, "max-pods", 110, "pods this node runs at most")
	_ = fs.Parse(args)
	for _, n := range strings.Split(*authorized, ",") {
		if n = strings.TrimSpace(n); n != "" {
			cfg.AuthorizedClients = append(cfg.AuthorizedClients, n)
		}
	}

	var err error
	if cfg.SystemReserved, err = node.ParseReserved(systemReserved); err != nil {
		return err
	}
	if cfg.KubeReserved, err = node.ParseReserved(kubeReserved); err != nil {
		return err
	}
	for _, s := range strings.Split(clusterDNS, ",") {
		if s = strings.TrimSpace(s); s != "" {
			cfg.ClusterDNS = append(cfg.ClusterDNS, s)
		}
	}
	log, err := opts.Logger("kubelet")
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	if cfg.Client, err = opts.ClientConfig(); err != nil {
		return err
	}
	reg := component.NewRegistry("kubelet")
	cfg.Log, cfg.Registry = log, reg
	cfg.Admin = opts.NewAdmin("kubelet", reg, log)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return kubelet.Run(ctx, cfg)
}
