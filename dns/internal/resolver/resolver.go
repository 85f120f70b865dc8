// Package resolver answers cluster DNS questions from Services and
// EndpointSlices, the way upstream's cluster DNS (CoreDNS's kubernetes
// plugin) does. It is pure: the objects come from a Source, the wire from
// the caller.
//
//	<svc>.<ns>.svc.<domain>            A: cluster IP; headless: ready endpoint IPs
//	                                   CNAME: ExternalName services
//	                                   SRV: one per port (headless: per endpoint)
//	_<port>._<proto>.<svc>.<ns>.svc... SRV for a named port
//	<hostname>.<svc>.<ns>.svc...       A: endpoint with that hostname (StatefulSet pods)
//	<a-b-c-d>.<svc>.<ns>.svc...        A: endpoint with that IP (headless)
//	<a-b-c-d>.<ns>.pod.<domain>        A: a pod IP known from an EndpointSlice
//	d.c.b.a.in-addr.arpa               PTR: service and endpoint IPs
//
// A name that exists without records of the asked type is NODATA (NOERROR,
// empty answer, SOA); a name that does not exist is NXDOMAIN.
package resolver

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	discoveryv1 "flotilla.io/proto/flotilla/discovery/v1"
)

// Source is what the resolver reads: an informer cache in the daemon, a
// fixture in tests. Returned objects must not be modified.
type Source interface {
	Service(namespace, name string) *corev1.Service
	// Slices returns the EndpointSlices of a service.
	Slices(namespace, service string) []*discoveryv1.EndpointSlice
	NamespaceExists(namespace string) bool
	// ServicesByIP returns services whose cluster IPs include ip.
	ServicesByIP(ip string) []*corev1.Service
	// SlicesByIP returns EndpointSlices with an endpoint at ip.
	SlicesByIP(ip string) []*discoveryv1.EndpointSlice
}

// Resolver answers for one cluster domain.
type Resolver struct {
	Domain string // e.g. "cluster.local." (fully qualified)
	TTL    uint32
	Source Source
}

// Result is an answer; Authoritative false means the name is outside the
// cluster's zones and should be forwarded.
type Result struct {
	Authoritative bool
	Rcode         int
	Answer        []dns.RR
	Extra         []dns.RR
	// Ns holds the SOA for NXDOMAIN and NODATA answers.
	Ns []dns.RR
}

// ServiceName is the cluster name of a service, fully qualified.
func (r *Resolver) ServiceName(ns, name string) string {
	return fmt.Sprintf("%s.%s.svc.%s", name, ns, r.Domain)
}

// SOA is the zone's SOA record.
func (r *Resolver) SOA() dns.RR {
	return &dns.SOA{
		Hdr: dns.RR_Header{Name: r.Domain, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: r.TTL},
		Ns:  "ns.dns." + r.Domain, Mbox: "hostmaster." + r.Domain,
		Serial: 1, Refresh: 7200, Retry: 1800, Expire: 86400, Minttl: r.TTL,
	}
}

// Resolve answers one question.
func (r *Resolver) Resolve(q dns.Question) Result {
	name := strings.ToLower(dns.Fqdn(q.Name))
	if q.Qclass != dns.ClassINET && q.Qclass != dns.ClassANY {
		return Result{}
	}
	if strings.HasSuffix(name, ".in-addr.arpa.") {
		return r.reverse(name, q.Qtype)
	}
	if name != r.Domain && !strings.HasSuffix(name, "."+r.Domain) {
		return Result{}
	}
	res := Result{Authoritative: true}
	rest := strings.TrimSuffix(strings.TrimSuffix(name, r.Domain), ".")
	var labels []string
	if rest != "" {
		labels = strings.Split(rest, ".")
	}
	exists, rrs, extra := r.lookup(name, labels, q.Qtype)
	res.Answer, res.Extra = rrs, extra
	switch {
	case !exists:
		res.Rcode = dns.RcodeNameError
		res.Ns = []dns.RR{r.SOA()}
	case len(rrs) == 0:
		res.Ns = []dns.RR{r.SOA()}
	}
	return res
}

// lookup reports whether name exists and its records of type qtype.
func (r *Resolver) lookup(name string, labels []string, qtype uint16) (bool, []dns.RR, []dns.RR) {
	n := len(labels)
	switch {
	case n == 0: // the zone apex
		switch qtype {
		case dns.TypeSOA:
			return true, []dns.RR{r.SOA()}, nil
		case dns.TypeNS:
			return true, []dns.RR{&dns.NS{Hdr: r.hdr(name, dns.TypeNS), Ns: "ns.dns." + r.Domain}}, nil
		}
		return true, nil, nil
	case n == 1:
		return labels[0] == "svc" || labels[0] == "pod", nil, nil
	case labels[n-1] == "pod":
		return r.pod(name, labels, qtype)
	case labels[n-1] != "svc":
		return false, nil, nil
	}
	ns := labels[n-2]
	switch n {
	case 2:
		return r.Source.NamespaceExists(ns), nil, nil
	case 3:
		return r.service(name, ns, labels[0], qtype)
	case 4:
		if strings.HasPrefix(labels[0], "_") {
			// _tcp.<svc>...: exists when the service has such ports.
			svc := r.Source.Service(ns, labels[1])
			return svc != nil && len(r.srv(name, svc, "", labels[0][1:])) > 0, nil, nil
		}
		return r.endpoint(name, ns, labels[1], labels[0], qtype)
	case 5:
		if !strings.HasPrefix(labels[0], "_") || !strings.HasPrefix(labels[1], "_") {
			return false, nil, nil
		}
		svc := r.Source.Service(ns, labels[2])
		if svc == nil {
			return false, nil, nil
		}
		srvs := r.srv(name, svc, labels[0][1:], labels[1][1:])
		if len(srvs) == 0 {
			return false, nil, nil
		}
		if qtype != dns.TypeSRV && qtype != dns.TypeANY {
			return true, nil, nil
		}
		return true, srvs, r.srvExtra(svc, srvs)
	}
	return false, nil, nil
}

func (r *Resolver) hdr(name string, t uint16) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: r.TTL}
}

func (r *Resolver) addrRRs(name string, ips []netip.Addr, qtype uint16) []dns.RR {
	var out []dns.RR
	for _, ip := range ips {
		switch {
		case ip.Is4() && (qtype == dns.TypeA || qtype == dns.TypeANY):
			out = append(out, &dns.A{Hdr: r.hdr(name, dns.TypeA), A: ip.AsSlice()})
		case ip.Is6() && (qtype == dns.TypeAAAA || qtype == dns.TypeANY):
			out = append(out, &dns.AAAA{Hdr: r.hdr(name, dns.TypeAAAA), AAAA: ip.AsSlice()})
		}
	}
	return out
}

func headless(svc *corev1.Service) bool {
	return svc.GetSpec().GetClusterIp() == "None"
}

func (r *Resolver) service(name, ns, svcName string, qtype uint16) (bool, []dns.RR, []dns.RR) {
	svc := r.Source.Service(ns, svcName)
	if svc == nil {
		return false, nil, nil
	}
	spec := svc.GetSpec()
	if spec.GetType() == "ExternalName" {
		if spec.GetExternalName() == "" {
			return true, nil, nil
		}
		return true, []dns.RR{&dns.CNAME{Hdr: r.hdr(name, dns.TypeCNAME), Target: dns.Fqdn(spec.GetExternalName())}}, nil
	}
	if qtype == dns.TypeSRV {
		srvs := r.srv(name, svc, "", "")
		return true, srvs, r.srvExtra(svc, srvs)
	}
	if headless(svc) {
		var ips []netip.Addr
		for _, e := range r.endpoints(svc) {
			ips = append(ips, e.ip)
		}
		return true, r.addrRRs(name, ips, qtype), nil
	}
	return true, r.addrRRs(name, clusterIPs(svc), qtype), nil
}

func clusterIPs(svc *corev1.Service) []netip.Addr {
	var out []netip.Addr
	ips := svc.GetSpec().GetClusterIps()
	if len(ips) == 0 {
		ips = []string{svc.GetSpec().GetClusterIp()}
	}
	for _, s := range ips {
		if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, a)
		}
	}
	return out
}

// endpoint is one address of a service's EndpointSlices.
type endpoint struct {
	ip       netip.Addr
	hostname string
	ports    []*discoveryv1.EndpointPort
}

// label is the endpoint's DNS label: its hostname, else its dashed IP.
func (e endpoint) label() string {
	if e.hostname != "" {
		return strings.ToLower(e.hostname)
	}
	return dashed(e.ip)
}

func dashed(ip netip.Addr) string {
	return strings.NewReplacer(".", "-", ":", "-").Replace(ip.String())
}

// endpoints lists the addresses DNS publishes: ready ones, or all with
// publishNotReadyAddresses. Duplicates across slices are dropped.
func (r *Resolver) endpoints(svc *corev1.Service) []endpoint {
	var out []endpoint
	seen := map[netip.Addr]bool{}
	for _, s := range r.Source.Slices(svc.GetMetadata().GetNamespace(), svc.GetMetadata().GetName()) {
		for _, e := range s.GetEndpoints() {
			ready := e.GetConditions() == nil || e.GetConditions().Ready == nil || e.GetConditions().GetReady()
			if !ready && !svc.GetSpec().GetPublishNotReadyAddresses() {
				continue
			}
			for _, a := range e.GetAddresses() {
				ip, err := netip.ParseAddr(a)
				if err != nil || seen[ip] {
					continue
				}
				seen[ip] = true
				out = append(out, endpoint{ip: ip, hostname: e.GetHostname(), ports: s.GetPorts()})
			}
		}
	}
	slices.SortFunc(out, func(a, b endpoint) int { return a.ip.Compare(b.ip) })
	return out
}

// endpoint answers <label>.<svc>.<ns>.svc.<domain>.
func (r *Resolver) endpoint(name, ns, svcName, label string, qtype uint16) (bool, []dns.RR, []dns.RR) {
	svc := r.Source.Service(ns, svcName)
	if svc == nil {
		return false, nil, nil
	}
	var ips []netip.Addr
	for _, e := range r.endpoints(svc) {
		if e.label() == label || dashed(e.ip) == label {
			ips = append(ips, e.ip)
		}
	}
	if len(ips) == 0 {
		return false, nil, nil
	}
	return true, r.addrRRs(name, ips, qtype), nil
}

// srv lists SRV records for the service's ports matching port and proto
// names ("" matches any); unnamed ports have no SRV records.
func (r *Resolver) srv(name string, svc *corev1.Service, port, proto string) []dns.RR {
	var out []dns.RR
	svcName := r.ServiceName(svc.GetMetadata().GetNamespace(), svc.GetMetadata().GetName())
	for _, p := range svc.GetSpec().GetPorts() {
		pproto := strings.ToLower(p.GetProtocol())
		if pproto == "" {
			pproto = "tcp"
		}
		if p.GetName() == "" || (port != "" && strings.ToLower(p.GetName()) != port) || (proto != "" && pproto != proto) {
			continue
		}
		if !headless(svc) {
			out = append(out, &dns.SRV{Hdr: r.hdr(name, dns.TypeSRV), Priority: 0, Weight: 100, Port: uint16(p.GetPort()), Target: svcName})
			continue
		}
		for _, e := range r.endpoints(svc) {
			for _, ep := range e.ports {
				epProto := strings.ToLower(ep.GetProtocol())
				if epProto == "" {
					epProto = "tcp"
				}
				if ep.GetName() == p.GetName() && epProto == pproto {
					out = append(out, &dns.SRV{Hdr: r.hdr(name, dns.TypeSRV), Priority: 0, Weight: 100, Port: uint16(ep.GetPort()), Target: e.label() + "." + svcName})
				}
			}
		}
	}
	return out
}

// srvExtra gives the A records of SRV targets.
func (r *Resolver) srvExtra(svc *corev1.Service, srvs []dns.RR) []dns.RR {
	var out []dns.RR
	seen := map[string]bool{}
	eps := r.endpoints(svc)
	for _, rr := range srvs {
		target := rr.(*dns.SRV).Target
		if seen[target] {
			continue
		}
		seen[target] = true
		if !headless(svc) {
			out = append(out, r.addrRRs(target, clusterIPs(svc), dns.TypeANY)...)
			continue
		}
		for _, e := range eps {
			if e.label()+"."+r.ServiceName(svc.GetMetadata().GetNamespace(), svc.GetMetadata().GetName()) == target {
				out = append(out, r.addrRRs(target, []netip.Addr{e.ip}, dns.TypeANY)...)
			}
		}
	}
	return out
}

// pod answers <a-b-c-d>.<ns>.pod.<domain> for IPs that are endpoints in ns.
func (r *Resolver) pod(name string, labels []string, qtype uint16) (bool, []dns.RR, []dns.RR) {
	if len(labels) == 2 {
		return r.Source.NamespaceExists(labels[0]), nil, nil
	}
	if len(labels) != 3 {
		return false, nil, nil
	}
	ip, err := netip.ParseAddr(strings.ReplaceAll(labels[0], "-", "."))
	if err != nil {
		return false, nil, nil
	}
	for _, s := range r.Source.SlicesByIP(ip.String()) {
		if s.GetMetadata().GetNamespace() == labels[1] {
			return true, r.addrRRs(name, []netip.Addr{ip}, qtype), nil
		}
	}
	return false, nil, nil
}

// reverse answers PTR questions for service and endpoint IPs; other
// addresses are not ours.
func (r *Resolver) reverse(name string, qtype uint16) Result {
	parts := strings.Split(strings.TrimSuffix(name, ".in-addr.arpa."), ".")
	if len(parts) != 4 {
		return Result{}
	}
	slices.Reverse(parts)
	ip, err := netip.ParseAddr(strings.Join(parts, "."))
	if err != nil {
		return Result{}
	}
	var targets []string
	for _, svc := range r.Source.ServicesByIP(ip.String()) {
		targets = append(targets, r.ServiceName(svc.GetMetadata().GetNamespace(), svc.GetMetadata().GetName()))
	}
	for _, s := range r.Source.SlicesByIP(ip.String()) {
		ns, svcName := s.GetMetadata().GetNamespace(), s.GetMetadata().GetLabels()["kubernetes.io/service-name"]
		svc := r.Source.Service(ns, svcName)
		if svc == nil {
			continue
		}
		for _, e := range s.GetEndpoints() {
			if !slices.Contains(e.GetAddresses(), ip.String()) {
				continue
			}
			if headless(svc) {
				targets = append(targets, endpoint{ip: ip, hostname: e.GetHostname()}.label()+"."+r.ServiceName(ns, svcName))
			} else {
				targets = append(targets, fmt.Sprintf("%s.%s.pod.%s", dashed(ip), ns, r.Domain))
			}
		}
	}
	if len(targets) == 0 {
		return Result{}
	}
	slices.Sort(targets)
	targets = slices.Compact(targets)
	res := Result{Authoritative: true}
	if qtype == dns.TypePTR || qtype == dns.TypeANY {
		for _, t := range targets {
			res.Answer = append(res.Answer, &dns.PTR{Hdr: r.hdr(name, dns.TypePTR), Ptr: t})
		}
	} else {
		res.Ns = []dns.RR{r.SOA()}
	}
	return res
}
