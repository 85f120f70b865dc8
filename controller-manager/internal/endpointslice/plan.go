package endpointslice

import (
	"cmp"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	discoveryv1 "flotilla.io/proto/flotilla/discovery/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"

	"flotilla.io/controller-manager/internal/endpoint"
)

// Labels every managed slice carries.
const (
	ServiceNameLabel = "kubernetes.io/service-name"
	ManagedByLabel   = "endpointslice.kubernetes.io/managed-by"
	ControllerName   = "endpointslice-controller.k8s.io"
	// ZoneLabel on a node gives its endpoints' zone.
	ZoneLabel = "topology.kubernetes.io/zone"
)

// Plan is what reconciling one Service's slices takes: new slices to create
// (by generateName), changed ones to update, and ones to delete.
type Plan struct {
	Create, Update, Delete []*discoveryv1.EndpointSlice
}

// group is the endpoints sharing one address type and port mapping: each
// slice holds endpoints of one group only.
type group struct {
	addressType string
	ports       []*discoveryv1.EndpointPort
	endpoints   map[string]*discoveryv1.Endpoint // by pod name
}

// Compute plans the slices of svc given the pods it selects, the zone of
// each node, and the slices this controller already made for it. It keeps
// endpoints in the slice they are in, fills free room before making new
// slices of at most max endpoints, and leaves unchanged slices alone; a
// Service without endpoints keeps one empty placeholder slice, as upstream.
func Compute(svc *corev1.Service, pods []*corev1.Pod, zones map[string]string, existing []*discoveryv1.EndpointSlice, max int) Plan {
	groups := desired(svc, pods, zones)
	wantLabels := sliceLabels(svc)
	var plan Plan
	// changed applies the common metadata and reports whether the slice
	// differs from what is stored.
	finish := func(orig, s *discoveryv1.EndpointSlice) {
		s.Metadata.Labels = wantLabels
		s.Metadata.OwnerReferences = []*metav1.OwnerReference{ownerRef(svc)}
		slices.SortFunc(s.Endpoints, func(a, b *discoveryv1.Endpoint) int {
			return strings.Compare(a.GetTargetRef().GetName(), b.GetTargetRef().GetName())
		})
		switch {
		case orig == nil:
			plan.Create = append(plan.Create, s)
		case !proto.Equal(orig, s):
			plan.Update = append(plan.Update, s)
		}
	}
	byGroup := map[string][]*discoveryv1.EndpointSlice{}
	for _, s := range existing {
		k := groupKey(s.GetAddressType(), s.GetPorts())
		byGroup[k] = append(byGroup[k], s)
	}
	total := 0
	for _, key := range slices.Sorted(maps.Keys(groups)) {
		g := groups[key]
		total += len(g.endpoints)
		placed := map[string]bool{}
		var kept []*discoveryv1.EndpointSlice // updated copies, in order
		var origs []*discoveryv1.EndpointSlice
		for _, s := range byGroup[key] {
			next := proto.Clone(s).(*discoveryv1.EndpointSlice)
			next.Endpoints = nil
			for _, ep := range s.GetEndpoints() {
				name := ep.GetTargetRef().GetName()
				if want, ok := g.endpoints[name]; ok && !placed[name] && len(next.Endpoints) < max {
					next.Endpoints = append(next.Endpoints, want)
					placed[name] = true
				}
			}
			kept, origs = append(kept, next), append(origs, s)
		}
		delete(byGroup, key)
		var rest []string
		for _, name := range slices.Sorted(maps.Keys(g.endpoints)) {
			if !placed[name] {
				rest = append(rest, name)
			}
		}
		// Fill existing slices that have room, then make new ones.
		for n := range kept {
			for len(rest) > 0 && len(kept[n].Endpoints) < max {
				kept[n].Endpoints = append(kept[n].Endpoints, g.endpoints[rest[0]])
				rest = rest[1:]
			}
		}
		for len(rest) > 0 {
			s := &discoveryv1.EndpointSlice{
				Metadata:    &metav1.ObjectMeta{GenerateName: svc.Metadata.Name + "-", Namespace: svc.Metadata.Namespace},
				AddressType: g.addressType, Ports: g.ports,
			}
			for len(rest) > 0 && len(s.Endpoints) < max {
				s.Endpoints = append(s.Endpoints, g.endpoints[rest[0]])
				rest = rest[1:]
			}
			finish(nil, s)
		}
		for n, s := range kept {
			if len(s.Endpoints) == 0 {
				plan.Delete = append(plan.Delete, origs[n])
				continue
			}
			finish(origs[n], s)
		}
	}
	// Slices of port mappings no pod serves any more.
	for _, key := range slices.Sorted(maps.Keys(byGroup)) {
		plan.Delete = append(plan.Delete, byGroup[key]...)
	}
	if total == 0 {
		// Keep (or make) one empty placeholder slice.
		placeholder := &discoveryv1.EndpointSlice{
			Metadata:    &metav1.ObjectMeta{GenerateName: svc.Metadata.Name + "-", Namespace: svc.Metadata.Namespace},
			AddressType: "IPv4",
		}
		var orig *discoveryv1.EndpointSlice
		if len(plan.Delete) > 0 {
			orig = plan.Delete[0]
			plan.Delete = plan.Delete[1:]
			placeholder = proto.Clone(orig).(*discoveryv1.EndpointSlice)
			placeholder.Endpoints, placeholder.Ports = nil, nil
		}
		finish(orig, placeholder)
		return plan
	}
	// A placeholder becomes the first new slice instead of being replaced.
	for n, d := range plan.Delete {
		if len(d.Endpoints) == 0 && len(plan.Create) > 0 {
			s := proto.Clone(d).(*discoveryv1.EndpointSlice)
			c := plan.Create[0]
			s.AddressType, s.Ports, s.Endpoints = c.AddressType, c.Ports, c.Endpoints
			s.Metadata.Labels, s.Metadata.OwnerReferences = c.Metadata.Labels, c.Metadata.OwnerReferences
			plan.Create = plan.Create[1:]
			plan.Delete = slices.Delete(plan.Delete, n, n+1)
			plan.Update = append(plan.Update, s)
			break
		}
	}
	return plan
}

// desired groups the endpoints svc should have.
func desired(svc *corev1.Service, pods []*corev1.Pod, zones map[string]string) map[string]*group {
	publish := svc.GetSpec().GetPublishNotReadyAddresses()
	groups := map[string]*group{}
	for _, pod := range pods {
		if !endpoint.Include(pod, true) {
			continue
		}
		ports := endpoint.PodPorts(svc, pod)
		if len(ports) == 0 && len(svc.GetSpec().GetPorts()) > 0 {
			continue
		}
		ip := endpoint.PodIP(pod)
		at := "IPv4"
		if a, err := netip.ParseAddr(ip); err == nil && a.Is6() {
			at = "IPv6"
		}
		var sp []*discoveryv1.EndpointPort
		for _, p := range ports {
			sp = append(sp, &discoveryv1.EndpointPort{Name: proto.String(p.Name), Port: proto.Int32(p.Port), Protocol: proto.String(p.Protocol), AppProtocol: p.AppProtocol})
		}
		key := groupKey(at, sp)
		g := groups[key]
		if g == nil {
			g = &group{addressType: at, ports: sp, endpoints: map[string]*discoveryv1.Endpoint{}}
			groups[key] = g
		}
		g.endpoints[pod.Metadata.Name] = podEndpoint(svc, pod, ip, publish, zones)
	}
	return groups
}

// podEndpoint is upstream's podToEndpoint: serving follows readiness,
// ready is serving and not terminating unless publishNotReadyAddresses.
func podEndpoint(svc *corev1.Service, pod *corev1.Pod, ip string, publish bool, zones map[string]string) *discoveryv1.Endpoint {
	serving := endpoint.PodReady(pod)
	terminating := pod.Metadata.DeletionTimestamp != nil
	ep := &discoveryv1.Endpoint{
		Addresses: []string{ip},
		Conditions: &discoveryv1.EndpointConditions{
			Ready: proto.Bool(publish || (serving && !terminating)), Serving: proto.Bool(serving), Terminating: proto.Bool(terminating),
		},
		TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Metadata.Namespace, Name: pod.Metadata.Name, Uid: pod.Metadata.Uid},
	}
	if n := pod.GetSpec().GetNodeName(); n != "" {
		ep.NodeName = proto.String(n)
		if z := zones[n]; z != "" {
			ep.Zone = proto.String(z)
		}
	}
	if h := endpoint.Hostname(svc, pod); h != "" {
		ep.Hostname = proto.String(h)
	}
	return ep
}

func groupKey(addressType string, ports []*discoveryv1.EndpointPort) string {
	parts := make([]string, len(ports))
	for n, p := range ports {
		parts[n] = fmt.Sprintf("%s/%d/%s/%s", p.GetName(), p.GetPort(), cmp.Or(p.GetProtocol(), "TCP"), p.GetAppProtocol())
	}
	slices.Sort(parts)
	return addressType + "|" + strings.Join(parts, ",")
}

func sliceLabels(svc *corev1.Service) map[string]string {
	l := endpoint.Labels(svc)
	if l == nil {
		l = map[string]string{}
	}
	l[ServiceNameLabel] = svc.Metadata.Name
	l[ManagedByLabel] = ControllerName
	return l
}

func ownerRef(svc *corev1.Service) *metav1.OwnerReference {
	return &metav1.OwnerReference{ApiVersion: "v1", Kind: "Service", Name: svc.Metadata.Name, Uid: svc.Metadata.Uid, Controller: proto.Bool(true), BlockOwnerDeletion: proto.Bool(true)}
}
