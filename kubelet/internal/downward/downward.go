// Package downward resolves upstream's downward API for env vars and
// volumes alike: pod fields (fieldRef) and container resources
// (resourceFieldRef), formatted as upstream formats them.
package downward

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"

	corev1 "flotilla.io/proto/flotilla/core/v1"
)

// PodField resolves a fieldRef path. podIP and hostIP, when empty, come
// from the pod's status.
func PodField(pod *corev1.Pod, path, podIP, hostIP string) (string, error) {
	md := pod.GetMetadata()
	if k, ok := subscript(path, "metadata.labels"); ok {
		return md.GetLabels()[k], nil
	}
	if k, ok := subscript(path, "metadata.annotations"); ok {
		return md.GetAnnotations()[k], nil
	}
	if podIP == "" {
		podIP = pod.GetStatus().GetPodIp()
	}
	if hostIP == "" {
		hostIP = pod.GetStatus().GetHostIp()
	}
	switch path {
	case "metadata.name":
		return md.GetName(), nil
	case "metadata.namespace":
		return md.GetNamespace(), nil
	case "metadata.uid":
		return md.GetUid(), nil
	case "metadata.labels":
		return FormatMap(md.GetLabels()), nil
	case "metadata.annotations":
		return FormatMap(md.GetAnnotations()), nil
	case "spec.nodeName":
		return pod.GetSpec().GetNodeName(), nil
	case "spec.serviceAccountName":
		return ServiceAccountName(pod), nil
	case "status.podIP", "status.podIPs":
		return podIP, nil
	case "status.hostIP", "status.hostIPs":
		return hostIP, nil
	}
	return "", fmt.Errorf("downward API field %q is not supported", path)
}

// ServiceAccountName is the pod's service account, "default" when unset.
func ServiceAccountName(pod *corev1.Pod) string {
	if n := pod.GetSpec().GetServiceAccountName(); n != "" {
		return n
	}
	if n := pod.GetSpec().GetDeprecatedServiceAccount(); n != "" {
		return n
	}
	return "default"
}

// subscript parses `prefix['key']` (or "key").
func subscript(path, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(path, prefix+"[")
	if !ok || !strings.HasSuffix(rest, "]") {
		return "", false
	}
	rest = strings.TrimSuffix(rest, "]")
	if len(rest) >= 2 && (rest[0] == '\'' || rest[0] == '"') && rest[len(rest)-1] == rest[0] {
		return rest[1 : len(rest)-1], true
	}
	return rest, true
}

// FormatMap is labels or annotations as sorted key="value" lines.
func FormatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	lines := make([]string, len(keys))
	for i, k := range keys {
		lines[i] = k + "=" + strconv.Quote(m[k])
	}
	return strings.Join(lines, "\n")
}

// Resource resolves a resourceFieldRef (limits.cpu, requests.memory, ...)
// of the named container (sel's, else container) in units of the divisor,
// rounded up as upstream does. An unset limit is the node's allocatable
// amount, asked of allocatable.
func Resource(pod *corev1.Pod, container string, sel *corev1.ResourceFieldSelector, allocatable func(name string) (resource.Quantity, error)) (string, error) {
	if n := sel.GetContainerName(); n != "" {
		container = n
	}
	var c *corev1.Container
	for _, x := range append(append([]*corev1.Container{}, pod.GetSpec().GetInitContainers()...), pod.GetSpec().GetContainers()...) {
		if x.GetName() == container {
			c = x
		}
	}
	if c == nil {
		return "", fmt.Errorf("resourceFieldRef: no container %q", container)
	}
	kind, name, ok := strings.Cut(sel.GetResource(), ".")
	if !ok || (kind != "limits" && kind != "requests") {
		return "", fmt.Errorf("resourceFieldRef: unsupported resource %q", sel.GetResource())
	}
	values := c.GetResources().GetLimits()
	if kind == "requests" {
		values = c.GetResources().GetRequests()
	}
	var amount resource.Quantity
	q, found := values[name]
	switch {
	case found && q.GetString_() != "":
		v, err := resource.ParseQuantity(q.GetString_())
		if err != nil {
			return "", fmt.Errorf("resourceFieldRef %s: %w", sel.GetResource(), err)
		}
		amount = v
	case kind == "limits":
		v, err := allocatable(name)
		if err != nil {
			return "", err
		}
		amount = v
	}
	divisor := resource.MustParse("1")
	if d := sel.GetDivisor().GetString_(); d != "" {
		v, err := resource.ParseQuantity(d)
		if err != nil || v.IsZero() {
			return "", fmt.Errorf("resourceFieldRef divisor %q is invalid", d)
		}
		divisor = v
	}
	if name == "cpu" {
		return strconv.FormatInt(int64(math.Ceil(float64(amount.MilliValue())/float64(divisor.MilliValue()))), 10), nil
	}
	return strconv.FormatInt(int64(math.Ceil(float64(amount.Value())/float64(divisor.Value()))), 10), nil
}
