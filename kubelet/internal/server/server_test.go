package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	kubeletv1 "flotilla.io/proto/flotilla/kubelet/v1"
	"flotilla.io/sdk/pki"

	"flotilla.io/kubelet/internal/logs"
)

// fakeRuntime serves logs from files, exec by a tiny interpreter, and
// counts archive bytes.
type fakeRuntime struct {
	dir string
	mu  sync.Mutex
	// resizes records terminal sizes seen by exec.
	resizes []*kubeletv1.TerminalSize
}

func (f *fakeRuntime) LogPath(ns, pod, container string, previous bool) (string, error) {
	if pod == "missing" {
		return "", status.Error(codes.NotFound, `pods "missing" not found`)
	}
	name := "0.log"
	if previous {
		name = "prev.log"
	}
	return filepath.Join(f.dir, ns+"_"+pod, container, name), nil
}

// Exec: "upper" copies stdin upper-cased to stdout; "fail N" writes to
// stderr and exits N; "tty" waits for a resize and reports it.
func (f *fakeRuntime) Exec(ctx context.Context, ns, pod, container string, cmd []string, tty bool,
	stdin io.Reader, stdout, stderr io.Writer, resize <-chan *kubeletv1.TerminalSize) (int, error) {
	switch cmd[0] {
	case "upper":
		b, err := io.ReadAll(stdin)
		if err != nil {
			return 0, err
		}
		fmt.Fprint(stdout, strings.ToUpper(string(b)))
		return 0, nil
	case "fail":
		fmt.Fprintf(stderr, "failing in %s/%s/%s\n", ns, pod, container)
		var code int
		fmt.Sscan(cmd[1], &code)
		return code, nil
	case "tty":
		select {
		case sz := <-resize:
			f.mu.Lock()
			f.resizes = append(f.resizes, sz)
			f.mu.Unlock()
			fmt.Fprintf(stdout, "%dx%d tty=%v", sz.Width, sz.Height, tty)
			return 0, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	return 0, status.Errorf(codes.NotFound, "no such command %q", cmd[0])
}

func (f *fakeRuntime) LoadImage(_ context.Context, archive io.Reader) ([]string, error) {
	n, err := io.Copy(io.Discard, archive)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, errors.New("empty archive")
	}
	return []string{fmt.Sprintf("docker.io/library/test:%d", n)}, nil
}

type fakeStats struct{}

func (fakeStats) Stats(_ context.Context, req *kubeletv1.StatsRequest) (*kubeletv1.StatsResponse, error) {
	return &kubeletv1.StatsResponse{Node: &kubeletv1.NodeStats{NodeName: "n1"}, Pods: []*kubeletv1.PodStats{{Namespace: req.Namespace, Name: "p"}}}, nil
}

type fixture struct {
	addr    string
	ca      *pki.Pair // signs the apiserver's client certificate
	client  *pki.Pair
	rt      *fakeRuntime
	certDir string
}

func start(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	ca, err := pki.NewCA("cluster-ca")
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.Write(dir, "cluster-ca"); err != nil {
		t.Fatal(err)
	}
	client, err := pki.Sign(ca, pki.Request{CommonName: "apiserver-kubelet-client", Client: true})
	if err != nil {
		t.Fatal(err)
	}
	rt := &fakeRuntime{dir: filepath.Join(dir, "logs")}
	certDir := filepath.Join(dir, "pki")
	s, err := New(Config{ClientCAFile: filepath.Join(dir, "cluster-ca.crt"), CertDir: certDir, Runtime: rt, Stats: fakeStats{}})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, lis) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return &fixture{addr: lis.Addr().String(), ca: ca, client: client, rt: rt, certDir: certDir}
}

// dial connects, verifying the kubelet's self-signed certificate with the
// CA it made, presenting cert when not nil.
func (f *fixture) dial(t *testing.T, cert *pki.Pair) kubeletv1.KubeletServiceClient {
	t.Helper()
	serverCA, err := os.ReadFile(filepath.Join(f.certDir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(serverCA)
	tc := &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}
	if cert != nil {
		c, err := tls.X509KeyPair(cert.CertPEM, cert.KeyPEM)
		if err != nil {
			t.Fatal(err)
		}
		tc.Certificates = []tls.Certificate{c}
	}
	conn, err := grpc.NewClient(f.addr, grpc.WithTransportCredentials(credentials.NewTLS(tc)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return kubeletv1.NewKubeletServiceClient(conn)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestClientCertificateRequired(t *testing.T) {
	f := start(t)
	ctx := ctxT(t)
	if _, err := f.dial(t, nil).Stats(ctx, &kubeletv1.StatsRequest{}); err == nil {
		t.Error("a client without a certificate was served")
	}
	otherCA, _ := pki.NewCA("other-ca")
	stranger, _ := pki.Sign(otherCA, pki.Request{CommonName: "apiserver-kubelet-client", Client: true})
	if _, err := f.dial(t, stranger).Stats(ctx, &kubeletv1.StatsRequest{}); err == nil {
		t.Error("a client certificate of another CA was accepted")
	}
	// Same CA, another identity (a component, a user): refused.
	other, _ := pki.Sign(f.ca, pki.Request{CommonName: "system:kube-scheduler", Client: true})
	if _, err := f.dial(t, other).Stats(ctx, &kubeletv1.StatsRequest{}); err == nil {
		t.Error("a client certificate other than the apiserver's was accepted")
	}
	resp, err := f.dial(t, f.client).Stats(ctx, &kubeletv1.StatsRequest{Namespace: "ns"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Node.NodeName != "n1" || resp.Pods[0].Namespace != "ns" {
		t.Errorf("stats %v", resp)
	}
}

func TestNoClientCA(t *testing.T) {
	if _, err := New(Config{CertDir: t.TempDir(), Runtime: &fakeRuntime{}}); err == nil {
		t.Error("a server without a client CA was built")
	}
}

// runExec sends start and then stdin, collecting output and the exit code.
func runExec(t *testing.T, c kubeletv1.KubeletServiceClient, start *kubeletv1.ExecStart, after ...*kubeletv1.ExecRequest) (stdout, stderr string, code int32, err error) {
	t.Helper()
	stream, err := c.Exec(ctxT(t))
	if err != nil {
		return "", "", 0, err
	}
	if err := stream.Send(&kubeletv1.ExecRequest{Request: &kubeletv1.ExecRequest_Start{Start: start}}); err != nil {
		return "", "", 0, err
	}
	for _, m := range after {
		if err := stream.Send(m); err != nil {
			return "", "", 0, err
		}
	}
	var out, errOut bytes.Buffer
	code = -1
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return out.String(), errOut.String(), code, err
		}
		switch r := msg.Response.(type) {
		case *kubeletv1.ExecResponse_Stdout:
			out.Write(r.Stdout)
		case *kubeletv1.ExecResponse_Stderr:
			errOut.Write(r.Stderr)
		case *kubeletv1.ExecResponse_ExitCode:
			code = r.ExitCode
		}
	}
	return out.String(), errOut.String(), code, nil
}

func stdin(s string) *kubeletv1.ExecRequest {
	return &kubeletv1.ExecRequest{Request: &kubeletv1.ExecRequest_Stdin{Stdin: []byte(s)}}
}

func TestExec(t *testing.T) {
	f := start(t)
	c := f.dial(t, f.client)
	closeStdin := &kubeletv1.ExecRequest{Request: &kubeletv1.ExecRequest_CloseStdin{CloseStdin: true}}
	out, _, code, err := runExec(t, c, &kubeletv1.ExecStart{Namespace: "ns", Pod: "p", Command: []string{"upper"}, Stdin: true},
		stdin("hello "), stdin("world"), closeStdin)
	if err != nil || out != "HELLO WORLD" || code != 0 {
		t.Errorf("upper: %q %d %v", out, code, err)
	}
	_, errOut, code, err := runExec(t, c, &kubeletv1.ExecStart{Namespace: "ns", Pod: "p", Container: "c", Command: []string{"fail", "7"}})
	if err != nil || errOut != "failing in ns/p/c\n" || code != 7 {
		t.Errorf("fail: %q %d %v", errOut, code, err)
	}
	resize := &kubeletv1.ExecRequest{Request: &kubeletv1.ExecRequest_Resize{Resize: &kubeletv1.TerminalSize{Width: 120, Height: 40}}}
	out, _, code, err = runExec(t, c, &kubeletv1.ExecStart{Namespace: "ns", Pod: "p", Command: []string{"tty"}, Tty: true, Stdin: true}, resize)
	if err != nil || out != "120x40 tty=true" || code != 0 {
		t.Errorf("tty: %q %d %v", out, code, err)
	}
	_, _, _, err = runExec(t, c, &kubeletv1.ExecStart{Namespace: "ns", Pod: "p", Command: []string{"nope"}})
	if status.Code(err) != codes.NotFound {
		t.Errorf("unknown command: %v", err)
	}
	_, _, _, err = runExec(t, c, &kubeletv1.ExecStart{Namespace: "ns", Pod: "p"})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("no command: %v", err)
	}
}

func TestLoadImage(t *testing.T) {
	f := start(t)
	c := f.dial(t, f.client)
	up, err := c.LoadImage(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	_ = up.Send(&kubeletv1.LoadImageRequest{Request: &kubeletv1.LoadImageRequest_Name{Name: "x.tar"}})
	for range 3 {
		_ = up.Send(&kubeletv1.LoadImageRequest{Request: &kubeletv1.LoadImageRequest_Chunk{Chunk: make([]byte, 1000)}})
	}
	resp, err := up.CloseAndRecv()
	if err != nil || len(resp.Images) != 1 || resp.Images[0] != "docker.io/library/test:3000" {
		t.Fatalf("%v %v", resp, err)
	}
	up, _ = c.LoadImage(ctxT(t))
	_ = up.Send(&kubeletv1.LoadImageRequest{Request: &kubeletv1.LoadImageRequest_Name{Name: "empty.tar"}})
	if _, err := up.CloseAndRecv(); status.Code(err) != codes.InvalidArgument {
		t.Errorf("empty archive: %v", err)
	}
}

func readLogs(t *testing.T, c kubeletv1.KubeletServiceClient, req *kubeletv1.ContainerLogsRequest, out io.Writer) error {
	stream, err := c.ContainerLogs(ctxT(t), req)
	if err != nil {
		return err
	}
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := out.Write(msg.Data); err != nil {
			return err
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestLogsFollow(t *testing.T) {
	f := start(t)
	c := f.dial(t, f.client)
	path, _ := f.rt.LogPath("ns", "p", "c", false)
	outR, outW, _ := os.Pipe()
	errR, errW, _ := os.Pipe()
	readyR, readyW, _ := os.Pipe()
	driverDone := make(chan error, 1)
	go func() {
		driverDone <- logs.Drive(context.Background(), logs.DriverConfig{Path: path, MaxSize: 1 << 20, MaxFiles: 2}, outR, errR,
			func() error { return readyW.Close() })
	}()
	_, _ = readyR.Read(make([]byte, 1))
	fmt.Fprintln(outW, "first")

	got := &syncBuffer{}
	followDone := make(chan error, 1)
	go func() {
		followDone <- readLogs(t, c, &kubeletv1.ContainerLogsRequest{Namespace: "ns", Pod: "p", Container: "c", Follow: true}, got)
	}()
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(got.String(), "first\n") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Fprintln(errW, "second")
	for !strings.Contains(got.String(), "second\n") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	outW.Close()
	errW.Close()
	if err := <-driverDone; err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-followDone:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("follow did not end with the driver")
	}
	if got.String() != "first\nsecond\n" {
		t.Errorf("followed %q", got.String())
	}

	var b bytes.Buffer
	if err := readLogs(t, c, &kubeletv1.ContainerLogsRequest{Namespace: "ns", Pod: "missing"}, &b); status.Code(err) != codes.NotFound {
		t.Errorf("missing pod: %v", err)
	}
	if err := readLogs(t, c, &kubeletv1.ContainerLogsRequest{Namespace: "ns", Pod: "p", Container: "c", Previous: true}, &b); status.Code(err) != codes.NotFound {
		t.Errorf("no previous log: %v", err)
	}
}
