// Package bench measures Flotilla on this machine through its real binaries:
// an etcd process and an apiserver process, driven over gRPC like any client.
package bench

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"flotilla.io/sdk/client"
	"flotilla.io/sdk/pki"
)

// Proc is a child process with its log file.
type Proc struct {
	Name string
	Cmd  *exec.Cmd
}

// RSS is the process's resident set size in bytes.
func (p *Proc) RSS() (int64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for %s", p.Name)
}

// Stop kills the process.
func (p *Proc) Stop() {
	if p.Cmd.Process != nil {
		_ = p.Cmd.Process.Kill()
		_ = p.Cmd.Wait()
	}
}

func start(dir, name, bin string, args ...string) (*Proc, error) {
	cmd := exec.Command(bin, args...)
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	return &Proc{Name: name, Cmd: cmd}, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Cluster is etcd plus an apiserver, as processes.
type Cluster struct {
	Dir       string
	Etcd      *Proc
	APIServer *Proc
	Config    *client.Config
}

// StartCluster runs bin/etcd and bin/apiserver from binDir in a fresh
// directory.
func StartCluster(ctx context.Context, binDir string) (*Cluster, error) {
	dir, err := os.MkdirTemp("", "flotilla-bench-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: dir}
	cp, _ := freePort()
	pp, _ := freePort()
	ap, _ := freePort()
	adm, _ := freePort()
	clientURL := fmt.Sprintf("http://127.0.0.1:%d", cp)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", pp)
	if c.Etcd, err = start(dir, "etcd", filepath.Join(binDir, "etcd"),
		"--name", "bench", "--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", clientURL, "--advertise-client-urls", clientURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "bench="+peerURL, "--log-level", "error"); err != nil {
		return nil, err
	}
	ca, _, err := pki.EnsureServing(dir, "apiserver")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "tokens.csv"), []byte("bench-token,admin,1,system:masters\n"), 0o600); err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", ap)
	if c.APIServer, err = start(dir, "apiserver", filepath.Join(binDir, "apiserver"),
		"--etcd-servers", clientURL, "--bind-address", addr, "--admin-address", fmt.Sprintf("127.0.0.1:%d", adm),
		"--tls-cert-file", filepath.Join(dir, "apiserver.crt"), "--tls-private-key-file", filepath.Join(dir, "apiserver.key"),
		"--token-file", filepath.Join(dir, "tokens.csv"), "--log-level", "warn"); err != nil {
		c.Stop()
		return nil, err
	}
	c.Config = &client.Config{Server: addr, CAData: ca.CertPEM, Token: "bench-token"}
	deadline := time.Now().Add(30 * time.Second)
	for {
		cli, err := client.New(ctx, c.Config)
		if err == nil {
			_, err = cli.Dynamic().List(ctx, "Namespace", client.ListOptions{})
			cli.Close()
			if err == nil {
				return c, nil
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "apiserver.log"))
			c.Stop()
			return nil, fmt.Errorf("apiserver not ready: %v\n%s", err, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop ends both processes and removes the directory.
func (c *Cluster) Stop() {
	if c.APIServer != nil {
		c.APIServer.Stop()
	}
	if c.Etcd != nil {
		c.Etcd.Stop()
	}
	_ = os.RemoveAll(c.Dir)
}
