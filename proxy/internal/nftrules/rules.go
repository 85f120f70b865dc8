// Package nftrules is the pure core of the nftables data plane: it turns
// service ports into the map elements (and, for session affinity, the
// chains and sets) each one owns, and the difference between two such
// states into a short list of operations. No netlink here: package
// nftapply sends the operations to the kernel.
//
// The kernel re-validates the whole table (every chain reachable from a
// base chain, every element of every verdict map) in any transaction that
// adds a jump or goto: a rule with a verdict or a vmap element. So the
// table is flat: a fixed set of chains and rules, and shared maps whose
// elements carry data (addresses), not verdicts. Changing a service then
// only adds and deletes plain elements, a transaction the kernel commits
// without validating anything, in the same time at 10 or 10,000 services.
//
//	nat-prerouting, nat-output -> services:
//	    ip daddr . meta l4proto . th dport vmap @service-ips     (affinity)
//	    fib daddr type local meta l4proto . th dport vmap @service-nodeports
//	    ip daddr . meta l4proto . th dport @cluster-ips ip saddr != CIDR jump mark-for-masquerade
//	    ip daddr . meta l4proto . th dport @external-ips jump mark-for-masquerade
//	    fib daddr type local meta l4proto . th dport @nodeports jump mark-for-masquerade
//	    goto endpoints
//	endpoints: for each endpoint count N in use,
//	    dnat to ip daddr . meta l4proto . th dport . N . numgen random mod N map @ip-endpoints
//	    fib daddr type local: dnat to meta l4proto . th dport . N . numgen random mod N map @nodeport-endpoints
//	filter-input/forward/output (ct state new) -> service-endpoints-check:
//	    ip daddr . meta l4proto . th dport @reject-ips jump reject-chain
//	    fib daddr type local meta l4proto . th dport @reject-nodeports jump reject-chain
//	nat-postrouting -> masquerading:
//	    ct status dnat ip saddr . ip daddr @hairpin masquerade
//	    masquerade packets marked by mark-for-masquerade
//
// Only the endpoints chain changes with the services: a rule per endpoint
// count, added the first time a service has that many endpoints. The index
// is random per connection, as upstream's: an incrementing counter is
// shared by every service with that count (and advanced by every new
// connection passing the rule), so interleaved traffic can pin one
// service's connections to one endpoint.
//
// Services with ClientIP affinity keep per-service chains, because the
// kernel fills one timeout set per endpoint with client addresses: chain
// svc-* (masquerade off-cluster sources, affinity lookups, numgen random mod
// N vmap @eps-*), chain ext-* for node ports and external IPs (always
// masquerade), one chain sep-* per endpoint (hairpin masquerade, affinity
// update, dnat), the named map eps-* (index -> goto sep-*) and one timeout
// set aff-* per endpoint, reached through the verdict maps service-ips and
// service-nodeports. A change to one of them costs a validation of those
// chains only.
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
	ChainEndpoints      = "endpoints"
	ChainMarkMasquerade = "mark-for-masquerade"
	ChainMasquerading   = "masquerading"
	ChainReject         = "reject-chain"
	ChainEndpointsCheck = "service-endpoints-check"

	// Verdict maps: frontend -> goto the chain of an affinity service.
	MapServiceIPs       = "service-ips"
	MapServiceNodePorts = "service-nodeports"
	// Sets of frontends (address . protocol . port, or protocol . port
	// for node ports) with endpoints, by how they masquerade.
	SetClusterIPs  = "cluster-ips"
	SetExternalIPs = "external-ips"
	SetNodePorts   = "nodeports"
	// Endpoint maps: frontend . N . index -> endpoint address . port.
	MapIPEndpoints       = "ip-endpoints"
	MapNodePortEndpoints = "nodeport-endpoints"
	// Frontends without endpoints, rejected.
	SetRejectIPs       = "reject-ips"
	SetRejectNodePorts = "reject-nodeports"
	// SetHairpin holds endpoint . endpoint for every endpoint address:
	// a connection DNATed back to its source is masqueraded.
	SetHairpin = "hairpin"
)

// SharedMaps are the fixed sets and maps services put elements in.
var SharedMaps = []string{
	MapServiceIPs, MapServiceNodePorts, SetClusterIPs, SetExternalIPs, SetNodePorts,
	MapIPEndpoints, MapNodePortEndpoints, SetRejectIPs, SetRejectNodePorts, SetHairpin,
}

// Layout of a shared map's elements.
type Layout struct {
	IP       bool // the key starts with an address (else protocol . port)
	Hairpin  bool // the key is address . address, nothing else
	Endpoint bool // the key ends N . index and the data is address . port
	Verdict  bool // the data is a verdict
}

// LayoutOf is the layout of shared map m.
func LayoutOf(m string) Layout {
	switch m {
	case MapServiceIPs:
		return Layout{IP: true, Verdict: true}
	case MapServiceNodePorts:
		return Layout{Verdict: true}
	case SetClusterIPs, SetExternalIPs, SetRejectIPs:
		return Layout{IP: true}
	case MapIPEndpoints:
		return Layout{IP: true, Endpoint: true}
	case MapNodePortEndpoints:
		return Layout{Endpoint: true}
	case SetHairpin:
		return Layout{Hairpin: true}
	}
	return Layout{}
}

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
	// Balance: numgen random mod N vmap @Set.
	Balance
	// AffinityUpdate: update @Set { ip saddr timeout Timeout }.
	AffinityUpdate
	// DNAT: meta l4proto Proto dnat to IP:Port.
	DNAT
	// Goto: goto Chain.
	Goto
	// BalanceIPs: dnat to ip daddr . meta l4proto . th dport . N .
	// numgen random mod N map @ip-endpoints.
	BalanceIPs
	// BalanceNodePorts: the same for local addresses by node port.
	BalanceNodePorts
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
		return fmt.Sprintf("numgen random mod %d vmap @%s", r.N, r.Set)
	case AffinityUpdate:
		return fmt.Sprintf("update @%s { ip saddr timeout %s }", r.Set, r.Timeout)
	case DNAT:
		return fmt.Sprintf("meta l4proto %s dnat to %s", r.Proto, netip.AddrPortFrom(r.IP, r.Port))
	case Goto:
		return "goto " + r.Chain
	case BalanceIPs:
		return fmt.Sprintf("dnat to ip daddr . meta l4proto . th dport . %d . numgen random mod %d map @%s", r.N, r.N, MapIPEndpoints)
	case BalanceNodePorts:
		return fmt.Sprintf("fib daddr type local dnat to meta l4proto . th dport . %d . numgen random mod %d map @%s", r.N, r.N, MapNodePortEndpoints)
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

// Element is one element of a shared map; which fields count depends on
// the map's Layout.
type Element struct {
	Map string
	// IP is the frontend address (unset for node ports), or the endpoint
	// address in the hairpin set.
	IP    netip.Addr
	Proto model.Proto
	Port  uint16
	// N and Index: element Index of the N of a frontend's endpoint map.
	N, Index int
	// Endpoint is an endpoint map's data.
	Endpoint netip.AddrPort
	// Goto is a verdict map's data.
	Goto string
}

// Frontend is what a service claims with this element: address . protocol
// . port, or protocol . port for node ports; "" for shared elements.
func (e Element) Frontend() string {
	l := LayoutOf(e.Map)
	switch {
	case l.Hairpin:
		return ""
	case l.IP:
		return fmt.Sprintf("%s . %s . %d", e.IP, e.Proto, e.Port)
	}
	return fmt.Sprintf("%s . %d", e.Proto, e.Port)
}

// Key identifies the element within all shared maps.
func (e Element) Key() string {
	l := LayoutOf(e.Map)
	switch {
	case l.Hairpin:
		return fmt.Sprintf("%s %s . %s", e.Map, e.IP, e.IP)
	case l.Endpoint:
		return fmt.Sprintf("%s %s . %d . %d", e.Map, e.Frontend(), e.N, e.Index)
	}
	return e.Map + " " + e.Frontend()
}

// ElementID identifies an element within all shared maps (what Key
// prints): the element without its data, comparable.
type ElementID struct {
	Map      string
	IP       netip.Addr
	Proto    model.Proto
	Port     uint16
	N, Index int
}

// ID is the element's identity.
func (e Element) ID() ElementID { return ElementID{e.Map, e.IP, e.Proto, e.Port, e.N, e.Index} }

// FrontendID is what Frontend prints, comparable. Node ports have no IP.
type FrontendID struct {
	IP    netip.Addr
	Proto model.Proto
	Port  uint16
}

// FrontendID is the frontend the element claims.
func (e Element) FrontendID() FrontendID { return FrontendID{e.IP, e.Proto, e.Port} }

// SameData reports whether e and o carry the same value.
func (e Element) SameData(o Element) bool { return e.Goto == o.Goto && e.Endpoint == o.Endpoint }

// Data is the element's value ("" in a set).
func (e Element) Data() string {
	if e.Goto != "" {
		return "goto " + e.Goto
	}
	if e.Endpoint.IsValid() {
		return e.Endpoint.String()
	}
	return ""
}

func (e Element) String() string {
	if d := e.Data(); d != "" {
		return e.Key() + " : " + d
	}
	return e.Key()
}

// Objects are what one service port owns in the table.
type Objects struct {
	// Chains in creation order (endpoint chains first, referrers last).
	Chains []Chain
	Sets   []Set
	// Elements in the shared maps, each claiming its frontend.
	Elements []Element
	// Shared elements (hairpin) other services may hold too.
	Shared []Element
	// Endpoints is how many endpoints are programmed.
	Endpoints int
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
	var frontends []netip.Addr
	if sp.ClusterIP.IsValid() {
		frontends = append(frontends, sp.ClusterIP)
	}
	frontends = append(frontends, sp.ExternalIPs...)
	el := func(m string, ip netip.Addr, port uint16) Element {
		return Element{Map: m, IP: ip, Proto: sp.Proto, Port: port}
	}
	if len(sp.Endpoints) == 0 {
		for _, ip := range frontends {
			o.Elements = append(o.Elements, el(SetRejectIPs, ip, sp.Port))
		}
		if sp.NodePort != 0 {
			o.Elements = append(o.Elements, el(SetRejectNodePorts, netip.Addr{}, sp.NodePort))
		}
		return o
	}
	o.Endpoints = len(sp.Endpoints)
	if sp.Affinity > 0 {
		return affinityObjects(sp, opts, frontends)
	}
	for i, ip := range frontends {
		set := SetExternalIPs
		if i == 0 && sp.ClusterIP.IsValid() {
			set = SetClusterIPs
		}
		o.Elements = append(o.Elements, el(set, ip, sp.Port))
	}
	if sp.NodePort != 0 {
		o.Elements = append(o.Elements, el(SetNodePorts, netip.Addr{}, sp.NodePort))
	}
	n := len(sp.Endpoints)
	for i, ep := range sp.Endpoints {
		dest := netip.AddrPortFrom(ep.IP, ep.Port)
		for _, ip := range frontends {
			e := el(MapIPEndpoints, ip, sp.Port)
			e.N, e.Index, e.Endpoint = n, i, dest
			o.Elements = append(o.Elements, e)
		}
		if sp.NodePort != 0 {
			e := el(MapNodePortEndpoints, netip.Addr{}, sp.NodePort)
			e.N, e.Index, e.Endpoint = n, i, dest
			o.Elements = append(o.Elements, e)
		}
		o.Shared = append(o.Shared, Element{Map: SetHairpin, IP: ep.IP})
	}
	return o
}

// affinityObjects is a service port with ClientIP affinity: its own
// chains behind the verdict maps.
func affinityObjects(sp model.ServicePort, opts Options, frontends []netip.Addr) Objects {
	o := Objects{Endpoints: len(sp.Endpoints)}
	svcChain, extChain := name("svc", sp.Name), name("ext", sp.Name)
	for i, ip := range frontends {
		target := extChain
		if i == 0 && sp.ClusterIP.IsValid() {
			target = svcChain
		}
		o.Elements = append(o.Elements, Element{Map: MapServiceIPs, IP: ip, Proto: sp.Proto, Port: sp.Port, Goto: target})
	}
	if sp.NodePort != 0 {
		o.Elements = append(o.Elements, Element{Map: MapServiceNodePorts, Proto: sp.Proto, Port: sp.NodePort, Goto: extChain})
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
		aff := name("aff", id)
		o.Sets = append(o.Sets, Set{Name: aff, Kind: AffinitySet})
		c.Rules = append(c.Rules, Rule{Kind: AffinityUpdate, Set: aff, Timeout: sp.Affinity})
		svc.Rules = append(svc.Rules, Rule{Kind: AffinityGoto, Set: aff, Chain: c.Name})
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

// EndpointsChain is the fixed chain's rules for these endpoint counts.
func EndpointsChain(counts []int) Chain {
	c := Chain{Name: ChainEndpoints}
	for _, n := range counts {
		c.Rules = append(c.Rules, Rule{Kind: BalanceIPs, N: n}, Rule{Kind: BalanceNodePorts, N: n})
	}
	return c
}
