package cli_test

import (
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
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/types/known/timestamppb"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	kubeletv1 "flotilla.io/proto/flotilla/kubelet/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
	"flotilla.io/sdk/client"
	"flotilla.io/sdk/pki"

	"flotilla.io/apiserver/testserver"
)

// kubeletStub answers the KubeletService the way a kubelet would, from
// canned data, so flotctl's commands are tested through the real
// apiserver's NodeProxyService.
type kubeletStub struct {
	kubeletv1.UnimplementedKubeletServiceServer
	loaded chan int
}

func (k *kubeletStub) ContainerLogs(req *kubeletv1.ContainerLogsRequest, s kubeletv1.KubeletService_ContainerLogsServer) error {
	desc := fmt.Sprintf("pod=%s/%s container=%s follow=%v previous=%v timestamps=%v", req.Namespace, req.Pod, req.Container, req.Follow, req.Previous, req.Timestamps)
	if req.TailLines != nil {
		desc += fmt.Sprintf(" tail=%d", *req.TailLines)
	}
	if req.SinceSeconds != nil {
		desc += fmt.Sprintf(" since=%d", *req.SinceSeconds)
	}
	if req.LimitBytes != nil {
		desc += fmt.Sprintf(" limit=%d", *req.LimitBytes)
	}
	for _, line := range []string{desc + "\n", "second line\n"} {
		if err := s.Send(&kubeletv1.ContainerLogsResponse{Data: []byte(line)}); err != nil {
			return err
		}
	}
	if req.Follow { // a follower keeps the stream until the client goes
		<-s.Context().Done()
	}
	return nil
}

func (k *kubeletStub) Exec(s kubeletv1.KubeletService_ExecServer) error {
	first, err := s.Recv()
	if err != nil {
		return err
	}
	start := first.GetStart()
	var in strings.Builder
	if start.Stdin {
		for {
			msg, err := s.Recv()
			if errors.Is(err, io.EOF) || msg.GetCloseStdin() {
				break
			}
			if err != nil {
				return err
			}
			in.WriteString(string(msg.GetStdin()))
		}
	}
	out := fmt.Sprintf("%s in %s tty=%v: %s", strings.Join(start.Command, " "), start.Container, start.Tty, strings.ToUpper(in.String()))
	_ = s.Send(&kubeletv1.ExecResponse{Response: &kubeletv1.ExecResponse_Stdout{Stdout: []byte(out)}})
	_ = s.Send(&kubeletv1.ExecResponse{Response: &kubeletv1.ExecResponse_Stderr{Stderr: []byte("to stderr\n")}})
	code := int32(0)
	if start.Command[0] == "false" {
		code = 3
	}
	return s.Send(&kubeletv1.ExecResponse{Response: &kubeletv1.ExecResponse_ExitCode{ExitCode: code}})
}

func (k *kubeletStub) LoadImage(s kubeletv1.KubeletService_LoadImageServer) error {
	n := 0
	for {
		msg, err := s.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		n += len(msg.GetChunk())
	}
	k.loaded <- n
	return s.SendAndClose(&kubeletv1.LoadImageResponse{Images: []string{"docker.io/library/busybox:1.35"}})
}

func (k *kubeletStub) Stats(_ context.Context, req *kubeletv1.StatsRequest) (*kubeletv1.StatsResponse, error) {
	return &kubeletv1.StatsResponse{
		Node: &kubeletv1.NodeStats{NodeName: "n1",
			Cpu:    &kubeletv1.CPUStats{UsageNanoCores: 500e6},
			Memory: &kubeletv1.MemoryStats{WorkingSetBytes: 1 << 30}},
		Pods: []*kubeletv1.PodStats{{Namespace: "default", Name: "web", Containers: []*kubeletv1.ContainerStats{
			{Name: "app", Cpu: &kubeletv1.CPUStats{UsageNanoCores: 3e6}, Memory: &kubeletv1.MemoryStats{WorkingSetBytes: 12 << 20}},
		}}},
	}, nil
}

// startKubeletStub serves with a certificate of the cluster CA, accepting
// only clients it signed, as a kubelet does.
func startKubeletStub(t *testing.T, caDir string) (*kubeletStub, int) {
	t.Helper()
	ca, err := pki.Read(caDir, "ca")
	if err != nil {
		t.Fatal(err)
	}
	serving, err := pki.Sign(ca, pki.ServingRequest("kubelet"))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(serving.CertPEM, serving.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.CertPEM)
	gs := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert})))
	k := &kubeletStub{loaded: make(chan int, 4)}
	kubeletv1.RegisterKubeletServiceServer(gs, k)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	return k, lis.Addr().(*net.TCPAddr).Port
}

func TestNodeCommands(t *testing.T) {
	s := testserver.Start(t)
	c := s.Client(s.Config)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	stub, port := startKubeletStub(t, s.CADir())
	nodes := client.For[*corev1.Node](c)
	n, err := nodes.Create(ctx, &corev1.Node{Metadata: &metav1.ObjectMeta{Name: "n1"}})
	if err != nil {
		t.Fatal(err)
	}
	n.Status = &corev1.NodeStatus{
		Addresses:       []*corev1.NodeAddress{{Type: "InternalIP", Address: "127.0.0.1"}},
		DaemonEndpoints: &corev1.NodeDaemonEndpoints{KubeletEndpoint: &corev1.DaemonEndpoint{Port: int32(port)}},
		Conditions:      []*corev1.NodeCondition{{Type: "Ready", Status: "True", LastHeartbeatTime: timestamppb.Now()}},
		Allocatable:     map[string]*metav1.Quantity{"cpu": {String_: "2"}, "memory": {String_: "4Gi"}},
	}
	if _, err := nodes.UpdateStatus(ctx, n); err != nil {
		t.Fatal(err)
	}
	pods := client.For[*corev1.Pod](c)
	for _, p := range []*corev1.Pod{
		{Metadata: &metav1.ObjectMeta{Name: "web", Namespace: "default"}, Spec: &corev1.PodSpec{Containers: []*corev1.Container{{Name: "app", Image: "busybox:1.35"}}}},
		{Metadata: &metav1.ObjectMeta{Name: "two", Namespace: "default"}, Spec: &corev1.PodSpec{Containers: []*corev1.Container{{Name: "a", Image: "busybox:1.35"}, {Name: "b", Image: "busybox:1.35"}}}},
	} {
		created, err := pods.Create(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Bind(ctx, "default", p.Metadata.Name, created.Metadata.Uid, "n1"); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config")
	if err := s.Config.Save(cfg); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, config: cfg, dir: dir}

	t.Run("logs", func(t *testing.T) {
		h := h.sub(t)
		wantLines(t, h.ok("logs", "web"), "pod=default/web container=app follow=false previous=false timestamps=false", "second line")
		wantLines(t, h.ok("logs", "pod/web", "-c", "app", "--previous", "--tail", "5", "--since", "10m", "--timestamps", "--limit-bytes", "100"),
			"pod=default/web container=app follow=false previous=true timestamps=true tail=5 since=600 limit=100", "second line")
		wantContains(t, h.fails("logs", "two"), "a container name must be specified for pod two, choose one of: [a b]")
		wantContains(t, h.fails("logs", "nope"), "not found")
		// -f streams until interrupted.
		fctx, fcancel := context.WithCancel(context.Background())
		out := make(chan result, 1)
		go func() { out <- h.runIn(fctx, "", "logs", "-f", "two", "-c", "b") }()
		time.Sleep(500 * time.Millisecond)
		fcancel()
		r := <-out
		if r.code != 0 || !strings.HasPrefix(r.out, "pod=default/two container=b follow=true") {
			t.Errorf("logs -f: %+v", r)
		}
	})
	t.Run("exec", func(t *testing.T) {
		h := h.sub(t)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		r := h.runIn(ctx, "hello", "exec", "-i", "web", "--", "cat", "-n")
		if r.code != 0 || r.out != "cat -n in app tty=false: HELLO" || r.err != "to stderr\n" {
			t.Errorf("exec -i: %+v", r)
		}
		r = h.runIn(ctx, "", "exec", "-t", "two", "-c", "b", "--", "false")
		if r.code != 3 || !strings.Contains(r.err, "Unable to use a TTY") || !strings.Contains(r.err, "command terminated with exit code 3") {
			t.Errorf("exec exit code: %+v", r)
		}
		wantContains(t, h.fails("exec", "web"), "you must specify at least one command")
	})
	t.Run("image load", func(t *testing.T) {
		h := h.sub(t)
		archive := filepath.Join(dir, "img.tar")
		if err := os.WriteFile(archive, make([]byte, 3<<20+5), 0o644); err != nil {
			t.Fatal(err)
		}
		wantLines(t, h.ok("image", "load", archive), "n1: loaded docker.io/library/busybox:1.35")
		if got := <-stub.loaded; got != 3<<20+5 {
			t.Errorf("kubelet got %d bytes", got)
		}
		h.ok("image", "load", archive, "--node", "n1")
		<-stub.loaded
		wantContains(t, h.fails("image", "load", archive, "--node", "ghost"), "node ghost")
	})
	t.Run("top", func(t *testing.T) {
		h := h.sub(t)
		r := h.run("top", "pods")
		if r.code != 0 && strings.Contains(r.err, "does not serve node stats") {
			t.Skip("the apiserver does not proxy NodeStats yet")
		}
		wantRow(t, r.out, "web", "3m", "12Mi")
		out := h.ok("top", "nodes")
		wantRow(t, out, "n1", "500m", "25%", "1024Mi", "25%")
		wantRow(t, h.ok("top", "pods", "--containers"), "web", "app", "3m", "12Mi")
	})
}
