package suite

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	"flotilla.io/sdk/client"
)

// TestServiceBehaviour checks, on real pods, what users rely on from a
// Service beyond reaching it: even balancing over the ready backends,
// ClientIP affinity, a backend reaching its own Service (hairpin), a
// Service without endpoints refused at once, a deleted backend dropped
// within a second, and a NodePort answering on the node's address.
func TestServiceBehaviour(t *testing.T) {
	t.Parallel()
	e := setup(t)
	// Backends answer their pod name (busybox httpd), so the client sees
	// which one served each request; busybox also lets them run wget for
	// the hairpin check.
	e.create(`
apiVersion: apps/v1
kind: Deployment
metadata: {name: echo}
spec:
  replicas: 2
  selector: {matchLabels: {app: echo}}
  template:
    metadata: {labels: {app: echo}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: httpd
        image: %s
        command: [sh, -c, 'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www']
        readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
        resources: %s
`, busybox, small)
	svc := e.create(`
apiVersion: v1
kind: Service
metadata: {name: echo}
spec:
  type: NodePort
  selector: {app: echo}
  ports: [{port: 80, targetPort: 8080}]
`).(*corev1.Service)
	sticky := e.create(`
apiVersion: v1
kind: Service
metadata: {name: sticky}
spec:
  selector: {app: echo}
  sessionAffinity: ClientIP
  ports: [{port: 80, targetPort: 8080}]
`).(*corev1.Service)
	nobody := e.create(`
apiVersion: v1
kind: Service
metadata: {name: nobody}
spec:
  selector: {app: nothing-matches}
  ports: [{port: 80, targetPort: 8080}]
`).(*corev1.Service)
	e.create(`
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: %s, command: [sleep, "3600"], resources: %s}
`, busybox, small)
	e.waitDeployment("echo", 2, 3*time.Minute)
	e.eventually("pod client Ready", 2*time.Minute, func() (bool, string, error) {
		p, err := e.pod("client")
		if err != nil {
			return false, "", err
		}
		return podReady(p), describePod(p), nil
	})
	backends := map[string]bool{}
	for _, p := range e.pods("app=echo") {
		backends[p.GetMetadata().GetName()] = true
	}
	e.eventually("endpoints of echo list both pods", time.Minute, func() (bool, string, error) {
		ep, err := client.For[*corev1.Endpoints](e.c).Get(e.ctx, e.ns, "echo")
		if err != nil {
			return false, "", err
		}
		n := 0
		for _, s := range ep.GetSubsets() {
			n += len(s.GetAddresses())
		}
		return n == 2, fmt.Sprintf("%d ready addresses", n), nil
	})

	// requests runs n requests to url from pod and counts the answers (pod
	// names); a failed request counts under "".
	requests := func(pod, url string, n int) map[string]int {
		t.Helper()
		script := fmt.Sprintf(`for i in $(seq %d); do timeout 3 wget -qO- %s 2>/dev/null || echo; done`, n, url)
		out, err := e.flotctl("exec", "-n", e.ns, pod, "--", "sh", "-c", script)
		if err != nil {
			t.Fatalf("exec in %s: %v\n%s\n%s", pod, err, out, servicesHint)
		}
		lines := strings.Split(out, "\n")
		for len(lines) < n {
			lines = append(lines, "")
		}
		got := map[string]int{}
		for _, line := range lines[:n] {
			if line = strings.TrimSpace(line); !strings.HasPrefix(line, "echo-") {
				line = ""
			}
			got[line]++
		}
		return got
	}
	// Cluster IPs, not names: what is checked here is the proxy's, and a
	// DNS answer lost on a busy machine (glibc retries after 5 s) would
	// fail a request for reasons TestServicesFromPods covers.
	url := func(s *corev1.Service) string { return "http://" + s.GetSpec().GetClusterIp() + "/" }

	t.Run("both backends answer across 50 requests", func(t *testing.T) {
		got := requests("client", url(svc), 50)
		if got[""] > 0 || len(got) != 2 {
			t.Errorf("answers by backend %v; want both backends %v, no failures", got, backends)
		}
		// Even balancing: neither backend gets fewer than 10 of 50 (the
		// chance of that by fair coin flips is about 1 in 10^5).
		for b, n := range got {
			if n < 10 {
				t.Errorf("backend %s answered %d of 50", b, n)
			}
		}
	})
	t.Run("ClientIP affinity sticks", func(t *testing.T) {
		got := requests("client", url(sticky), 20)
		if got[""] > 0 || len(got) != 1 {
			t.Errorf("answers by backend %v; want one backend for every request", got)
		}
	})
	t.Run("a backend reaches its own service (hairpin)", func(t *testing.T) {
		for b := range backends {
			got := requests(b, url(svc), 10)
			if got[""] > 0 {
				t.Errorf("from backend %s: %v", b, got)
			}
		}
	})
	t.Run("no endpoints: refused at once", func(t *testing.T) {
		start := time.Now()
		out, _ := e.flotctl("exec", "-n", e.ns, "client", "--", "timeout", "5", "wget", "-qO-", url(nobody))
		took := time.Since(start)
		if !strings.Contains(out, "refused") || took > 3*time.Second {
			t.Errorf("after %v: %q; want connection refused well before the 5 s timeout (busybox 1.35 wget -T segfaults: timeout(1) bounds it)", took.Round(time.Millisecond), out)
		}
	})
	t.Run("node port answers on the node address", func(t *testing.T) {
		port := svc.GetSpec().GetPorts()[0].GetNodePort()
		if port == 0 {
			t.Fatalf("no node port allocated: %v", svc.GetSpec().GetPorts())
		}
		nodes, err := client.For[*corev1.Node](e.c).List(e.ctx, client.ListOptions{})
		if err != nil || len(nodes.Items) == 0 {
			t.Fatalf("nodes: %v", err)
		}
		var addr string
		for _, a := range nodes.Items[0].GetStatus().GetAddresses() {
			if a.GetType() == "InternalIP" {
				addr = a.GetAddress()
			}
		}
		nodeURL := "http://" + net.JoinHostPort(addr, fmt.Sprint(port)) + "/"
		hc := http.Client{Timeout: 5 * time.Second}
		resp, err := hc.Get(nodeURL)
		if err != nil {
			t.Fatalf("GET %s from the test machine: %v\n%s", nodeURL, err, servicesHint)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !backends[strings.TrimSpace(string(body))] {
			t.Errorf("GET %s: %q, want a backend's name", nodeURL, body)
		}
	})
	t.Run("a deleted backend stops receiving traffic within a second", func(t *testing.T) {
		var gone, kept string
		for b := range backends {
			if gone == "" {
				gone = b
			} else {
				kept = b
			}
		}
		if err := client.For[*corev1.Pod](e.c).Delete(e.ctx, e.ns, gone, client.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		// The Deployment's replacement may become ready meanwhile and
		// answer too; the deleted one must not, and nothing may fail.
		got := requests("client", url(svc), 20)
		if got[gone] > 0 || got[""] > 0 || got[kept] == 0 {
			t.Errorf("a second after deleting %s: answers %v; want none from it and none failed", gone, got)
		}
	})
}
