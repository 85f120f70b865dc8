package endpoint

import (
	"cmp"
	"slices"

	"k8s.io/apimachinery/pkg/labels"

	corev1 "flotilla.io/proto/flotilla/core/v1"

	"flotilla.io/controller-manager/internal/controllerutil"
)

// Helpers shared with the EndpointSlice controller: which pods back a
// Service, whether they are ready, and the ports each one serves.

// Headless reports a Service without a cluster IP.
func Headless(svc *corev1.Service) bool { return svc.GetSpec().GetClusterIp() == "None" }

// Managed reports whether the endpoint controllers keep this Service's
// endpoints: it has a selector and is not an ExternalName.
func Managed(svc *corev1.Service) bool {
	return len(svc.GetSpec().GetSelector()) > 0 && svc.GetSpec().GetType() != "ExternalName"
}

// Selects reports whether a Service's selector matches the pod.
func Selects(svc *corev1.Service, pod *corev1.Pod) bool {
	return Managed(svc) && svc.GetMetadata().GetNamespace() == pod.GetMetadata().GetNamespace() &&
		labels.SelectorFromSet(svc.GetSpec().GetSelector()).Matches(labels.Set(pod.GetMetadata().GetLabels()))
}

// PodReady reports the pod's Ready condition.
func PodReady(pod *corev1.Pod) bool { return controllerutil.IsPodReady(pod) }

// PodIP is the pod's primary IP, "" before it has one.
func PodIP(pod *corev1.Pod) string {
	if ip := pod.GetStatus().GetPodIp(); ip != "" {
		return ip
	}
	if ips := pod.GetStatus().GetPodIps(); len(ips) > 0 {
		return ips[0].GetIp()
	}
	return ""
}

// Include is upstream's ShouldPodBeInEndpoints: a pod with an IP that has
// not finished; a terminating one only when includeTerminating.
func Include(pod *corev1.Pod, includeTerminating bool) bool {
	if PodIP(pod) == "" {
		return false
	}
	if p := pod.GetStatus().GetPhase(); p == "Succeeded" || p == "Failed" {
		return false
	}
	return includeTerminating || pod.GetMetadata().GetDeletionTimestamp() == nil
}

// Port is one service port resolved against a pod.
type Port struct {
	Name        string
	Port        int32
	Protocol    string
	AppProtocol *string
}

// PodPorts resolves the Service's target ports against the pod's
// containers: a named targetPort becomes the container port of that name
// and protocol; one the pod lacks is left out.
func PodPorts(svc *corev1.Service, pod *corev1.Pod) []Port {
	var out []Port
	for _, sp := range svc.GetSpec().GetPorts() {
		proto := cmp.Or(sp.GetProtocol(), "TCP")
		port, ok := targetPort(sp, proto, pod)
		if !ok {
			continue
		}
		out = append(out, Port{Name: sp.GetName(), Port: port, Protocol: proto, AppProtocol: sp.AppProtocol})
	}
	return out
}

func targetPort(sp *corev1.ServicePort, proto string, pod *corev1.Pod) (int32, bool) {
	tp := sp.GetTargetPort()
	switch {
	case tp == nil || (tp.GetType() == 0 && tp.GetIntVal() == 0):
		return sp.GetPort(), true
	case tp.GetType() == 0:
		return tp.GetIntVal(), true
	}
	for _, c := range slices.Concat(pod.GetSpec().GetContainers(), pod.GetSpec().GetInitContainers()) {
		for _, p := range c.GetPorts() {
			if p.GetName() == tp.GetStrVal() && cmp.Or(p.GetProtocol(), "TCP") == proto {
				return p.GetContainerPort(), true
			}
		}
	}
	return 0, false
}

// Hostname is the DNS hostname a headless Service gives the pod: its
// spec.hostname when its spec.subdomain names the Service.
func Hostname(svc *corev1.Service, pod *corev1.Pod) string {
	if h := pod.GetSpec().GetHostname(); h != "" && pod.GetSpec().GetSubdomain() == svc.GetMetadata().GetName() {
		return h
	}
	return ""
}
