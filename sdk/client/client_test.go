package client_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	apiv1 "flotilla.io/proto/flotilla/api/v1"
	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"

	"flotilla.io/sdk/client"
	"flotilla.io/sdk/fakeserver"
)

func pod(ns, name string, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{Metadata: &metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels}, Spec: &corev1.PodSpec{}}
}

func TestConfigRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "config")
	in := &client.Config{Server: "api:6443", CAData: []byte("-----BEGIN CERTIFICATE-----\n"), Token: "s3cret"}
	if err := in.Save(path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("config file mode = %v, %v; want 0600", fi.Mode(), err)
	}
	raw, _ := os.ReadFile(path)
	// The CA travels base64-encoded, like kubeconfig's certificate-authority-data.
	if !strings.Contains(string(raw), "certificateAuthorityData: LS0tLS1CRUdJTi") {
		t.Errorf("saved config lacks base64 CA:\n%s", raw)
	}
	out, err := client.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if out.Server != in.Server || string(out.CAData) != string(in.CAData) || out.Token != in.Token {
		t.Errorf("LoadFile = %+v, want %+v", out, in)
	}
}

func TestLoadFileRejectsUnknownFields(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	os.WriteFile(path, []byte("server: a:1\nservr: typo\n"), 0o600)
	if _, err := client.LoadFile(path); err == nil {
		t.Fatal("LoadFile accepted an unknown field")
	}
}

func TestResolvePath(t *testing.T) {
	t.Setenv(client.ConfigEnv, "/env/config")
	if got := client.ResolvePath("/flag/config"); got != "/flag/config" {
		t.Errorf("flag: got %s", got)
	}
	if got := client.ResolvePath(""); got != "/env/config" {
		t.Errorf("env: got %s", got)
	}
	t.Setenv(client.ConfigEnv, "")
	t.Setenv("HOME", "/home/u")
	if got := client.ResolvePath(""); got != "/home/u/.flotilla/config" {
		t.Errorf("default: got %s", got)
	}
}

// selfSigned makes a CA-less serving certificate for "api.test".
func selfSigned(t *testing.T) (tls.Certificate, []byte) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "api.test"},
		DNSNames: []string{"api.test"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

type authServer struct {
	apiv1.UnimplementedResourceServiceServer
	auth chan string
}

func (s *authServer) Get(ctx context.Context, req *apiv1.GetRequest) (*apiv1.GetResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	s.auth <- strings.Join(md.Get("authorization"), ",")
	return nil, status.Error(codes.NotFound, "nope")
}

func TestNewVerifiesCAAndSendsToken(t *testing.T) {
	cert, caPEM := selfSigned(t)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &authServer{auth: make(chan string, 1)}
	gs := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}})))
	apiv1.RegisterResourceServiceServer(gs, srv)
	go gs.Serve(lis)
	defer gs.Stop()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(caFile, caPEM, 0o600)
	for _, cfg := range []*client.Config{
		{Server: lis.Addr().String(), CAData: caPEM, ServerName: "api.test", Token: "tok"},
		{Server: lis.Addr().String(), CAFile: caFile, ServerName: "api.test", Token: "tok"},
	} {
		c, err := client.New(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		_, err = client.For[*corev1.Pod](c).Get(ctx, "ns", "p")
		if !client.IsNotFound(err) {
			t.Fatalf("Get over TLS: %v, want NotFound", err)
		}
		if got := <-srv.auth; got != "Bearer tok" {
			t.Errorf("authorization = %q, want Bearer tok", got)
		}
		c.Close()
	}

	// A server whose certificate the CA did not sign is refused.
	_, otherCA := selfSigned(t)
	c, err := client.New(ctx, &client.Config{Server: lis.Addr().String(), CAData: otherCA, ServerName: "api.test"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = client.For[*corev1.Pod](c).Get(ctx, "ns", "p")
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("Get with wrong CA: %v, want certificate error", err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	ctx := context.Background()
	for name, cfg := range map[string]*client.Config{
		"no server":  {},
		"bad CA":     {Server: "a:1", CAData: []byte("not pem")},
		"no CA file": {Server: "a:1", CAFile: "/nonexistent"},
		"no token":   {Server: "a:1", TokenFile: "/nonexistent"},
	} {
		if _, err := client.New(ctx, cfg); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
}

func TestTypedCRUD(t *testing.T) {
	_, c := fakeserver.Start(t)
	ctx := context.Background()
	pods := client.For[*corev1.Pod](c)
	if pods.Err() != nil || pods.Kind().Kind != "Pod" {
		t.Fatalf("For[Pod]: %v %v", pods.Err(), pods.Kind())
	}

	created, err := pods.Create(ctx, pod("ns", "a", map[string]string{"app": "web"}))
	if err != nil {
		t.Fatal(err)
	}
	if created.GetMetadata().GetResourceVersion() == "" || created.GetMetadata().GetUid() == "" {
		t.Fatalf("Create returned %v without rv/uid", created)
	}
	if _, err := pods.Create(ctx, pod("ns", "a", nil)); !client.IsAlreadyExists(err) {
		t.Errorf("second Create: %v, want AlreadyExists", err)
	}
	if _, err := pods.Create(ctx, pod("ns", "dry", nil), client.DryRun()); err != nil {
		t.Fatal(err)
	}
	if _, err := pods.Get(ctx, "ns", "dry"); !client.IsNotFound(err) {
		t.Errorf("dry-run create persisted: %v", err)
	}

	got, err := pods.Get(ctx, "ns", "a")
	if err != nil || !proto.Equal(got, created) {
		t.Fatalf("Get = %v, %v; want %v", got, err, created)
	}

	upd := proto.Clone(got).(*corev1.Pod)
	upd.Spec.NodeName = "n1"
	upd, err = pods.Update(ctx, upd)
	if err != nil || upd.GetSpec().GetNodeName() != "n1" {
		t.Fatalf("Update = %v, %v", upd, err)
	}
	// got still carries the old resourceVersion: a write based on it conflicts.
	got.Spec.NodeName = "n2"
	if _, err := pods.Update(ctx, got); !client.IsConflict(err) {
		t.Errorf("stale Update: %v, want conflict", err)
	}

	st := proto.Clone(upd).(*corev1.Pod)
	st.Status = &corev1.PodStatus{Phase: "Running"}
	st.Spec.NodeName = "ignored"
	st, err = pods.UpdateStatus(ctx, st)
	if err != nil || st.GetStatus().GetPhase() != "Running" || st.GetSpec().GetNodeName() != "n1" {
		t.Fatalf("UpdateStatus = %v, %v", st, err)
	}

	if err := pods.Delete(ctx, "ns", "a", client.DeleteOptions{Preconditions: &client.Preconditions{UID: "other"}}); !client.IsPreconditionFailed(err) {
		t.Errorf("Delete with wrong uid: %v", err)
	}
	if err := pods.Delete(ctx, "ns", "a", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := pods.Get(ctx, "ns", "a"); !client.IsNotFound(err) {
		t.Errorf("Get after delete: %v", err)
	}
	if err := pods.Delete(ctx, "ns", "a", client.DeleteOptions{}); !client.IsNotFound(err) || !strings.Contains(err.Error(), "delete Pod ns/a") {
		t.Errorf("second Delete: %v, want wrapped NotFound", err)
	}
}

func TestListSelectorsAndPages(t *testing.T) {
	_, c := fakeserver.Start(t)
	ctx := context.Background()
	pods := client.For[*corev1.Pod](c)
	for i, name := range []string{"a", "b", "c", "d", "e"} {
		p := pod("ns", name, map[string]string{"app": []string{"web", "db"}[i%2]})
		p.Spec.NodeName = "n" + name
		if _, err := pods.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	pods.Create(ctx, pod("other", "z", map[string]string{"app": "web"}))

	names := func(l *client.List[*corev1.Pod]) string {
		var s []string
		for _, p := range l.Items {
			s = append(s, p.GetMetadata().GetName())
		}
		return strings.Join(s, ",")
	}
	for _, tc := range []struct {
		opts client.ListOptions
		want string
	}{
		{client.ListOptions{}, "a,b,c,d,e,z"},
		{client.ListOptions{Namespace: "ns"}, "a,b,c,d,e"},
		{client.ListOptions{Namespace: "ns", LabelSelector: "app=web"}, "a,c,e"},
		{client.ListOptions{LabelSelector: "app in (db)"}, "b,d"},
		{client.ListOptions{FieldSelector: "spec.nodeName=nc"}, "c"},
	} {
		l, err := pods.ListAll(ctx, tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		if got := names(l); got != tc.want {
			t.Errorf("ListAll(%+v) = %s, want %s", tc.opts, got, tc.want)
		}
	}

	page, err := pods.List(ctx, client.ListOptions{Namespace: "ns", PageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	if names(page) != "a,b" || page.NextPageToken == "" || page.RemainingItemCount != 3 {
		t.Fatalf("first page = %s token %q remaining %d", names(page), page.NextPageToken, page.RemainingItemCount)
	}
	all, err := pods.ListAll(ctx, client.ListOptions{Namespace: "ns", PageSize: 2})
	if err != nil || names(all) != "a,b,c,d,e" || all.NextPageToken != "" || all.ResourceVersion != page.ResourceVersion {
		t.Fatalf("ListAll paged = %s, %v (rv %s vs %s)", names(all), err, all.ResourceVersion, page.ResourceVersion)
	}
}

func TestWatch(t *testing.T) {
	_, c := fakeserver.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pods := client.For[*corev1.Pod](c)
	a, _ := pods.Create(ctx, pod("ns", "a", nil))

	// From "" the watch starts with the current objects.
	w, err := pods.Watch(ctx, client.WatchOptions{Namespace: "ns"})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := w.Next()
	if err != nil || ev.Type != client.Added || ev.Object.GetMetadata().GetName() != "a" || ev.ResourceVersion != a.GetMetadata().GetResourceVersion() {
		t.Fatalf("first event = %+v, %v", ev, err)
	}
	b, _ := pods.Create(ctx, pod("ns", "b", nil))
	pods.Create(ctx, pod("elsewhere", "x", nil)) // filtered out by namespace
	pods.Delete(ctx, "ns", "a", client.DeleteOptions{})
	for _, want := range []struct {
		typ  client.EventType
		name string
	}{{client.Added, "b"}, {client.Deleted, "a"}} {
		ev, err := w.Next()
		if err != nil || ev.Type != want.typ || ev.Object.GetMetadata().GetName() != want.name {
			t.Fatalf("event = %v %v, %v; want %v %s", ev.Type, ev.Object, err, want.typ, want.name)
		}
	}
	w.Stop()
	if _, err := w.Next(); err == nil {
		t.Fatal("Next after Stop returned no error")
	}

	// From a revision the watch replays only later changes.
	w, err = pods.Watch(ctx, client.WatchOptions{Namespace: "ns", ResourceVersion: b.GetMetadata().GetResourceVersion()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	ev, err = w.Next()
	if err != nil || ev.Type != client.Deleted || ev.Object.GetMetadata().GetName() != "a" {
		t.Fatalf("replayed event = %+v, %v", ev, err)
	}
}

func TestWatchExpired(t *testing.T) {
	srv, c := fakeserver.Start(t)
	ctx := context.Background()
	pods := client.For[*corev1.Pod](c)
	a, _ := pods.Create(ctx, pod("ns", "a", nil))
	pods.Create(ctx, pod("ns", "b", nil))
	srv.Compact()
	w, err := pods.Watch(ctx, client.WatchOptions{ResourceVersion: a.GetMetadata().GetResourceVersion()})
	if err == nil {
		_, err = w.Next()
		w.Stop()
	}
	if !client.IsExpired(err) {
		t.Fatalf("watch from compacted rv: %v, want expired", err)
	}
}

func TestWatchCanceledByContext(t *testing.T) {
	_, c := fakeserver.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	w, err := client.For[*corev1.Pod](c).Watch(ctx, client.WatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(50*time.Millisecond, cancel)
	if _, err := w.Next(); err != context.Canceled {
		t.Fatalf("Next after cancel: %v, want context.Canceled", err)
	}
}

func TestDynamic(t *testing.T) {
	_, c := fakeserver.Start(t)
	ctx := context.Background()
	d := c.Dynamic()
	obj, err := d.Create(ctx, &corev1.Namespace{Metadata: &metav1.ObjectMeta{Name: "team"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := obj.(*corev1.Namespace); !ok {
		t.Fatalf("Dynamic.Create returned %T", obj)
	}
	got, err := d.Get(ctx, "Namespace", "", "team")
	if err != nil || !proto.Equal(got, obj) {
		t.Fatalf("Dynamic.Get = %v, %v", got, err)
	}
	l, err := d.ListAll(ctx, "Namespace", client.ListOptions{})
	if err != nil || len(l.Items) != 1 {
		t.Fatalf("Dynamic.List = %v, %v", l, err)
	}
	fin := proto.Clone(got).(*corev1.Namespace)
	fin.Metadata.Finalizers = []string{"keep"}
	if _, err := d.Update(ctx, fin); err != nil {
		t.Fatal(err)
	}
	del, pending, err := d.Delete(ctx, "Namespace", "", "team", client.DeleteOptions{})
	if err != nil || !pending || del.(*corev1.Namespace).GetMetadata().GetDeletionTimestamp() == nil {
		t.Fatalf("Delete with finalizer = %v pending=%v, %v", del, pending, err)
	}
	if _, err := d.Get(ctx, "Nope", "", "x"); !client.IsInvalid(err) {
		t.Errorf("unknown kind: %v, want invalid", err)
	}
}

func TestForUnregisteredType(t *testing.T) {
	_, c := fakeserver.Start(t)
	r := client.For[*metav1.ObjectMeta](c)
	if r.Err() == nil {
		t.Fatal("For[ObjectMeta] has no error")
	}
	if _, err := r.Get(context.Background(), "", "x"); err == nil {
		t.Error("Get on unregistered kind succeeded")
	}
	if err := client.For[proto.Message](c).Err(); err == nil {
		t.Error("For[proto.Message] has no error")
	}
}
