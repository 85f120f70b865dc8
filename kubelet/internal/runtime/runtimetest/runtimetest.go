// Package runtimetest gives integration tests a real containerd: the one
// named by $FLOTILLA_CONTAINERD, or a private one started with
// hack/containerd.sh in a temporary directory for the test binary. Tests
// skip, saying why, only when containerd truly cannot run here; under CI
// (CI=true) they fail instead.
package runtimetest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	testimages "flotilla.io/kubelet/internal/images"
)

var (
	once     sync.Once
	socket   string
	startErr error
	stopDir  string
)

// Socket returns the containerd socket for tests, starting a private
// containerd the first time when $FLOTILLA_CONTAINERD is unset.
func Socket(t testing.TB) string {
	t.Helper()
	once.Do(func() {
		if s := os.Getenv("FLOTILLA_CONTAINERD"); s != "" {
			socket = s
			return
		}
		if os.Geteuid() != 0 {
			startErr = fmt.Errorf("containerd needs root (running as uid %d)", os.Geteuid())
			return
		}
		script, err := findScript()
		if err != nil {
			startErr = err
			return
		}
		// Short path: unix socket paths are limited to 108 bytes.
		dir, err := os.MkdirTemp("", "flt-ctrd-")
		if err != nil {
			startErr = err
			return
		}
		out, err := exec.Command("bash", script, dir).CombinedOutput()
		if err != nil {
			startErr = fmt.Errorf("hack/containerd.sh: %v: %s", err, out)
			return
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		socket, stopDir = lines[len(lines)-1], dir
	})
	if startErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("containerd unavailable under CI: %v", startErr)
		}
		t.Skipf("containerd unavailable, skipping: %v", startErr)
	}
	return socket
}

// Stop ends the private containerd started by Socket, if any; call it from
// TestMain after m.Run.
func Stop() {
	if stopDir == "" {
		return
	}
	if script, err := findScript(); err == nil {
		_ = exec.Command("bash", script, "stop", stopDir).Run()
	}
	_ = os.RemoveAll(stopDir)
}

func findScript() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for ; dir != "/" && dir != "."; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			p := filepath.Join(dir, "hack", "containerd.sh")
			if _, err := os.Stat(p); err != nil {
				return "", err
			}
			return p, nil
		}
	}
	return "", fmt.Errorf("hack/containerd.sh not found above %s", dir)
}

// BusyboxImage is the name BusyboxTar gives its image.
const BusyboxImage = testimages.BusyboxRef

// BusyboxTar builds the OCI archive of busybox:1.35 from the host's static
// busybox (internal/images). It skips the test when there is none.
func BusyboxTar(t testing.TB) []byte {
	t.Helper()
	if _, err := os.Stat("/bin/busybox"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("no /bin/busybox under CI: .ci/run installs busybox-static")
		}
		t.Skip("no /bin/busybox on the host: apt-get install busybox-static")
	}
	img, err := testimages.Busybox("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "busybox.tar")
	if err := testimages.WriteArchive(dst, testimages.BusyboxRef, img); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// DropNamespace removes a test's images and, when nothing else is left in
// it, its containerd namespace (best effort; containers must be gone).
func DropNamespace(c *containerd.Client, ns string) {
	ctx := namespaces.WithNamespace(context.Background(), ns)
	imgs, _ := c.ImageService().List(ctx)
	for _, img := range imgs {
		_ = c.ImageService().Delete(ctx, img.Name, images.SynchronousDelete())
	}
	_ = c.NamespaceService().Delete(ctx, ns)
}
