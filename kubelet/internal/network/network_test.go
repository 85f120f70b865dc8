package network

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"go.uber.org/zap/zaptest"
	"golang.org/x/sys/unix"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
)

// requireNetAdmin skips when the process cannot create network namespaces.
func requireNetAdmin(t *testing.T) {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			if caps&(1<<unix.CAP_NET_ADMIN) == 0 || caps&(1<<unix.CAP_SYS_ADMIN) == 0 {
				t.Skip("skipping: needs CAP_NET_ADMIN and CAP_SYS_ADMIN (run as root) to create network namespaces")
			}
			return
		}
	}
}

func randName(prefix string) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// nodeNS creates a network namespace standing in for a node's host
// namespace; it is removed when the test ends.
func nodeNS(t *testing.T) string {
	t.Helper()
	requireNetAdmin(t)
	path := filepath.Join(t.TempDir(), "node-ns")
	if err := ensureNetNS(path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = removeNetNS(path) })
	return path
}

func newNode(t *testing.T, nsPath, cidr string) *Manager {
	t.Helper()
	m, err := New(Config{
		NodeName:   "node",
		BridgeName: randName("ftest"),
		PodCIDR:    cidr,
		StateDir:   t.TempDir(),
		NetNS:      nsPath,
		NetNSDir:   t.TempDir(),
		Log:        zaptest.NewLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		defer m.Close()
		ips, err := m.PodIPs()
		if err != nil {
			t.Error(err)
		}
		for uid := range ips {
			if err := m.Teardown(context.Background(), testPod(uid)); err != nil {
				t.Error(err)
			}
		}
	})
	return m
}

func testPod(uid string) *corev1.Pod {
	return &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: "p-" + uid, Namespace: "default", Uid: uid}, Spec: &corev1.PodSpec{}}
}

var busyboxOnce sync.Once

// busybox finds Debian's busybox-static, installing it when missing.
func busybox(t *testing.T) string {
	t.Helper()
	busyboxOnce.Do(func() {
		if _, err := exec.LookPath("busybox"); err == nil {
			return
		}
		out, err := exec.Command("sh", "-c", "apt-get install -y busybox-static || (apt-get update && apt-get install -y busybox-static)").CombinedOutput()
		if err != nil {
			t.Logf("apt-get install busybox-static: %v\n%s", err, out)
		}
	})
	p, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatal("busybox not found and could not be installed: apt-get install busybox-static")
	}
	return p
}

// ping runs busybox ping inside the namespace at nsPath.
func ping(t *testing.T, nsPath, ip string, wait int) error {
	t.Helper()
	bb := busybox(t)
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	var out []byte
	err = inNetNS(ns, func() error {
		var err error
		out, err = exec.Command(bb, "ping", "-c", "1", "-W", strconv.Itoa(wait), ip).CombinedOutput()
		return err
	})
	if err != nil {
		return fmt.Errorf("ping %s: %v\n%s", ip, err, out)
	}
	return nil
}

func TestTwoPodsPingEachOther(t *testing.T) {
	node := nodeNS(t)
	m := newNode(t, node, "10.200.0.0/24")
	ctx := context.Background()
	a, err := m.Setup(ctx, testPod("pod-a"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.Setup(ctx, testPod("pod-b"))
	if err != nil {
		t.Fatal(err)
	}
	if a.IP == b.IP || !strings.HasPrefix(a.IP, "10.200.0.") || a.IP == "10.200.0.1" {
		t.Fatalf("addresses %s and %s", a.IP, b.IP)
	}
	if err := ping(t, a.NetNSPath, b.IP, 5); err != nil {
		t.Fatal(err)
	}
	if err := ping(t, b.NetNSPath, a.IP, 5); err != nil {
		t.Fatal(err)
	}
	if err := ping(t, a.NetNSPath, m.Gateway(), 5); err != nil {
		t.Fatal(err)
	}

	// The pod side: eth0 with the address, lo up, default route via the bridge.
	ns, err := netns.GetFromPath(a.NetNSPath)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	eth0, err := h.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	addrs, _ := h.AddrList(eth0, netlink.FAMILY_V4)
	if len(addrs) != 1 || addrs[0].IPNet.String() != a.IP+"/24" {
		t.Errorf("eth0 addresses %v, want %s/24", addrs, a.IP)
	}
	routes, _ := h.RouteList(eth0, netlink.FAMILY_V4)
	var def bool
	for _, r := range routes {
		if (r.Dst == nil || r.Dst.String() == "0.0.0.0/0") && r.Gw.Equal(net.ParseIP("10.200.0.1")) {
			def = true
		}
	}
	if !def {
		t.Errorf("no default route via 10.200.0.1 in %v", routes)
	}
	// The host side: on the bridge, hairpin on.
	host, err := m.nl.LinkByName(hostVethName("pod-a"))
	if err != nil {
		t.Fatal(err)
	}
	br, _ := m.nl.LinkByName(m.cfg.BridgeName)
	if host.Attrs().MasterIndex != br.Attrs().Index {
		t.Errorf("host veth not on the bridge")
	}
	if pi, err := m.nl.LinkGetProtinfo(host); err != nil || !pi.Hairpin {
		t.Errorf("hairpin not set: %+v, %v", pi, err)
	}

	// Setup again is idempotent.
	again, err := m.Setup(ctx, testPod("pod-a"))
	if err != nil || again != a {
		t.Fatalf("second Setup = %+v, %v; want %+v", again, err, a)
	}

	// A lost veth is repaired by the next Setup.
	if err := m.nl.LinkDel(host); err != nil {
		t.Fatal(err)
	}
	if again, err = m.Setup(ctx, testPod("pod-a")); err != nil || again != a {
		t.Fatalf("Setup after losing the veth = %+v, %v", again, err)
	}
	// From the repaired side: its ARP request updates b's entry at once (a
	// gratuitous ARP is ignored within b's 1 s neighbour locktime).
	if err := ping(t, a.NetNSPath, b.IP, 5); err != nil {
		t.Fatal(err)
	}
}

func TestAddressesPersistAndTeardownReleases(t *testing.T) {
	node := nodeNS(t)
	m := newNode(t, node, "10.201.0.0/29") // 5 addresses for pods
	ctx := context.Background()
	a, err := m.Setup(ctx, testPod("pod-a"))
	if err != nil {
		t.Fatal(err)
	}

	// A restarted kubelet: a new Manager on the same state.
	m2, err := New(m.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	b, err := m2.Setup(ctx, testPod("pod-b"))
	if err != nil {
		t.Fatal(err)
	}
	if b.IP == a.IP {
		t.Fatalf("restarted manager handed out %s again", a.IP)
	}
	a2, err := m2.Setup(ctx, testPod("pod-a"))
	if err != nil || a2 != a {
		t.Fatalf("pod-a after restart = %+v, %v; want %+v", a2, err, a)
	}
	ips, err := m2.PodIPs()
	if err != nil || ips["pod-a"] != a.IP || ips["pod-b"] != b.IP || len(ips) != 2 {
		t.Fatalf("PodIPs = %v, %v", ips, err)
	}

	if err := m2.Teardown(ctx, testPod("pod-a")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(a.NetNSPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("namespace file still there: %v", err)
	}
	if _, err := m2.nl.LinkByName(hostVethName("pod-a")); err == nil {
		t.Errorf("host veth still there")
	}
	if ips, _ := m2.PodIPs(); len(ips) != 1 {
		t.Errorf("after teardown PodIPs = %v", ips)
	}
	if err := m2.Teardown(ctx, testPod("pod-a")); err != nil {
		t.Fatalf("second Teardown: %v", err)
	}

	// The pool is small: fill it, then a released address is found again.
	for i := range 4 {
		if _, err := m2.Setup(ctx, testPod(fmt.Sprintf("fill-%d", i))); err != nil {
			t.Fatalf("fill %d: %v", i, err)
		}
	}
	if _, err := m2.Setup(ctx, testPod("one-too-many")); err == nil || !strings.Contains(err.Error(), "no free address") {
		t.Fatalf("want pool exhausted, got %v", err)
	}
	if err := m2.Teardown(ctx, testPod("fill-0")); err != nil {
		t.Fatal(err)
	}
	if _, err := m2.Setup(ctx, testPod("one-too-many")); err != nil {
		t.Fatalf("after a release: %v", err)
	}
}

// Two nodes of one machine: their bridges share the host namespace, which
// (as under dockerd) drops forwarded packets by default.
func TestPodsOnTwoNodesBehindForwardDrop(t *testing.T) {
	node := nodeNS(t)
	n1 := newNode(t, node, "10.210.1.0/24")
	n2 := newNode(t, node, "10.210.2.0/24")
	ctx := context.Background()
	a, err := n1.Setup(ctx, testPod("pod-a"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := n2.Setup(ctx, testPod("pod-b"))
	if err != nil {
		t.Fatal(err)
	}
	peers := map[string]string{"10.210.1.0/24": "192.0.2.1", "10.210.2.0/24": "192.0.2.1"}
	for _, n := range []*Manager{n1, n2} {
		if err := n.SyncRoutes(peers); err != nil {
			t.Fatal(err)
		}
	}
	if err := ping(t, a.NetNSPath, b.IP, 5); err != nil {
		t.Fatal(err)
	}

	// Docker's firewall: filter FORWARD with policy drop.
	h, err := netns.GetFromPath(node)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	conn, err := nftables.New(nftables.WithNetNSFd(int(h)))
	if err != nil {
		t.Fatal(err)
	}
	table := conn.AddTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: "filter"})
	drop := nftables.ChainPolicyDrop
	conn.AddChain(&nftables.Chain{Name: "FORWARD", Table: table, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &drop})
	if err := conn.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := ping(t, a.NetNSPath, b.IP, 1); err == nil {
		t.Fatal("ping went through a FORWARD chain with policy drop")
	}
	for _, n := range []*Manager{n1, n2} {
		if err := n.SyncRoutes(peers); err != nil {
			t.Fatal(err)
		}
		if err := n.SyncRoutes(peers); err != nil { // rules are added once
			t.Fatal(err)
		}
	}
	chain, err := conn.ListChain(table, "FORWARD")
	if err != nil {
		t.Fatal(err)
	}
	rules, err := conn.GetRules(table, chain)
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 4 {
		t.Errorf("FORWARD has %d rules, want 4 (in and out for each bridge)", len(rules))
	}
	if err := ping(t, a.NetNSPath, b.IP, 5); err != nil {
		t.Fatal(err)
	}
	if err := ping(t, b.NetNSPath, a.IP, 5); err != nil {
		t.Fatal(err)
	}
}

func TestSyncRoutesToRemotePeers(t *testing.T) {
	node := nodeNS(t)
	m := newNode(t, node, "10.220.0.0/24")
	// A peer not on this machine is routed via its node IP, here an address
	// on the bridge's own subnet so the kernel accepts it as a gateway.
	if err := m.SyncRoutes(map[string]string{"10.220.0.0/24": "10.220.0.1", "10.99.0.0/24": "10.220.0.250", "10.98.0.0/24": "10.220.0.251"}); err != nil {
		t.Fatal(err)
	}
	routes := func() map[string]string {
		rs, err := m.nl.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Protocol: routeProtocol}, netlink.RT_FILTER_PROTOCOL)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, r := range rs {
			out[r.Dst.String()] = r.Gw.String()
		}
		return out
	}
	if got := routes(); len(got) != 2 || got["10.99.0.0/24"] != "10.220.0.250" || got["10.98.0.0/24"] != "10.220.0.251" {
		t.Fatalf("routes %v", got)
	}
	// One peer gone, one moved.
	if err := m.SyncRoutes(map[string]string{"10.99.0.0/24": "10.220.0.252"}); err != nil {
		t.Fatal(err)
	}
	if got := routes(); len(got) != 1 || got["10.99.0.0/24"] != "10.220.0.252" {
		t.Fatalf("routes %v", got)
	}
	// Bad peers are reported and do not stop the good ones.
	if err := m.SyncRoutes(map[string]string{"bogus": "1.2.3.4", "10.97.0.0/24": "nope", "10.99.0.0/24": "10.220.0.252"}); err == nil {
		t.Fatal("bad peers accepted")
	}
	if got := routes(); len(got) != 1 || got["10.99.0.0/24"] != "10.220.0.252" {
		t.Fatalf("routes %v", got)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{BridgeName: "", PodCIDR: "10.0.0.0/24", StateDir: "x"},
		{BridgeName: "averyveryverylongname", PodCIDR: "10.0.0.0/24", StateDir: "x"},
		{BridgeName: "br", PodCIDR: "10.0.0.0", StateDir: "x"},
		{BridgeName: "br", PodCIDR: "fd00::/64", StateDir: "x"},
		{BridgeName: "br", PodCIDR: "10.0.0.0/31", StateDir: "x"},
		{BridgeName: "br", PodCIDR: "10.0.0.0/24"},
		{BridgeName: "br", PodCIDR: "10.0.0.0/24", StateDir: "x", ClusterCIDR: "bogus"},
	} {
		cfg.NetNS = "/nonexistent/netns" // never the host's namespace, whatever happens
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}

func TestIPAM(t *testing.T) {
	_, subnet, _ := net.ParseCIDR("10.0.0.0/29")
	dir := t.TempDir()
	a, err := newIPAM(dir, subnet)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for i := range 5 {
		ip, err := a.allocate(fmt.Sprint("u", i))
		if err != nil {
			t.Fatal(err)
		}
		got[ip.String()] = true
	}
	for _, reserved := range []string{"10.0.0.0", "10.0.0.1", "10.0.0.7"} {
		if got[reserved] {
			t.Errorf("handed out reserved %s", reserved)
		}
	}
	if len(got) != 5 {
		t.Errorf("got %v", got)
	}
	if _, err := a.allocate("u5"); err == nil {
		t.Error("allocated from a full pool")
	}
	ip1, _ := a.allocate("u1")
	if err := a.release("u1"); err != nil {
		t.Fatal(err)
	}
	// A fresh ipam on the same dir (a restart) sees the others' allocations.
	b, _ := newIPAM(dir, subnet)
	ip, err := b.allocate("u9")
	if err != nil || !ip.Equal(ip1) {
		t.Fatalf("allocate after release = %v, %v; want %v", ip, err, ip1)
	}
}

func TestParallelSetup(t *testing.T) {
	node := nodeNS(t)
	m := newNode(t, node, "10.230.0.0/24")
	var wg sync.WaitGroup
	results := make([]Result, 20)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := m.Setup(context.Background(), testPod(fmt.Sprint("par-", i)))
			if err != nil {
				t.Error(err)
			}
			results[i] = r
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, r := range results {
		if r.IP == "" || seen[r.IP] {
			t.Fatalf("address %q handed out twice or not at all", r.IP)
		}
		seen[r.IP] = true
	}
	if err := ping(t, results[0].NetNSPath, results[19].IP, 5); err != nil {
		t.Fatal(err)
	}
}

// Pod traffic to a host outside the cluster leaves with the node's address:
// the outside namespace has no route back to pod addresses.
func TestMasqueradeToOutside(t *testing.T) {
	node := nodeNS(t)
	m := newNode(t, node, "10.240.0.0/24")
	outside := filepath.Join(t.TempDir(), "outside-ns")
	if err := ensureNetNS(outside); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = removeNetNS(outside) })
	outNS, err := netns.GetFromPath(outside)
	if err != nil {
		t.Fatal(err)
	}
	defer outNS.Close()
	outNL, err := netlink.NewHandleAt(outNS)
	if err != nil {
		t.Fatal(err)
	}
	defer outNL.Close()
	link := randName("ftout")
	if err := m.nl.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: link}, PeerName: "eth0", PeerNamespace: netlink.NsFd(int(outNS))}); err != nil {
		t.Fatal(err)
	}
	for _, side := range []struct {
		h          *netlink.Handle
		name, addr string
	}{{m.nl, link, "198.51.100.1/24"}, {outNL, "eth0", "198.51.100.2/24"}} {
		l, err := side.h.LinkByName(side.name)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := netlink.ParseAddr(side.addr)
		if err := side.h.AddrAdd(l, a); err != nil {
			t.Fatal(err)
		}
		if err := side.h.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
	}

	pod, err := m.Setup(context.Background(), testPod("pod-a"))
	if err != nil {
		t.Fatal(err)
	}
	if err := ping(t, pod.NetNSPath, "198.51.100.2", 5); err != nil {
		t.Fatal(err)
	}

	// Without the rule the replies have nowhere to go.
	conn, err := m.nftConn()
	if err != nil {
		t.Fatal(err)
	}
	conn.DelTable(m.masqTable())
	if err := conn.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := ping(t, pod.NetNSPath, "198.51.100.2", 1); err == nil {
		t.Fatal("reached the outside without masquerading")
	}
	if err := m.SyncRoutes(map[string]string{"10.241.0.0/24": "198.51.100.9"}); err != nil {
		t.Fatal(err)
	}
	if err := ping(t, pod.NetNSPath, "198.51.100.2", 5); err != nil {
		t.Fatal(err)
	}
	// The rule spares our podCIDR and the peer's.
	chain, err := conn.ListChain(m.masqTable(), "postrouting")
	if err != nil {
		t.Fatal(err)
	}
	rules, err := conn.GetRules(m.masqTable(), chain)
	if err != nil || len(rules) != 1 {
		t.Fatalf("rules %v, %v", rules, err)
	}
	neq := 0
	for _, e := range rules[0].Exprs {
		if c, ok := e.(*expr.Cmp); ok && c.Op == expr.CmpOpNeq {
			neq++
		}
	}
	if neq != 3 { // oifname, own podCIDR, the peer's
		t.Errorf("%d exclusions in the masquerade rule, want 3", neq)
	}
}
