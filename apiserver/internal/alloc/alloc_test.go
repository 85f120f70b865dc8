package alloc

import (
	"net/netip"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	corev1 "flotilla.io/proto/flotilla/core/v1"
)

func svc(typ, ip string, ports ...*corev1.ServicePort) *corev1.Service {
	return &corev1.Service{Spec: &corev1.ServiceSpec{Type: typ, ClusterIp: ip, Ports: ports}}
}

func port(name string, p, node int32) *corev1.ServicePort {
	return &corev1.ServicePort{Name: name, Port: p, Protocol: "TCP", NodePort: node}
}

func newServices(t *testing.T) *Services {
	t.Helper()
	s, err := New(Config{CIDR: "10.96.0.0/24", NodePorts: "30000-30010", IPKeyPrefix: "ip/", PortKeyPrefix: "port/", Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAssign(t *testing.T) {
	cases := []struct {
		name       string
		svc, old   *corev1.Service
		wantIP     string // "" = any in range, "-" = none
		wantPorts  []int32
		wantRandom int
		wantErr    string
	}{
		{name: "random IP", svc: svc("ClusterIP", "", port("http", 80, 0)), wantRandom: 1, wantPorts: []int32{0}},
		{name: "requested IP", svc: svc("ClusterIP", "10.96.0.10"), wantIP: "10.96.0.10"},
		{name: "IP out of range", svc: svc("ClusterIP", "10.97.0.1"), wantErr: "spec.clusterIP: Invalid value: \"10.97.0.1\": provided IP is not in the valid range"},
		{name: "headless", svc: svc("ClusterIP", "None"), wantIP: "None"},
		{name: "external name has none", svc: svc("ExternalName", ""), wantIP: "-"},
		{name: "node ports random", svc: svc("NodePort", "10.96.0.3", port("a", 80, 0), port("b", 81, 0)), wantIP: "10.96.0.3", wantRandom: 2},
		{name: "node port requested", svc: svc("NodePort", "10.96.0.3", port("a", 80, 30005)), wantPorts: []int32{30005}},
		{name: "node port out of range", svc: svc("NodePort", "10.96.0.3", port("a", 80, 31000)), wantErr: "spec.ports[0].nodePort: Invalid value: 31000"},
		{name: "update keeps IP and node port", svc: svc("NodePort", "", port("a", 80, 0)), old: svc("NodePort", "10.96.0.7", port("a", 80, 30002)), wantIP: "10.96.0.7", wantPorts: []int32{30002}},
		{name: "ClusterIP drops node ports", svc: svc("ClusterIP", "", port("a", 80, 30002)), old: svc("NodePort", "10.96.0.7", port("a", 80, 30002)), wantIP: "10.96.0.7", wantPorts: []int32{0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newServices(t)
			got := proto.Clone(tc.svc).(*corev1.Service)
			a, errs := s.Assign(got, tc.old, nil)
			if tc.wantErr != "" {
				if len(errs) == 0 || !strings.Contains(errs.ToAggregate().Error(), tc.wantErr) {
					t.Fatalf("errs = %v, want %s", errs, tc.wantErr)
				}
				return
			}
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			ip := got.Spec.ClusterIp
			switch tc.wantIP {
			case "":
				addr, err := netip.ParseAddr(ip)
				if err != nil || !netip.MustParsePrefix("10.96.0.0/24").Contains(addr) || ip == "10.96.0.0" || ip == "10.96.0.255" {
					t.Fatalf("random IP %q", ip)
				}
			case "-":
				if ip != "" {
					t.Fatalf("IP %q for ExternalName", ip)
				}
			default:
				if ip != tc.wantIP {
					t.Fatalf("IP %q, want %q", ip, tc.wantIP)
				}
			}
			for n, want := range tc.wantPorts {
				if got.Spec.Ports[n].NodePort != want {
					t.Errorf("port %d nodePort %d, want %d", n, got.Spec.Ports[n].NodePort, want)
				}
			}
			if len(a.Random) != tc.wantRandom {
				t.Errorf("random claims %v, want %d", a.Random, tc.wantRandom)
			}
			for k := range a.Random {
				if a.Field[k] == nil {
					t.Errorf("claim %s has no field", k)
				}
			}
		})
	}
}

func TestRandomNodePortsNeverRepeatWithinAService(t *testing.T) {
	s := newServices(t)
	var ports []*corev1.ServicePort
	for n := 0; n < 11; n++ { // the whole 11-port range
		ports = append(ports, port(string(rune('a'+n)), int32(80+n), 0))
	}
	got := svc("NodePort", "10.96.0.3", ports...)
	if _, errs := s.Assign(got, nil, nil); len(errs) > 0 {
		t.Fatal(errs)
	}
	seen := map[int32]bool{}
	for _, p := range got.Spec.Ports {
		if seen[p.NodePort] {
			t.Fatalf("node port %d twice", p.NodePort)
		}
		seen[p.NodePort] = true
	}
}

func TestClaimsAndDiff(t *testing.T) {
	s := newServices(t)
	old := svc("NodePort", "10.96.0.7", port("a", 80, 30002), port("b", 81, 30003))
	cur := svc("NodePort", "10.96.0.7", port("a", 80, 30002), port("c", 82, 30004))
	take, release := Diff(s.Claims(cur), s.Claims(old))
	if strings.Join(take, ",") != "port/30004" || strings.Join(release, ",") != "port/30003" {
		t.Fatalf("take %v release %v", take, release)
	}
	if got := s.Claims(svc("ClusterIP", "None")); len(got) != 0 {
		t.Fatalf("headless claims %v", got)
	}
}

func TestAssignAvoidsTakenUntilFull(t *testing.T) {
	s := newServices(t)
	taken := map[string]bool{}
	for n := 0; n < 254; n++ { // every usable address of the /24
		got := svc("ClusterIP", "")
		if _, errs := s.Assign(got, nil, taken); len(errs) > 0 {
			t.Fatalf("allocation %d: %v", n, errs)
		}
		key := "ip/" + got.Spec.ClusterIp
		if taken[key] {
			t.Fatalf("%s handed out twice", key)
		}
		taken[key] = true
	}
	if _, errs := s.Assign(svc("ClusterIP", ""), nil, taken); len(errs) == 0 || !strings.Contains(errs.ToAggregate().Error(), "is full") {
		t.Fatalf("full range: %v", errs)
	}
}
