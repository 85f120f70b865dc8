package validation

// Validation of discovery.k8s.io/v1 EndpointSlice, after upstream's
// pkg/apis/discovery/validation.

import (
	"fmt"
	"net/netip"

	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	discoveryv1 "flotilla.io/proto/flotilla/discovery/v1"
)

// Upstream's limits.
const (
	discoveryMaxTopologyLabels = 16
	discoveryMaxAddresses      = 100
	discoveryMaxPorts          = 20000
	discoveryMaxEndpoints      = 1000
	discoveryMaxZoneHints      = 8
	discoveryMaxNodeHints      = 8
	discoveryZoneLabel         = "topology.kubernetes.io/zone"
)

var (
	discoveryAddressTypes  = []string{"FQDN", "IPv4", "IPv6"}
	discoveryPortProtocols = []string{"SCTP", "TCP", "UDP"}
)

func init() {
	Register("EndpointSlice", nil, func(obj, old proto.Message) field.ErrorList {
		s := obj.(*discoveryv1.EndpointSlice)
		errs := validateEndpointSlice(s)
		if o, ok := old.(*discoveryv1.EndpointSlice); ok && o != nil && s.AddressType != o.AddressType {
			errs = append(errs, field.Invalid(field.NewPath("addressType"), s.AddressType, appsImmutableErrorMsg))
		}
		return errs
	})
}

func validateEndpointSlice(s *discoveryv1.EndpointSlice) field.ErrorList {
	var errs field.ErrorList
	af := field.NewPath("addressType")
	switch {
	case s.AddressType == "":
		errs = append(errs, field.Required(af, ""))
	case !contains(discoveryAddressTypes, s.AddressType):
		errs = append(errs, field.NotSupported(af, s.AddressType, discoveryAddressTypes))
	}
	errs = append(errs, discoveryEndpoints(s, field.NewPath("endpoints"))...)
	errs = append(errs, discoveryPorts(s.Ports, field.NewPath("ports"))...)
	return errs
}

func discoveryEndpoints(s *discoveryv1.EndpointSlice, fld *field.Path) field.ErrorList {
	if len(s.Endpoints) > discoveryMaxEndpoints {
		return field.ErrorList{field.TooMany(fld, len(s.Endpoints), discoveryMaxEndpoints)}
	}
	var errs field.ErrorList
	for i, ep := range s.Endpoints {
		p := fld.Index(i)
		af := p.Child("addresses")
		switch n := len(ep.Addresses); {
		case n == 0:
			errs = append(errs, field.Required(af, "must contain at least 1 address"))
		case n > discoveryMaxAddresses:
			errs = append(errs, field.TooMany(af, n, discoveryMaxAddresses))
		}
		for j, addr := range ep.Addresses {
			// Unknown address types are reported above and not checked here.
			switch s.AddressType {
			case "IPv4", "IPv6":
				errs = append(errs, discoveryIP(addr, s.AddressType, af.Index(j))...)
			case "FQDN":
				errs = append(errs, validation.IsFullyQualifiedDomainName(af.Index(j), addr)...)
			}
		}
		if ep.NodeName != nil {
			for _, msg := range NameIsDNSSubdomain(*ep.NodeName, false) {
				errs = append(errs, field.Invalid(p.Child("nodeName"), *ep.NodeName, msg))
			}
		}
		tf := p.Child("deprecatedTopology")
		if len(ep.DeprecatedTopology) > discoveryMaxTopologyLabels {
			errs = append(errs, field.TooMany(tf, len(ep.DeprecatedTopology), discoveryMaxTopologyLabels))
		}
		errs = append(errs, ValidateLabels(ep.DeprecatedTopology, tf)...)
		if _, found := ep.DeprecatedTopology[discoveryZoneLabel]; found {
			errs = append(errs, field.InternalError(tf.Key(discoveryZoneLabel), fmt.Errorf("reserved key was not removed in conversion")))
		}
		if ep.Hostname != nil {
			for _, msg := range validation.IsDNS1123Label(*ep.Hostname) {
				errs = append(errs, field.Invalid(p.Child("hostname"), *ep.Hostname, msg))
			}
		}
		if ep.Hints != nil {
			errs = append(errs, discoveryHints(ep.Hints, p.Child("hints"))...)
		}
	}
	return errs
}

// discoveryIP checks an endpoint address of an IPv4 or IPv6 slice: a valid
// IP of the slice's family that can be an endpoint (upstream's
// ValidateEndpointIP).
func discoveryIP(addr, family string, fld *field.Path) field.ErrorList {
	if errs := validation.IsValidIP(fld, addr); len(errs) > 0 {
		return errs
	}
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return field.ErrorList{field.Invalid(fld, addr, "must be a valid IP address")}
	}
	if family == "IPv4" && !ip.Is4() {
		return field.ErrorList{field.Invalid(fld, addr, "must be an IPv4 address")}
	}
	if family == "IPv6" && !ip.Is6() {
		return field.ErrorList{field.Invalid(fld, addr, "must be an IPv6 address")}
	}
	var errs field.ErrorList
	if ip.IsUnspecified() {
		errs = append(errs, field.Invalid(fld, addr, fmt.Sprintf("may not be unspecified (%v)", addr)))
	}
	if ip.IsLoopback() {
		errs = append(errs, field.Invalid(fld, addr, "may not be in the loopback range (127.0.0.0/8, ::1/128)"))
	}
	if ip.IsLinkLocalUnicast() {
		errs = append(errs, field.Invalid(fld, addr, "may not be in the link-local range (169.254.0.0/16, fe80::/10)"))
	}
	if ip.IsLinkLocalMulticast() {
		errs = append(errs, field.Invalid(fld, addr, "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"))
	}
	return errs
}

func discoveryHints(h *discoveryv1.EndpointHints, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	zf := fld.Child("forZones")
	if len(h.ForZones) > discoveryMaxZoneHints {
		errs = append(errs, field.TooMany(zf, len(h.ForZones), discoveryMaxZoneHints))
	} else {
		seen := map[string]bool{}
		for i, z := range h.ForZones {
			p := zf.Index(i).Child("name")
			if seen[z.GetName()] {
				errs = append(errs, field.Duplicate(p, z.GetName()))
			}
			seen[z.GetName()] = true
			for _, msg := range validation.IsValidLabelValue(z.GetName()) {
				errs = append(errs, field.Invalid(p, z.GetName(), msg))
			}
		}
	}
	nf := fld.Child("forNodes")
	if len(h.ForNodes) > discoveryMaxNodeHints {
		errs = append(errs, field.TooMany(nf, len(h.ForNodes), discoveryMaxNodeHints))
	} else {
		seen := map[string]bool{}
		for i, n := range h.ForNodes {
			p := nf.Index(i).Child("name")
			if seen[n.GetName()] {
				errs = append(errs, field.Duplicate(p, n.GetName()))
			}
			seen[n.GetName()] = true
			for _, msg := range NameIsDNSSubdomain(n.GetName(), false) {
				errs = append(errs, field.Invalid(p, n.GetName(), msg))
			}
		}
	}
	return errs
}

func discoveryPorts(ports []*discoveryv1.EndpointPort, fld *field.Path) field.ErrorList {
	if len(ports) > discoveryMaxPorts {
		return field.ErrorList{field.TooMany(fld, len(ports), discoveryMaxPorts)}
	}
	var errs field.ErrorList
	names := map[string]bool{}
	for i, port := range ports {
		p := fld.Index(i)
		name := port.GetName() // unset is the default, ""
		if name != "" {
			for _, msg := range validation.IsDNS1123Label(name) {
				errs = append(errs, field.Invalid(p.Child("name"), name, msg))
			}
		}
		if names[name] {
			errs = append(errs, field.Duplicate(p.Child("name"), name))
		}
		names[name] = true
		switch {
		case port.Protocol == nil:
			errs = append(errs, field.Required(p.Child("protocol"), ""))
		case !contains(discoveryPortProtocols, *port.Protocol):
			errs = append(errs, field.NotSupported(p.Child("protocol"), *port.Protocol, discoveryPortProtocols))
		}
		// Not checked upstream; a port outside 1-65535 cannot be served.
		if port.Port != nil {
			for _, msg := range validation.IsValidPortNum(int(*port.Port)) {
				errs = append(errs, field.Invalid(p.Child("port"), *port.Port, msg))
			}
		}
		if port.AppProtocol != nil {
			for _, msg := range validation.IsQualifiedName(*port.AppProtocol) {
				errs = append(errs, field.Invalid(p.Child("appProtocol"), *port.AppProtocol, msg))
			}
		}
	}
	return errs
}
