// Package kubelet is the node agent: it registers its Node and keeps it
// alive, watches the pods bound to it and makes them true on the machine
// through containerd. Run is the whole daemon; cmd/kubelet only parses
// flags.
package kubelet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/api/resource"

	corev1 "flotilla.io/proto/flotilla/core/v1"

	"flotilla.io/sdk/client"
	"flotilla.io/sdk/component"
	"flotilla.io/sdk/events"
	"flotilla.io/sdk/informer"

	"flotilla.io/kubelet/internal/node"
	"flotilla.io/kubelet/internal/pod"
	"flotilla.io/kubelet/internal/runtime"
)

// Config is what Run needs.
type Config struct {
	Client *client.Config
	// NodeName names the Node (default: the hostname).
	NodeName string
	// RootDir holds pod files, logs and network state.
	RootDir string
	// ContainerdAddress is containerd's socket; ContainerdNamespace the
	// namespace this kubelet's containers live in (default "flotilla").
	ContainerdAddress   string
	ContainerdNamespace string
	PodCIDR             string
	BridgeName          string
	ClusterDNS          []string
	ClusterDomain       string
	// Port serves the kubelet API (logs, exec, image load) over TLS.
	Port         int
	ClientCAFile string
	// AuthorizedClients are the client certificate names the kubelet API
	// accepts (default: the apiserver's, apiserver-kubelet-client).
	AuthorizedClients       []string
	TLSCertFile, TLSKeyFile string
	NodeIP                  string
	SystemReserved          map[string]resource.Quantity
	KubeReserved            map[string]resource.Quantity
	MaxPods                 int64
	// KubeletBinary runs the container log driver (default: this binary).
	KubeletBinary string
	Log           *zap.Logger
	Registry      *prometheus.Registry
	// Admin, when set, is served alongside.
	Admin *component.Admin
	// Ready, when set, is called once the node is registered and the pod
	// cache synced.
	Ready func()
}

func (cfg *Config) defaults() error {
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.NodeName == "" {
		h, err := os.Hostname()
		if err != nil {
			return err
		}
		cfg.NodeName = h
	}
	if cfg.RootDir == "" {
		cfg.RootDir = "/var/lib/flotilla/kubelet"
	}
	if cfg.ContainerdNamespace == "" {
		cfg.ContainerdNamespace = "flotilla"
	}
	if cfg.ContainerdAddress == "" {
		return errors.New("no containerd socket (--containerd)")
	}
	if cfg.NodeIP == "" {
		cfg.NodeIP = node.DefaultNodeIP()
	}
	if cfg.Port == 0 {
		cfg.Port = 10250
	}
	if cfg.MaxPods == 0 {
		cfg.MaxPods = 110
	}
	if cfg.ClusterDomain == "" {
		cfg.ClusterDomain = "cluster.local"
	}
	if cfg.KubeletBinary == "" {
		if exe, err := os.Executable(); err == nil {
			cfg.KubeletBinary = exe
		}
	}
	abs, err := filepath.Abs(cfg.RootDir)
	if err != nil {
		return err
	}
	cfg.RootDir = abs
	return os.MkdirAll(cfg.RootDir, 0o750)
}

// Run runs the kubelet until ctx ends. Stopping it leaves the pods'
// containers running; the next Run adopts them.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.defaults(); err != nil {
		return err
	}
	log := cfg.Log.With(zap.String("node", cfg.NodeName))
	cli, err := client.New(ctx, cfg.Client)
	if err != nil {
		return err
	}
	defer cli.Close()

	var pods *pod.Manager // set below; containerd events may arrive first
	podsReady := make(chan struct{})
	rt, err := runtime.New(ctx, runtime.Config{
		Address: cfg.ContainerdAddress, Namespace: cfg.ContainerdNamespace, NodeName: cfg.NodeName,
		LogIO: logIO(cfg.KubeletBinary),
		OnExit: func(uid string) {
			<-podsReady
			pods.Kick(uid)
		},
		OnReconnect: func() {
			<-podsReady
			pods.KickAll()
		},
		Log: log.Named("runtime"),
	})
	if err != nil {
		return err
	}
	defer rt.Close()

	capacity := node.Capacity(cfg.RootDir, cfg.MaxPods)
	reserved := node.AddReserved(cfg.SystemReserved, cfg.KubeReserved)
	agent := node.New(node.Config{
		Name: cfg.NodeName, Client: cli, Runtime: nodeRuntime{rt}, RootDir: cfg.RootDir,
		PodCIDR: cfg.PodCIDR, NodeIP: cfg.NodeIP, Port: int32(cfg.Port), MaxPods: cfg.MaxPods,
		Reserved: reserved, Capacity: capacity, Log: log.Named("node"),
	})
	if err := agent.Register(ctx); err != nil {
		return fmt.Errorf("register node %s: %w", cfg.NodeName, err)
	}

	podInformer := informer.New[*corev1.Pod](cli, informer.Options{
		FieldSelector: "spec.nodeName=" + cfg.NodeName, Logger: log.Named("informer"),
	})
	broadcaster := events.NewBroadcaster(events.Config{Client: cli, Component: "kubelet", Log: log, Registry: cfg.Registry})
	parts, err := wire(ctx, cfg, cli, rt, podInformer, log)
	if err != nil {
		return err
	}
	defer parts.close()
	var memCapacity int64
	if q, ok := capacity["memory"]; ok {
		memCapacity = q.Value()
	}
	pods = pod.New(pod.Config{
		NodeName: cfg.NodeName, RootDir: cfg.RootDir, HostIP: cfg.NodeIP, Client: cli,
		Pods: podInformer, Runtime: rt, Network: parts.network, Volumes: parts.volumes, Prober: parts.prober,
		Recorder: broadcaster.Recorder(), Allocatable: node.Allocatable(capacity, reserved), MemoryCapacity: memCapacity,
		Log: log.Named("pods"), Registry: cfg.Registry,
	})
	close(podsReady)
	if parts.changes != nil {
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case uid := <-parts.changes:
					pods.Kick(uid)
				}
			}
		}()
	}

	var g component.Group
	if cfg.Admin != nil {
		cfg.Admin.AddReadyz("pods-synced", func(context.Context) error {
			if !podInformer.HasSynced() {
				return errors.New("pod cache not synced")
			}
			return nil
		})
		cfg.Admin.AddHealthz("containerd", func(ctx context.Context) error {
			_, err := rt.Version(ctx)
			return err
		})
		g.Add(cfg.Admin)
	}
	g.Add(podInformer, broadcaster, agent, component.RunnableFunc(rt.Watch), pods)
	g.Add(parts.runnables...)
	if cfg.Ready != nil {
		g.Add(component.RunnableFunc(func(ctx context.Context) error {
			if informer.WaitForSync(ctx, podInformer) {
				cfg.Ready()
			}
			return nil
		}))
	}
	log.Info("kubelet starting", zap.String("containerd", cfg.ContainerdAddress), zap.String("namespace", cfg.ContainerdNamespace),
		zap.String("rootDir", cfg.RootDir), zap.String("nodeIP", cfg.NodeIP))
	return g.Run(ctx)
}

// nodeRuntime adapts the runtime's image list to the node agent.
type nodeRuntime struct{ rt *runtime.Runtime }

func (n nodeRuntime) Version(ctx context.Context) (string, error) { return n.rt.Version(ctx) }

func (n nodeRuntime) Images(ctx context.Context) ([]node.Image, error) {
	imgs, err := n.rt.Images(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]node.Image, len(imgs))
	for i, im := range imgs {
		out[i] = node.Image{Names: im.Names, Size: im.Size}
	}
	return out, nil
}
