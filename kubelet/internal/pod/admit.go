package pod

import (
	"fmt"
	"sort"

	"k8s.io/apimachinery/pkg/api/resource"

	corev1 "flotilla.io/proto/flotilla/core/v1"
)

// Requests is upstream's effective request of a pod: per resource, the
// larger of the app containers' sum and the largest init container.
func Requests(pod *corev1.Pod) map[string]resource.Quantity {
	out := map[string]resource.Quantity{}
	for _, c := range pod.GetSpec().GetContainers() {
		for name := range c.GetResources().GetRequests() {
			if q, ok := quantity(c.GetResources().GetRequests(), name); ok {
				sum := out[name]
				sum.Add(q)
				out[name] = sum
			}
		}
	}
	for _, c := range pod.GetSpec().GetInitContainers() {
		for name := range c.GetResources().GetRequests() {
			if q, ok := quantity(c.GetResources().GetRequests(), name); ok {
				if cur := out[name]; q.Cmp(cur) > 0 {
					out[name] = q
				}
			}
		}
	}
	for name, q := range pod.GetSpec().GetOverhead() {
		if v, err := resource.ParseQuantity(q.GetString_()); err == nil {
			sum := out[name]
			sum.Add(v)
			out[name] = sum
		}
	}
	return out
}

// Rejection is why the kubelet refuses a pod (upstream's OutOfpods,
// OutOfcpu, OutOfmemory...).
type Rejection struct{ Reason, Message string }

// Admit is upstream's resource fit for pods bound to the node: the pod
// count and every requested resource of the running pods plus this one
// must fit the allocatable amounts. nil admits.
func Admit(pod *corev1.Pod, running []*corev1.Pod, allocatable map[string]resource.Quantity) *Rejection {
	if max, ok := allocatable["pods"]; ok && int64(len(running)+1) > max.Value() {
		return &Rejection{Reason: "OutOfpods", Message: fmt.Sprintf("Node didn't have enough resource: pods, requested: 1, used: %d, capacity: %d", len(running), max.Value())}
	}
	want := Requests(pod)
	names := make([]string, 0, len(want))
	for name := range want {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		capacity, ok := allocatable[name]
		if !ok {
			continue // a resource the node does not track
		}
		var used resource.Quantity
		for _, p := range running {
			if q, ok := Requests(p)[name]; ok {
				used.Add(q)
			}
		}
		total := used.DeepCopy()
		total.Add(want[name])
		if total.Cmp(capacity) > 0 {
			req := want[name]
			if name == "cpu" {
				return &Rejection{Reason: "OutOf" + name, Message: fmt.Sprintf("Node didn't have enough resource: %s, requested: %d, used: %d, capacity: %d",
					name, req.MilliValue(), used.MilliValue(), capacity.MilliValue())}
			}
			return &Rejection{Reason: "OutOf" + name, Message: fmt.Sprintf("Node didn't have enough resource: %s, requested: %d, used: %d, capacity: %d",
				name, req.Value(), used.Value(), capacity.Value())}
		}
	}
	return nil
}
