// Package volume prepares a pod's volumes on the node: each becomes a host
// path the runtime bind-mounts into the containers. emptyDir (disk or a
// tmpfs for medium Memory), hostPath (with upstream's type checks), secret,
// configMap, downwardAPI and projected (written atomically with upstream's
// ..data symlink swap, so a re-Setup updates them in place), and
// persistentVolumeClaim bound to a hostPath or local PersistentVolume.
//
// Setup is idempotent: calling it again for a running pod refreshes the
// secret, configMap, downwardAPI and projected contents.
package volume

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"go.uber.org/zap"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	"flotilla.io/sdk/client"
)

// Config configures the volume manager.
type Config struct {
	// RootDir is the kubelet's root: volumes live in
	// RootDir/pods/<uid>/volumes/<volume name>.
	RootDir string
	// Client reads Secrets, ConfigMaps, PVCs, PVs and Nodes; nil limits the
	// manager to emptyDir, hostPath and downwardAPI.
	Client *client.Client
	Log    *zap.Logger
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Manager sets up and tears down pod volumes.
type Manager struct {
	cfg    Config
	log    *zap.Logger
	tokens tokens
}

func (m *Manager) now() time.Time {
	if m.cfg.Now != nil {
		return m.cfg.Now()
	}
	return time.Now()
}

// New returns a Manager.
func New(cfg Config) *Manager {
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	return &Manager{cfg: cfg, log: cfg.Log}
}

// PodDir is RootDir/pods/<uid>.
func (m *Manager) PodDir(uid string) string {
	return filepath.Join(m.cfg.RootDir, "pods", uid)
}

func (m *Manager) volumesDir(uid string) string {
	return filepath.Join(m.PodDir(uid), "volumes")
}

// Setup prepares every volume of the pod and returns volume name -> host path.
func (m *Manager) Setup(ctx context.Context, pod *corev1.Pod) (map[string]string, error) {
	uid := pod.GetMetadata().GetUid()
	if uid == "" {
		return nil, fmt.Errorf("volume: pod has no uid")
	}
	out := map[string]string{}
	var errs []error
	for _, v := range pod.GetSpec().GetVolumes() {
		p, err := m.setupOne(ctx, pod, v)
		if err != nil {
			errs = append(errs, fmt.Errorf("volume %q: %w", v.GetName(), err))
			continue
		}
		out[v.GetName()] = p
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

func (m *Manager) setupOne(ctx context.Context, pod *corev1.Pod, v *corev1.Volume) (string, error) {
	if v.GetName() == "" || v.GetName() == "." || v.GetName() == ".." || filepath.Base(v.GetName()) != v.GetName() {
		return "", fmt.Errorf("invalid volume name")
	}
	dir := filepath.Join(m.volumesDir(pod.GetMetadata().GetUid()), v.GetName())
	switch {
	case v.GetHostPath() != nil:
		return v.GetHostPath().GetPath(), checkHostPath(v.GetHostPath())
	case v.GetEmptyDir() != nil:
		return dir, m.setupEmptyDir(pod, v.GetEmptyDir(), dir)
	case v.GetSecret() != nil:
		return dir, m.setupSecret(ctx, pod, v.GetSecret(), dir)
	case v.GetConfigMap() != nil:
		return dir, m.setupConfigMap(ctx, pod, v.GetConfigMap(), dir)
	case v.GetDownwardApi() != nil:
		return dir, m.setupDownwardAPI(ctx, pod, v.GetDownwardApi(), dir)
	case v.GetProjected() != nil:
		return dir, m.setupProjected(ctx, pod, v.GetProjected(), dir)
	case v.GetPersistentVolumeClaim() != nil:
		return m.pvcPath(ctx, pod, v.GetPersistentVolumeClaim())
	case v.GetNfs() != nil:
		return "", fmt.Errorf("nfs volumes are not supported")
	case v.GetCsi() != nil:
		return "", fmt.Errorf("csi volumes are not supported")
	case v.GetEphemeral() != nil:
		return "", fmt.Errorf("ephemeral volumes are not supported")
	case v.GetImage() != nil:
		return "", fmt.Errorf("image volumes are not supported")
	default:
		// No source at all: upstream's deprecated default, an emptyDir.
		return dir, m.setupEmptyDir(pod, &corev1.EmptyDirVolumeSource{}, dir)
	}
}

// Teardown unmounts the pod's tmpfs volumes and removes its volume
// directory. hostPath and persistent volumes live elsewhere and are left
// alone. It needs only metadata.uid and is idempotent.
func (m *Manager) Teardown(ctx context.Context, pod *corev1.Pod) error {
	uid := pod.GetMetadata().GetUid()
	if uid == "" || filepath.Base(uid) != uid {
		return fmt.Errorf("volume: pod has no valid uid")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	m.forgetTokens(uid)
	dir := m.volumesDir(uid)
	mounts, err := mountsUnder(dir)
	if err != nil {
		return fmt.Errorf("volume: %w", err)
	}
	// Deepest first.
	sort.Sort(sort.Reverse(sort.StringSlice(mounts)))
	for _, mp := range mounts {
		if err := unmount(mp); err != nil {
			return fmt.Errorf("volume: unmount %s: %w", mp, err)
		}
	}
	// Refuse to delete through a mount that is still there.
	if left, err := mountsUnder(dir); err != nil || len(left) > 0 {
		return fmt.Errorf("volume: %s still has mounts %v (%v)", dir, left, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("volume: %w", err)
	}
	return nil
}
