package plugins

import (
	"fmt"

	"flotilla.io/scheduler/internal/framework"
)

// Plugin names, as upstream's where upstream has the plugin.
const (
	NameNodeName          = "NodeName"
	NameNodeUnschedulable = "NodeUnschedulable"
	NameNodeReady         = "NodeReady"
	NameNodeAffinity      = "NodeAffinity"
	NameTaintToleration   = "TaintToleration"
	NameNodeResourcesFit  = "NodeResourcesFit"
	NameBalanced          = "NodeResourcesBalancedAllocation"
	NameInterPodAffinity  = "InterPodAffinity"
	NamePodTopologySpread = "PodTopologySpread"
	NameImageLocality     = "ImageLocality"
	NameVolumeBinding     = "VolumeBinding"
)

// Reasons shown in "0/N nodes are available: ..." messages (upstream's).
const (
	ReasonNodeName        = "node(s) didn't match the requested node name"
	ReasonUnschedulable   = "node(s) were unschedulable"
	ReasonNotReady        = "node(s) were not ready"
	ReasonNodeAffinity    = "node(s) didn't match Pod's node affinity/selector"
	ReasonTooManyPods     = "Too many pods"
	ReasonVolumeAffinity  = "node(s) had volume node affinity conflict"
	ReasonUnboundClaims   = "pod has unbound immediate PersistentVolumeClaims"
	ReasonAffinity        = "node(s) didn't match pod affinity rules"
	ReasonAntiAffinity    = "node(s) didn't match pod anti-affinity rules"
	ReasonExistingAnti    = "node(s) didn't satisfy existing pods anti-affinity rules"
	ReasonSpread          = "node(s) didn't match pod topology spread constraints"
	ReasonSpreadNoLabel   = "node(s) didn't match pod topology spread constraints (missing required label)"
	reasonUntoleratedTmpl = "node(s) had untolerated taint {%s: %s}"
)

// NodeName keeps a pod that names its node off every other node.
type NodeName struct{}

func (NodeName) Name() string { return NameNodeName }

func (NodeName) Filter(_ *framework.CycleState, pod *framework.PodInfo, node *framework.NodeInfo) *framework.Status {
	if n := pod.Pod.GetSpec().GetNodeName(); n != "" && n != node.Name() {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, ReasonNodeName)
	}
	return nil
}

// NodeUnschedulable keeps pods off cordoned nodes (spec.unschedulable)
// unless they tolerate the node.kubernetes.io/unschedulable taint.
type NodeUnschedulable struct{}

func (NodeUnschedulable) Name() string { return NameNodeUnschedulable }

func (NodeUnschedulable) Filter(_ *framework.CycleState, pod *framework.PodInfo, node *framework.NodeInfo) *framework.Status {
	if !node.Node.GetSpec().GetUnschedulable() {
		return nil
	}
	taint := taintOf(TaintNodeUnschedulable, "NoSchedule")
	if TaintTolerated(pod.Pod.GetSpec().GetTolerations(), taint) {
		return nil
	}
	return framework.NewStatus(framework.UnschedulableAndUnresolvable, ReasonUnschedulable)
}

// NodeReady keeps pods off nodes whose Ready condition is not True, unless
// they tolerate the matching not-ready/unreachable taint (as DaemonSet pods
// do): the node controller's taints say the same thing, later.
type NodeReady struct{}

func (NodeReady) Name() string { return NameNodeReady }

func (NodeReady) Filter(_ *framework.CycleState, pod *framework.PodInfo, node *framework.NodeInfo) *framework.Status {
	status := "Unknown"
	for _, c := range node.Node.GetStatus().GetConditions() {
		if c.GetType() == "Ready" {
			status = c.GetStatus()
		}
	}
	if status == "True" {
		return nil
	}
	key := TaintNodeNotReady
	if status == "Unknown" {
		key = TaintNodeUnreachable
	}
	ts := pod.Pod.GetSpec().GetTolerations()
	if TaintTolerated(ts, taintOf(key, "NoSchedule")) || TaintTolerated(ts, taintOf(key, "NoExecute")) {
		return nil
	}
	return framework.NewStatus(framework.UnschedulableAndUnresolvable, ReasonNotReady)
}

// TaintToleration filters out nodes with NoSchedule or NoExecute taints the
// pod does not tolerate, and prefers nodes with fewer untolerated
// PreferNoSchedule taints.
type TaintToleration struct{}

func (TaintToleration) Name() string { return NameTaintToleration }

func (TaintToleration) Filter(_ *framework.CycleState, pod *framework.PodInfo, node *framework.NodeInfo) *framework.Status {
	t := FirstUntolerated(node.Node.GetSpec().GetTaints(), pod.Pod.GetSpec().GetTolerations(), "NoSchedule", "NoExecute")
	if t == nil {
		return nil
	}
	return framework.NewStatus(framework.UnschedulableAndUnresolvable, fmt.Sprintf(reasonUntoleratedTmpl, t.GetKey(), t.GetValue()))
}

func (TaintToleration) Score(_ *framework.CycleState, pod *framework.PodInfo, node *framework.NodeInfo) (int64, *framework.Status) {
	var n int64
	for _, taint := range node.Node.GetSpec().GetTaints() {
		if taint.GetEffect() != "PreferNoSchedule" {
			continue
		}
		tolerated := false
		for _, t := range pod.Pod.GetSpec().GetTolerations() {
			if (t.GetEffect() == "" || t.GetEffect() == "PreferNoSchedule") && Tolerates(t, taint) {
				tolerated = true
				break
			}
		}
		if !tolerated {
			n++
		}
	}
	return n, nil
}

// NormalizeScore turns counts of untolerated taints around: fewest is best.
func (TaintToleration) NormalizeScore(_ *framework.CycleState, _ *framework.PodInfo, scores []framework.NodeScore) *framework.Status {
	normalize(scores, true)
	return nil
}

// NodeAffinity filters by nodeSelector and required node affinity, and
// scores by the weights of the preferred terms a node matches.
type NodeAffinity struct{}

func (NodeAffinity) Name() string { return NameNodeAffinity }

func (NodeAffinity) Filter(_ *framework.CycleState, pod *framework.PodInfo, node *framework.NodeInfo) *framework.Status {
	if !MatchesNodeSelectorAndAffinity(pod.Pod, node.Node) {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, ReasonNodeAffinity)
	}
	return nil
}

func (NodeAffinity) PreScore(_ *framework.CycleState, pod *framework.PodInfo, _ *framework.Snapshot, _ []*framework.NodeInfo) *framework.Status {
	if len(pod.Pod.GetSpec().GetAffinity().GetNodeAffinity().GetPreferredDuringSchedulingIgnoredDuringExecution()) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	return nil
}

func (NodeAffinity) Score(_ *framework.CycleState, pod *framework.PodInfo, node *framework.NodeInfo) (int64, *framework.Status) {
	var s int64
	for _, t := range pod.Pod.GetSpec().GetAffinity().GetNodeAffinity().GetPreferredDuringSchedulingIgnoredDuringExecution() {
		if t.GetWeight() != 0 && t.GetPreference() != nil && MatchNodeSelectorTerm(node.Node, t.GetPreference()) {
			s += int64(t.GetWeight())
		}
	}
	return s, nil
}

func (NodeAffinity) NormalizeScore(_ *framework.CycleState, _ *framework.PodInfo, scores []framework.NodeScore) *framework.Status {
	normalize(scores, false)
	return nil
}

// normalize scales scores to 0..MaxNodeScore by the highest; reverse makes
// the lowest raw score the best.
func normalize(scores []framework.NodeScore, reverse bool) {
	var hi int64
	for _, s := range scores {
		hi = max(hi, s.Score)
	}
	if hi == 0 {
		if reverse {
			for i := range scores {
				scores[i].Score = framework.MaxNodeScore
			}
		}
		return
	}
	for i := range scores {
		s := framework.MaxNodeScore * scores[i].Score / hi
		if reverse {
			s = framework.MaxNodeScore - s
		}
		scores[i].Score = s
	}
}
