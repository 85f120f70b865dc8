// Package helm checks the Helm chart's rendered manifests against a real
// Flotilla: every object must pass the apiserver's validation and defaulting
// through `flotctl apply --dry-run=server`, as a user's install would.
//
// `make helm-lint` renders charts/flotilla into a file and runs this test
// with FLOTILLA_HELM_RENDERED naming it; without it the test skips.
package helm

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// renderedEnv names the file holding `helm template` output.
const renderedEnv = "FLOTILLA_HELM_RENDERED"

func TestChartServerDryRun(t *testing.T) {
	rendered := os.Getenv(renderedEnv)
	if rendered == "" {
		t.Skipf("%s is not set: run `make helm-lint`, which renders charts/flotilla and runs this test", renderedEnv)
	}
	manifests, err := os.ReadFile(rendered)
	if err != nil {
		t.Fatal(err)
	}
	bin := binDir(t)
	cfg := startFlotilla(t, bin)

	flotctl := func(stdin []byte, args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, filepath.Join(bin, "flotctl"), append([]string{"--config", cfg}, args...)...)
		cmd.Stdin = bytes.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	// The chart's objects name their namespaces; those must exist first.
	for _, ns := range namespaces(manifests) {
		if out, err := flotctl(nil, "create", "namespace", ns); err != nil && !strings.Contains(out, "AlreadyExists") && !strings.Contains(out, "already exists") {
			t.Fatalf("create namespace %s: %v\n%s", ns, err, out)
		}
	}
	out, err := flotctl(manifests, "apply", "--dry-run=server", "-f", "-")
	t.Logf("flotctl apply --dry-run=server -f %s:\n%s", rendered, out)
	if err != nil {
		t.Fatalf("server-side validation failed: %v", err)
	}
	want := len(regexp.MustCompile(`(?m)^kind: `).FindAll(manifests, -1))
	got := strings.Count(out, "(server dry run)")
	if got != want {
		t.Fatalf("%d objects passed the server dry run, want all %d", got, want)
	}
	// Nothing was persisted: a dry run writes nothing.
	if out, err := flotctl(nil, "get", "deployments", "-A", "--no-headers"); err != nil || strings.Contains(out, "flotilla") {
		t.Fatalf("the dry run persisted objects (err %v):\n%s", err, out)
	}
}

// namespaces lists the distinct metadata.namespace values in the manifests.
func namespaces(manifests []byte) []string {
	seen := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^  namespace: "?([a-z0-9-]+)"?$`).FindAllSubmatch(manifests, -1) {
		seen[string(m[1])] = true
	}
	var out []string
	for ns := range seen {
		out = append(out, ns)
	}
	sort.Strings(out)
	return out
}

// binDir is the workspace's bin/ (make build), or $FLOTILLA_BIN.
func binDir(t *testing.T) string {
	if d := os.Getenv("FLOTILLA_BIN"); d != "" {
		return d
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for ; dir != "/"; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			break
		}
	}
	bin := filepath.Join(dir, "bin")
	for _, b := range []string{"etcd", "apiserver", "flotctl"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			t.Fatalf("%s: run `make build` first (or set FLOTILLA_BIN)", err)
		}
	}
	return bin
}

// startFlotilla runs bin/etcd and bin/apiserver on free loopback ports in a
// temporary directory, stopped when the test ends, and returns the path of
// an admin client config for flotctl.
func startFlotilla(t *testing.T, bin string) string {
	dir := t.TempDir()
	port := func() int {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port
	}
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", port())
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", port())
	run(t, dir, "etcd", filepath.Join(bin, "etcd"), "--name", "helm", "--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "helm="+peerURL, "--log-level", "error")
	const token = "helm-lint-admin"
	pki := filepath.Join(dir, "pki")
	if err := os.MkdirAll(pki, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pki, "tokens.csv"), []byte(token+",admin,admin,system:masters\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port())
	run(t, dir, "apiserver", filepath.Join(bin, "apiserver"), "--etcd-servers", etcdURL,
		"--bind-address", addr, "--admin-address", fmt.Sprintf("127.0.0.1:%d", port()),
		"--cert-dir", pki, "--token-file", filepath.Join(pki, "tokens.csv"), "--log-level", "warn")
	var ca []byte
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		var err error
		if ca, err = os.ReadFile(filepath.Join(pki, "ca.crt")); err == nil && len(ca) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("apiserver wrote no CA in 30s; log:\n%s", readLog(dir, "apiserver"))
		}
	}
	cfg := filepath.Join(dir, "config")
	body := fmt.Sprintf("server: %s\ncertificateAuthorityData: %s\ntoken: %s\n", addr, b64(ca), token)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		out, err := exec.Command(filepath.Join(bin, "flotctl"), "--config", cfg, "get", "namespaces").CombinedOutput()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("apiserver not answering after 30s: %v\n%s\napiserver log:\n%s", err, out, readLog(dir, "apiserver"))
		}
	}
	return cfg
}

func run(t *testing.T, dir, name, bin string, args ...string) {
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logf.Close()
	})
}

func readLog(dir, name string) string {
	b, _ := os.ReadFile(filepath.Join(dir, name+".log"))
	return string(b)
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
