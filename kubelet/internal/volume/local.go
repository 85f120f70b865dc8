package volume

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/api/resource"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	"flotilla.io/sdk/client"
)

// setupEmptyDir makes the directory (world-writable, as upstream, so any
// container user can write) or, for medium Memory, mounts a tmpfs on it
// sized by sizeLimit.
func (m *Manager) setupEmptyDir(pod *corev1.Pod, src *corev1.EmptyDirVolumeSource, dir string) error {
	perm := os.FileMode(0o777)
	if src.Mode != nil {
		perm = os.FileMode(src.GetMode()) & os.ModePerm
	}
	switch medium := src.GetMedium(); medium {
	case "":
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return err
		}
	case "Memory":
		opts := "mode=" + strconv.FormatUint(uint64(perm), 8)
		if q := src.GetSizeLimit().GetString_(); q != "" {
			size, err := resource.ParseQuantity(q)
			if err != nil {
				return fmt.Errorf("sizeLimit %q: %w", q, err)
			}
			opts += ",size=" + strconv.FormatInt(size.Value(), 10)
		}
		if err := mountTmpfs(dir, opts); err != nil {
			return err
		}
	default:
		return fmt.Errorf("emptyDir medium %q is not supported", medium)
	}
	// Chmod, not MkdirAll's mode: the umask would mask it.
	if err := os.Chmod(dir, perm); err != nil {
		return err
	}
	if gid := fsGroup(pod); gid >= 0 {
		if err := os.Chown(dir, -1, gid); err != nil {
			return err
		}
		if err := os.Chmod(dir, perm|0o070|os.ModeSetgid); err != nil {
			return err
		}
	}
	return nil
}

// mountTmpfs makes dir and mounts a tmpfs on it unless one is there.
func mountTmpfs(dir, opts string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	mounted, err := isMountPoint(dir)
	if err != nil || mounted {
		return err
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		return fmt.Errorf("mount tmpfs on %s: %w", dir, err)
	}
	return nil
}

// fsGroup is the pod's fsGroup, or -1.
func fsGroup(pod *corev1.Pod) int {
	sc := pod.GetSpec().GetSecurityContext()
	if sc == nil || sc.FsGroup == nil {
		return -1
	}
	return int(sc.GetFsGroup())
}

// checkHostPath applies the hostPath type: DirectoryOrCreate and
// FileOrCreate create what is missing; Directory, File, Socket, CharDevice
// and BlockDevice require it to exist with that type; "" checks nothing.
func checkHostPath(src *corev1.HostPathVolumeSource) error {
	p := src.GetPath()
	if !filepath.IsAbs(p) {
		return fmt.Errorf("hostPath %q is not absolute", p)
	}
	want := src.GetType()
	if want == "" {
		return nil
	}
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		switch want {
		case "DirectoryOrCreate":
			if err := os.MkdirAll(p, 0o755); err != nil {
				return fmt.Errorf("create hostPath directory: %w", err)
			}
			return nil
		case "FileOrCreate":
			// As upstream: the parent directory must exist.
			f, err := os.OpenFile(p, os.O_CREATE|os.O_RDONLY, 0o644)
			if err != nil {
				return fmt.Errorf("create hostPath file: %w", err)
			}
			return f.Close()
		}
		return fmt.Errorf("hostPath type check failed: %s does not exist (type %s)", p, want)
	}
	if err != nil {
		return fmt.Errorf("hostPath: %w", err)
	}
	mode := fi.Mode()
	ok := false
	switch want {
	case "DirectoryOrCreate", "Directory":
		ok = mode.IsDir()
	case "FileOrCreate", "File":
		ok = mode.IsRegular()
	case "Socket":
		ok = mode&fs.ModeSocket != 0
	case "CharDevice":
		ok = mode&fs.ModeDevice != 0 && mode&fs.ModeCharDevice != 0
	case "BlockDevice":
		ok = mode&fs.ModeDevice != 0 && mode&fs.ModeCharDevice == 0
	default:
		return fmt.Errorf("hostPath type %q is not supported", want)
	}
	if !ok {
		return fmt.Errorf("hostPath type check failed: %s is not a %s", p, want)
	}
	return nil
}

// pvcPath resolves a claim to its bound PersistentVolume's host path
// (hostPath or local sources only).
func (m *Manager) pvcPath(ctx context.Context, pod *corev1.Pod, src *corev1.PersistentVolumeClaimVolumeSource) (string, error) {
	if m.cfg.Client == nil {
		return "", fmt.Errorf("no API client")
	}
	ns := pod.GetMetadata().GetNamespace()
	pvc, err := client.For[*corev1.PersistentVolumeClaim](m.cfg.Client).Get(ctx, ns, src.GetClaimName())
	if err != nil {
		return "", fmt.Errorf("persistentVolumeClaim %q: %w", src.GetClaimName(), err)
	}
	pvName := pvc.GetSpec().GetVolumeName()
	if pvName == "" || pvc.GetStatus().GetPhase() != "Bound" {
		return "", fmt.Errorf("persistentVolumeClaim %q is not bound (phase %q)", src.GetClaimName(), pvc.GetStatus().GetPhase())
	}
	pv, err := client.For[*corev1.PersistentVolume](m.cfg.Client).Get(ctx, "", pvName)
	if err != nil {
		return "", fmt.Errorf("persistentVolume %q: %w", pvName, err)
	}
	if ref := pv.GetSpec().GetClaimRef(); ref != nil && ref.GetUid() != "" && ref.GetUid() != pvc.GetMetadata().GetUid() {
		return "", fmt.Errorf("persistentVolume %q is bound to another claim", pvName)
	}
	switch {
	case pv.GetSpec().GetHostPath() != nil:
		hp := pv.GetSpec().GetHostPath()
		return hp.GetPath(), checkHostPath(hp)
	case pv.GetSpec().GetLocal() != nil:
		p := pv.GetSpec().GetLocal().GetPath()
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("local volume %q: %w", pvName, err)
		}
		return p, nil
	}
	return "", fmt.Errorf("persistentVolume %q: only hostPath and local sources are supported", pvName)
}

// mountsUnder lists the mount points at or below dir.
func mountsUnder(dir string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	prefix := filepath.Clean(dir)
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMountPath(fields[4])
		if mp == prefix || strings.HasPrefix(mp, prefix+"/") {
			out = append(out, mp)
		}
	}
	return out, sc.Err()
}

// unescapeMountPath undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountPath(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isMountPoint(dir string) (bool, error) {
	mps, err := mountsUnder(dir)
	if err != nil {
		return false, err
	}
	for _, mp := range mps {
		if mp == filepath.Clean(dir) {
			return true, nil
		}
	}
	return false, nil
}

func unmount(dir string) error {
	err := unix.Unmount(dir, 0)
	if errors.Is(err, unix.EBUSY) {
		err = unix.Unmount(dir, unix.MNT_DETACH)
	}
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
		return nil // not mounted (any more)
	}
	return err
}
