package prober

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
)

// userAgent is sent by HTTP and gRPC probes; upstream sends kube-probe/<v>.
const userAgent = "kube-probe/flotilla"

// maxBody is how much of an HTTP probe's response is read.
const maxBody = 10 << 10

// runProbe makes one probe attempt within ctx's deadline.
func (m *Manager) runProbe(ctx context.Context, p *corev1.Probe, pod *corev1.Pod, podIP string, c *corev1.Container, timeout time.Duration) (bool, string) {
	switch {
	case p.GetExec() != nil:
		return m.execProbe(ctx, p.GetExec(), pod, c, timeout)
	case p.GetHttpGet() != nil:
		return httpProbe(ctx, p.GetHttpGet(), podIP, c)
	case p.GetTcpSocket() != nil:
		return tcpProbe(ctx, p.GetTcpSocket(), podIP, c)
	case p.GetGrpc() != nil:
		return grpcProbe(ctx, p.GetGrpc(), podIP)
	}
	return false, "probe has no handler"
}

func (m *Manager) execProbe(ctx context.Context, a *corev1.ExecAction, pod *corev1.Pod, c *corev1.Container, timeout time.Duration) (bool, string) {
	if m.exec == nil {
		return false, "no exec support"
	}
	code, out, err := m.exec.ExecSync(ctx, pod, c.GetName(), a.GetCommand(), timeout)
	if err != nil {
		return false, fmt.Sprintf("exec: %v", err)
	}
	if code != 0 {
		return false, fmt.Sprintf("exit code %d: %s", code, truncate(out))
	}
	return true, ""
}

func truncate(b []byte) string {
	if len(b) > 256 {
		b = b[:256]
	}
	return strings.TrimSpace(string(b))
}

// resolvePort turns a port number or a container port name into a number.
func resolvePort(p *metav1.IntOrString, c *corev1.Container) (int, error) {
	if p == nil {
		return 0, fmt.Errorf("no port")
	}
	if p.GetType() == 0 {
		if p.GetIntVal() <= 0 || p.GetIntVal() > 65535 {
			return 0, fmt.Errorf("port %d out of range", p.GetIntVal())
		}
		return int(p.GetIntVal()), nil
	}
	name := p.GetStrVal()
	for _, cp := range c.GetPorts() {
		if cp.GetName() == name && (cp.GetProtocol() == "" || cp.GetProtocol() == "TCP") {
			return int(cp.GetContainerPort()), nil
		}
	}
	if n, err := strconv.Atoi(name); err == nil && n > 0 && n <= 65535 {
		return n, nil
	}
	return 0, fmt.Errorf("container %s has no TCP port named %q", c.GetName(), name)
}

// endpoint is host:port of a probe; host defaults to the pod IP.
func endpoint(p *metav1.IntOrString, host, podIP string, c *corev1.Container) (string, error) {
	port, err := resolvePort(p, c)
	if err != nil {
		return "", err
	}
	if host == "" {
		host = podIP
	}
	return net.JoinHostPort(host, strconv.Itoa(port)), nil
}

// probeHTTPClient is shared by HTTP probes: no connection reuse (upstream
// disables keep-alives), certificates not verified, and redirects followed
// only on the same host; a redirect elsewhere counts as its 3xx response.
var probeHTTPClient = &http.Client{
	Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // probes do not verify, as upstream
		DisableKeepAlives: true,
		Proxy:             nil,
	},
	CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return fmt.Errorf("stopped after 10 redirects")
		}
		if req.URL.Hostname() != via[0].URL.Hostname() {
			return http.ErrUseLastResponse
		}
		return nil
	},
}

func httpProbe(ctx context.Context, a *corev1.HTTPGetAction, podIP string, c *corev1.Container) (bool, string) {
	hostPort, err := endpoint(a.GetPort(), a.GetHost(), podIP, c)
	if err != nil {
		return false, err.Error()
	}
	scheme := strings.ToLower(a.GetScheme())
	if scheme == "" {
		scheme = "http"
	}
	path := a.GetPath()
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	u, err := url.Parse(path)
	if err != nil {
		return false, fmt.Sprintf("path %q: %v", a.GetPath(), err)
	}
	u.Scheme = scheme
	u.Host = hostPort
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return false, err.Error()
	}
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Accept", "*/*")
	for _, h := range a.GetHttpHeaders() {
		if strings.EqualFold(h.GetName(), "Host") {
			req.Host = h.GetValue()
			continue
		}
		req.Header.Add(h.GetName(), h.GetValue())
	}
	resp, err := probeHTTPClient.Do(req)
	if err != nil {
		return false, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if resp.StatusCode >= 200 && resp.StatusCode < 400 {
		return true, ""
	}
	return false, fmt.Sprintf("HTTP probe failed with statuscode: %d: %s", resp.StatusCode, truncate(body))
}

func tcpProbe(ctx context.Context, a *corev1.TCPSocketAction, podIP string, c *corev1.Container) (bool, string) {
	hostPort, err := endpoint(a.GetPort(), a.GetHost(), podIP, c)
	if err != nil {
		return false, err.Error()
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", hostPort)
	if err != nil {
		return false, err.Error()
	}
	_ = conn.Close()
	return true, ""
}

// grpcProbe calls grpc.health.v1.Health/Check on the pod IP; SERVING is
// success. Mode TLS connects without verifying the certificate.
func grpcProbe(ctx context.Context, a *corev1.GRPCAction, podIP string) (bool, string) {
	if a.GetPort() <= 0 || a.GetPort() > 65535 {
		return false, fmt.Sprintf("port %d out of range", a.GetPort())
	}
	creds := insecure.NewCredentials()
	if strings.EqualFold(a.GetMode(), "TLS") {
		creds = credentials.NewTLS(&tls.Config{InsecureSkipVerify: true}) //nolint:gosec // as upstream
	}
	conn, err := grpc.NewClient(net.JoinHostPort(podIP, strconv.Itoa(int(a.GetPort()))),
		grpc.WithTransportCredentials(creds), grpc.WithUserAgent(userAgent))
	if err != nil {
		return false, err.Error()
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: a.GetService()})
	if err != nil {
		return false, fmt.Sprintf("health check: %v", err)
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return false, fmt.Sprintf("service unhealthy (responded with %q)", resp.GetStatus())
	}
	return true, ""
}
