package dns_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap/zaptest"
	"google.golang.org/protobuf/proto"

	"flotilla.io/apiserver/testserver"
	corev1 "flotilla.io/proto/flotilla/core/v1"
	discoveryv1 "flotilla.io/proto/flotilla/discovery/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
	"flotilla.io/sdk/client"

	fdns "flotilla.io/dns"
)

func create[T interface {
	*corev1.Service | *discoveryv1.EndpointSlice
}](t *testing.T, cli *client.Client, obj T) {
	t.Helper()
	var err error
	switch o := any(obj).(type) {
	case *corev1.Service:
		_, err = client.For[*corev1.Service](cli).Create(context.Background(), o)
	case *discoveryv1.EndpointSlice:
		_, err = client.For[*discoveryv1.EndpointSlice](cli).Create(context.Background(), o)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func meta(name string, labels map[string]string) *metav1.ObjectMeta {
	return &metav1.ObjectMeta{Name: name, Namespace: "default", Labels: labels}
}

func slice(svc string, ports []*discoveryv1.EndpointPort, eps ...*discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{Metadata: meta(svc+"-abc", map[string]string{"kubernetes.io/service-name": svc}), AddressType: "IPv4", Ports: ports, Endpoints: eps}
}

func ep(ip, hostname string, ready bool) *discoveryv1.Endpoint {
	e := &discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: &discoveryv1.EndpointConditions{Ready: proto.Bool(ready)}}
	if hostname != "" {
		e.Hostname = proto.String(hostname)
	}
	return e
}

// startDNS runs the server on a free loopback port and returns its address.
func startDNS(t *testing.T, cfg *client.Config, reg *prometheus.Registry, upstreams ...string) string {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", testserver.FreePort(t))
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- fdns.Run(ctx, fdns.Config{Client: cfg, Listen: addr, Upstreams: upstreams, Log: zaptest.NewLogger(t), Registry: reg, Ready: func() { close(ready) }})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("dns: %v", err)
		}
	})
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("dns exited: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("dns not serving after 30s")
	}
	return addr
}

func ask(t *testing.T, addr, network, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg).SetQuestion(dns.Fqdn(name), qtype)
	c := &dns.Client{Net: network, Timeout: 5 * time.Second}
	resp, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s %s over %s: %v", name, dns.TypeToString[qtype], network, err)
	}
	return resp
}

// answer renders the answer section's data, sorted, e.g. "A 10.96.0.20".
func answer(m *dns.Msg) string {
	var out []string
	for _, rr := range m.Answer {
		f := strings.Fields(rr.String())
		out = append(out, strings.Join(append([]string{f[3]}, f[4:]...), " "))
	}
	slices.Sort(out)
	return dns.RcodeToString[m.Rcode] + ": " + strings.Join(out, "; ")
}

func TestDNS(t *testing.T) {
	srv := testserver.Start(t)
	cli, err := client.New(context.Background(), srv.Config)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()

	tcp := func(name string, port int32) *corev1.ServicePort {
		return &corev1.ServicePort{Name: name, Protocol: "TCP", Port: port, TargetPort: &metav1.IntOrString{IntVal: port}}
	}
	create(t, cli, &corev1.Service{Metadata: meta("web", nil), Spec: &corev1.ServiceSpec{
		ClusterIp: "10.96.0.20", ClusterIps: []string{"10.96.0.20"}, Selector: map[string]string{"app": "web"},
		Ports: []*corev1.ServicePort{tcp("http", 80), {Name: "dns", Protocol: "UDP", Port: 53, TargetPort: &metav1.IntOrString{IntVal: 53}}},
	}})
	create(t, cli, slice("web", []*discoveryv1.EndpointPort{{Name: proto.String("http"), Port: proto.Int32(8080)}}, ep("10.244.2.9", "", true)))
	create(t, cli, &corev1.Service{Metadata: meta("db", nil), Spec: &corev1.ServiceSpec{
		ClusterIp: "None", ClusterIps: []string{"None"}, Selector: map[string]string{"app": "db"}, Ports: []*corev1.ServicePort{tcp("pg", 5432)},
	}})
	create(t, cli, slice("db", []*discoveryv1.EndpointPort{{Name: proto.String("pg"), Protocol: proto.String("TCP"), Port: proto.Int32(5432)}},
		ep("10.244.1.5", "db-0", true), ep("10.244.1.6", "db-1", true), ep("10.244.1.7", "db-2", false)))
	create(t, cli, &corev1.Service{Metadata: meta("ext", nil), Spec: &corev1.ServiceSpec{Type: "ExternalName", ExternalName: "example.com"}})

	// A fake upstream for forwarded names.
	upstream := &dns.Server{Addr: "127.0.0.1:0", Net: "udp", Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg).SetReply(r)
		m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, 1)})
		_ = w.WriteMsg(m)
	})}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	upstream.PacketConn = pc
	go func() { _ = upstream.ActivateAndServe() }()
	defer upstream.Shutdown()

	reg := prometheus.NewRegistry()
	addr := startDNS(t, srv.Config, reg)
	fwd := startDNS(t, srv.Config, prometheus.NewRegistry(), pc.LocalAddr().String())

	// Wait for the caches to hold everything.
	deadline := time.Now().Add(30 * time.Second)
	for answer(ask(t, addr, "udp", "db-1.db.default.svc.cluster.local", dns.TypeA)) != "NOERROR: A 10.244.1.6" {
		if time.Now().After(deadline) {
			t.Fatal("objects never showed up in DNS")
		}
		time.Sleep(100 * time.Millisecond)
	}

	const d = ".default.svc.cluster.local"
	for _, tc := range []struct {
		name  string
		qtype uint16
		want  string
	}{
		{"web" + d, dns.TypeA, "NOERROR: A 10.96.0.20"},
		{"WEB.Default.svc.cluster.local", dns.TypeA, "NOERROR: A 10.96.0.20"},
		{"web" + d, dns.TypeAAAA, "NOERROR: "}, // NODATA
		{"web" + d, dns.TypeTXT, "NOERROR: "},
		{"nothere" + d, dns.TypeA, "NXDOMAIN: "},
		{"db" + d, dns.TypeA, "NOERROR: A 10.244.1.5; A 10.244.1.6"},
		{"db-0.db" + d, dns.TypeA, "NOERROR: A 10.244.1.5"},
		{"10-244-1-6.db" + d, dns.TypeA, "NOERROR: A 10.244.1.6"},
		{"db-2.db" + d, dns.TypeA, "NXDOMAIN: "}, // not ready
		{"_pg._tcp.db" + d, dns.TypeSRV, "NOERROR: SRV 0 100 5432 db-0.db.default.svc.cluster.local.; SRV 0 100 5432 db-1.db.default.svc.cluster.local."},
		{"_http._tcp.web" + d, dns.TypeSRV, "NOERROR: SRV 0 100 80 web.default.svc.cluster.local."},
		{"_dns._udp.web" + d, dns.TypeSRV, "NOERROR: SRV 0 100 53 web.default.svc.cluster.local."},
		{"_http._udp.web" + d, dns.TypeSRV, "NXDOMAIN: "},
		{"_http._tcp.web" + d, dns.TypeA, "NOERROR: "},
		{"web" + d, dns.TypeSRV, "NOERROR: SRV 0 100 53 web.default.svc.cluster.local.; SRV 0 100 80 web.default.svc.cluster.local."},
		{"ext" + d, dns.TypeA, "NOERROR: CNAME example.com."},
		{"ext" + d, dns.TypeCNAME, "NOERROR: CNAME example.com."},
		{"20.0.96.10.in-addr.arpa", dns.TypePTR, "NOERROR: PTR web.default.svc.cluster.local."},
		{"5.1.244.10.in-addr.arpa", dns.TypePTR, "NOERROR: PTR db-0.db.default.svc.cluster.local."},
		{"9.2.244.10.in-addr.arpa", dns.TypePTR, "NOERROR: PTR 10-244-2-9.default.pod.cluster.local."},
		{"10-244-2-9.default.pod.cluster.local", dns.TypeA, "NOERROR: A 10.244.2.9"},
		{"10-244-2-10.default.pod.cluster.local", dns.TypeA, "NXDOMAIN: "},
		{"default.svc.cluster.local", dns.TypeA, "NOERROR: "},
		{"nons.svc.cluster.local", dns.TypeA, "NXDOMAIN: "},
		{"svc.cluster.local", dns.TypeA, "NOERROR: "},
		{"cluster.local", dns.TypeSOA, "NOERROR: SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 5"},
		// A search-path expansion of a full name does not exist.
		{"web" + d + ".default.svc.cluster.local", dns.TypeA, "NXDOMAIN: "},
		{"example.org", dns.TypeA, "REFUSED: "},
		{"1.2.0.192.in-addr.arpa", dns.TypePTR, "REFUSED: "},
	} {
		for _, network := range []string{"udp", "tcp"} {
			resp := ask(t, addr, network, tc.name, tc.qtype)
			if got := answer(resp); got != tc.want {
				t.Errorf("%s %s over %s = %q, want %q", tc.name, dns.TypeToString[tc.qtype], network, got, tc.want)
			}
			if resp.Rcode != dns.RcodeRefused && (!resp.Authoritative || (len(resp.Answer) == 0 && len(resp.Ns) == 0)) {
				t.Errorf("%s %s: not authoritative or no SOA with an empty answer", tc.name, dns.TypeToString[tc.qtype])
			}
		}
	}
	if r := ask(t, addr, "udp", "_pg._tcp.db"+d, dns.TypeSRV); len(r.Extra) != 2 {
		t.Errorf("SRV additional section: %v", r.Extra)
	}
	if got := answer(ask(t, fwd, "udp", "example.org", dns.TypeA)); got != "NOERROR: A 192.0.2.1" {
		t.Errorf("forwarded = %q", got)
	}
	if got := answer(ask(t, fwd, "tcp", "web"+d, dns.TypeA)); got != "NOERROR: A 10.96.0.20" {
		t.Errorf("cluster name with upstreams = %q", got)
	}
	if n := testutil.CollectAndCount(reg, "flotilla_dns_requests_total"); n == 0 {
		t.Error("no request metrics")
	}
	if v := testutil.ToFloat64(prometheusCounter(t, reg)); v == 0 {
		t.Error("no NXDOMAIN counted")
	}

	// Changes show up: a new endpoint for the headless service.
	s, err := client.For[*discoveryv1.EndpointSlice](cli).Get(context.Background(), "default", "db-abc")
	if err != nil {
		t.Fatal(err)
	}
	s = proto.Clone(s).(*discoveryv1.EndpointSlice)
	s.Endpoints[2].Conditions.Ready = proto.Bool(true)
	if _, err := client.For[*discoveryv1.EndpointSlice](cli).Update(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(30 * time.Second)
	for answer(ask(t, addr, "tcp", "db"+d, dns.TypeA)) != "NOERROR: A 10.244.1.5; A 10.244.1.6; A 10.244.1.7" {
		if time.Now().After(deadline) {
			t.Fatal("ready endpoint never published")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func prometheusCounter(t *testing.T, reg *prometheus.Registry) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "nx"})
	for _, mf := range mfs {
		if mf.GetName() != "flotilla_dns_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "rcode" && l.GetValue() == "NXDOMAIN" {
					c.Add(m.GetCounter().GetValue())
				}
			}
		}
	}
	return c
}
