package nftrules

import (
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"flotilla.io/proxy/internal/model"
)

func port(name, vip string, nodePort uint16, aff time.Duration, eps ...string) model.ServicePort {
	p := model.ServicePort{Name: "ns/" + name + "/tcp/http", Service: "ns/" + name, ClusterIP: netip.MustParseAddr(vip), Port: 80, Proto: model.TCP, NodePort: nodePort, Affinity: aff}
	for _, e := range eps {
		p.Endpoints = append(p.Endpoints, model.Endpoint{IP: netip.MustParseAddr(e), Port: 8080})
	}
	return p
}

// hashes hides the name hashes so expectations stay readable.
var hashes = regexp.MustCompile(`(svc|ext|sep|eps|aff)-[a-z2-7]{8}-`)

func render(ops []Op) string { return hashes.ReplaceAllString(Format(ops), "$1-") }

var opts = Options{ClusterCIDR: netip.MustParsePrefix("10.244.0.0/16")}

func TestUpdate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		before []model.ServicePort
		after  []model.ServicePort
		want   string
	}{
		{
			name:  "new service with two endpoints: elements, and a rule for a new endpoint count",
			after: []model.ServicePort{port("a", "10.96.0.1", 0, 0, "10.244.1.2", "10.244.1.3")},
			want: `flush chain endpoints
add rule endpoints dnat to ip daddr . meta l4proto . th dport . 2 . numgen random mod 2 map @ip-endpoints
add rule endpoints fib daddr type local dnat to meta l4proto . th dport . 2 . numgen random mod 2 map @nodeport-endpoints
add element cluster-ips 10.96.0.1 . tcp . 80
add element ip-endpoints 10.96.0.1 . tcp . 80 . 2 . 0 : 10.244.1.2:8080
add element ip-endpoints 10.96.0.1 . tcp . 80 . 2 . 1 : 10.244.1.3:8080
add element hairpin 10.244.1.2 . 10.244.1.2
add element hairpin 10.244.1.3 . 10.244.1.3
`,
		},
		{
			name:   "unchanged service: nothing to do",
			before: []model.ServicePort{port("a", "10.96.0.1", 0, 0, "10.244.1.2")},
			after:  []model.ServicePort{port("a", "10.96.0.1", 0, 0, "10.244.1.2")},
			want:   "",
		},
		{
			name:   "an endpoint is replaced: elements only",
			before: []model.ServicePort{port("a", "10.96.0.1", 30001, 0, "10.244.1.2", "10.244.1.3")},
			after:  []model.ServicePort{port("a", "10.96.0.1", 30001, 0, "10.244.1.4", "10.244.1.3")},
			want: `delete element ip-endpoints 10.96.0.1 . tcp . 80 . 2 . 0 : 10.244.1.2:8080
delete element nodeport-endpoints tcp . 30001 . 2 . 0 : 10.244.1.2:8080
delete element hairpin 10.244.1.2 . 10.244.1.2
add element ip-endpoints 10.96.0.1 . tcp . 80 . 2 . 0 : 10.244.1.4:8080
add element nodeport-endpoints tcp . 30001 . 2 . 0 : 10.244.1.4:8080
add element hairpin 10.244.1.4 . 10.244.1.4
`,
		},
		{
			name:   "an endpoint goes: the endpoints chain learns count 1",
			before: []model.ServicePort{port("a", "10.96.0.1", 0, 0, "10.244.1.2", "10.244.1.3")},
			after:  []model.ServicePort{port("a", "10.96.0.1", 0, 0, "10.244.1.3")},
			want: `flush chain endpoints
add rule endpoints dnat to ip daddr . meta l4proto . th dport . 1 . numgen random mod 1 map @ip-endpoints
add rule endpoints fib daddr type local dnat to meta l4proto . th dport . 1 . numgen random mod 1 map @nodeport-endpoints
add rule endpoints dnat to ip daddr . meta l4proto . th dport . 2 . numgen random mod 2 map @ip-endpoints
add rule endpoints fib daddr type local dnat to meta l4proto . th dport . 2 . numgen random mod 2 map @nodeport-endpoints
delete element ip-endpoints 10.96.0.1 . tcp . 80 . 2 . 0 : 10.244.1.2:8080
delete element ip-endpoints 10.96.0.1 . tcp . 80 . 2 . 1 : 10.244.1.3:8080
delete element hairpin 10.244.1.2 . 10.244.1.2
add element ip-endpoints 10.96.0.1 . tcp . 80 . 1 . 0 : 10.244.1.3:8080
`,
		},
		{
			name:   "last endpoint goes: reject instead",
			before: []model.ServicePort{port("a", "10.96.0.1", 30001, 0, "10.244.1.2")},
			after:  []model.ServicePort{port("a", "10.96.0.1", 30001, 0)},
			want: `delete element cluster-ips 10.96.0.1 . tcp . 80
delete element nodeports tcp . 30001
delete element ip-endpoints 10.96.0.1 . tcp . 80 . 1 . 0 : 10.244.1.2:8080
delete element nodeport-endpoints tcp . 30001 . 1 . 0 : 10.244.1.2:8080
delete element hairpin 10.244.1.2 . 10.244.1.2
add element reject-ips 10.96.0.1 . tcp . 80
add element reject-nodeports tcp . 30001
`,
		},
		{
			name:  "affinity: own chains, a timeout set per endpoint",
			after: []model.ServicePort{port("a", "10.96.0.1", 0, time.Hour, "10.244.1.2")},
			want: `add set aff-ns/a/tcp/http/10.244.1.2:8080
add map eps-ns/a/tcp/http
add chain sep-ns/a/tcp/http/10.244.1.2:8080
add chain svc-ns/a/tcp/http
flush chain sep-ns/a/tcp/http/10.244.1.2:8080
add rule sep-ns/a/tcp/http/10.244.1.2:8080 ip saddr 10.244.1.2 jump mark-for-masquerade
add rule sep-ns/a/tcp/http/10.244.1.2:8080 update @aff-ns/a/tcp/http/10.244.1.2:8080 { ip saddr timeout 1h0m0s }
add rule sep-ns/a/tcp/http/10.244.1.2:8080 meta l4proto tcp dnat to 10.244.1.2:8080
flush chain svc-ns/a/tcp/http
add rule svc-ns/a/tcp/http ip saddr != 10.244.0.0/16 jump mark-for-masquerade
add rule svc-ns/a/tcp/http ip saddr @aff-ns/a/tcp/http/10.244.1.2:8080 goto sep-ns/a/tcp/http/10.244.1.2:8080
add rule svc-ns/a/tcp/http numgen random mod 1 vmap @eps-ns/a/tcp/http
flush map eps-ns/a/tcp/http
add element eps-ns/a/tcp/http { 0 : goto sep-ns/a/tcp/http/10.244.1.2:8080 }
add element service-ips 10.96.0.1 . tcp . 80 : goto svc-ns/a/tcp/http
`,
		},
		{
			name:   "affinity dropped: chains go, elements come",
			before: []model.ServicePort{port("a", "10.96.0.1", 0, time.Hour, "10.244.1.2")},
			after:  []model.ServicePort{port("a", "10.96.0.1", 0, 0, "10.244.1.2")},
			want: `flush chain endpoints
add rule endpoints dnat to ip daddr . meta l4proto . th dport . 1 . numgen random mod 1 map @ip-endpoints
add rule endpoints fib daddr type local dnat to meta l4proto . th dport . 1 . numgen random mod 1 map @nodeport-endpoints
flush map eps-ns/a/tcp/http
delete element service-ips 10.96.0.1 . tcp . 80 : goto svc-ns/a/tcp/http
add element cluster-ips 10.96.0.1 . tcp . 80
add element ip-endpoints 10.96.0.1 . tcp . 80 . 1 . 0 : 10.244.1.2:8080
add element hairpin 10.244.1.2 . 10.244.1.2
delete chain svc-ns/a/tcp/http
delete chain sep-ns/a/tcp/http/10.244.1.2:8080
delete set aff-ns/a/tcp/http/10.244.1.2:8080
delete map eps-ns/a/tcp/http
`,
		},
		{
			name:   "service deleted",
			before: []model.ServicePort{port("a", "10.96.0.1", 0, 0)},
			want:   "delete element reject-ips 10.96.0.1 . tcp . 80\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewState(opts)
			s.Update("ns/a", tc.before)
			got := s.Update("ns/a", tc.after)
			SortOps(got)
			if r := render(got); r != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", r, tc.want)
			}
		})
	}
}

// TestSharedHairpin: an endpoint address two services use keeps its
// hairpin element until neither does.
func TestSharedHairpin(t *testing.T) {
	s := NewState(opts)
	s.Update("ns/a", []model.ServicePort{port("a", "10.96.0.1", 0, 0, "10.244.1.2")})
	if ops := Format(s.Update("ns/b", []model.ServicePort{port("b", "10.96.0.2", 0, 0, "10.244.1.2")})); strings.Contains(ops, "hairpin") {
		t.Errorf("b added the hairpin element again:\n%s", ops)
	}
	if ops := Format(s.Update("ns/a", nil)); strings.Contains(ops, "hairpin") {
		t.Errorf("a removed the element b still needs:\n%s", ops)
	}
	if ops := Format(s.Update("ns/b", nil)); !strings.Contains(ops, "delete element hairpin 10.244.1.2 . 10.244.1.2") {
		t.Errorf("b did not remove the last hairpin element:\n%s", ops)
	}
	if n, _, e, _ := s.Counts(); n != 0 || e != 0 {
		t.Errorf("state holds %d services, %d elements", n, e)
	}
}

// TestConstantCost: a change to one service produces the same ops however
// many other services there are.
func TestConstantCost(t *testing.T) {
	var sizes []int
	for _, n := range []int{10, 10000} {
		s := NewState(opts)
		for i := range n {
			ip := netip.AddrFrom4([4]byte{10, 96, byte(i >> 8), byte(i)})
			s.Update("ns/s"+string(rune(i)), []model.ServicePort{port("x", ip.String(), 0, 0, "10.244.1.2")})
		}
		s.Update("ns/a", []model.ServicePort{port("a", "10.97.0.1", 0, 0, "10.244.1.2")})
		ops := s.Update("ns/a", []model.ServicePort{port("a", "10.97.0.1", 0, 0, "10.244.1.3")})
		sizes = append(sizes, len(strings.Split(Format(ops), "\n")))
		// Elements only: nothing the kernel must validate the table for.
		for _, op := range ops {
			if op.Kind != AddElements && op.Kind != DeleteElements {
				t.Errorf("%d services: a new endpoint takes %s", n, op)
			}
		}
	}
	if sizes[0] != sizes[1] {
		t.Errorf("ops for one change: %v lines at 10 and 10,000 services", sizes)
	}
}

func TestConflictingServices(t *testing.T) {
	s := NewState(opts)
	s.Update("ns/a", []model.ServicePort{port("a", "10.96.0.1", 0, 0, "10.244.1.2")})
	ops := s.Update("ns/b", []model.ServicePort{port("b", "10.96.0.1", 0, 0, "10.244.1.3")})
	if strings.Contains(Format(ops), "10.96.0.1") {
		t.Errorf("b took a's address:\n%s", Format(ops))
	}
	ops = s.Update("ns/a", nil)
	if !strings.Contains(Format(ops), "delete element cluster-ips 10.96.0.1") {
		t.Errorf("a's element not removed:\n%s", Format(ops))
	}
}

func TestFull(t *testing.T) {
	s := NewState(opts)
	desired := map[string][]model.ServicePort{
		"ns/a": {port("a", "10.96.0.1", 0, 0, "10.244.1.2")},
		"ns/b": {port("b", "10.96.0.2", 0, time.Hour, "10.244.1.3")},
	}
	k := Kernel{
		Exists: true,
		Chains: map[string]bool{"svc-zzzzzzzz-ns/old/tcp/http": true, "sep-zzzzzzzz-ns/old/tcp/http/1.2.3.4:80": true},
		Sets:   map[string]bool{"eps-zzzzzzzz-ns/old/tcp/http": true},
		Elements: []Element{
			{Map: MapServiceIPs, IP: netip.MustParseAddr("10.96.0.9"), Proto: model.TCP, Port: 80, Goto: "svc-zzzzzzzz-ns/old/tcp/http"},
			{Map: MapServiceIPs, IP: netip.MustParseAddr("10.96.0.2"), Proto: model.TCP, Port: 80, Goto: "svc-zzzzzzzz-ns/old/tcp/http"},
			{Map: SetClusterIPs, IP: netip.MustParseAddr("10.96.0.1"), Proto: model.TCP, Port: 80},
			{Map: MapIPEndpoints, IP: netip.MustParseAddr("10.96.0.1"), Proto: model.TCP, Port: 80, N: 1, Endpoint: netip.MustParseAddrPort("10.244.1.9:8080")},
			{Map: MapIPEndpoints, IP: netip.MustParseAddr("10.96.0.1"), Proto: model.TCP, Port: 80, N: 2, Index: 1, Endpoint: netip.MustParseAddrPort("10.244.1.9:8080")},
			{Map: SetHairpin, IP: netip.MustParseAddr("10.244.1.9")},
			{Map: SetHairpin, IP: netip.MustParseAddr("10.244.1.2")},
		},
	}
	groups := s.Full(desired, k)
	if len(groups) != 4 || groups[0][0].Kind != EnsureBase {
		t.Fatalf("groups: %d", len(groups))
	}
	if got, want := render(groups[0][1:]), `flush chain endpoints
add rule endpoints dnat to ip daddr . meta l4proto . th dport . 1 . numgen random mod 1 map @ip-endpoints
add rule endpoints fib daddr type local dnat to meta l4proto . th dport . 1 . numgen random mod 1 map @nodeport-endpoints
`; got != want {
		t.Errorf("endpoints chain:\n%s\nwant:\n%s", got, want)
	}
	if got, want := render(groups[1]), `delete element ip-endpoints 10.96.0.1 . tcp . 80 . 1 . 0 : 10.244.1.9:8080
add element ip-endpoints 10.96.0.1 . tcp . 80 . 1 . 0 : 10.244.1.2:8080
`; got != want {
		t.Errorf("service a:\n%s\nwant:\n%s", got, want)
	}
	b := render(groups[2])
	for _, want := range []string{
		"delete element service-ips 10.96.0.2 . tcp . 80 : goto svc-ns/old/tcp/http\nadd element service-ips 10.96.0.2 . tcp . 80 : goto svc-ns/b/tcp/http",
		"flush chain svc-ns/b/tcp/http",
	} {
		if !strings.Contains(b, want) {
			t.Errorf("service group lacks %q:\n%s", want, b)
		}
	}
	want := `delete element service-ips 10.96.0.9 . tcp . 80 : goto svc-ns/old/tcp/http
delete element ip-endpoints 10.96.0.1 . tcp . 80 . 2 . 1 : 10.244.1.9:8080
delete element hairpin 10.244.1.9 . 10.244.1.9
flush chain svc-ns/old/tcp/http
flush chain sep-ns/old/tcp/http/1.2.3.4:80
flush map eps-ns/old/tcp/http
delete chain svc-ns/old/tcp/http
delete chain sep-ns/old/tcp/http/1.2.3.4:80
delete map eps-ns/old/tcp/http
`
	if stray := render(groups[3]); stray != want {
		t.Errorf("stray group:\n%s\nwant:\n%s", stray, want)
	}
	if n, _, _, eps := s.Counts(); n != 2 || eps != 2 {
		t.Errorf("state holds %d services, %d endpoints", n, eps)
	}
}

// TestFullOutdated: a table of an older layout is replaced whole, in the
// first batch.
func TestFullOutdated(t *testing.T) {
	s := NewState(opts)
	groups := s.Full(map[string][]model.ServicePort{"ns/a": {port("a", "10.96.0.1", 0, 0, "10.244.1.2")}},
		Kernel{Exists: true, Outdated: true, Chains: map[string]bool{"svc-zzzzzzzz-ns/old/tcp/http": true}})
	if len(groups) != 2 || groups[0][0].Kind != DeleteTable || groups[0][1].Kind != EnsureBase {
		t.Fatalf("groups:\n%v", groups)
	}
	if got := render(groups[1]); !strings.Contains(got, "add element cluster-ips 10.96.0.1 . tcp . 80\n") {
		t.Errorf("service group:\n%s", got)
	}
}

// BenchmarkFullResync: the periodic full sync's pure part at 10,000
// services (5 endpoints each) when the kernel already matches.
func BenchmarkFullResync(b *testing.B) {
	desired := map[string][]model.ServicePort{}
	var k Kernel
	for i := range 10000 {
		var eps []string
		for e := range 5 {
			eps = append(eps, netip.AddrFrom4([4]byte{10, 128 + byte(e), byte(i >> 8), byte(i)}).String())
		}
		vip := netip.AddrFrom4([4]byte{10, 100, byte(i >> 8), byte(i)}).String()
		svc := "ns/s" + strconv.Itoa(i)
		desired[svc] = []model.ServicePort{port("s"+strconv.Itoa(i), vip, 0, 0, eps...)}
	}
	s := NewState(opts)
	for _, g := range s.Full(desired, k) {
		for _, op := range g {
			if op.Kind == AddElements {
				k.Elements = append(k.Elements, op.Elements...)
			}
		}
	}
	k.Exists = true
	b.ResetTimer()
	for range b.N {
		s.Full(desired, k)
	}
}
