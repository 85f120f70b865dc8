// Package testserver runs a real etcd process and an in-process apiserver for
// integration tests of any component: the same code paths as production, on
// loopback ports and temporary directories.
package testserver

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Etcd is a single-member etcd server process.
type Etcd struct {
	Endpoint string
	dir      string
	cmd      *exec.Cmd
	args     []string
	bin      string
	exited   chan struct{}
}

// EtcdBinary finds the etcd to run: $FLOTILLA_ETCD, then bin/etcd at the
// workspace root (built by `make tools`), then etcd on PATH.
func EtcdBinary() (string, error) {
	if p := os.Getenv("FLOTILLA_ETCD"); p != "" {
		return p, nil
	}
	if dir, err := os.Getwd(); err == nil {
		for ; dir != "/" && dir != "."; dir = filepath.Dir(dir) {
			if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
				p := filepath.Join(dir, "bin", "etcd")
				if _, err := os.Stat(p); err == nil {
					return p, nil
				}
				break
			}
		}
	}
	if p, err := exec.LookPath("etcd"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("no etcd binary: run `make tools` (builds bin/etcd) or set FLOTILLA_ETCD")
}

// FreePort returns a loopback port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// StartEtcd starts etcd in a temporary directory; it is killed when the test
// ends.
func StartEtcd(t testing.TB) *Etcd {
	t.Helper()
	bin, err := EtcdBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	client, peer := FreePort(t), FreePort(t)
	clientURL := fmt.Sprintf("http://127.0.0.1:%d", client)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peer)
	e := &Etcd{Endpoint: clientURL, dir: dir, bin: bin, args: []string{
		"--name", "test", "--data-dir", filepath.Join(dir, "data"),
		"--listen-client-urls", clientURL, "--advertise-client-urls", clientURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "test=" + peerURL, "--log-level", "error",
		"--unsafe-no-fsync", // tests measure behaviour, not durability
	}}
	e.start(t)
	t.Cleanup(e.Stop)
	return e
}

func (e *Etcd) start(t testing.TB) {
	t.Helper()
	e.cmd = exec.Command(e.bin, e.args...)
	logf, err := os.OpenFile(filepath.Join(e.dir, "etcd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	e.cmd.Stdout, e.cmd.Stderr = logf, logf
	if err := e.cmd.Start(); err != nil {
		t.Fatalf("start etcd: %v", err)
	}
	e.exited = make(chan struct{})
	go func() { _ = e.cmd.Wait(); logf.Close(); close(e.exited) }()
	cli := e.Client(t)
	defer cli.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := cli.Get(ctx, "health")
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(e.dir, "etcd.log"))
			t.Fatalf("etcd did not become ready: %v\n%s", err, tail(string(log)))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Client returns a new etcd client; the caller closes it.
func (e *Etcd) Client(t testing.TB) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{e.Endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	return cli
}

// Stop kills etcd.
func (e *Etcd) Stop() {
	if e.cmd != nil && e.cmd.Process != nil {
		_ = e.cmd.Process.Kill()
		<-e.exited
	}
}

func tail(s string) string {
	lines := strings.Split(s, "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return strings.Join(lines, "\n")
}
