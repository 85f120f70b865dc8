package proxy_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	"google.golang.org/protobuf/proto"

	"flotilla.io/apiserver/testserver"
	corev1 "flotilla.io/proto/flotilla/core/v1"
	discoveryv1 "flotilla.io/proto/flotilla/discovery/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
	"flotilla.io/sdk/client"

	"flotilla.io/proxy"
	"flotilla.io/proxy/internal/testnet"
)

type env struct {
	t       *testing.T
	ctx     context.Context
	cli     *client.Client
	net     *testnet.Net
	subnet  int
	client  string // client pod namespace
	b1, b2  string // backend pod namespaces
	ip1     string
	ip2     string
	outside string
	nodeIP  string
	cfg     *client.Config
}

func newEnv(t *testing.T, subnet int) *env {
	testnet.Skip(t)
	srv := testserver.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cli, err := client.New(ctx, srv.Config)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	e := &env{t: t, ctx: ctx, cli: cli, subnet: subnet, net: testnet.New(t, subnet), cfg: srv.Config}
	e.b1, e.ip1 = e.net.Pod()
	e.b2, e.ip2 = e.net.Pod()
	e.client, _ = e.net.Pod()
	e.outside, e.nodeIP = e.net.Outside()
	testnet.Serve(t, e.b1, "b1", 8080)
	testnet.Serve(t, e.b2, "b2", 8080)
	testnet.ServeUDP(t, e.b1, "b1", 5353)
	testnet.ServeUDP(t, e.b2, "b2", 5353)
	return e
}

func (e *env) vip(last int) string { return fmt.Sprintf("10.96.%d.%d", e.subnet, last) }

// runProxy runs the proxy for the node until the returned stop is called.
func (e *env) runProxy(mode string) (stop func()) {
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	go func() {
		done <- proxy.Run(ctx, proxy.Config{
			Client: e.cliConfig(), Mode: mode, NetNS: testnet.Path(e.net.Node), ClusterCIDR: "10.244.0.0/16",
			Log: zaptest.NewLogger(e.t),
		})
	}()
	return func() {
		cancel()
		if err := <-done; err != nil {
			e.t.Errorf("proxy: %v", err)
		}
	}
}

func (e *env) cliConfig() *client.Config { return e.cfg }

func (e *env) service(name string, last int, nodePort int32, mutate ...func(*corev1.Service)) {
	e.t.Helper()
	typ := "ClusterIP"
	if nodePort != 0 {
		typ = "NodePort"
	}
	svc := &corev1.Service{
		Metadata: &metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: &corev1.ServiceSpec{
			Type: typ, ClusterIp: e.vip(last), ClusterIps: []string{e.vip(last)}, Selector: map[string]string{"app": name},
			Ports: []*corev1.ServicePort{
				{Name: "http", Protocol: "TCP", Port: 80, TargetPort: &metav1.IntOrString{IntVal: 8080}, NodePort: nodePort},
				{Name: "dns", Protocol: "UDP", Port: 53, TargetPort: &metav1.IntOrString{IntVal: 5353}},
			},
		},
	}
	for _, m := range mutate {
		m(svc)
	}
	if _, err := client.For[*corev1.Service](e.cli).Create(e.ctx, svc); err != nil {
		e.t.Fatal(err)
	}
}

// endpoints writes the service's one EndpointSlice with these pod IPs.
func (e *env) endpoints(svc string, ips ...string) {
	e.t.Helper()
	res := client.For[*discoveryv1.EndpointSlice](e.cli)
	s := &discoveryv1.EndpointSlice{
		Metadata: &metav1.ObjectMeta{Name: svc + "-x", Namespace: "default", Labels: map[string]string{"kubernetes.io/service-name": svc},
			Annotations: map[string]string{"endpoints.kubernetes.io/last-change-trigger-time": time.Now().Format(time.RFC3339Nano)}},
		AddressType: "IPv4",
		Ports: []*discoveryv1.EndpointPort{
			{Name: proto.String("http"), Protocol: proto.String("TCP"), Port: proto.Int32(8080)},
			{Name: proto.String("dns"), Protocol: proto.String("UDP"), Port: proto.Int32(5353)},
		},
	}
	for _, ip := range ips {
		s.Endpoints = append(s.Endpoints, &discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: &discoveryv1.EndpointConditions{Ready: proto.Bool(true)}})
	}
	cur, err := res.Get(e.ctx, "default", svc+"-x")
	if err == nil {
		s.Metadata.ResourceVersion = cur.GetMetadata().GetResourceVersion()
		_, err = res.Update(e.ctx, s)
	} else {
		_, err = res.Create(e.ctx, s)
	}
	if err != nil {
		e.t.Fatal(err)
	}
}

// eventually retries f for up to 30s.
func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// hits counts which backend answered n requests from ns to addr.
func hits(ns, addr string, n int) (map[string]int, error) {
	got := map[string]int{}
	for range n {
		body, err := testnet.Get(ns, addr)
		if err != nil {
			return got, err
		}
		got[strings.Fields(body)[0]]++
	}
	return got, nil
}

func udpAsk(ns, addr string) (string, error) {
	c, err := testnet.Dial(ns, "udp", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("q")); err != nil {
		return "", err
	}
	b := make([]byte, 100)
	n, err := c.Read(b)
	return string(b[:n]), err
}

func refused(ns, addr string) error {
	c, err := testnet.Dial(ns, "tcp", addr)
	if err == nil {
		c.Close()
		return errors.New("connected")
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("want connection refused, got %w", err)
	}
	return nil
}

func TestNFTables(t *testing.T)  { testProxy(t, proxy.ModeNFTables, 61) }
func TestUserspace(t *testing.T) { testProxy(t, proxy.ModeUserspace, 62) }

func testProxy(t *testing.T, mode string, subnet int) {
	e := newEnv(t, subnet)
	e.service("web", 10, 30000+int32(subnet), func(s *corev1.Service) { s.Spec.ExternalIps = []string{fmt.Sprintf("192.0.2.%d", subnet)} })
	e.endpoints("web", e.ip1, e.ip2)
	e.service("empty", 11, 0)
	e.service("sticky", 12, 0, func(s *corev1.Service) {
		s.Spec.SessionAffinity = "ClientIP"
		s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIp: &corev1.ClientIPConfig{TimeoutSeconds: proto.Int32(600)}}
	})
	e.endpoints("sticky", e.ip1, e.ip2)
	e.service("headless", 0, 0, func(s *corev1.Service) { s.Spec.ClusterIp, s.Spec.ClusterIps = "None", []string{"None"} })
	stop := e.runProxy(mode)
	web := e.vip(10) + ":80"

	t.Run("cluster IP balances across both backends", func(t *testing.T) {
		eventually(t, "reach web", func() error { _, err := testnet.Get(e.client, web); return err })
		got, err := hits(e.client, web, 50)
		if err != nil || got["b1"] == 0 || got["b2"] == 0 {
			t.Fatalf("50 requests: %v %v", got, err)
		}
		t.Logf("50 requests: %v", got)
	})
	t.Run("udp", func(t *testing.T) {
		seen := map[string]bool{}
		eventually(t, "udp answers from both", func() error {
			a, err := udpAsk(e.client, e.vip(10)+":53")
			seen[a] = true
			if err != nil || !seen["b1"] || !seen["b2"] {
				return fmt.Errorf("seen %v, last %v", seen, err)
			}
			return nil
		})
	})
	t.Run("node port from the node and from outside", func(t *testing.T) {
		np := fmt.Sprintf(":%d", 30000+subnet)
		eventually(t, "node port from outside", func() error { _, err := testnet.Get(e.outside, e.nodeIP+np); return err })
		eventually(t, "node port from the node", func() error { _, err := testnet.Get(e.net.Node, e.nodeIP+np); return err })
		eventually(t, "cluster IP from the node", func() error { _, err := testnet.Get(e.net.Node, web); return err })
		eventually(t, "external IP from outside", func() error {
			body, err := testnet.Get(e.outside, fmt.Sprintf("192.0.2.%d:80", subnet))
			if err == nil && !strings.HasSuffix(body, " "+e.net.Gateway) && mode == proxy.ModeNFTables {
				return fmt.Errorf("off-node traffic not masqueraded: backend saw %q", body)
			}
			return err
		})
	})
	t.Run("hairpin: a backend reaches its own service", func(t *testing.T) {
		eventually(t, "b1 answers b1 through the service", func() error {
			body, err := testnet.Get(e.b1, web)
			if err != nil || !strings.HasPrefix(body, "b1") {
				return fmt.Errorf("%q %v", body, err)
			}
			return nil
		})
	})
	t.Run("no endpoints is refused", func(t *testing.T) {
		eventually(t, "refused", func() error {
			t0 := time.Now()
			err := refused(e.client, e.vip(11)+":80")
			t.Logf("dial took %s: %v", time.Since(t0), err)
			return err
		})
	})
	t.Run("client IP affinity sticks", func(t *testing.T) {
		eventually(t, "reach sticky", func() error { _, err := testnet.Get(e.client, e.vip(12)+":80"); return err })
		got, err := hits(e.client, e.vip(12)+":80", 20)
		if err != nil || len(got) != 1 {
			t.Fatalf("20 requests with affinity: %v %v", got, err)
		}
	})
	t.Run("a removed backend stops receiving traffic", func(t *testing.T) {
		e.endpoints("web", e.ip2)
		eventually(t, "only b2", func() error {
			got, err := hits(e.client, web, 20)
			if err != nil || got["b1"] > 0 {
				return fmt.Errorf("%v %v", got, err)
			}
			return nil
		})
		e.endpoints("web", e.ip1, e.ip2)
		eventually(t, "both again", func() error {
			got, err := hits(e.client, web, 10)
			if err != nil || got["b1"] == 0 {
				return fmt.Errorf("%v %v", got, err)
			}
			return nil
		})
	})
	if mode == proxy.ModeUserspace {
		stop()
		if err := proxy.Cleanup(testnet.Path(e.net.Node)); err != nil {
			t.Error(err)
		}
		if out := e.net.Exec("ip", "addr", "show", "dev", "lo"); strings.Contains(out, "10.96.") {
			t.Errorf("cleanup left addresses:\n%s", out)
		}
		return
	}
	t.Run("traffic keeps flowing across a restart", func(t *testing.T) {
		stop()
		if _, err := hits(e.client, web, 10); err != nil {
			t.Fatalf("with the proxy stopped: %v", err)
		}
		e.endpoints("web", e.ip1)
		stop = e.runProxy(mode)
		eventually(t, "new proxy programs the change", func() error {
			got, err := hits(e.client, web, 10)
			if err != nil || got["b2"] > 0 {
				return fmt.Errorf("%v %v", got, err)
			}
			return nil
		})
	})
	t.Run("drift is repaired by the full sync", func(t *testing.T) {
		// Someone flushes the endpoint map behind the proxy's back; a
		// restart (full sync at start) repairs it.
		e.net.Exec("nft", "flush", "map", "ip", "flotilla-proxy", "ip-endpoints")
		if _, err := testnet.Get(e.client, web); err == nil {
			t.Fatal("reached web with the endpoint map flushed")
		}
		stop()
		stop = e.runProxy(mode)
		eventually(t, "repaired", func() error { _, err := testnet.Get(e.client, web); return err })
	})
	stop()
	if err := proxy.Cleanup(testnet.Path(e.net.Node)); err != nil {
		t.Fatal(err)
	}
	if out := e.net.Exec("nft", "list", "tables"); strings.Contains(out, "flotilla-proxy") {
		t.Errorf("cleanup left the table: %s", out)
	}
}
