package test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/types/known/timestamppb"

	apiv1 "flotilla.io/proto/flotilla/api/v1"
	corev1 "flotilla.io/proto/flotilla/core/v1"
	kubeletv1 "flotilla.io/proto/flotilla/kubelet/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
	"flotilla.io/sdk/client"
	"flotilla.io/sdk/pki"

	"flotilla.io/apiserver/testserver"
)

// fakeKubelet answers the KubeletService and records what it was sent.
type fakeKubelet struct {
	kubeletv1.UnimplementedKubeletServiceServer
	loaded chan []byte
}

func (f *fakeKubelet) ContainerLogs(req *kubeletv1.ContainerLogsRequest, s kubeletv1.KubeletService_ContainerLogsServer) error {
	for _, line := range []string{"hello from " + req.Pod + "/" + req.Container + "\n", "second line\n"} {
		if err := s.Send(&kubeletv1.ContainerLogsResponse{Data: []byte(line)}); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeKubelet) Exec(s kubeletv1.KubeletService_ExecServer) error {
	start, err := s.Recv()
	if err != nil {
		return err
	}
	var in bytes.Buffer
	for {
		msg, err := s.Recv()
		if errors.Is(err, io.EOF) || msg.GetCloseStdin() {
			break
		}
		if err != nil {
			return err
		}
		in.Write(msg.GetStdin())
	}
	out := strings.Join(start.GetStart().Command, " ") + ":" + strings.ToUpper(in.String())
	if err := s.Send(&kubeletv1.ExecResponse{Response: &kubeletv1.ExecResponse_Stdout{Stdout: []byte(out)}}); err != nil {
		return err
	}
	return s.Send(&kubeletv1.ExecResponse{Response: &kubeletv1.ExecResponse_ExitCode{ExitCode: 3}})
}

func (f *fakeKubelet) LoadImage(s kubeletv1.KubeletService_LoadImageServer) error {
	var data []byte
	for {
		msg, err := s.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		data = append(data, msg.GetChunk()...)
	}
	f.loaded <- data
	return s.SendAndClose(&kubeletv1.LoadImageResponse{Images: []string{"docker.io/library/busybox:1.35"}})
}

// startFakeKubelet serves on loopback with a certificate from the cluster CA
// and accepts only clients that CA signed.
func startFakeKubelet(t *testing.T, caDir string) (*fakeKubelet, int) {
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
	fk := &fakeKubelet{loaded: make(chan []byte, 4)}
	kubeletv1.RegisterKubeletServiceServer(gs, fk)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	return fk, lis.Addr().(*net.TCPAddr).Port
}

func TestNodeProxyReachesTheKubelet(t *testing.T) {
	s := testserver.Start(t)
	c := s.Client(s.Config)
	ctx := ctxFor(t, 30*time.Second)
	fk, port := startFakeKubelet(t, s.CADir())
	nodes := client.For[*corev1.Node](c)
	n, err := nodes.Create(ctx, &corev1.Node{Metadata: &metav1.ObjectMeta{Name: "n1"}})
	if err != nil {
		t.Fatal(err)
	}
	n.Status = &corev1.NodeStatus{
		Addresses:       []*corev1.NodeAddress{{Type: "InternalIP", Address: "127.0.0.1"}},
		DaemonEndpoints: &corev1.NodeDaemonEndpoints{KubeletEndpoint: &corev1.DaemonEndpoint{Port: int32(port)}},
		Conditions:      []*corev1.NodeCondition{{Type: "Ready", Status: "True", LastHeartbeatTime: timestamppb.Now()}},
	}
	if _, err := nodes.UpdateStatus(ctx, n); err != nil {
		t.Fatal(err)
	}
	p, err := client.For[*corev1.Pod](c).Create(ctx, pod("default", "web", nil))
	if err != nil {
		t.Fatal(err)
	}
	proxy := apiv1.NewNodeProxyServiceClient(c.Conn())
	// A pod that is not scheduled has no kubelet to ask.
	logs, err := proxy.PodLogs(ctx, &kubeletv1.ContainerLogsRequest{Namespace: "default", Pod: "web"})
	if err == nil {
		_, err = logs.Recv()
	}
	if err == nil || !strings.Contains(err.Error(), "not scheduled") {
		t.Fatalf("logs of an unscheduled pod: %v", err)
	}
	if _, err := c.Bind(ctx, "default", "web", p.Metadata.Uid, "n1"); err != nil {
		t.Fatal(err)
	}
	logs, err = proxy.PodLogs(ctx, &kubeletv1.ContainerLogsRequest{Namespace: "default", Pod: "web", Container: "c"})
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	for {
		msg, err := logs.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got.Write(msg.Data)
	}
	if got.String() != "hello from web/c\nsecond line\n" {
		t.Fatalf("logs: %q", got.String())
	}
	ex, err := proxy.PodExec(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []*kubeletv1.ExecRequest{
		{Request: &kubeletv1.ExecRequest_Start{Start: &kubeletv1.ExecStart{Namespace: "default", Pod: "web", Container: "c", Command: []string{"tr", "a-z", "A-Z"}, Stdin: true}}},
		{Request: &kubeletv1.ExecRequest_Stdin{Stdin: []byte("shout")}},
		{Request: &kubeletv1.ExecRequest_CloseStdin{CloseStdin: true}},
	} {
		if err := ex.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	var stdout string
	exit := int32(-1)
	for exit < 0 {
		msg, err := ex.Recv()
		if err != nil {
			t.Fatal(err)
		}
		stdout += string(msg.GetStdout())
		if _, ok := msg.Response.(*kubeletv1.ExecResponse_ExitCode); ok {
			exit = msg.GetExitCode()
		}
	}
	if stdout != "tr a-z A-Z:SHOUT" || exit != 3 {
		t.Fatalf("exec: %q exit %d", stdout, exit)
	}
	up, err := proxy.LoadImage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_ = up.Send(&kubeletv1.LoadImageRequest{Request: &kubeletv1.LoadImageRequest_Name{Name: "busybox.tar"}})
	_ = up.Send(&kubeletv1.LoadImageRequest{Request: &kubeletv1.LoadImageRequest_Chunk{Chunk: []byte("tar-")}})
	_ = up.Send(&kubeletv1.LoadImageRequest{Request: &kubeletv1.LoadImageRequest_Chunk{Chunk: []byte("bytes")}})
	res, err := up.CloseAndRecv()
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Nodes) != 1 || res.Nodes[0].Node != "n1" || len(res.Errors) != 0 {
		t.Fatalf("load image: %v", res)
	}
	if data := <-fk.loaded; string(data) != "tar-bytes" {
		t.Fatalf("kubelet received %q", data)
	}
}
