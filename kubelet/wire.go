package kubelet

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/containerd/containerd/v2/pkg/cio"
	"go.uber.org/zap"

	corev1 "flotilla.io/proto/flotilla/core/v1"

	"flotilla.io/sdk/client"
	"flotilla.io/sdk/component"
	"flotilla.io/sdk/informer"

	"flotilla.io/kubelet/internal/logs"
	"flotilla.io/kubelet/internal/network"
	"flotilla.io/kubelet/internal/pod"
	"flotilla.io/kubelet/internal/prober"
	"flotilla.io/kubelet/internal/runtime"
	"flotilla.io/kubelet/internal/server"
	"flotilla.io/kubelet/internal/stats"
	"flotilla.io/kubelet/internal/volume"
)

// parts are the node-local services the pod workers use.
type parts struct {
	network   pod.Network
	volumes   pod.Volumes
	prober    pod.Prober
	changes   <-chan string
	runnables []component.Runnable
	closers   []func()
}

func (p *parts) close() {
	for _, c := range p.closers {
		c()
	}
}

// logIO runs container output through the kubelet's log driver (CRI format,
// rotation); without a kubelet binary output goes raw to the file.
func logIO(kubeletBinary string) func(string) cio.Creator {
	if kubeletBinary == "" {
		return nil
	}
	return func(path string) cio.Creator {
		bin, args := logs.DriverArgs(kubeletBinary, path, logs.DefaultMaxSize, logs.DefaultMaxFiles)
		return cio.BinaryIO(bin, args)
	}
}

func wire(ctx context.Context, cfg Config, cli *client.Client, rt *runtime.Runtime, pods *informer.Informer[*corev1.Pod], log *zap.Logger) (*parts, error) {
	p := &parts{}
	p.volumes = volume.New(volume.Config{RootDir: cfg.RootDir, Client: cli, Log: log.Named("volume")})

	sp := stats.New(stats.Config{NodeName: cfg.NodeName, Pods: func() map[string]stats.PodRef {
		m := map[string]stats.PodRef{}
		for _, p := range pods.Store().List() {
			m[p.GetMetadata().GetUid()] = stats.PodRef{Namespace: p.GetMetadata().GetNamespace(), Name: p.GetMetadata().GetName()}
		}
		return m
	}})
	if err := cfg.Registry.Register(sp); err != nil {
		return nil, fmt.Errorf("stats metrics: %w", err)
	}
	p.runnables = append(p.runnables, component.RunnableFunc(sp.Run))

	if cfg.ClientCAFile != "" && cfg.Port > 0 {
		hosts := []string{cfg.NodeIP, cfg.NodeName, "127.0.0.1", "localhost"}
		if h, err := os.Hostname(); err == nil {
			hosts = append(hosts, h)
		}
		srv, err := server.New(server.Config{
			Address: fmt.Sprintf(":%d", cfg.Port), TLSCertFile: cfg.TLSCertFile, TLSKeyFile: cfg.TLSKeyFile,
			CertDir: filepath.Join(cfg.RootDir, "pki"), Hosts: hosts, ClientCAFile: cfg.ClientCAFile,
			AuthorizedClients: cfg.AuthorizedClients, Runtime: rt, Stats: sp, Log: log.Named("server"),
		})
		if err != nil {
			return nil, err
		}
		p.runnables = append(p.runnables, component.RunnableFunc(srv.Run))
	} else {
		log.Warn("no --client-ca-file: the kubelet API (logs, exec, image load) is not served")
	}

	if cfg.PodCIDR != "" {
		bridge := cfg.BridgeName
		if bridge == "" {
			bridge = "flotilla0"
		}
		nm, err := network.New(network.Config{
			NodeName: cfg.NodeName, BridgeName: bridge, PodCIDR: cfg.PodCIDR,
			StateDir: filepath.Join(cfg.RootDir, "network"), ClusterDNS: cfg.ClusterDNS, ClusterDomain: cfg.ClusterDomain,
			Log: log.Named("network"),
		})
		if err != nil {
			return nil, err
		}
		p.network = networkAdapter{nm}
		p.closers = append(p.closers, nm.Close)
		p.runnables = append(p.runnables, component.RunnableFunc(func(ctx context.Context) error {
			syncRoutes(ctx, cli, cfg.NodeName, nm, log)
			return nil
		}))
	} else {
		log.Warn("no --pod-cidr: pods use the host's network")
	}
	pm := prober.New(rt, log.Named("prober"))
	p.prober = proberAdapter{pm}
	p.changes = pm.Changes()
	return p, nil
}

type networkAdapter struct{ m *network.Manager }

func (n networkAdapter) Setup(ctx context.Context, pod *corev1.Pod) (string, string, error) {
	r, err := n.m.Setup(ctx, pod)
	return r.IP, r.NetNSPath, err
}

func (n networkAdapter) Teardown(ctx context.Context, pod *corev1.Pod) error {
	return n.m.Teardown(ctx, pod)
}

func (n networkAdapter) PodFiles(pod *corev1.Pod, ip, dir string) (string, string, string, error) {
	return n.m.PodFiles(pod, ip, dir)
}

// PodUIDs lists the pods holding an address, so addresses of pods deleted
// while the kubelet was away are released.
func (n networkAdapter) PodUIDs() ([]string, error) {
	ips, err := n.m.PodIPs()
	if err != nil {
		return nil, err
	}
	uids := make([]string, 0, len(ips))
	for uid := range ips {
		uids = append(uids, uid)
	}
	return uids, nil
}

type proberAdapter struct{ m *prober.Manager }

func (a proberAdapter) Update(pod *corev1.Pod, podIP string, started map[string]time.Time) {
	a.m.Update(pod, podIP, started)
}

func (a proberAdapter) Remove(uid string) { a.m.Remove(uid) }

func (a proberAdapter) Result(uid, container string) pod.ProbeResult {
	r := a.m.Result(uid, container)
	return pod.ProbeResult{Started: r.Started, Ready: r.Ready, Live: r.Live}
}

// syncRoutes keeps routes to the other nodes' podCIDRs every 10 s.
func syncRoutes(ctx context.Context, cli *client.Client, self string, nm *network.Manager, log *zap.Logger) {
	nodes := client.For[*corev1.Node](cli)
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		if l, err := nodes.ListAll(ctx, client.ListOptions{}); err == nil {
			peers := map[string]string{}
			for _, n := range l.Items {
				if n.GetMetadata().GetName() == self || n.GetSpec().GetPodCidr() == "" {
					continue
				}
				for _, a := range n.GetStatus().GetAddresses() {
					if a.GetType() == "InternalIP" {
						peers[n.GetSpec().GetPodCidr()] = a.GetAddress()
					}
				}
			}
			if err := nm.SyncRoutes(peers); err != nil {
				log.Warn("sync pod routes", zap.Error(err))
			}
		} else if ctx.Err() == nil {
			log.Debug("list nodes for routes", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
