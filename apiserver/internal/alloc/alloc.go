// Package alloc hands out Service cluster IPs and node ports. The decisions
// are pure: given a Service (and the one it replaces) it fills in what is
// missing and names the allocation keys the Service then holds; the
// apiserver takes those keys in the same etcd transaction as the write, so
// a collision is detected there and a random choice simply retried.
package alloc

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	corev1 "flotilla.io/proto/flotilla/core/v1"
)

// Services allocates for Services.
type Services struct {
	prefix         netip.Prefix
	first, size    uint32 // usable addresses: network and broadcast excluded
	portLo, portHi int
	ipKeys         string
	portKeys       string
	rnd            *rand.Rand
}

// Config describes the ranges.
type Config struct {
	// CIDR is the service IP range, e.g. "10.96.0.0/12" (IPv4).
	CIDR string
	// NodePorts is the node port range, e.g. "30000-32767".
	NodePorts string
	// IPKeyPrefix and PortKeyPrefix are where claims live in etcd.
	IPKeyPrefix, PortKeyPrefix string
	// Seed makes random choices repeatable in tests (0: random).
	Seed uint64
}

// New parses the ranges.
func New(cfg Config) (*Services, error) {
	p, err := netip.ParsePrefix(cfg.CIDR)
	if err != nil || !p.Addr().Is4() {
		return nil, fmt.Errorf("--service-cluster-ip-range: %q is not an IPv4 CIDR", cfg.CIDR)
	}
	p = p.Masked()
	bits := 32 - p.Bits()
	if bits < 2 || bits > 24 {
		return nil, fmt.Errorf("--service-cluster-ip-range: %s must be between /8 and /30", cfg.CIDR)
	}
	lo, hi, ok := strings.Cut(cfg.NodePorts, "-")
	pl, err1 := strconv.Atoi(lo)
	ph, err2 := strconv.Atoi(hi)
	if !ok || err1 != nil || err2 != nil || pl < 1 || ph > 65535 || pl > ph {
		return nil, fmt.Errorf("--service-node-port-range: %q is not a range like 30000-32767", cfg.NodePorts)
	}
	a := p.Addr().As4()
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	return &Services{
		prefix: p, first: binary.BigEndian.Uint32(a[:]) + 1, size: 1<<bits - 2,
		portLo: pl, portHi: ph, ipKeys: cfg.IPKeyPrefix, portKeys: cfg.PortKeyPrefix,
		rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
	}, nil
}

func (s *Services) ipKey(ip string) string  { return s.ipKeys + ip }
func (s *Services) portKey(p int32) string  { return s.portKeys + strconv.Itoa(int(p)) }
func needsNodePorts(t string) bool          { return t == "NodePort" || t == "LoadBalancer" }
func hasClusterIP(svc *corev1.Service) bool { return svc.GetSpec().GetType() != "ExternalName" }

// Claims are the allocation keys a Service holds.
func (s *Services) Claims(svc *corev1.Service) []string {
	var out []string
	if ip := svc.GetSpec().GetClusterIp(); ip != "" && ip != "None" && hasClusterIP(svc) {
		out = append(out, s.ipKey(ip))
	}
	if needsNodePorts(svc.GetSpec().GetType()) {
		seen := map[int32]bool{}
		for _, p := range svc.GetSpec().GetPorts() {
			if p.NodePort != 0 && !seen[p.NodePort] {
				seen[p.NodePort] = true
				out = append(out, s.portKey(p.NodePort))
			}
		}
	}
	return out
}

// Assignment says which claims were chosen at random: a collision on one of
// those is retried; on a requested value it is the user's error.
type Assignment struct {
	Random map[string]bool
	// Field maps a claim key to the field path that holds it, for errors.
	Field map[string]*field.Path
}

// Assign fills in a Service's cluster IP and node ports, carrying over the
// ones old holds (an update that leaves them out keeps them) and checking
// requested ones against the ranges.
//
// taken holds claim keys known to be held (nil at first; after a collision
// the caller passes what etcd holds), so random choices avoid them.
func (s *Services) Assign(svc, old *corev1.Service, taken map[string]bool) (Assignment, field.ErrorList) {
	a := Assignment{Random: map[string]bool{}, Field: map[string]*field.Path{}}
	spec := svc.Spec
	if spec == nil {
		return a, nil
	}
	specPath := field.NewPath("spec")
	var errs field.ErrorList
	if hasClusterIP(svc) {
		if spec.ClusterIp == "" && old != nil && old.GetSpec().GetClusterIp() != "" {
			spec.ClusterIp = old.Spec.ClusterIp
		}
		switch ip := spec.ClusterIp; {
		case ip == "None":
		case ip == "":
			ip, ok := s.randomIP(taken)
			if !ok {
				return a, field.ErrorList{field.InternalError(specPath.Child("clusterIP"), fmt.Errorf("failed to allocate a serviceIP: range %s is full", s.prefix))}
			}
			spec.ClusterIp = ip
			a.Random[s.ipKey(spec.ClusterIp)] = true
		default:
			addr, err := netip.ParseAddr(ip)
			if err != nil || !s.prefix.Contains(addr) {
				errs = append(errs, field.Invalid(specPath.Child("clusterIP"), ip, fmt.Sprintf("provided IP is not in the valid range. The range of valid IPs is %s", s.prefix)))
			}
		}
		if spec.ClusterIp != "" {
			a.Field[s.ipKey(spec.ClusterIp)] = specPath.Child("clusterIP")
			spec.ClusterIps = []string{spec.ClusterIp}
			if spec.ClusterIp != "None" && len(spec.IpFamilies) == 0 {
				spec.IpFamilies = []string{"IPv4"}
			}
		}
	}
	if needsNodePorts(spec.Type) {
		oldPorts := map[string]int32{}
		if old != nil && needsNodePorts(old.GetSpec().GetType()) {
			for _, p := range old.Spec.Ports {
				oldPorts[portID(p)] = p.NodePort
			}
		}
		used := map[int32]bool{}
		for _, p := range spec.Ports {
			if p.NodePort != 0 {
				used[p.NodePort] = true
			}
		}
		for n, p := range spec.Ports {
			fld := specPath.Child("ports").Index(n).Child("nodePort")
			if p.NodePort == 0 {
				p.NodePort = oldPorts[portID(p)]
			}
			switch {
			case p.NodePort == 0:
				port, ok := s.randomPort(used, taken)
				if !ok {
					return a, field.ErrorList{field.InternalError(fld, fmt.Errorf("failed to allocate a nodePort: range %d-%d is full", s.portLo, s.portHi))}
				}
				p.NodePort = port
				used[p.NodePort] = true
				a.Random[s.portKey(p.NodePort)] = true
			case int(p.NodePort) < s.portLo || int(p.NodePort) > s.portHi:
				errs = append(errs, field.Invalid(fld, p.NodePort, fmt.Sprintf("provided port is not in the valid range. The range of valid ports is %d-%d", s.portLo, s.portHi)))
			}
			if _, ok := a.Field[s.portKey(p.NodePort)]; !ok {
				a.Field[s.portKey(p.NodePort)] = fld
			}
		}
	} else {
		for _, p := range spec.Ports {
			p.NodePort = 0 // node ports only exist for NodePort and LoadBalancer
		}
		if old != nil && needsNodePorts(old.GetSpec().GetType()) {
			// A type change drops what only external types have, as upstream does.
			spec.ExternalTrafficPolicy, spec.HealthCheckNodePort = "", 0
		}
	}
	return a, errs
}

// portID matches a port across an update, as upstream does.
func portID(p *corev1.ServicePort) string {
	if p.Name != "" {
		return p.Name
	}
	return fmt.Sprintf("%s/%d", p.Protocol, p.Port)
}

// randomIP picks a random address not in taken: random probes first, then
// a scan from a random start, so a nearly full range still allocates.
func (s *Services) randomIP(taken map[string]bool) (string, bool) {
	ipAt := func(off uint32) string {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], s.first+off)
		return netip.AddrFrom4(b).String()
	}
	for try := 0; try < 16; try++ {
		if ip := ipAt(uint32(s.rnd.Uint64N(uint64(s.size)))); !taken[s.ipKey(ip)] {
			return ip, true
		}
	}
	start := uint32(s.rnd.Uint64N(uint64(s.size)))
	for n := uint32(0); n < s.size; n++ {
		if ip := ipAt((start + n) % s.size); !taken[s.ipKey(ip)] {
			return ip, true
		}
	}
	return "", false
}

func (s *Services) randomPort(used map[int32]bool, taken map[string]bool) (int32, bool) {
	span := s.portHi - s.portLo + 1
	start := s.rnd.IntN(span)
	for n := 0; n < span; n++ {
		p := int32(s.portLo + (start+n)%span)
		if n < 16 { // random probes first
			p = int32(s.portLo + s.rnd.IntN(span))
		}
		if !used[p] && !taken[s.portKey(p)] {
			return p, true
		}
	}
	for n := 0; n < span; n++ { // the probes missed: scan
		p := int32(s.portLo + (start+n)%span)
		if !used[p] && !taken[s.portKey(p)] {
			return p, true
		}
	}
	return 0, false
}

// Diff returns the claims to take and to release going from old to svc.
func Diff(newClaims, oldClaims []string) (take, release []string) {
	had := map[string]bool{}
	for _, k := range oldClaims {
		had[k] = true
	}
	has := map[string]bool{}
	for _, k := range newClaims {
		has[k] = true
		if !had[k] {
			take = append(take, k)
		}
	}
	for _, k := range oldClaims {
		if !has[k] {
			release = append(release, k)
		}
	}
	return take, release
}
