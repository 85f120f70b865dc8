package validation

import (
	"fmt"
	"net"
	"strings"

	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	corev1 "flotilla.io/proto/flotilla/core/v1"
)

const (
	coreMaxClientIPAffinitySeconds = 86400
	coreNodePortMin                = 30000
	coreNodePortMax                = 32767
)

func init() {
	Register("Service", NameIsDNS1035Label, func(obj, old proto.Message) field.ErrorList {
		svc := obj.(*corev1.Service)
		errs := coreValidateServiceSpec(svc.GetSpec(), field.NewPath("spec"))
		if old != nil {
			errs = append(errs, coreValidateServiceUpdate(svc.GetSpec(), old.(*corev1.Service).GetSpec())...)
		}
		return errs
	})
	RegisterStatus("Service", func(obj, old proto.Message) field.ErrorList {
		var errs field.ErrorList
		fld := field.NewPath("status", "loadBalancer", "ingress")
		for i, ing := range obj.(*corev1.Service).GetStatus().GetLoadBalancer().GetIngress() {
			p := fld.Index(i)
			if ing.Ip != "" {
				errs = append(errs, validation.IsValidIP(p.Child("ip"), ing.Ip)...)
			}
			if ing.Hostname != "" {
				errs = append(errs, coreDNSSubdomain(ing.Hostname, p.Child("hostname"))...)
				if net.ParseIP(ing.Hostname) != nil {
					errs = append(errs, field.Invalid(p.Child("hostname"), ing.Hostname, "must be a DNS name, not an IP address"))
				}
			}
			if ing.IpMode != nil {
				if ing.Ip == "" {
					errs = append(errs, field.Forbidden(p.Child("ipMode"), "may not be specified when `ip` is not set"))
				} else if !coreOneOf(ing.GetIpMode(), "Proxy", "VIP") {
					errs = append(errs, coreNotSupported(p.Child("ipMode"), ing.GetIpMode(), "Proxy", "VIP"))
				}
			}
		}
		return errs
	})
	Register("Endpoints", nil, func(obj, old proto.Message) field.ErrorList {
		return coreValidateEndpointSubsets(obj.(*corev1.Endpoints).GetSubsets(), field.NewPath("subsets"))
	})
}

func coreIsHeadless(spec *corev1.ServiceSpec) bool { return spec.ClusterIp == "None" }

func coreExternallyAccessible(spec *corev1.ServiceSpec) bool {
	return spec.Type == "LoadBalancer" || spec.Type == "NodePort" || (spec.Type == "ClusterIP" && len(spec.ExternalIps) > 0)
}

var coreServiceTypes = []string{"ClusterIP", "ExternalName", "LoadBalancer", "NodePort"}

// validateServiceSpec is upstream's ValidateService (spec part).
func coreValidateServiceSpec(spec *corev1.ServiceSpec, fld *field.Path) field.ErrorList {
	if spec == nil {
		return field.ErrorList{field.Required(fld, "")}
	}
	var errs field.ErrorList
	headless := coreIsHeadless(spec)
	if len(spec.Ports) == 0 && !headless && spec.Type != "ExternalName" {
		errs = append(errs, field.Required(fld.Child("ports"), ""))
	}
	switch spec.Type {
	case "LoadBalancer":
		if headless {
			errs = append(errs, field.Invalid(fld.Child("clusterIPs").Index(0), spec.ClusterIp, "may not be set to 'None' for LoadBalancer services"))
		}
		for i, p := range spec.Ports {
			if p.Port == 10250 {
				errs = append(errs, field.Invalid(fld.Child("ports").Index(i), p.Port, "may not expose port 10250 externally since it is used by kubelet"))
			}
		}
	case "NodePort":
		if headless {
			errs = append(errs, field.Invalid(fld.Child("clusterIPs").Index(0), spec.ClusterIp, "may not be set to 'None' for NodePort services"))
		}
	case "ExternalName":
		if spec.ClusterIp != "" || len(spec.ClusterIps) > 0 {
			errs = append(errs, field.Forbidden(fld.Child("clusterIPs"), "may not be set for ExternalName services"))
		}
		if len(spec.IpFamilies) > 0 {
			errs = append(errs, field.Forbidden(fld.Child("ipFamilies"), "may not be set for ExternalName services"))
		}
		if spec.IpFamilyPolicy != nil {
			errs = append(errs, field.Forbidden(fld.Child("ipFamilyPolicy"), "may not be set for ExternalName services"))
		}
		if cname := strings.TrimSuffix(spec.ExternalName, "."); cname != "" {
			errs = append(errs, coreDNSSubdomain(cname, fld.Child("externalName"))...)
		} else {
			errs = append(errs, field.Required(fld.Child("externalName"), ""))
		}
	}

	names := map[string]bool{}
	portsPath := fld.Child("ports")
	for i, sp := range spec.Ports {
		p := portsPath.Index(i)
		if len(spec.Ports) > 1 && sp.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		} else if sp.Name != "" {
			errs = append(errs, coreDNSLabel(sp.Name, p.Child("name"))...)
			if names[sp.Name] {
				errs = append(errs, field.Duplicate(p.Child("name"), sp.Name))
			}
			names[sp.Name] = true
		}
		for _, msg := range validation.IsValidPortNum(int(sp.Port)) {
			errs = append(errs, field.Invalid(p.Child("port"), sp.Port, msg))
		}
		if sp.Protocol == "" {
			errs = append(errs, field.Required(p.Child("protocol"), ""))
		} else if !coreOneOf(sp.Protocol, coreProtocols...) {
			errs = append(errs, coreNotSupported(p.Child("protocol"), sp.Protocol, coreProtocols...))
		}
		errs = append(errs, corePortNumOrName(sp.TargetPort, p.Child("targetPort"))...)
		if sp.AppProtocol != nil {
			errs = append(errs, coreQualifiedName(sp.GetAppProtocol(), p.Child("appProtocol"))...)
		}
		if sp.NodePort != 0 {
			switch {
			case spec.Type == "ClusterIP":
				errs = append(errs, field.Forbidden(p.Child("nodePort"), "may not be used when `type` is 'ClusterIP'"))
			case spec.Type == "ExternalName":
				errs = append(errs, field.Forbidden(p.Child("nodePort"), "may not be used when `type` is 'ExternalName'"))
			case sp.NodePort < coreNodePortMin || sp.NodePort > coreNodePortMax:
				errs = append(errs, field.Invalid(p.Child("nodePort"), sp.NodePort, fmt.Sprintf("provided port is not in the valid range. The range of valid ports is %d-%d", coreNodePortMin, coreNodePortMax)))
			}
		}
	}
	nodePorts, ports := map[string]bool{}, map[string]bool{}
	for i, sp := range spec.Ports {
		p := portsPath.Index(i)
		if sp.NodePort != 0 {
			key := fmt.Sprintf("%s/%d", sp.Protocol, sp.NodePort)
			if nodePorts[key] {
				errs = append(errs, field.Duplicate(p.Child("nodePort"), sp.NodePort))
			}
			nodePorts[key] = true
		}
		key := fmt.Sprintf("%s/%d", sp.Protocol, sp.Port)
		if ports[key] {
			errs = append(errs, field.Duplicate(p, fmt.Sprintf("{%s %d}", sp.Protocol, sp.Port)))
		}
		ports[key] = true
	}

	errs = append(errs, ValidateLabels(spec.Selector, fld.Child("selector"))...)
	switch spec.SessionAffinity {
	case "":
		errs = append(errs, field.Required(fld.Child("sessionAffinity"), ""))
	case "ClientIP":
		errs = append(errs, coreClientIPAffinity(spec.SessionAffinityConfig, fld.Child("sessionAffinityConfig"))...)
	case "None":
		if spec.SessionAffinityConfig != nil {
			errs = append(errs, field.Forbidden(fld.Child("sessionAffinityConfig"), "must not be set when session affinity is None"))
		}
	default:
		errs = append(errs, coreNotSupported(fld.Child("sessionAffinity"), spec.SessionAffinity, "ClientIP", "None"))
	}
	errs = append(errs, coreServiceClusterIPs(spec, fld)...)
	for i, ip := range spec.ExternalIps {
		p := fld.Child("externalIPs").Index(i)
		if e := validation.IsValidIP(p, ip); len(e) > 0 {
			errs = append(errs, e...)
		} else {
			errs = append(errs, coreNonSpecialIP(ip, p)...)
		}
	}
	if spec.Type == "" {
		errs = append(errs, field.Required(fld.Child("type"), ""))
	} else if !coreOneOf(spec.Type, coreServiceTypes...) {
		errs = append(errs, coreNotSupported(fld.Child("type"), spec.Type, coreServiceTypes...))
	}
	if len(spec.LoadBalancerSourceRanges) > 0 {
		p := fld.Child("loadBalancerSourceRanges")
		if spec.Type != "LoadBalancer" {
			errs = append(errs, field.Forbidden(p, "may only be used when `type` is 'LoadBalancer'"))
		}
		for i, r := range spec.LoadBalancerSourceRanges {
			errs = append(errs, validation.IsValidCIDR(p.Index(i), strings.TrimSpace(r))...)
		}
	}
	if spec.AllocateLoadBalancerNodePorts != nil && spec.Type != "LoadBalancer" {
		errs = append(errs, field.Forbidden(fld.Child("allocateLoadBalancerNodePorts"), "may only be used when `type` is 'LoadBalancer'"))
	}
	if spec.Type == "LoadBalancer" && spec.AllocateLoadBalancerNodePorts == nil {
		errs = append(errs, field.Required(fld.Child("allocateLoadBalancerNodePorts"), ""))
	}
	if spec.LoadBalancerClass != nil {
		if spec.Type != "LoadBalancer" {
			errs = append(errs, field.Forbidden(fld.Child("loadBalancerClass"), "may only be used when service type is 'LoadBalancer'"))
		} else {
			errs = append(errs, coreQualifiedName(spec.GetLoadBalancerClass(), fld.Child("loadBalancerClass"))...)
		}
	}
	if !coreExternallyAccessible(spec) {
		if spec.ExternalTrafficPolicy != "" {
			errs = append(errs, field.Invalid(fld.Child("externalTrafficPolicy"), spec.ExternalTrafficPolicy, "may only be set for externally-accessible services"))
		}
	} else if spec.ExternalTrafficPolicy == "" {
		errs = append(errs, field.Required(fld.Child("externalTrafficPolicy"), ""))
	} else if !coreOneOf(spec.ExternalTrafficPolicy, "Cluster", "Local") {
		errs = append(errs, coreNotSupported(fld.Child("externalTrafficPolicy"), spec.ExternalTrafficPolicy, "Cluster", "Local"))
	}
	if spec.HealthCheckNodePort != 0 && !(spec.Type == "LoadBalancer" && spec.ExternalTrafficPolicy == "Local") {
		errs = append(errs, field.Invalid(fld.Child("healthCheckNodePort"), spec.HealthCheckNodePort, "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"))
	}
	if spec.Type != "ExternalName" {
		if spec.InternalTrafficPolicy == nil {
			errs = append(errs, field.Required(fld.Child("internalTrafficPolicy"), ""))
		} else if !coreOneOf(spec.GetInternalTrafficPolicy(), "Cluster", "Local") {
			errs = append(errs, coreNotSupported(fld.Child("internalTrafficPolicy"), spec.GetInternalTrafficPolicy(), "Cluster", "Local"))
		}
	}
	if spec.TrafficDistribution != nil && !coreOneOf(spec.GetTrafficDistribution(), "PreferClose", "PreferSameZone", "PreferSameNode") {
		errs = append(errs, coreNotSupported(fld.Child("trafficDistribution"), spec.GetTrafficDistribution(), "PreferClose", "PreferSameNode", "PreferSameZone"))
	}
	return errs
}

func coreClientIPAffinity(cfg *corev1.SessionAffinityConfig, fld *field.Path) field.ErrorList {
	const when = "when session affinity type is ClientIP"
	if cfg == nil {
		return field.ErrorList{field.Required(fld, when)}
	}
	if cfg.ClientIp == nil {
		return field.ErrorList{field.Required(fld.Child("clientIP"), when)}
	}
	p := fld.Child("clientIP", "timeoutSeconds")
	if cfg.ClientIp.TimeoutSeconds == nil {
		return field.ErrorList{field.Required(p, when)}
	}
	if t := cfg.ClientIp.GetTimeoutSeconds(); t <= 0 || t > coreMaxClientIPAffinitySeconds {
		return field.ErrorList{field.Invalid(p, t, fmt.Sprintf("must be greater than 0 and less than %d", coreMaxClientIPAffinitySeconds))}
	}
	return nil
}

// coreServiceClusterIPs is upstream's ValidateServiceClusterIPsRelatedFields.
func coreServiceClusterIPs(spec *corev1.ServiceSpec, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	ipsPath := fld.Child("clusterIPs")
	if spec.ClusterIp != "" && spec.Type != "ExternalName" {
		if spec.ClusterIp != "None" {
			errs = append(errs, validation.IsValidIP(fld.Child("clusterIP"), spec.ClusterIp)...)
		}
		if len(spec.ClusterIps) > 0 && spec.ClusterIps[0] != spec.ClusterIp {
			errs = append(errs, field.Invalid(ipsPath, spec.ClusterIps, "first value must match `clusterIP`"))
		}
	}
	if spec.Type != "ExternalName" {
		for i, ip := range spec.ClusterIps {
			if ip == "None" {
				if i != 0 || len(spec.ClusterIps) > 1 {
					errs = append(errs, field.Invalid(ipsPath.Index(i), ip, "'None' must be the first and only value"))
				}
				continue
			}
			errs = append(errs, validation.IsValidIP(ipsPath.Index(i), ip)...)
		}
		if len(spec.ClusterIps) > 2 {
			errs = append(errs, field.Invalid(ipsPath, spec.ClusterIps, "may only hold up to 2 values"))
		}
	}
	if spec.IpFamilyPolicy != nil && !coreOneOf(spec.GetIpFamilyPolicy(), "PreferDualStack", "RequireDualStack", "SingleStack") {
		errs = append(errs, coreNotSupported(fld.Child("ipFamilyPolicy"), spec.GetIpFamilyPolicy(), "PreferDualStack", "RequireDualStack", "SingleStack"))
	}
	seen := map[string]bool{}
	for i, f := range spec.IpFamilies {
		p := fld.Child("ipFamilies").Index(i)
		if !coreOneOf(f, "IPv4", "IPv6") {
			errs = append(errs, coreNotSupported(p, f, "IPv4", "IPv6"))
		}
		if seen[f] {
			errs = append(errs, field.Duplicate(p, f))
		}
		seen[f] = true
	}
	if len(spec.IpFamilies) > 2 {
		errs = append(errs, field.Invalid(fld.Child("ipFamilies"), spec.IpFamilies, "may only hold up to 2 values"))
	}
	if spec.GetIpFamilyPolicy() == "SingleStack" && (len(spec.ClusterIps) > 1 || len(spec.IpFamilies) > 1) {
		errs = append(errs, field.Invalid(fld.Child("ipFamilyPolicy"), spec.GetIpFamilyPolicy(), "must be RequireDualStack or PreferDualStack when multiple IP families are specified"))
	}
	return errs
}

// coreNonSpecialIP is upstream's ValidateNonSpecialIP.
func coreNonSpecialIP(s string, fld *field.Path) field.ErrorList {
	ip := net.ParseIP(s)
	switch {
	case ip == nil:
		return field.ErrorList{field.Invalid(fld, s, "must be a valid IP address")}
	case ip.IsUnspecified():
		return field.ErrorList{field.Invalid(fld, s, fmt.Sprintf("may not be unspecified (%v)", s))}
	case ip.IsLoopback():
		return field.ErrorList{field.Invalid(fld, s, "may not be in the loopback range (127.0.0.0/8, ::1/128)")}
	case ip.IsLinkLocalUnicast():
		return field.ErrorList{field.Invalid(fld, s, "may not be in the link-local range (169.254.0.0/16, fe80::/10)")}
	case ip.IsLinkLocalMulticast():
		return field.ErrorList{field.Invalid(fld, s, "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)")}
	}
	return nil
}

// validateServiceUpdate: clusterIPs may be set once (allocation) but not
// changed, except when moving to or from ExternalName.
func coreValidateServiceUpdate(spec, old *corev1.ServiceSpec) field.ErrorList {
	if spec == nil || old == nil || spec.Type == "ExternalName" || old.Type == "ExternalName" {
		return nil
	}
	var errs field.ErrorList
	if old.ClusterIp != "" && spec.ClusterIp != old.ClusterIp {
		errs = append(errs, field.Invalid(field.NewPath("spec", "clusterIPs").Index(0), spec.ClusterIp, "may not change once set"))
	}
	return errs
}

// validateEndpointSubsets is upstream's validateEndpointSubsets.
func coreValidateEndpointSubsets(subsets []*corev1.EndpointSubset, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, ss := range subsets {
		p := fld.Index(i)
		if len(ss.Addresses) == 0 && len(ss.NotReadyAddresses) == 0 {
			errs = append(errs, field.Required(p, "must specify `addresses` or `notReadyAddresses`"))
		}
		for j, a := range ss.Addresses {
			errs = append(errs, coreEndpointAddress(a, p.Child("addresses").Index(j))...)
		}
		for j, a := range ss.NotReadyAddresses {
			errs = append(errs, coreEndpointAddress(a, p.Child("notReadyAddresses").Index(j))...)
		}
		for j, port := range ss.Ports {
			pp := p.Child("ports").Index(j)
			if len(ss.Ports) > 1 && port.Name == "" {
				errs = append(errs, field.Required(pp.Child("name"), ""))
			} else if port.Name != "" {
				errs = append(errs, coreDNSLabel(port.Name, pp.Child("name"))...)
			}
			for _, msg := range validation.IsValidPortNum(int(port.Port)) {
				errs = append(errs, field.Invalid(pp.Child("port"), port.Port, msg))
			}
			if port.Protocol == "" {
				errs = append(errs, field.Required(pp.Child("protocol"), ""))
			} else if !coreOneOf(port.Protocol, coreProtocols...) {
				errs = append(errs, coreNotSupported(pp.Child("protocol"), port.Protocol, coreProtocols...))
			}
			if port.AppProtocol != nil {
				errs = append(errs, coreQualifiedName(port.GetAppProtocol(), pp.Child("appProtocol"))...)
			}
		}
	}
	return errs
}

func coreEndpointAddress(a *corev1.EndpointAddress, fld *field.Path) field.ErrorList {
	errs := validation.IsValidIP(fld.Child("ip"), a.Ip)
	if len(errs) == 0 {
		errs = append(errs, coreNonSpecialIP(a.Ip, fld.Child("ip"))...)
	}
	if a.Hostname != "" {
		errs = append(errs, coreDNSLabel(a.Hostname, fld.Child("hostname"))...)
	}
	if a.NodeName != nil {
		errs = append(errs, coreDNSSubdomain(a.GetNodeName(), fld.Child("nodeName"))...)
	}
	return errs
}
