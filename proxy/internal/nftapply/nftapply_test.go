package nftapply_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"flotilla.io/proxy/internal/model"
	"flotilla.io/proxy/internal/nftapply"
	"flotilla.io/proxy/internal/nftrules"
	"flotilla.io/proxy/internal/testnet"
)

func sp(name, vip string, port, nodePort uint16, aff time.Duration, eps ...string) model.ServicePort {
	p := model.ServicePort{Name: "default/" + name + "/tcp/", Service: "default/" + name, ClusterIP: netip.MustParseAddr(vip), Port: port, Proto: model.TCP, NodePort: nodePort, Affinity: aff}
	for _, e := range eps {
		p.Endpoints = append(p.Endpoints, model.Endpoint{IP: netip.MustParseAddr(e), Port: 8080})
	}
	return p
}

// TestKernel programs a table in a scratch namespace and checks that the
// kernel accepts every op kind, that a full sync reads back what it wrote
// and that Delete removes the table.
func TestKernel(t *testing.T) {
	n := testnet.New(t, 201)
	c, err := nftapply.Open(testnet.Path(n.Node))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Probe(); err != nil {
		t.Fatal(err)
	}
	st := nftrules.NewState(nftrules.Options{ClusterCIDR: netip.MustParsePrefix("10.244.0.0/16")})
	desired := map[string][]model.ServicePort{
		"default/a": {sp("a", "10.96.0.10", 80, 30080, 0, "10.244.201.11", "10.244.201.12")},
		"default/b": {sp("b", "10.96.0.11", 80, 0, time.Hour, "10.244.201.11")},
		"default/c": {sp("c", "10.96.0.12", 80, 30081, 0)},
	}
	k, err := c.Read()
	if err != nil || k.Exists {
		t.Fatalf("read before: %+v %v", k, err)
	}
	if err := c.ApplyGroups(st.Full(desired, k), 1000); err != nil {
		t.Fatal(err)
	}
	out := n.Exec("nft", "list", "table", "ip", nftrules.Table)
	for _, want := range []string{
		"numgen random mod 2 map @ip-endpoints", "numgen random mod 2 map @nodeport-endpoints",
		"10.96.0.10 . tcp . 80 . 0x00000002 . 0x00000001 : 10.244.201.12 . 8080", "tcp . 30080 . 0x00000002 . 0x00000000 : 10.244.201.11 . 8080",
		"10.96.0.12 . tcp . 80 }", "10.244.201.12 . 10.244.201.12", "10.96.0.11 . tcp . 80 : goto svc-", "update @aff-", "dnat to 10.244.201.11:8080",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	k, err = c.Read()
	if _, _, elems, _ := st.Counts(); err != nil || !k.Exists || k.Outdated || len(k.Elements) != elems || elems != 11 {
		t.Fatalf("read back: %+v %v", k, err)
	}
	// A second full sync from the kernel's state changes no elements.
	groups := st.Full(desired, k)
	for _, g := range groups {
		for _, op := range g {
			if op.Kind == nftrules.AddElements || op.Kind == nftrules.DeleteElements || op.Kind == nftrules.DeleteChain {
				t.Errorf("resync of an unchanged table: %s", op)
			}
		}
	}
	if err := c.ApplyGroups(groups, 50); err != nil {
		t.Fatal(err)
	}
	// Incremental: a drops an endpoint, b goes away, c gets one.
	var ops []nftrules.Op
	ops = append(ops, st.Update("default/a", []model.ServicePort{sp("a", "10.96.0.10", 80, 30080, 0, "10.244.201.12")})...)
	ops = append(ops, st.Update("default/b", nil)...)
	ops = append(ops, st.Update("default/c", []model.ServicePort{sp("c", "10.96.0.12", 80, 30081, 0, "10.244.201.11")})...)
	nftrules.SortOps(ops)
	if err := c.Apply(ops); err != nil {
		t.Fatalf("%v\n%s", err, nftrules.Format(ops))
	}
	out = n.Exec("nft", "list", "table", "ip", nftrules.Table)
	k, _ = c.Read()
	for _, e := range k.Elements {
		if e.Map == nftrules.SetRejectIPs || e.Map == nftrules.MapServiceIPs {
			t.Errorf("after update: %s left", e)
		}
	}
	if strings.Contains(out, "aff-") || !strings.Contains(out, "numgen random mod 1 map") ||
		!strings.Contains(out, "10.96.0.12 . tcp . 80 . 0x00000001 . 0x00000000 : 10.244.201.11 . 8080") {
		t.Errorf("after update:\n%s", out)
	}
	if err := c.Delete(); err != nil {
		t.Fatal(err)
	}
	if k, _ := c.Read(); k.Exists {
		t.Error("table left after Delete")
	}
	if err := c.Delete(); err != nil {
		t.Errorf("Delete without a table: %v", err)
	}
}

// TestLargeBatches: a full sync of 1,000 services and one batch changing
// 300 at once fit the netlink socket (every message is acknowledged).
func TestLargeBatches(t *testing.T) {
	n := testnet.New(t, 202)
	c, err := nftapply.Open(testnet.Path(n.Node))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	st := nftrules.NewState(nftrules.Options{})
	build := func(i, gen int) []model.ServicePort {
		var eps []string
		for k := range 5 {
			eps = append(eps, netip.AddrFrom4([4]byte{10, 128 + byte(k), byte(i >> 8), byte(i + gen)}).String())
		}
		vip := netip.AddrFrom4([4]byte{10, 100, byte(i >> 8), byte(i)}).String()
		return []model.ServicePort{sp(fmt.Sprint("s", i), vip, 80, 0, 0, eps...)}
	}
	desired := map[string][]model.ServicePort{}
	for i := range 1000 {
		desired[fmt.Sprint("default/s", i)] = build(i, 0)
	}
	k, _ := c.Read()
	if err := c.ApplyGroups(st.Full(desired, k), 5000); err != nil {
		t.Fatal(err)
	}
	var ops []nftrules.Op
	for i := range 300 {
		ops = append(ops, st.Update(fmt.Sprint("default/s", i), build(i, 1))...)
	}
	nftrules.SortOps(ops)
	if err := c.Apply(ops); err != nil {
		t.Fatal(err)
	}
	_, _, elems, _ := st.Counts()
	if k, err := c.Read(); err != nil || len(k.Elements) != elems || elems < 10000 || len(k.Chains) != 0 {
		t.Fatalf("read back %d elements (want %d), %d chains: %v", len(k.Elements), elems, len(k.Chains), err)
	}
}

// BenchmarkUpdate times one batch changing one endpoint of one service
// with 10 and 10,000 services (5 endpoints each) in the table: the cost
// must not grow with the table.
func BenchmarkUpdate(b *testing.B) {
	for _, size := range []int{10, 10000} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			n := testnet.New(b, 203)
			c, err := nftapply.Open(testnet.Path(n.Node))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			st := nftrules.NewState(nftrules.Options{ClusterCIDR: netip.MustParsePrefix("10.244.0.0/16")})
			build := func(i, gen int) []model.ServicePort {
				var eps []string
				for k := range 5 {
					eps = append(eps, netip.AddrFrom4([4]byte{10, 128 + byte(k), byte(i >> 8), byte(i)}).String())
				}
				eps[0] = netip.AddrFrom4([4]byte{10, 200 + byte(gen%2), byte(i >> 8), byte(i)}).String()
				vip := netip.AddrFrom4([4]byte{10, 100, byte(i >> 8), byte(i)}).String()
				return []model.ServicePort{sp(fmt.Sprint("s", i), vip, 80, 0, 0, eps...)}
			}
			desired := map[string][]model.ServicePort{}
			for i := range size {
				desired[fmt.Sprint("default/s", i)] = build(i, 0)
			}
			k, _ := c.Read()
			if err := c.ApplyGroups(st.Full(desired, k), 5000); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for j := range b.N {
				i := (j * 7919) % size
				ops := st.Update(fmt.Sprint("default/s", i), build(i, j+1))
				nftrules.SortOps(ops)
				if err := c.Apply(ops); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestOutdatedLayout: a table an older proxy left (per-service chains,
// verdict maps of other names) is replaced by a full sync.
func TestOutdatedLayout(t *testing.T) {
	n := testnet.New(t, 204)
	c, err := nftapply.Open(testnet.Path(n.Node))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, cmd := range [][]string{
		{"add", "table", "ip", nftrules.Table},
		{"add", "chain", "ip", nftrules.Table, "svc-old"},
		{"add", "map", "ip", nftrules.Table, "no-endpoint-services", "{ type ipv4_addr . inet_proto . inet_service : verdict ; }"},
		{"add", "element", "ip", nftrules.Table, "no-endpoint-services", "{ 10.96.0.1 . tcp . 80 : goto svc-old }"},
	} {
		n.Exec(append([]string{"nft"}, cmd...)...)
	}
	k, err := c.Read()
	if err != nil || !k.Exists || !k.Outdated {
		t.Fatalf("read: %+v %v", k, err)
	}
	st := nftrules.NewState(nftrules.Options{})
	desired := map[string][]model.ServicePort{"default/a": {sp("a", "10.96.0.10", 80, 0, 0, "10.244.204.11")}}
	if err := c.ApplyGroups(st.Full(desired, k), 1000); err != nil {
		t.Fatal(err)
	}
	out := n.Exec("nft", "list", "table", "ip", nftrules.Table)
	if strings.Contains(out, "svc-old") || strings.Contains(out, "no-endpoint-services") || !strings.Contains(out, "10.96.0.10 . tcp . 80 . 0x00000001 . 0x00000000 : 10.244.204.11 . 8080") {
		t.Errorf("after the full sync:\n%s", out)
	}
	if k, err := c.Read(); err != nil || k.Outdated {
		t.Errorf("read again: %+v %v", k, err)
	}
	if err := c.Delete(); err != nil {
		t.Fatal(err)
	}
}
