// Package network gives each pod its own network namespace on the node's
// bridge: a veth pair whose pod end is eth0, an address from the node's
// podCIDR (allocations persisted under StateDir), loopback up and a default
// route via the bridge. It also routes other nodes' podCIDRs, opens a
// Docker-style FORWARD DROP policy for the bridge, and writes the pod's
// resolv.conf, hosts and hostname files.
//
// Several kubelets may share one machine: every bridge then lives in the same
// network namespace, so the kernel's connected routes already join the
// podCIDRs; SyncRoutes adds routes only for nodes whose bridge is elsewhere.
package network

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	corev1 "flotilla.io/proto/flotilla/core/v1"
)

// DefaultNetNSDir is where pod network namespaces are bind-mounted, the
// directory `ip netns` uses, so `ip netns exec flotilla-<uid> ...` works.
const DefaultNetNSDir = "/var/run/netns"

// routeProtocol marks the routes SyncRoutes installs (rtnetlink protocol
// number, unused by iproute2's rt_protos), so stale ones can be found again.
const routeProtocol netlink.RouteProtocol = 73

// Config configures the node's pod network.
type Config struct {
	NodeName, BridgeName, PodCIDR, StateDir string
	// ClusterDNS and ClusterDomain feed resolv.conf for dnsPolicy ClusterFirst.
	ClusterDNS    []string
	ClusterDomain string
	Log           *zap.Logger

	// NetNS is the path of the network namespace holding the bridge (the
	// node's "host" namespace); empty means the kubelet's own. Tests and
	// simulated nodes use it.
	NetNS string
	// NetNSDir is where pod namespaces are bind-mounted (DefaultNetNSDir when
	// empty). When the kubelet runs in its own mount namespace this directory
	// must be a shared mount visible to containerd.
	NetNSDir string
	// MTU of the bridge and veths; 0 takes the MTU of the default route's
	// link, or 1500.
	MTU int
	// ClusterCIDR, when set, is the range of every pod address in the
	// cluster: traffic to it is never masqueraded (the peers' podCIDRs from
	// SyncRoutes never are either).
	ClusterCIDR string
	// HostResolvConf is the resolver file dnsPolicy Default copies
	// (/etc/resolv.conf when empty); HostHosts the hosts file hostNetwork
	// pods start from (/etc/hosts when empty).
	HostResolvConf, HostHosts string
}

// Result is a pod's network: its address and namespace path. Both are empty
// for hostNetwork pods.
type Result struct {
	IP        string
	NetNSPath string
}

// Manager owns the node's bridge, the pods' namespaces and the address pool.
type Manager struct {
	cfg     Config
	log     *zap.Logger
	subnet  *net.IPNet
	gateway net.IP
	ipam    *ipam
	// clusterCIDR is Config.ClusterCIDR parsed; nil when unset.
	clusterCIDR *net.IPNet
	nodeNS      netns.NsHandle // the bridge's namespace; netns.None() for our own
	nl          *netlink.Handle
	mtu         int

	routesMu sync.Mutex // serialises SyncRoutes
	podLocks keyedMutex // serialises Setup and Teardown of one pod
}

// New validates cfg, prepares the bridge (created and addressed if missing),
// enables IPv4 forwarding and opens a FORWARD DROP policy for the bridge.
func New(cfg Config) (*Manager, error) {
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	cfg.Log = cfg.Log.With(zap.String("node", cfg.NodeName), zap.String("bridge", cfg.BridgeName))
	if cfg.BridgeName == "" || len(cfg.BridgeName) > unix.IFNAMSIZ-1 {
		return nil, fmt.Errorf("network: bridge name %q must be 1-15 characters", cfg.BridgeName)
	}
	if cfg.StateDir == "" {
		return nil, fmt.Errorf("network: no state dir")
	}
	if cfg.NetNSDir == "" {
		cfg.NetNSDir = DefaultNetNSDir
	}
	if cfg.HostResolvConf == "" {
		cfg.HostResolvConf = "/etc/resolv.conf"
	}
	if cfg.HostHosts == "" {
		cfg.HostHosts = "/etc/hosts"
	}
	if cfg.ClusterDomain == "" {
		cfg.ClusterDomain = "cluster.local"
	}
	ip, subnet, err := net.ParseCIDR(cfg.PodCIDR)
	if err != nil || ip.To4() == nil {
		return nil, fmt.Errorf("network: pod CIDR %q: want an IPv4 CIDR", cfg.PodCIDR)
	}
	if ones, bits := subnet.Mask.Size(); bits-ones < 2 {
		return nil, fmt.Errorf("network: pod CIDR %s is too small", cfg.PodCIDR)
	}
	var clusterCIDR *net.IPNet
	if cfg.ClusterCIDR != "" {
		if _, clusterCIDR, err = net.ParseCIDR(cfg.ClusterCIDR); err != nil || clusterCIDR.IP.To4() == nil {
			return nil, fmt.Errorf("network: cluster CIDR %q: want an IPv4 CIDR", cfg.ClusterCIDR)
		}
	}
	pool, err := newIPAM(filepath.Join(cfg.StateDir, "ipam"), subnet)
	if err != nil {
		return nil, err
	}
	m := &Manager{
		cfg:         cfg,
		log:         cfg.Log,
		subnet:      subnet,
		gateway:     nthIP(subnet, 1),
		ipam:        pool,
		clusterCIDR: clusterCIDR,
		nodeNS:      netns.None(),
	}
	if cfg.NetNS != "" {
		if m.nodeNS, err = netns.GetFromPath(cfg.NetNS); err != nil {
			return nil, fmt.Errorf("network: node namespace %s: %w", cfg.NetNS, err)
		}
		m.nl, err = netlink.NewHandleAt(m.nodeNS)
	} else {
		m.nl, err = netlink.NewHandle()
	}
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("network: netlink: %w", err)
	}
	if err := m.prepareNode(); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// Close releases the manager's netlink handles; the network stays as it is.
func (m *Manager) Close() {
	if m.nl != nil {
		m.nl.Close()
	}
	if m.nodeNS.IsOpen() {
		_ = m.nodeNS.Close()
	}
}

// Gateway is the bridge's address, the pods' default route.
func (m *Manager) Gateway() string { return m.gateway.String() }

func (m *Manager) prepareNode() error {
	m.mtu = m.cfg.MTU
	if m.mtu == 0 {
		m.mtu = m.defaultMTU()
	}
	if err := m.ensureBridge(); err != nil {
		return err
	}
	if err := m.inNodeNS(func() error {
		const ipForward = "/proc/sys/net/ipv4/ip_forward"
		if b, err := os.ReadFile(ipForward); err == nil && strings.TrimSpace(string(b)) == "1" {
			return nil // already on (and /proc/sys may be read-only in a container)
		}
		return os.WriteFile(ipForward, []byte("1"), 0o644)
	}); err != nil {
		return fmt.Errorf("network: enable ip_forward: %w", err)
	}
	if err := m.ensureForwardAccept(); err != nil {
		return err
	}
	if err := m.ensureMasquerade(nil); err != nil {
		return err
	}
	return os.MkdirAll(m.cfg.NetNSDir, 0o755)
}

// defaultMTU is the MTU of the link the default route leaves by.
func (m *Manager) defaultMTU() int {
	routes, err := m.nl.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Dst: nil}, netlink.RT_FILTER_DST)
	if err == nil {
		for _, r := range routes {
			if r.Dst != nil && !r.Dst.IP.IsUnspecified() {
				continue
			}
			if l, err := m.nl.LinkByIndex(r.LinkIndex); err == nil && l.Attrs().MTU > 0 {
				return l.Attrs().MTU
			}
		}
	}
	return 1500
}

func (m *Manager) ensureBridge() error {
	link, err := m.nl.LinkByName(m.cfg.BridgeName)
	if err != nil {
		var notFound netlink.LinkNotFoundError
		if !errors.As(err, &notFound) {
			return fmt.Errorf("network: bridge %s: %w", m.cfg.BridgeName, err)
		}
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: m.cfg.BridgeName, MTU: m.mtu}}
		if err := m.nl.LinkAdd(br); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("network: create bridge %s: %w", m.cfg.BridgeName, err)
		}
		if link, err = m.nl.LinkByName(m.cfg.BridgeName); err != nil {
			return fmt.Errorf("network: bridge %s: %w", m.cfg.BridgeName, err)
		}
	}
	if _, ok := link.(*netlink.Bridge); !ok {
		return fmt.Errorf("network: %s exists and is a %s, not a bridge", m.cfg.BridgeName, link.Type())
	}
	ones, _ := m.subnet.Mask.Size()
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: m.gateway, Mask: net.CIDRMask(ones, 32)}}
	if err := m.nl.AddrReplace(link, addr); err != nil {
		return fmt.Errorf("network: address %s on %s: %w", addr.IPNet, m.cfg.BridgeName, err)
	}
	if link.Attrs().Flags&net.FlagUp == 0 {
		if err := m.nl.LinkSetUp(link); err != nil {
			return fmt.Errorf("network: bring up %s: %w", m.cfg.BridgeName, err)
		}
	}
	return nil
}

// nsPath is where the pod's network namespace is bind-mounted.
func (m *Manager) nsPath(uid string) string {
	return filepath.Join(m.cfg.NetNSDir, "flotilla-"+uid)
}

// hostVethName is the host end of the pod's veth pair: "veth" and 11 hex
// digits of the UID's hash, unique across the kubelets of one machine.
func hostVethName(uid string) string {
	sum := sha256.Sum256([]byte(uid))
	return "veth" + hex.EncodeToString(sum[:])[:11]
}

// Setup gives the pod a namespace, a veth on the bridge and an address. It is
// idempotent per pod UID: a second call (or one after a kubelet restart)
// repairs what is missing and returns the same address.
func (m *Manager) Setup(ctx context.Context, pod *corev1.Pod) (Result, error) {
	uid := pod.GetMetadata().GetUid()
	if uid == "" {
		return Result{}, fmt.Errorf("network: pod has no uid")
	}
	if pod.GetSpec().GetHostNetwork() {
		return Result{}, nil
	}
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	defer m.podLocks.lock(uid)()
	if err := m.ensureBridge(); err != nil {
		return Result{}, err
	}
	ip, err := m.ipam.allocate(uid)
	if err != nil {
		return Result{}, fmt.Errorf("network: pod %s: %w", uid, err)
	}
	path := m.nsPath(uid)
	if err := ensureNetNS(path); err != nil {
		return Result{}, fmt.Errorf("network: pod %s: %w", uid, err)
	}
	if err := m.ensureVeth(uid, path, ip); err != nil {
		return Result{}, fmt.Errorf("network: pod %s: %w", uid, err)
	}
	m.log.Debug("pod network ready", zap.String("pod", uid), zap.String("ip", ip.String()))
	return Result{IP: ip.String(), NetNSPath: path}, nil
}

func (m *Manager) ensureVeth(uid, nsPath string, ip net.IP) error {
	podNS, err := netns.GetFromPath(nsPath)
	if err != nil {
		return fmt.Errorf("open namespace: %w", err)
	}
	defer podNS.Close()
	podNL, err := netlink.NewHandleAt(podNS)
	if err != nil {
		return fmt.Errorf("netlink in pod namespace: %w", err)
	}
	defer podNL.Close()

	hostName := hostVethName(uid)
	host, hostErr := m.nl.LinkByName(hostName)
	eth0, podErr := podNL.LinkByName("eth0")
	if hostErr != nil || podErr != nil {
		// Half a pair (or none): start over.
		if hostErr == nil {
			_ = m.nl.LinkDel(host)
		}
		if podErr == nil {
			_ = podNL.LinkDel(eth0)
		}
		veth := &netlink.Veth{
			LinkAttrs:     netlink.LinkAttrs{Name: hostName, MTU: m.mtu},
			PeerName:      "eth0",
			PeerMTU:       uint32(m.mtu),
			PeerNamespace: netlink.NsFd(int(podNS)),
		}
		if err := m.nl.LinkAdd(veth); err != nil {
			return fmt.Errorf("create veth %s: %w", hostName, err)
		}
		if host, err = m.nl.LinkByName(hostName); err != nil {
			return fmt.Errorf("veth %s: %w", hostName, err)
		}
		if eth0, err = podNL.LinkByName("eth0"); err != nil {
			return fmt.Errorf("pod eth0: %w", err)
		}
	}

	br, err := m.nl.LinkByName(m.cfg.BridgeName)
	if err != nil {
		return fmt.Errorf("bridge: %w", err)
	}
	if host.Attrs().MasterIndex != br.Attrs().Index {
		if err := m.nl.LinkSetMaster(host, br); err != nil {
			return fmt.Errorf("attach %s to %s: %w", hostName, m.cfg.BridgeName, err)
		}
	}
	if host.Attrs().MTU != m.mtu {
		if err := m.nl.LinkSetMTU(host, m.mtu); err != nil {
			return fmt.Errorf("mtu of %s: %w", hostName, err)
		}
	}
	// Hairpin lets a pod reach itself through a Service VIP.
	if err := m.nl.LinkSetHairpin(host, true); err != nil {
		return fmt.Errorf("hairpin on %s: %w", hostName, err)
	}
	if err := m.nl.LinkSetUp(host); err != nil {
		return fmt.Errorf("bring up %s: %w", hostName, err)
	}

	lo, err := podNL.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("pod lo: %w", err)
	}
	if err := podNL.LinkSetUp(lo); err != nil {
		return fmt.Errorf("bring up lo: %w", err)
	}
	ones, _ := m.subnet.Mask.Size()
	if err := podNL.AddrReplace(eth0, &netlink.Addr{IPNet: &net.IPNet{IP: ip, Mask: net.CIDRMask(ones, 32)}}); err != nil {
		return fmt.Errorf("address %s on eth0: %w", ip, err)
	}
	if err := podNL.LinkSetUp(eth0); err != nil {
		return fmt.Errorf("bring up eth0: %w", err)
	}
	def := &netlink.Route{LinkIndex: eth0.Attrs().Index, Gw: m.gateway, Dst: &net.IPNet{IP: net.IPv4zero, Mask: net.CIDRMask(0, 32)}}
	if err := podNL.RouteReplace(def); err != nil {
		return fmt.Errorf("default route via %s: %w", m.gateway, err)
	}
	// A frame sent before the link is operational is dropped: wait (briefly)
	// for the kernel to finish bringing eth0 up.
	for i := 0; i < 200; i++ {
		pl, err1 := podNL.LinkByIndex(eth0.Attrs().Index)
		hl, err2 := m.nl.LinkByIndex(host.Attrs().Index)
		if err1 != nil || err2 != nil || (pl.Attrs().OperState == netlink.OperUp && hl.Attrs().OperState == netlink.OperUp) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := announce(podNS, eth0.Attrs().Index, eth0.Attrs().HardwareAddr, ip); err != nil {
		m.log.Warn("gratuitous ARP", zap.String("pod", uid), zap.Error(err))
	}
	return nil
}

// Teardown removes the pod's veth and namespace and releases its address. It
// is idempotent and needs only the pod's UID.
func (m *Manager) Teardown(ctx context.Context, pod *corev1.Pod) error {
	uid := pod.GetMetadata().GetUid()
	if uid == "" {
		return fmt.Errorf("network: pod has no uid")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	defer m.podLocks.lock(uid)()
	if link, err := m.nl.LinkByName(hostVethName(uid)); err == nil {
		if err := m.nl.LinkDel(link); err != nil {
			return fmt.Errorf("network: delete veth of pod %s: %w", uid, err)
		}
	}
	if err := removeNetNS(m.nsPath(uid)); err != nil {
		return fmt.Errorf("network: pod %s: %w", uid, err)
	}
	if err := m.ipam.release(uid); err != nil {
		return fmt.Errorf("network: pod %s: %w", uid, err)
	}
	return nil
}

// PodIPs lists the addresses held, pod UID -> IP, so the caller can tear
// down pods that vanished while the kubelet was away.
func (m *Manager) PodIPs() (map[string]string, error) {
	return m.ipam.list()
}

// SyncRoutes routes the other nodes' podCIDRs; peers maps podCIDR -> node
// IP. A peer whose bridge (the first address of its podCIDR) sits in this
// namespace, as with several kubelets on one machine, is reached through the
// kernel's connected route to that bridge; any other peer is routed via its
// node IP. Routes this method added for peers no longer listed are removed.
// It also re-opens the FORWARD policy, which Docker may have reset, and
// rewrites the masquerade rule to spare traffic to the peers' podCIDRs.
func (m *Manager) SyncRoutes(peers map[string]string) error {
	m.routesMu.Lock()
	defer m.routesMu.Unlock()
	want := map[string]*netlink.Route{}
	var podNets []*net.IPNet // every peer podCIDR: never masqueraded
	var bad []error          // a bad peer does not stop the others
	for cidr, nodeIP := range peers {
		_, dst, err := net.ParseCIDR(cidr)
		if err != nil || dst.IP.To4() == nil {
			bad = append(bad, fmt.Errorf("network: peer pod CIDR %q: want an IPv4 CIDR", cidr))
			continue
		}
		if dst.String() == m.subnet.String() {
			continue
		}
		podNets = append(podNets, dst)
		local, err := m.localBridgeFor(dst)
		if err != nil {
			return err
		}
		if local {
			continue
		}
		gw := net.ParseIP(nodeIP)
		if gw == nil || gw.To4() == nil {
			bad = append(bad, fmt.Errorf("network: peer %s: node IP %q is not an IPv4 address", cidr, nodeIP))
			continue
		}
		want[dst.String()] = &netlink.Route{Dst: dst, Gw: gw.To4(), Protocol: routeProtocol}
	}
	have, err := m.nl.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Protocol: routeProtocol}, netlink.RT_FILTER_PROTOCOL)
	if err != nil {
		return fmt.Errorf("network: list routes: %w", err)
	}
	for _, r := range have {
		if r.Dst == nil {
			continue
		}
		if w, ok := want[r.Dst.String()]; ok && r.Gw.Equal(w.Gw) {
			delete(want, r.Dst.String())
			continue
		}
		if _, ok := want[r.Dst.String()]; ok {
			continue // replaced below
		}
		if err := m.nl.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("network: delete route %s: %w", r.Dst, err)
		}
	}
	for _, r := range want {
		if err := m.nl.RouteReplace(r); err != nil {
			bad = append(bad, fmt.Errorf("network: route %s via %s: %w", r.Dst, r.Gw, err))
		}
	}
	if err := m.ensureForwardAccept(); err != nil {
		bad = append(bad, err)
	}
	sort.Slice(podNets, func(i, j int) bool { return podNets[i].String() < podNets[j].String() })
	if err := m.ensureMasquerade(podNets); err != nil {
		bad = append(bad, err)
	}
	return errors.Join(bad...)
}

// localBridgeFor reports whether a link in this namespace carries the first
// address of dst (the peer's bridge).
func (m *Manager) localBridgeFor(dst *net.IPNet) (bool, error) {
	gw := nthIP(dst, 1)
	addrs, err := m.nl.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return false, fmt.Errorf("network: list addresses: %w", err)
	}
	for _, a := range addrs {
		if a.IP.Equal(gw) {
			return true, nil
		}
	}
	return false, nil
}

// inNodeNS runs fn on an OS thread inside the node's namespace (directly when
// that is our own). The thread is discarded afterwards.
func (m *Manager) inNodeNS(fn func() error) error {
	if !m.nodeNS.IsOpen() {
		return fn()
	}
	return inNetNS(m.nodeNS, fn)
}

// keyedMutex is a mutex per key; entries live while someone holds or waits.
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*keyedEntry
}

type keyedEntry struct {
	mu   sync.Mutex
	refs int
}

// lock locks key and returns its unlock.
func (k *keyedMutex) lock(key string) func() {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*keyedEntry{}
	}
	e := k.m[key]
	if e == nil {
		e = &keyedEntry{}
		k.m[key] = e
	}
	e.refs++
	k.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		k.mu.Lock()
		if e.refs--; e.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}
