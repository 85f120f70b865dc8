// Package nftrules is the pure core of the nftables data plane: it turns
// service ports into the chains, maps and map elements each one owns, and
// the difference between two such states into a short list of operations.
// No netlink here: package nftapply sends the operations to the kernel.
//
// The table (family ip, named Table) has fixed base chains that dispatch
// through shared verdict maps, so one service's change is a few elements
// and its own chains, whatever the number of services:
//
//	nat-prerouting, nat-output -> services:
//	    ip daddr . meta l4proto . th dport vmap @service-ips
//	    fib daddr type local meta l4proto . th dport vmap @service-nodeports
//	filter-input/forward/output (ct state new):
//	    ip daddr . meta l4proto . th dport vmap @no-endpoint-services    -> reject
//	    fib daddr type local meta l4proto . th dport vmap @no-endpoint-nodeports
//	nat-postrouting: masquerade packets marked by mark-for-masquerade
//
// Per service port with endpoints: chain svc-* (masquerade off-cluster
// sources, ClientIP affinity lookups, numgen inc mod N vmap @eps-*), chain
// ext-* for node ports and external IPs (always masquerade), one chain sep-*
// per endpoint (hairpin masquerade, affinity update, dnat), the named map
// eps-* (index -> goto sep-*) and, with affinity, one timeout set aff-* per
// endpoint keyed by client address.
package nftrules

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"flotilla.io/proxy/internal/model"
)

// Table is the name of the proxy's nftables table (family ip).
const Table = "flotilla-proxy"

// MasqueradeMark is the packet mark bit that asks nat-postrouting to
// masquerade.
const MasqueradeMark = 0x4000

// Names of the fixed objects.
const (
	ChainServices       = "services"
	ChainMarkMasquerade = "mark-for-masquerade"
	ChainMasquerading   = "masquerading"
	ChainReject         = "reject-chain"
	ChainEndpointsCheck = "service-endpoints-check"

	MapServiceIPs         = "service-ips"
	MapServiceNodePorts   = "service-nodeports"
	MapNoEndpointServices = "no-endpoint-services"
	MapNoEndpointNodePort = "no-endpoint-nodeports"
)

// SharedMaps are the fixed verdict maps every service puts elements in.
var SharedMaps = []string{MapServiceIPs, MapServiceNodePorts, MapNoEndpointServices, MapNoEndpointNodePort}

// RuleKind says what a Rule does.
type RuleKind int

// The rules service chains are made of.
const (
	// MasqueradeUnlessFrom: ip saddr != Prefix jump mark-for-masquerade.
	MasqueradeUnlessFrom RuleKind = iota + 1
	// MasqueradeAll: jump mark-for-masquerade.
	MasqueradeAll
	// MasqueradeIfFrom (hairpin): ip saddr IP jump mark-for-masquerade.
	MasqueradeIfFrom
	// AffinityGoto: ip saddr @Set goto Chain.
	AffinityGoto
	// Balance: numgen inc mod N vmap @Set.
	Balance
	// AffinityUpdate: update @Set { ip saddr timeout Timeout }.
	AffinityUpdate
	// DNAT: meta l4proto Proto dnat to IP:Port.
	DNAT
	// Goto: goto Chain.
	Goto
)

// Rule is one rule of a service-owned chain.
type Rule struct {
	Kind    RuleKind
	Prefix  netip.Prefix
	IP      netip.Addr
	Port    uint16
	Proto   model.Proto
	Set     string
	Chain   string
	N       int
	Timeout time.Duration
}

// String is the rule in nft syntax.
func (r Rule) String() string {
	switch r.Kind {
	case MasqueradeUnlessFrom:
		return fmt.Sprintf("ip saddr != %s jump %s", r.Prefix, ChainMarkMasquerade)
	case MasqueradeAll:
		return "jump " + ChainMarkMasquerade
	case MasqueradeIfFrom:
		return fmt.Sprintf("ip saddr %s jump %s", r.IP, ChainMarkMasquerade)
	case AffinityGoto:
		return fmt.Sprintf("ip saddr @%s goto %s", r.Set, r.Chain)
	case Balance:
		return fmt.Sprintf("numgen inc mod %d vmap @%s", r.N, r.Set)
	case AffinityUpdate:
		return fmt.Sprintf("update @%s { ip saddr timeout %s }", r.Set, r.Timeout)
	case DNAT:
		return fmt.Sprintf("meta l4proto %s dnat to %s", r.Proto, netip.AddrPortFrom(r.IP, r.Port))
	case Goto:
		return "goto " + r.Chain
	}
	return fmt.Sprintf("rule kind %d", r.Kind)
}

// SetKind says which kind of per-service set or map a Set is.
type SetKind int

// Per-service sets.
const (
	// EndpointMap: integer -> verdict; Balance picks an element.
	EndpointMap SetKind = iota + 1
	// AffinitySet: ipv4_addr with timeout, filled by the kernel.
	AffinitySet
)

// Set is a per-service named set or map.
type Set struct {
	Name string
	Kind SetKind
	// Gotos are an EndpointMap's elements: index i -> goto Gotos[i].
	Gotos []string
}

// Element is one element of a shared map. IP is unset in the node-port
// maps.
type Element struct {
	Map   string
	IP    netip.Addr
	Proto model.Proto
	Port  uint16
	// Goto is the verdict chain.
	Goto string
}

// Key identifies the element within all shared maps.
func (e Element) Key() string {
	if e.IP.IsValid() {
		return fmt.Sprintf("%s %s . %s . %d", e.Map, e.IP, e.Proto, e.Port)
	}
	return fmt.Sprintf("%s %s . %d", e.Map, e.Proto, e.Port)
}

func (e Element) String() string { return e.Key() + " : goto " + e.Goto }

// Objects are what one service port owns in the table.
type Objects struct {
	// Chains in creation order (endpoint chains first, referrers last).
	Chains []Chain
	Sets   []Set
	// Elements in the shared maps.
	Elements []Element
}

// Chain is a named regular chain and its rules.
type Chain struct {
	Name  string
	Rules []Rule
}

// Options shape the rules.
type Options struct {
	// ClusterCIDR is the pod network: traffic from elsewhere to a cluster IP
	// is masqueraded so replies come back through this node. Unset means
	// masquerade all service traffic.
	ClusterCIDR netip.Prefix
}

// name builds a chain or set name: a short hash keeps it unique and within
// the kernel's limit, the readable rest helps whoever runs `nft list`.
func name(prefix, id string) string {
	sum := sha256.Sum256([]byte(id))
	h := strings.ToLower(base32.StdEncoding.EncodeToString(sum[:])[:8])
	n := prefix + "-" + h + "-" + id
	if len(n) > 200 {
		n = n[:200]
	}
	return n
}

// ObjectsFor is everything sp owns.
func ObjectsFor(sp model.ServicePort, opts Options) Objects {
	var o Objects
	reject := len(sp.Endpoints) == 0
	svcChain, extChain := name("svc", sp.Name), name("ext", sp.Name)
	addIP := func(ip netip.Addr, target string) {
		if reject {
			o.Elements = append(o.Elements, Element{Map: MapNoEndpointServices, IP: ip, Proto: sp.Proto, Port: sp.Port, Goto: ChainReject})
		} else {
			o.Elements = append(o.Elements, Element{Map: MapServiceIPs, IP: ip, Proto: sp.Proto, Port: sp.Port, Goto: target})
		}
	}
	if sp.ClusterIP.IsValid() {
		addIP(sp.ClusterIP, svcChain)
	}
	for _, ip := range sp.ExternalIPs {
		addIP(ip, extChain)
	}
	if sp.NodePort != 0 {
		if reject {
			o.Elements = append(o.Elements, Element{Map: MapNoEndpointNodePort, Proto: sp.Proto, Port: sp.NodePort, Goto: ChainReject})
		} else {
			o.Elements = append(o.Elements, Element{Map: MapServiceNodePorts, Proto: sp.Proto, Port: sp.NodePort, Goto: extChain})
		}
	}
	if reject {
		return o
	}

	eps := Set{Name: name("eps", sp.Name), Kind: EndpointMap}
	var svc Chain
	svc.Name = svcChain
	if opts.ClusterCIDR.IsValid() {
		svc.Rules = append(svc.Rules, Rule{Kind: MasqueradeUnlessFrom, Prefix: opts.ClusterCIDR})
	} else {
		svc.Rules = append(svc.Rules, Rule{Kind: MasqueradeAll})
	}
	for _, ep := range sp.Endpoints {
		id := sp.Name + "/" + ep.String()
		c := Chain{Name: name("sep", id)}
		c.Rules = append(c.Rules, Rule{Kind: MasqueradeIfFrom, IP: ep.IP})
		if sp.Affinity > 0 {
			aff := name("aff", id)
			o.Sets = append(o.Sets, Set{Name: aff, Kind: AffinitySet})
			c.Rules = append(c.Rules, Rule{Kind: AffinityUpdate, Set: aff, Timeout: sp.Affinity})
			svc.Rules = append(svc.Rules, Rule{Kind: AffinityGoto, Set: aff, Chain: c.Name})
		}
		c.Rules = append(c.Rules, Rule{Kind: DNAT, Proto: sp.Proto, IP: ep.IP, Port: ep.Port})
		o.Chains = append(o.Chains, c)
		eps.Gotos = append(eps.Gotos, c.Name)
	}
	o.Sets = append(o.Sets, eps)
	svc.Rules = append(svc.Rules, Rule{Kind: Balance, N: len(sp.Endpoints), Set: eps.Name})
	o.Chains = append(o.Chains, svc)
	if sp.NodePort != 0 || len(sp.ExternalIPs) > 0 {
		o.Chains = append(o.Chains, Chain{Name: extChain, Rules: []Rule{{Kind: MasqueradeAll}, {Kind: Goto, Chain: svcChain}}})
	}
	return o
}
