package framework

import (
	"slices"
	"strings"
	"sync/atomic"

	corev1 "flotilla.io/proto/flotilla/core/v1"
)

var generation atomic.Int64

// NextGeneration returns a process-wide increasing number; every change to a
// NodeInfo takes a new one, so a snapshot copies only what changed.
func NextGeneration() int64 { return generation.Add(1) }

// NodeInfo is a node with the pods on it (bound or assumed) and their
// summed requests. A NodeInfo in a Snapshot is a private copy: plugins may
// read it freely; preemption clones it before changing it.
type NodeInfo struct {
	Node        *corev1.Node
	Allocatable Resource
	// Requested sums the pods' requests; NonZeroRequested uses the scoring
	// defaults for zero cpu/memory requests.
	Requested        Resource
	NonZeroRequested Resource
	Pods             []*PodInfo
	// PodsWithAffinity have any pod (anti-)affinity term;
	// PodsWithRequiredAntiAffinity a required anti-affinity term.
	PodsWithAffinity             []*PodInfo
	PodsWithRequiredAntiAffinity []*PodInfo
	// Images maps normalized image names on the node to their size.
	Images     map[string]int64
	Generation int64
}

// NewNodeInfo makes the info of a node with no pods yet.
func NewNodeInfo(n *corev1.Node) *NodeInfo {
	ni := &NodeInfo{}
	ni.SetNode(n)
	return ni
}

// Name is the node's name.
func (n *NodeInfo) Name() string { return n.Node.GetMetadata().GetName() }

// Labels are the node's labels.
func (n *NodeInfo) Labels() map[string]string { return n.Node.GetMetadata().GetLabels() }

// SetNode replaces the node object, keeping the pods.
func (n *NodeInfo) SetNode(node *corev1.Node) {
	n.Node = node
	n.Allocatable = ResourceList(node.GetStatus().GetAllocatable())
	n.Images = nil
	for _, img := range node.GetStatus().GetImages() {
		for _, name := range img.GetNames() {
			if n.Images == nil {
				n.Images = map[string]int64{}
			}
			n.Images[NormalizeImage(name)] = img.GetSizeBytes()
		}
	}
	n.Generation = NextGeneration()
}

// AddPod accounts for a pod placed on the node.
func (n *NodeInfo) AddPod(p *PodInfo) {
	n.Pods = append(n.Pods, p)
	if p.HasAffinity() {
		n.PodsWithAffinity = append(n.PodsWithAffinity, p)
	}
	if len(p.RequiredAntiAffinity) > 0 {
		n.PodsWithRequiredAntiAffinity = append(n.PodsWithRequiredAntiAffinity, p)
	}
	n.update(p, 1)
}

// RemovePod takes a pod (matched by key) off the node; false when absent.
func (n *NodeInfo) RemovePod(p *PodInfo) bool {
	i := slices.IndexFunc(n.Pods, func(q *PodInfo) bool { return q.Key == p.Key })
	if i < 0 {
		return false
	}
	old := n.Pods[i]
	n.Pods = slices.Delete(slices.Clone(n.Pods), i, i+1)
	del := func(s []*PodInfo) []*PodInfo {
		if j := slices.Index(s, old); j >= 0 {
			return slices.Delete(slices.Clone(s), j, j+1)
		}
		return s
	}
	n.PodsWithAffinity = del(n.PodsWithAffinity)
	n.PodsWithRequiredAntiAffinity = del(n.PodsWithRequiredAntiAffinity)
	n.update(old, -1)
	return true
}

func (n *NodeInfo) update(p *PodInfo, sign int64) {
	r := p.Requests
	if sign > 0 {
		n.Requested.Add(&r)
	} else {
		n.Requested.Sub(&r)
	}
	n.NonZeroRequested.MilliCPU += sign * p.NonZeroCPU
	n.NonZeroRequested.Memory += sign * p.NonZeroMemory
	n.Generation = NextGeneration()
}

// Clone copies the node info; the pods themselves are shared (immutable).
// The slices are copied with no spare capacity, so appending to a clone
// never writes into the original's array.
func (n *NodeInfo) Clone() *NodeInfo {
	c := *n
	c.Requested = n.Requested.Clone()
	c.NonZeroRequested = n.NonZeroRequested.Clone()
	c.Pods = slices.Clip(n.Pods)
	c.PodsWithAffinity = slices.Clip(n.PodsWithAffinity)
	c.PodsWithRequiredAntiAffinity = slices.Clip(n.PodsWithRequiredAntiAffinity)
	return &c
}

// NormalizeImage gives image references one spelling: docker.io/library/
// and docker.io/ prefixes dropped, ":latest" added when untagged.
func NormalizeImage(name string) string {
	name = strings.TrimPrefix(name, "docker.io/")
	name = strings.TrimPrefix(name, "library/")
	if strings.Contains(name, "@") {
		return name
	}
	if i := strings.LastIndex(name, ":"); i < 0 || strings.Contains(name[i:], "/") {
		name += ":latest"
	}
	return name
}
