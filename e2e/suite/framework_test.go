// Package suite is Flotilla's end-to-end suite: it drives a running cluster
// (the local `make up NODES=2` one or the compose one) through the API and
// checks what users see: pods, workloads, services, secrets, node loss and
// control-plane restarts.
//
// It runs only with FLOTILLA_E2E=1 (`make e2e`); `make test` skips it.
// Environment:
//
//	FLOTILLA_CONFIG          client config (default $HOME/.flotilla/config)
//	FLOTILLA_E2E_NODES       node names, comma separated (default: every Ready node)
//	FLOTILLA_E2E_NODE_COUNT  fail at once unless this many nodes are Ready
//	FLOTILLA_E2E_CLUSTER     local (make up) or compose: how nodes are stopped
//	                         and daemons restarted (default: local when
//	                         FLOTILLA_E2E_STATE is set, else none)
//	FLOTILLA_E2E_STATE       the local cluster's state dir (pids/, logs/)
//	FLOTILLA_E2E_NODE_GRACE  the controller-manager's --node-monitor-grace-period
//	                         (default: read from the running daemon, else 50s)
//	FLOTILLA_BIN             where flotctl is (default: the workspace's bin/)
package suite

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"flotilla.io/proto/codec"
	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
	"flotilla.io/proto/kind"
	"flotilla.io/proto/object"
	"flotilla.io/sdk/client"
)

const enableEnv = "FLOTILLA_E2E"

// Images every test cluster has without a registry (make up and the node
// image import them).
const (
	busybox    = "busybox:1.35"
	testserver = "flotilla/testserver:latest"
)

// suite is what every test shares, set up once.
var suite struct {
	once    sync.Once
	err     error
	cfgPath string
	client  *client.Client
	nodes   []string
	cluster Cluster
	flotctl string
}

// env is one test's view: a client and its own namespace, deleted when the
// test ends.
type env struct {
	t   *testing.T
	ctx context.Context
	c   *client.Client
	ns  string
}

// setup skips unless the suite is enabled, connects once, and makes the
// test's namespace.
func setup(t *testing.T) *env {
	t.Helper()
	if os.Getenv(enableEnv) == "" {
		t.Skipf("end-to-end test: it needs a running cluster; run `make e2e` (or `make e2e-local`), or set %s=1 with FLOTILLA_CONFIG pointing at a cluster", enableEnv)
	}
	suite.once.Do(connect)
	if suite.err != nil {
		t.Fatalf("e2e setup: %v", suite.err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	e := &env{t: t, ctx: ctx, c: suite.client, ns: namespaceFor(t.Name())}
	ns := &corev1.Namespace{Metadata: &metav1.ObjectMeta{Name: e.ns, Labels: map[string]string{"flotilla.io/e2e": "true"}}}
	if _, err := client.For[*corev1.Namespace](e.c).Create(ctx, ns); err != nil {
		t.Fatalf("create namespace %s: %v", e.ns, err)
	}
	t.Cleanup(func() { e.deleteNamespace() })
	return e
}

func namespaceFor(test string) string {
	name := strings.ToLower(regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(test, "-"))
	name = strings.Trim(strings.TrimPrefix(name, "test"), "-")
	if len(name) > 40 {
		name = name[:40]
	}
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return "e2e-" + strings.Trim(name, "-") + "-" + hex.EncodeToString(b)
}

// deleteNamespace deletes the test's namespace and waits (bounded) until the
// namespace controller has emptied and removed it.
func (e *env) deleteNamespace() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns := client.For[*corev1.Namespace](e.c)
	if err := ns.Delete(ctx, "", e.ns, client.DeleteOptions{}); err != nil && !client.IsNotFound(err) {
		e.t.Errorf("delete namespace %s: %v", e.ns, err)
		return
	}
	for ctx.Err() == nil {
		if _, err := ns.Get(ctx, "", e.ns); client.IsNotFound(err) {
			return
		}
		time.Sleep(time.Second)
	}
	e.t.Logf("namespace %s still terminating after 2m; left for the namespace controller", e.ns)
}

func connect() {
	suite.cfgPath = client.ResolvePath("")
	cfg, err := client.LoadFile(suite.cfgPath)
	if err != nil {
		suite.err = fmt.Errorf("%w (point FLOTILLA_CONFIG at the cluster's client config)", err)
		return
	}
	suite.client, err = client.New(context.Background(), cfg)
	if err != nil {
		suite.err = err
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ready, err := readyNodes(ctx, suite.client)
	if err != nil {
		suite.err = fmt.Errorf("list nodes at %s: %w", cfg.Server, err)
		return
	}
	if v := os.Getenv("FLOTILLA_E2E_NODES"); v != "" {
		suite.nodes = strings.Split(v, ",")
		for _, n := range suite.nodes {
			if !slices.Contains(ready, n) {
				suite.err = fmt.Errorf("FLOTILLA_E2E_NODES names %s, which is not a Ready node (Ready: %v)", n, ready)
				return
			}
		}
	} else {
		suite.nodes = ready
	}
	if v := os.Getenv("FLOTILLA_E2E_NODE_COUNT"); v != "" {
		if n, _ := strconv.Atoi(v); len(suite.nodes) != n {
			suite.err = fmt.Errorf("FLOTILLA_E2E_NODE_COUNT=%s but %d nodes are Ready: %v", v, len(suite.nodes), suite.nodes)
			return
		}
	}
	if len(suite.nodes) == 0 {
		suite.err = fmt.Errorf("no Ready nodes at %s", cfg.Server)
		return
	}
	suite.flotctl = findFlotctl()
	suite.cluster, suite.err = newCluster()
}

func readyNodes(ctx context.Context, c *client.Client) ([]string, error) {
	list, err := client.For[*corev1.Node](c).List(ctx, client.ListOptions{})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range list.Items {
		if nodeReady(n) {
			out = append(out, n.GetMetadata().GetName())
		}
	}
	slices.Sort(out)
	return out, nil
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.GetStatus().GetConditions() {
		if c.GetType() == "Ready" {
			return c.GetStatus() == "True"
		}
	}
	return false
}

func findFlotctl() string {
	if d := os.Getenv("FLOTILLA_BIN"); d != "" {
		return filepath.Join(d, "flotctl")
	}
	if dir, err := os.Getwd(); err == nil {
		for ; dir != "/"; dir = filepath.Dir(dir) {
			if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
				if p := filepath.Join(dir, "bin", "flotctl"); fileExists(p) {
					return p
				}
				break
			}
		}
	}
	if p, err := exec.LookPath("flotctl"); err == nil {
		return p
	}
	return "flotctl"
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// create decodes an upstream YAML manifest (fmt-formatted with args),
// places it in the test's namespace and creates it.
func (e *env) create(manifest string, args ...any) proto.Message {
	e.t.Helper()
	obj, err := codec.Unmarshal([]byte(fmt.Sprintf(manifest, args...)))
	if err != nil {
		e.t.Fatalf("decode manifest: %v\n%s", err, fmt.Sprintf(manifest, args...))
	}
	if info, ok := kind.ForMessage(obj); ok && info.Namespaced {
		if md := object.Meta(obj); md.GetNamespace() == "" {
			md.Namespace = e.ns
		}
	}
	out, err := e.c.Dynamic().Create(e.ctx, obj)
	if err != nil {
		e.t.Fatalf("create: %v", err)
	}
	return out
}

// eventually polls check every interval until it reports done, failing the
// test after timeout with what check last said.
func (e *env) eventually(what string, timeout time.Duration, check func() (done bool, state string, err error)) time.Duration {
	e.t.Helper()
	start := time.Now()
	var state string
	var lastErr error
	for {
		done, s, err := check()
		if err == nil && done {
			return time.Since(start)
		}
		if s != "" {
			state = s
		}
		lastErr = err
		if time.Since(start) > timeout {
			e.t.Fatalf("%s: not done after %v; last state: %s; last error: %v", what, timeout, state, lastErr)
		}
		select {
		case <-e.ctx.Done():
			e.t.Fatalf("%s: %v", what, e.ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (e *env) pods(selector string) []*corev1.Pod {
	e.t.Helper()
	l, err := client.For[*corev1.Pod](e.c).List(e.ctx, client.ListOptions{Namespace: e.ns, LabelSelector: selector})
	if err != nil {
		e.t.Fatalf("list pods %q: %v", selector, err)
	}
	return l.Items
}

func (e *env) pod(name string) (*corev1.Pod, error) {
	return client.For[*corev1.Pod](e.c).Get(e.ctx, e.ns, name)
}

// podFinished waits for a pod to reach Succeeded or Failed and returns it.
func (e *env) podFinished(name string, timeout time.Duration) *corev1.Pod {
	e.t.Helper()
	var p *corev1.Pod
	e.eventually("pod "+name+" finishes", timeout, func() (bool, string, error) {
		var err error
		if p, err = e.pod(name); err != nil {
			return false, "", err
		}
		ph := p.GetStatus().GetPhase()
		return ph == "Succeeded" || ph == "Failed", describePod(p), nil
	})
	return p
}

// podSucceeds waits for a pod to succeed, failing with its logs and hint
// otherwise.
func (e *env) podSucceeds(name string, timeout time.Duration, hint string) {
	e.t.Helper()
	p := e.podFinished(name, timeout)
	if p.GetStatus().GetPhase() != "Succeeded" {
		e.t.Fatalf("pod %s failed: %s\nlogs:\n%s\n%s", name, describePod(p), e.logs(name), hint)
	}
}

func podReady(p *corev1.Pod) bool {
	if p.GetMetadata().GetDeletionTimestamp() != nil {
		return false
	}
	for _, c := range p.GetStatus().GetConditions() {
		if c.GetType() == "Ready" {
			return c.GetStatus() == "True"
		}
	}
	return false
}

func describePod(p *corev1.Pod) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s phase=%s node=%s ready=%v", p.GetMetadata().GetName(), p.GetStatus().GetPhase(), p.GetSpec().GetNodeName(), podReady(p))
	for _, c := range p.GetStatus().GetConditions() {
		if c.GetType() == "PodScheduled" && c.GetStatus() != "True" {
			fmt.Fprintf(&b, " unschedulable=%q", c.GetMessage())
		}
	}
	if m := p.GetStatus().GetMessage(); m != "" {
		fmt.Fprintf(&b, " message=%q", m)
	}
	for _, cs := range p.GetStatus().GetContainerStatuses() {
		st := cs.GetState()
		switch {
		case st.GetWaiting() != nil:
			fmt.Fprintf(&b, " [%s waiting %s %s]", cs.GetName(), st.GetWaiting().GetReason(), st.GetWaiting().GetMessage())
		case st.GetTerminated() != nil:
			fmt.Fprintf(&b, " [%s exited %d %s]", cs.GetName(), st.GetTerminated().GetExitCode(), st.GetTerminated().GetReason())
		case st.GetRunning() != nil:
			fmt.Fprintf(&b, " [%s running, restarts %d]", cs.GetName(), cs.GetRestartCount())
		}
	}
	return b.String()
}

// logs fetches a pod's logs through flotctl (the kubelet API behind the
// apiserver), or says why it could not.
func (e *env) logs(pod string) string {
	out, err := e.flotctl("logs", "-n", e.ns, pod)
	if err != nil {
		return fmt.Sprintf("(flotctl logs: %v: %s)", err, out)
	}
	return out
}

func (e *env) flotctl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, suite.flotctl, append([]string{"--config", suite.cfgPath}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// needNodes fails the test unless the cluster has at least n nodes.
func (e *env) needNodes(n int) {
	e.t.Helper()
	if len(suite.nodes) < n {
		e.t.Fatalf("this test needs %d nodes, the cluster has %d (%v): run it against `make up NODES=2` or the compose cluster", n, len(suite.nodes), suite.nodes)
	}
}

// needCluster fails the test unless a cluster driver can disrupt the cluster.
func (e *env) needCluster() Cluster {
	e.t.Helper()
	if suite.cluster == nil {
		e.t.Fatalf("this test stops nodes or restarts daemons: set FLOTILLA_E2E_CLUSTER=local (with FLOTILLA_E2E_STATE) or compose")
	}
	return suite.cluster
}

func objectMeta(namespace, name string) *metav1.ObjectMeta {
	return &metav1.ObjectMeta{Namespace: namespace, Name: name}
}
