package plugins

import (
	"flotilla.io/scheduler/internal/framework"
)

// NodeResourcesFit filters out nodes without room for the pod's requests
// (cpu, memory, ephemeral-storage, extended resources, pod count) and scores
// the least allocated nodes highest (upstream's LeastAllocated strategy).
type NodeResourcesFit struct{}

func (NodeResourcesFit) Name() string { return NameNodeResourcesFit }

func (NodeResourcesFit) Filter(_ *framework.CycleState, pod *framework.PodInfo, node *framework.NodeInfo) *framework.Status {
	reasons := Insufficient(pod, node)
	if len(reasons) == 0 {
		return nil
	}
	return framework.NewStatus(framework.Unschedulable, reasons...)
}

// Insufficient lists what the node lacks for the pod, as upstream words it.
func Insufficient(pod *framework.PodInfo, node *framework.NodeInfo) []string {
	var out []string
	alloc, used, req := &node.Allocatable, &node.Requested, &pod.Requests
	if int64(len(node.Pods))+1 > alloc.AllowedPods {
		out = append(out, ReasonTooManyPods)
	}
	if req.MilliCPU > 0 && req.MilliCPU > alloc.MilliCPU-used.MilliCPU {
		out = append(out, "Insufficient cpu")
	}
	if req.Memory > 0 && req.Memory > alloc.Memory-used.Memory {
		out = append(out, "Insufficient memory")
	}
	if req.EphemeralStorage > 0 && req.EphemeralStorage > alloc.EphemeralStorage-used.EphemeralStorage {
		out = append(out, "Insufficient ephemeral-storage")
	}
	for name, v := range req.Scalar {
		if v > 0 && v > alloc.Scalar[name]-used.Scalar[name] {
			out = append(out, "Insufficient "+name)
		}
	}
	return out
}

func (NodeResourcesFit) Score(_ *framework.CycleState, pod *framework.PodInfo, node *framework.NodeInfo) (int64, *framework.Status) {
	least := func(requested, capacity int64) int64 {
		if capacity <= 0 || requested > capacity {
			return 0
		}
		return (capacity - requested) * framework.MaxNodeScore / capacity
	}
	cpu := least(node.NonZeroRequested.MilliCPU+pod.NonZeroCPU, node.Allocatable.MilliCPU)
	mem := least(node.NonZeroRequested.Memory+pod.NonZeroMemory, node.Allocatable.Memory)
	return (cpu + mem) / 2, nil
}

// BalancedAllocation prefers nodes whose cpu and memory would be used in
// similar fractions after placing the pod: score (1 - std deviation) * 100.
type BalancedAllocation struct{}

func (BalancedAllocation) Name() string { return NameBalanced }

func (BalancedAllocation) Score(_ *framework.CycleState, pod *framework.PodInfo, node *framework.NodeInfo) (int64, *framework.Status) {
	frac := func(requested, capacity int64) float64 {
		if capacity <= 0 {
			return 1
		}
		return min(float64(requested)/float64(capacity), 1)
	}
	cpu := frac(node.Requested.MilliCPU+pod.Requests.MilliCPU, node.Allocatable.MilliCPU)
	mem := frac(node.Requested.Memory+pod.Requests.Memory, node.Allocatable.Memory)
	diff := cpu - mem
	if diff < 0 {
		diff = -diff
	}
	return int64((1 - diff/2) * framework.MaxNodeScore), nil
}

// ImageLocality prefers nodes that already hold the pod's images, scaled by
// how widely each image is spread (upstream's formula).
type ImageLocality struct{}

func (ImageLocality) Name() string { return NameImageLocality }

const (
	mb                    = 1024 * 1024
	minImageThreshold     = 23 * mb
	maxContainerThreshold = 1000 * mb
)

type imageState struct {
	totalNodes int
	imageNodes map[string]int
	images     []string
}

func (s *imageState) Clone() framework.StateData { return s }

func (ImageLocality) PreScore(state *framework.CycleState, pod *framework.PodInfo, snap *framework.Snapshot, _ []*framework.NodeInfo) *framework.Status {
	if len(snap.ImageNodes) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	s := &imageState{totalNodes: len(snap.Nodes), imageNodes: snap.ImageNodes}
	for _, c := range pod.Pod.GetSpec().GetInitContainers() {
		s.images = append(s.images, framework.NormalizeImage(c.GetImage()))
	}
	for _, c := range pod.Pod.GetSpec().GetContainers() {
		s.images = append(s.images, framework.NormalizeImage(c.GetImage()))
	}
	state.Write(NameImageLocality, s)
	return nil
}

func (ImageLocality) Score(state *framework.CycleState, _ *framework.PodInfo, node *framework.NodeInfo) (int64, *framework.Status) {
	d, ok := state.Read(NameImageLocality)
	if !ok {
		return 0, nil
	}
	s := d.(*imageState)
	var sum int64
	for _, img := range s.images {
		if size, ok := node.Images[img]; ok && s.totalNodes > 0 {
			sum += int64(float64(size) * float64(s.imageNodes[img]) / float64(s.totalNodes))
		}
	}
	hi := int64(maxContainerThreshold * len(s.images))
	sum = min(max(sum, minImageThreshold), hi)
	if hi <= minImageThreshold {
		return 0, nil
	}
	return framework.MaxNodeScore * (sum - minImageThreshold) / (hi - minImageThreshold), nil
}
