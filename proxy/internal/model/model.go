// Package model turns a Service and its EndpointSlices into the service
// ports a node must implement: a pure function of the API objects, shared
// by the nftables and the user-space data planes.
package model

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"time"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	discoveryv1 "flotilla.io/proto/flotilla/discovery/v1"
)

// ServiceNameLabel is the EndpointSlice label naming its Service.
const ServiceNameLabel = "kubernetes.io/service-name"

// TriggerTimeAnnotation is when the change that produced an EndpointSlice
// happened (set by the EndpointSlice controller).
const TriggerTimeAnnotation = "endpoints.kubernetes.io/last-change-trigger-time"

// DefaultAffinityTimeout is upstream's ClientIP affinity default (3 hours).
const DefaultAffinityTimeout = 10800 * time.Second

// Proto is an IP protocol number.
type Proto uint8

// The protocols a service port may use.
const (
	TCP  Proto = 6
	UDP  Proto = 17
	SCTP Proto = 132
)

func (p Proto) String() string {
	switch p {
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	case SCTP:
		return "sctp"
	}
	return fmt.Sprintf("proto%d", uint8(p))
}

// ParseProto reads a Kubernetes protocol name; "" is TCP.
func ParseProto(s string) (Proto, bool) {
	switch s {
	case "", "TCP":
		return TCP, true
	case "UDP":
		return UDP, true
	case "SCTP":
		return SCTP, true
	}
	return 0, false
}

// Endpoint is one backend address and port.
type Endpoint struct {
	IP   netip.Addr
	Port uint16
}

func (e Endpoint) String() string { return netip.AddrPortFrom(e.IP, e.Port).String() }

// ServicePort is one port of one service, as the data plane implements it.
type ServicePort struct {
	// Name is namespace/service/proto/port-name: unique and stable.
	Name      string
	Service   string // namespace/name
	ClusterIP netip.Addr
	Port      uint16
	Proto     Proto
	NodePort  uint16
	// ExternalIPs holds spec.externalIPs and load balancer ingress IPs.
	ExternalIPs []netip.Addr
	// Affinity is the ClientIP affinity timeout; 0 means none.
	Affinity time.Duration
	// Endpoints are the backends in a stable order; empty means traffic is
	// refused.
	Endpoints []Endpoint
}

// Build returns the service ports of svc given its EndpointSlices. Headless
// and ExternalName services, and protocols or addresses the proxy cannot
// serve (IPv6), yield nothing.
func Build(svc *corev1.Service, slices_ []*discoveryv1.EndpointSlice) []ServicePort {
	spec := svc.GetSpec()
	if spec == nil || spec.GetType() == "ExternalName" {
		return nil
	}
	ns, name := svc.GetMetadata().GetNamespace(), svc.GetMetadata().GetName()
	clusterIP := firstIPv4(append([]string{spec.GetClusterIp()}, spec.GetClusterIps()...))
	var external []netip.Addr
	for _, s := range spec.GetExternalIps() {
		if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
			external = append(external, a)
		}
	}
	for _, ing := range svc.GetStatus().GetLoadBalancer().GetIngress() {
		if a, err := netip.ParseAddr(ing.GetIp()); err == nil && a.Is4() && !slices.Contains(external, a) {
			external = append(external, a)
		}
	}
	slices.SortFunc(external, netip.Addr.Compare)
	if !clusterIP.IsValid() && len(external) == 0 {
		return nil // headless ("None") or not yet allocated
	}
	var affinity time.Duration
	if spec.GetSessionAffinity() == "ClientIP" {
		affinity = DefaultAffinityTimeout
		if t := spec.GetSessionAffinityConfig().GetClientIp(); t != nil && t.TimeoutSeconds != nil && t.GetTimeoutSeconds() > 0 {
			affinity = time.Duration(t.GetTimeoutSeconds()) * time.Second
		}
	}
	nodePorts := spec.GetType() == "NodePort" || spec.GetType() == "LoadBalancer"
	var out []ServicePort
	for _, p := range spec.GetPorts() {
		proto, ok := ParseProto(p.GetProtocol())
		if !ok || p.GetPort() <= 0 || p.GetPort() > 65535 {
			continue
		}
		sp := ServicePort{
			Name:    fmt.Sprintf("%s/%s/%s/%s", ns, name, proto, p.GetName()),
			Service: ns + "/" + name, ClusterIP: clusterIP, Port: uint16(p.GetPort()), Proto: proto,
			ExternalIPs: external, Affinity: affinity,
			Endpoints: endpoints(slices_, p.GetName(), proto),
		}
		if nodePorts && p.GetNodePort() > 0 && p.GetNodePort() <= 65535 {
			sp.NodePort = uint16(p.GetNodePort())
		}
		out = append(out, sp)
	}
	return out
}

func firstIPv4(ips []string) netip.Addr {
	for _, s := range ips {
		if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
			return a
		}
	}
	return netip.Addr{}
}

// endpoints picks the backends for one port: the ready ones, or, when none
// is ready, the serving ones that are terminating (upstream's fallback, so
// connections drain instead of being refused during a rollout).
func endpoints(eps []*discoveryv1.EndpointSlice, portName string, proto Proto) []Endpoint {
	var ready, terminating []Endpoint
	for _, s := range eps {
		if s.GetAddressType() != "" && s.GetAddressType() != "IPv4" {
			continue
		}
		var port uint16
		for _, p := range s.GetPorts() {
			pp, ok := ParseProto(p.GetProtocol())
			if ok && pp == proto && p.GetName() == portName && p.GetPort() > 0 && p.GetPort() <= 65535 {
				port = uint16(p.GetPort())
			}
		}
		if port == 0 {
			continue
		}
		for _, e := range s.GetEndpoints() {
			c := e.GetConditions()
			isReady := c == nil || c.Ready == nil || c.GetReady()
			serving := c == nil || c.Serving == nil || c.GetServing()
			term := c != nil && c.GetTerminating()
			for _, a := range e.GetAddresses() {
				ip, err := netip.ParseAddr(a)
				if err != nil || !ip.Is4() {
					continue
				}
				switch {
				case isReady && !term:
					ready = append(ready, Endpoint{ip, port})
				case serving && term:
					terminating = append(terminating, Endpoint{ip, port})
				}
			}
		}
	}
	if len(ready) == 0 {
		ready = terminating
	}
	slices.SortFunc(ready, func(a, b Endpoint) int {
		return cmp.Or(a.IP.Compare(b.IP), cmp.Compare(a.Port, b.Port))
	})
	return slices.Compact(ready)
}
