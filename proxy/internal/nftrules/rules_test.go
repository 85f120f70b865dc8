package nftrules

import (
	"net/netip"
	"regexp"
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
			name:  "new service with two endpoints",
			after: []model.ServicePort{port("a", "10.96.0.1", 0, 0, "10.244.1.2", "10.244.1.3")},
			want: `add map eps-ns/a/tcp/http
add chain sep-ns/a/tcp/http/10.244.1.2:8080
add chain sep-ns/a/tcp/http/10.244.1.3:8080
add chain svc-ns/a/tcp/http
flush chain sep-ns/a/tcp/http/10.244.1.2:8080
add rule sep-ns/a/tcp/http/10.244.1.2:8080 ip saddr 10.244.1.2 jump mark-for-masquerade
add rule sep-ns/a/tcp/http/10.244.1.2:8080 meta l4proto tcp dnat to 10.244.1.2:8080
flush chain sep-ns/a/tcp/http/10.244.1.3:8080
add rule sep-ns/a/tcp/http/10.244.1.3:8080 ip saddr 10.244.1.3 jump mark-for-masquerade
add rule sep-ns/a/tcp/http/10.244.1.3:8080 meta l4proto tcp dnat to 10.244.1.3:8080
flush chain svc-ns/a/tcp/http
add rule svc-ns/a/tcp/http ip saddr != 10.244.0.0/16 jump mark-for-masquerade
add rule svc-ns/a/tcp/http numgen inc mod 2 vmap @eps-ns/a/tcp/http
flush map eps-ns/a/tcp/http
add element eps-ns/a/tcp/http { 0 : goto sep-ns/a/tcp/http/10.244.1.2:8080, 1 : goto sep-ns/a/tcp/http/10.244.1.3:8080 }
add element service-ips 10.96.0.1 . tcp . 80 : goto svc-ns/a/tcp/http
`,
		},
		{
			name:   "unchanged service: nothing to do",
			before: []model.ServicePort{port("a", "10.96.0.1", 0, 0, "10.244.1.2")},
			after:  []model.ServicePort{port("a", "10.96.0.1", 0, 0, "10.244.1.2")},
			want:   "",
		},
		{
			name:   "an endpoint goes: its chain after the referrers are rewritten",
			before: []model.ServicePort{port("a", "10.96.0.1", 0, 0, "10.244.1.2", "10.244.1.3")},
			after:  []model.ServicePort{port("a", "10.96.0.1", 0, 0, "10.244.1.3")},
			want: `flush chain svc-ns/a/tcp/http
add rule svc-ns/a/tcp/http ip saddr != 10.244.0.0/16 jump mark-for-masquerade
add rule svc-ns/a/tcp/http numgen inc mod 1 vmap @eps-ns/a/tcp/http
flush map eps-ns/a/tcp/http
add element eps-ns/a/tcp/http { 0 : goto sep-ns/a/tcp/http/10.244.1.3:8080 }
delete chain sep-ns/a/tcp/http/10.244.1.2:8080
`,
		},
		{
			name:   "last endpoint goes: reject instead",
			before: []model.ServicePort{port("a", "10.96.0.1", 30001, 0, "10.244.1.2")},
			after:  []model.ServicePort{port("a", "10.96.0.1", 30001, 0)},
			want: `flush map eps-ns/a/tcp/http
delete element service-ips 10.96.0.1 . tcp . 80 : goto svc-ns/a/tcp/http
delete element service-nodeports tcp . 30001 : goto ext-ns/a/tcp/http
add element no-endpoint-services 10.96.0.1 . tcp . 80 : goto reject-chain
add element no-endpoint-nodeports tcp . 30001 : goto reject-chain
delete chain ext-ns/a/tcp/http
delete chain svc-ns/a/tcp/http
delete chain sep-ns/a/tcp/http/10.244.1.2:8080
delete map eps-ns/a/tcp/http
`,
		},
		{
			name:  "affinity: a timeout set per endpoint",
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
add rule svc-ns/a/tcp/http numgen inc mod 1 vmap @eps-ns/a/tcp/http
flush map eps-ns/a/tcp/http
add element eps-ns/a/tcp/http { 0 : goto sep-ns/a/tcp/http/10.244.1.2:8080 }
add element service-ips 10.96.0.1 . tcp . 80 : goto svc-ns/a/tcp/http
`,
		},
		{
			name:   "service deleted",
			before: []model.ServicePort{port("a", "10.96.0.1", 0, 0)},
			want:   "delete element no-endpoint-services 10.96.0.1 . tcp . 80 : goto reject-chain\n",
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
	}
	if sizes[0] != sizes[1] {
		t.Errorf("ops for one change: %v lines at 10 and 10,000 services", sizes)
	}
}

func TestConflictingServices(t *testing.T) {
	s := NewState(opts)
	s.Update("ns/a", []model.ServicePort{port("a", "10.96.0.1", 0, 0, "10.244.1.2")})
	ops := s.Update("ns/b", []model.ServicePort{port("b", "10.96.0.1", 0, 0, "10.244.1.3")})
	if strings.Contains(Format(ops), "service-ips") {
		t.Errorf("b took a's address:\n%s", Format(ops))
	}
	ops = s.Update("ns/a", nil)
	if !strings.Contains(Format(ops), "delete element service-ips") {
		t.Errorf("a's element not removed:\n%s", Format(ops))
	}
}

func TestFull(t *testing.T) {
	s := NewState(opts)
	desired := map[string][]model.ServicePort{"ns/a": {port("a", "10.96.0.1", 0, 0, "10.244.1.2")}}
	k := Kernel{
		Exists: true,
		Chains: map[string]bool{"svc-zzzzzzzz-ns/old/tcp/http": true, "sep-zzzzzzzz-ns/old/tcp/http/1.2.3.4:80": true},
		Sets:   map[string]bool{"eps-zzzzzzzz-ns/old/tcp/http": true},
		Elements: []Element{
			{Map: MapServiceIPs, IP: netip.MustParseAddr("10.96.0.9"), Proto: model.TCP, Port: 80, Goto: "svc-zzzzzzzz-ns/old/tcp/http"},
			{Map: MapServiceIPs, IP: netip.MustParseAddr("10.96.0.1"), Proto: model.TCP, Port: 80, Goto: "svc-zzzzzzzz-ns/old/tcp/http"},
		},
	}
	groups := s.Full(desired, k)
	if len(groups) != 3 || groups[0][0].Kind != EnsureBase {
		t.Fatalf("groups: %d", len(groups))
	}
	svc, stray := render(groups[1]), render(groups[2])
	for _, want := range []string{
		"delete element service-ips 10.96.0.1 . tcp . 80 : goto svc-ns/old/tcp/http\nadd element service-ips 10.96.0.1 . tcp . 80 : goto svc-ns/a/tcp/http",
		"flush chain svc-ns/a/tcp/http",
	} {
		if !strings.Contains(svc, want) {
			t.Errorf("service group lacks %q:\n%s", want, svc)
		}
	}
	want := `delete element service-ips 10.96.0.9 . tcp . 80 : goto svc-ns/old/tcp/http
flush chain svc-ns/old/tcp/http
flush chain sep-ns/old/tcp/http/1.2.3.4:80
flush map eps-ns/old/tcp/http
delete chain svc-ns/old/tcp/http
delete chain sep-ns/old/tcp/http/1.2.3.4:80
delete map eps-ns/old/tcp/http
`
	if stray != want {
		t.Errorf("stray group:\n%s\nwant:\n%s", stray, want)
	}
	if n, _, _ := s.Counts(); n != 1 {
		t.Errorf("state holds %d services", n)
	}
}
