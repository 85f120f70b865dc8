// Package nodeproxy serves NodeProxyService: it authorizes the caller, finds
// the kubelet of the pod's node (or of every node) and forwards the call to
// it over TLS, authenticating with the apiserver's kubelet client
// certificate.
package nodeproxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	apiv1 "flotilla.io/proto/flotilla/api/v1"
	corev1 "flotilla.io/proto/flotilla/core/v1"
	kubeletv1 "flotilla.io/proto/flotilla/kubelet/v1"
	"flotilla.io/proto/kind"

	"flotilla.io/apiserver/internal/auth"
	"flotilla.io/apiserver/internal/storage"
)

// Config wires the proxy.
type Config struct {
	Store      *storage.Store
	Authorizer auth.Authorizer
	Log        *zap.Logger
	// ClientCertFile and ClientKeyFile authenticate the apiserver to kubelets.
	ClientCertFile, ClientKeyFile string
	// CAFile verifies kubelets' serving certificates. Empty skips the
	// check, as upstream does without --kubelet-certificate-authority.
	CAFile string
}

// Proxy is the NodeProxyService.
type Proxy struct {
	apiv1.UnimplementedNodeProxyServiceServer
	cfg   Config
	creds credentials.TransportCredentials

	mu    sync.Mutex
	conns map[string]*grpc.ClientConn // by kubelet address
}

// New builds the proxy; without a client certificate every call answers
// FailedPrecondition, saying how to configure it.
func New(cfg Config) (*Proxy, error) {
	p := &Proxy{cfg: cfg, conns: map[string]*grpc.ClientConn{}}
	if cfg.ClientCertFile == "" {
		return p, nil
	}
	cert, err := tls.LoadX509KeyPair(cfg.ClientCertFile, cfg.ClientKeyFile)
	if err != nil {
		return nil, fmt.Errorf("kubelet client certificate: %w", err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("kubelet CA: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kubelet CA %s: no certificates", cfg.CAFile)
		}
	} else {
		tc.InsecureSkipVerify = true // upstream's default without --kubelet-certificate-authority
	}
	p.creds = credentials.NewTLS(tc)
	return p, nil
}

// Close drops the kubelet connections.
func (p *Proxy) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.Close()
	}
}

func (p *Proxy) authorize(ctx context.Context, verb, resource, sub, ns, name string) error {
	if p.cfg.Authorizer == nil {
		return nil
	}
	ok, reason, err := p.cfg.Authorizer.Authorize(ctx, auth.Attributes{User: auth.UserFrom(ctx), Verb: verb, Resource: resource, Subresource: sub, Namespace: ns, Name: name})
	if err != nil {
		return status.Errorf(codes.Internal, "authorize: %v", err)
	}
	if !ok {
		return status.Errorf(codes.PermissionDenied, "%s is forbidden: User %q cannot %s resource \"%s/%s\" in API group \"\" in the namespace %q: %s", resource, userName(ctx), verb, resource, sub, ns, reason)
	}
	return nil
}

// kubeletFor connects to the kubelet of a node.
func (p *Proxy) kubeletFor(ctx context.Context, nodeName string) (kubeletv1.KubeletServiceClient, error) {
	if p.creds == nil {
		return nil, status.Error(codes.FailedPrecondition, "the apiserver has no kubelet client certificate (--kubelet-client-certificate): it cannot reach kubelets")
	}
	info, _ := kind.ByKind("Node")
	obj, err := p.cfg.Store.Get(ctx, info, p.cfg.Store.Key(info, "", nodeName))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, status.Errorf(codes.NotFound, "nodes %q not found", nodeName)
	}
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "node %s: %v", nodeName, err)
	}
	addr, err := kubeletAddress(obj.(*corev1.Node))
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	conn, ok := p.conns[addr]
	if !ok {
		if conn, err = grpc.NewClient(addr, grpc.WithTransportCredentials(p.creds)); err != nil {
			return nil, status.Errorf(codes.Unavailable, "kubelet %s: %v", addr, err)
		}
		p.conns[addr] = conn
	}
	return kubeletv1.NewKubeletServiceClient(conn), nil
}

// kubeletAddress is the node's InternalIP (else any address) and the port
// its kubelet reports.
func kubeletAddress(n *corev1.Node) (string, error) {
	port := n.GetStatus().GetDaemonEndpoints().GetKubeletEndpoint().GetPort()
	if port == 0 {
		return "", status.Errorf(codes.FailedPrecondition, "node %s reports no kubelet endpoint", n.GetMetadata().GetName())
	}
	var host string
	for _, a := range n.GetStatus().GetAddresses() {
		if a.Type == "InternalIP" {
			host = a.Address
			break
		}
		if host == "" {
			host = a.Address
		}
	}
	if host == "" {
		return "", status.Errorf(codes.FailedPrecondition, "node %s reports no address", n.GetMetadata().GetName())
	}
	return net.JoinHostPort(host, strconv.Itoa(int(port))), nil
}

// podNode finds the node a pod runs on.
func (p *Proxy) podNode(ctx context.Context, ns, name string) (string, error) {
	info, _ := kind.ByKind("Pod")
	obj, err := p.cfg.Store.Get(ctx, info, p.cfg.Store.Key(info, ns, name))
	if errors.Is(err, storage.ErrNotFound) {
		return "", status.Errorf(codes.NotFound, "pods %q not found", name)
	}
	if err != nil {
		return "", status.Errorf(codes.Unavailable, "pod %s/%s: %v", ns, name, err)
	}
	node := obj.(*corev1.Pod).GetSpec().GetNodeName()
	if node == "" {
		return "", status.Errorf(codes.FailedPrecondition, "pod %s/%s is not scheduled to a node yet", ns, name)
	}
	return node, nil
}

// PodLogs streams a container's log from its kubelet.
func (p *Proxy) PodLogs(req *kubeletv1.ContainerLogsRequest, stream apiv1.NodeProxyService_PodLogsServer) error {
	ctx := stream.Context()
	if err := p.authorize(ctx, "get", "pods", "log", req.Namespace, req.Pod); err != nil {
		return err
	}
	node, err := p.podNode(ctx, req.Namespace, req.Pod)
	if err != nil {
		return err
	}
	kc, err := p.kubeletFor(ctx, node)
	if err != nil {
		return err
	}
	in, err := kc.ContainerLogs(ctx, req)
	if err != nil {
		return err
	}
	for {
		msg, err := in.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := stream.Send(msg); err != nil {
			return err
		}
	}
}

// PodExec runs a command in a container through its kubelet.
func (p *Proxy) PodExec(stream apiv1.NodeProxyService_PodExecServer) error {
	ctx := stream.Context()
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	start := first.GetStart()
	if start == nil {
		return status.Error(codes.InvalidArgument, "the first exec message must be start")
	}
	if len(start.Command) == 0 {
		return status.Error(codes.InvalidArgument, "command: Required value")
	}
	if err := p.authorize(ctx, "create", "pods", "exec", start.Namespace, start.Pod); err != nil {
		return err
	}
	node, err := p.podNode(ctx, start.Namespace, start.Pod)
	if err != nil {
		return err
	}
	kc, err := p.kubeletFor(ctx, node)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out, err := kc.Exec(ctx)
	if err != nil {
		return err
	}
	if err := out.Send(first); err != nil {
		return err
	}
	go func() { // client -> kubelet
		for {
			msg, err := stream.Recv()
			if err != nil {
				_ = out.CloseSend()
				return
			}
			if err := out.Send(msg); err != nil {
				return
			}
		}
	}()
	for { // kubelet -> client
		msg, err := out.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := stream.Send(msg); err != nil {
			return err
		}
	}
}

// LoadImage spools the archive, then sends it to each target node's kubelet
// in parallel.
func (p *Proxy) LoadImage(stream apiv1.NodeProxyService_LoadImageServer) error {
	ctx := stream.Context()
	if err := p.authorize(ctx, "create", "nodes", "proxy", "", ""); err != nil {
		return err
	}
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	name := first.GetName()
	if name == "" {
		return status.Error(codes.InvalidArgument, "the first message must name the archive")
	}
	var targets []string
	if at := strings.LastIndex(name, "@"); at >= 0 {
		for _, n := range strings.Split(name[at+1:], ",") {
			if n != "" {
				targets = append(targets, n)
			}
		}
		name = name[:at]
	}
	spool, err := os.CreateTemp("", "flotilla-image-*.tar")
	if err != nil {
		return status.Errorf(codes.Internal, "spool: %v", err)
	}
	defer os.Remove(spool.Name())
	defer spool.Close()
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if _, err := spool.Write(msg.GetChunk()); err != nil {
			return status.Errorf(codes.Internal, "spool: %v", err)
		}
	}
	if len(targets) == 0 {
		if targets, err = p.readyNodes(ctx); err != nil {
			return err
		}
	}
	if len(targets) == 0 {
		return status.Error(codes.FailedPrecondition, "no Ready nodes to load the image on")
	}
	resp := &apiv1.LoadImageAllResponse{Errors: map[string]string{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, node := range targets {
		wg.Go(func() {
			out, err := p.loadOn(ctx, node, name, spool.Name())
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				resp.Errors[node] = err.Error()
				return
			}
			out.Node = node
			resp.Nodes = append(resp.Nodes, out)
		})
	}
	wg.Wait()
	return stream.SendAndClose(resp)
}

func (p *Proxy) loadOn(ctx context.Context, node, name, path string) (*kubeletv1.LoadImageResponse, error) {
	kc, err := p.kubeletFor(ctx, node)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	up, err := kc.LoadImage(ctx)
	if err != nil {
		return nil, err
	}
	if err := up.Send(&kubeletv1.LoadImageRequest{Request: &kubeletv1.LoadImageRequest_Name{Name: name}}); err != nil {
		return nil, err
	}
	buf := make([]byte, 1<<20)
	for {
		n, err := f.Read(buf)
		if n > 0 {
			if err := up.Send(&kubeletv1.LoadImageRequest{Request: &kubeletv1.LoadImageRequest_Chunk{Chunk: append([]byte(nil), buf[:n]...)}}); err != nil {
				return nil, err
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	return up.CloseAndRecv()
}

func (p *Proxy) readyNodes(ctx context.Context) ([]string, error) {
	info, _ := kind.ByKind("Node")
	page, err := p.cfg.Store.List(ctx, info, p.cfg.Store.KindPrefix(info, ""), "", 0, 0, nil)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "list nodes: %v", err)
	}
	var out []string
	for _, obj := range page.Items {
		n := obj.(*corev1.Node)
		for _, c := range n.GetStatus().GetConditions() {
			if c.Type == "Ready" && c.Status == "True" {
				out = append(out, n.GetMetadata().GetName())
			}
		}
	}
	return out, nil
}

func userName(ctx context.Context) string {
	if u := auth.UserFrom(ctx); u != nil {
		return u.Name
	}
	return "system:anonymous"
}

// NodeStats asks the named nodes' kubelets (every Ready node when none are
// named) for resource usage, in parallel; `flotctl top` reads it.
func (p *Proxy) NodeStats(ctx context.Context, req *apiv1.NodeStatsRequest) (*apiv1.NodeStatsResponse, error) {
	verb, resource, ns := "get", "nodes", ""
	if req.GetStats().GetNamespace() != "" {
		verb, resource, ns = "list", "pods", req.GetStats().GetNamespace()
	}
	if err := p.authorize(ctx, verb, resource, "stats", ns, ""); err != nil {
		return nil, err
	}
	targets := req.Nodes
	if len(targets) == 0 {
		var err error
		if targets, err = p.readyNodes(ctx); err != nil {
			return nil, err
		}
	}
	resp := &apiv1.NodeStatsResponse{Errors: map[string]string{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	stats := req.GetStats()
	if stats == nil {
		stats = &kubeletv1.StatsRequest{}
	}
	for _, node := range targets {
		wg.Go(func() {
			kc, err := p.kubeletFor(ctx, node)
			var out *kubeletv1.StatsResponse
			if err == nil {
				out, err = kc.Stats(ctx, stats)
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				resp.Errors[node] = err.Error()
				return
			}
			resp.Nodes = append(resp.Nodes, out)
		})
	}
	wg.Wait()
	return resp, nil
}
