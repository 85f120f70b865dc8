// Package runtimetest gives integration tests a real containerd: the one
// named by $FLOTILLA_CONTAINERD, or a private one started with
// hack/containerd.sh in a temporary directory for the test binary. Tests
// skip, saying why, only when containerd truly cannot run here; under CI
// (CI=true) they fail instead.
package runtimetest

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
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
const BusyboxImage = "busybox:1.35"

// BusyboxTar builds an OCI image archive of the host's static busybox
// (Debian's busybox-static) with every applet linked in /bin. It skips the
// test when there is no static busybox.
func BusyboxTar(t testing.TB, name string) []byte {
	t.Helper()
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("no busybox on the host: apt-get install busybox-static")
	}
	bin, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	list, err := exec.Command(bb, "--list").Output()
	if err != nil {
		t.Fatalf("busybox --list: %v", err)
	}
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	now := time.Unix(0, 0)
	add := func(h *tar.Header, body []byte) {
		h.ModTime = now
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"bin/", "etc/", "tmp/", "proc/", "sys/", "dev/", "root/"} {
		add(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755}, nil)
	}
	add(&tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(bin))}, bin)
	for _, applet := range strings.Fields(string(list)) {
		if applet == "busybox" {
			continue
		}
		add(&tar.Header{Name: "bin/" + applet, Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777}, nil)
	}
	passwd := []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")
	add(&tar.Header{Name: "etc/passwd", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(passwd))}, passwd)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return ociArchive(t, name, layer.Bytes(), []string{"sh"})
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func ociArchive(t testing.TB, name string, layer []byte, cmd []string) []byte {
	t.Helper()
	config, _ := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux",
		"config": map[string]any{"Env": []string{"PATH=/bin"}, "Cmd": cmd, "WorkingDir": "/"},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{digest(layer)}},
	})
	desc := func(mt string, b []byte) map[string]any {
		return map[string]any{"mediaType": mt, "digest": digest(b), "size": len(b)}
	}
	manifest, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": desc("application/vnd.oci.image.config.v1+json", config),
		"layers": []any{desc("application/vnd.oci.image.layer.v1.tar", layer)},
	})
	md := desc("application/vnd.oci.image.manifest.v1+json", manifest)
	md["annotations"] = map[string]string{"io.containerd.image.name": name, "org.opencontainers.image.ref.name": name}
	md["platform"] = map[string]string{"architecture": "amd64", "os": "linux"}
	index, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []any{md}})
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	write := func(p string, b []byte) {
		if err := tw.WriteHeader(&tar.Header{Name: p, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	write("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`))
	write("index.json", index)
	for _, b := range [][]byte{config, manifest, layer} {
		write("blobs/sha256/"+strings.TrimPrefix(digest(b), "sha256:"), b)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}
