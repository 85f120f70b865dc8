package framework

import (
	"maps"

	"k8s.io/apimachinery/pkg/api/resource"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
)

// Resource names with a field of their own in Resource.
const (
	CPU              = "cpu"
	Memory           = "memory"
	EphemeralStorage = "ephemeral-storage"
	Pods             = "pods"
)

// Defaults used in place of a zero request when scoring, as upstream, so a
// node full of BestEffort pods does not look empty.
const (
	DefaultMilliCPURequest = 100               // 0.1 core
	DefaultMemoryRequest   = 200 * 1024 * 1024 // 200 MiB
)

// Resource is an amount of each resource: cpu in millicores, the rest in
// their base unit. Scalar holds extended resources (example.com/gpu,
// hugepages-2Mi, ...).
type Resource struct {
	MilliCPU         int64
	Memory           int64
	EphemeralStorage int64
	AllowedPods      int64
	Scalar           map[string]int64
}

// Add adds r2 into r.
func (r *Resource) Add(r2 *Resource) {
	r.MilliCPU += r2.MilliCPU
	r.Memory += r2.Memory
	r.EphemeralStorage += r2.EphemeralStorage
	r.AllowedPods += r2.AllowedPods
	for k, v := range r2.Scalar {
		r.SetScalar(k, r.Scalar[k]+v)
	}
}

// Sub subtracts r2 from r.
func (r *Resource) Sub(r2 *Resource) {
	r.MilliCPU -= r2.MilliCPU
	r.Memory -= r2.Memory
	r.EphemeralStorage -= r2.EphemeralStorage
	r.AllowedPods -= r2.AllowedPods
	for k, v := range r2.Scalar {
		r.SetScalar(k, r.Scalar[k]-v)
	}
}

// SetMax raises each of r's amounts to r2's where r2's is larger.
func (r *Resource) SetMax(r2 *Resource) {
	r.MilliCPU = max(r.MilliCPU, r2.MilliCPU)
	r.Memory = max(r.Memory, r2.Memory)
	r.EphemeralStorage = max(r.EphemeralStorage, r2.EphemeralStorage)
	r.AllowedPods = max(r.AllowedPods, r2.AllowedPods)
	for k, v := range r2.Scalar {
		if v > r.Scalar[k] {
			r.SetScalar(k, v)
		}
	}
}

// SetScalar sets one extended resource.
func (r *Resource) SetScalar(name string, v int64) {
	if r.Scalar == nil {
		r.Scalar = map[string]int64{}
	}
	r.Scalar[name] = v
}

// Clone copies r.
func (r Resource) Clone() Resource {
	r.Scalar = maps.Clone(r.Scalar)
	return r
}

// ResourceList converts an API resource map (requests, allocatable).
// Unparseable quantities count as zero: the apiserver validates them.
func ResourceList(m map[string]*metav1.Quantity) Resource {
	var r Resource
	for name, q := range m {
		v, err := resource.ParseQuantity(q.GetString_())
		if err != nil {
			continue
		}
		switch name {
		case CPU:
			r.MilliCPU = v.MilliValue()
		case Memory:
			r.Memory = v.Value()
		case EphemeralStorage:
			r.EphemeralStorage = v.Value()
		case Pods:
			r.AllowedPods = v.Value()
		default:
			r.SetScalar(name, v.Value())
		}
	}
	return r
}

// PodRequests computes what a pod asks for the way upstream does: the sum
// of its containers; sidecars (restartable init containers) add to it; every
// other init container runs alone (next to the sidecars started before it),
// so the pod needs at least the largest of those; pod-level requests replace
// cpu and memory; the overhead is added last. nonZero substitutes upstream's
// scoring defaults for containers without cpu or memory requests.
func PodRequests(spec *corev1.PodSpec, nonZero bool) Resource {
	container := func(c *corev1.Container) Resource {
		r := ResourceList(c.GetResources().GetRequests())
		if nonZero {
			if _, ok := c.GetResources().GetRequests()[CPU]; !ok {
				r.MilliCPU = DefaultMilliCPURequest
			}
			if _, ok := c.GetResources().GetRequests()[Memory]; !ok {
				r.Memory = DefaultMemoryRequest
			}
		}
		return r
	}
	var reqs Resource
	for _, c := range spec.GetContainers() {
		cr := container(c)
		reqs.Add(&cr)
	}
	var sidecars, initMax Resource
	for _, c := range spec.GetInitContainers() {
		cr := container(c)
		if c.GetRestartPolicy() == "Always" {
			reqs.Add(&cr)
			sidecars.Add(&cr)
			cr = sidecars.Clone()
		} else {
			cr.Add(&sidecars)
		}
		initMax.SetMax(&cr)
	}
	reqs.SetMax(&initMax)
	if pod := spec.GetResources().GetRequests(); len(pod) > 0 {
		pr := ResourceList(pod)
		if _, ok := pod[CPU]; ok {
			reqs.MilliCPU = pr.MilliCPU
		}
		if _, ok := pod[Memory]; ok {
			reqs.Memory = pr.Memory
		}
	}
	if len(spec.GetOverhead()) > 0 {
		oh := ResourceList(spec.GetOverhead())
		oh.AllowedPods = 0
		reqs.Add(&oh)
	}
	reqs.AllowedPods = 0
	return reqs
}
