package pod

import (
	"fmt"
	"path"

	"k8s.io/apimachinery/pkg/api/resource"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
)

// QoS classes (upstream's names) and their cgroup directory names.
const (
	Guaranteed = "Guaranteed"
	Burstable  = "Burstable"
	BestEffort = "BestEffort"
)

// CFSPeriod is the CFS period for limits: 100ms, as upstream.
const CFSPeriod = 100000

const minShares = 2

func quantity(m map[string]*metav1.Quantity, name string) (resource.Quantity, bool) {
	q, ok := m[name]
	if !ok || q == nil || q.GetString_() == "" {
		return resource.Quantity{}, false
	}
	v, err := resource.ParseQuantity(q.GetString_())
	if err != nil {
		return resource.Quantity{}, false
	}
	return v, true
}

// QOSClass is upstream's GetPodQOS: BestEffort when no container sets any
// cpu or memory request or limit; Guaranteed when every container limits
// both and requests (if set) equal the limits; Burstable otherwise.
func QOSClass(pod *corev1.Pod) string {
	cs := append(append([]*corev1.Container{}, pod.GetSpec().GetInitContainers()...), pod.GetSpec().GetContainers()...)
	any, guaranteed := false, true
	for _, c := range cs {
		req, lim := c.GetResources().GetRequests(), c.GetResources().GetLimits()
		for _, name := range []string{"cpu", "memory"} {
			r, hasReq := quantity(req, name)
			l, hasLim := quantity(lim, name)
			if (hasReq && !r.IsZero()) || (hasLim && !l.IsZero()) {
				any = true
			}
			if !hasLim || (hasReq && r.Cmp(l) != 0) {
				guaranteed = false
			}
		}
	}
	switch {
	case !any:
		return BestEffort
	case guaranteed:
		return Guaranteed
	default:
		return Burstable
	}
}

// Limits are a container's cgroup settings.
type Limits struct {
	CPUShares   uint64
	CPUQuota    int64 // 0: unlimited
	MemoryLimit int64 // 0: unlimited
	// OOMScoreAdj follows upstream's policy but never goes below 0 here
	// (nil: leave it as inherited; see shared/MACHINE-NOTES.md).
	OOMScoreAdj *int
}

// ContainerLimits computes upstream's mapping: shares from the cpu request
// (milli*1024/1000, at least 2; the limit when only a limit is set), CFS
// quota from the cpu limit, the memory limit as is. memCapacity scales the
// Burstable OOM score.
func ContainerLimits(qos string, c *corev1.Container, memCapacity int64) Limits {
	req, lim := c.GetResources().GetRequests(), c.GetResources().GetLimits()
	var l Limits
	cpuReq, ok := quantity(req, "cpu")
	if !ok {
		cpuReq, ok = quantity(lim, "cpu")
	}
	l.CPUShares = minShares
	if ok {
		if s := uint64(cpuReq.MilliValue() * 1024 / 1000); s > minShares {
			l.CPUShares = s
		}
	}
	if cpuLim, ok := quantity(lim, "cpu"); ok && !cpuLim.IsZero() {
		l.CPUQuota = max(cpuLim.MilliValue()*CFSPeriod/1000, 1000)
	}
	if memLim, ok := quantity(lim, "memory"); ok {
		l.MemoryLimit = memLim.Value()
	}
	switch qos {
	case BestEffort:
		v := 1000
		l.OOMScoreAdj = &v
	case Burstable:
		memReq, _ := quantity(req, "memory")
		v := 1000
		if memCapacity > 0 {
			v = 1000 - int(1000*memReq.Value()/memCapacity)
		}
		v = min(max(v, 2), 999)
		l.OOMScoreAdj = &v
	}
	return l
}

// CgroupParent is the pod's cgroup: /flotilla/<node>/<qos>/pod<uid>.
func CgroupParent(node, qos, uid string) string {
	dir := map[string]string{Guaranteed: "guaranteed", Burstable: "burstable", BestEffort: "besteffort"}[qos]
	return path.Join("/flotilla", node, dir, fmt.Sprintf("pod%s", uid))
}
