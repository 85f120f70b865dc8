package controllerutil

import (
	"sort"
	"time"

	corev1 "flotilla.io/proto/flotilla/core/v1"
)

// PodsToDelete picks the n pods a workload scaling down deletes first, as
// upstream's ActivePodsWithRanks: unscheduled before scheduled, Pending
// before Unknown before Running, not ready before ready, pods on nodes
// crowded with their siblings before others, ready for a shorter time
// before longer, more restarts before fewer, newer before older.
//
// related are all active pods of the workload's family (for the crowding
// rank); pass pods itself when there is no wider family.
func PodsToDelete(pods, related []*corev1.Pod, n int, now time.Time) []*corev1.Pod {
	if n >= len(pods) {
		return pods
	}
	perNode := map[string]int{}
	for _, p := range related {
		if IsPodActive(p) && p.GetSpec().GetNodeName() != "" {
			perNode[p.GetSpec().GetNodeName()]++
		}
	}
	ranked := make([]rankedPod, len(pods))
	for i, p := range pods {
		ranked[i] = rankedPod{pod: p, rank: perNode[p.GetSpec().GetNodeName()]}
	}
	sort.SliceStable(ranked, func(i, j int) bool { return deleteFirst(ranked[i], ranked[j], now) })
	out := make([]*corev1.Pod, n)
	for i := range out {
		out[i] = ranked[i].pod
	}
	return out
}

type rankedPod struct {
	pod  *corev1.Pod
	rank int
}

var phaseOrder = map[string]int{"Pending": 0, "Unknown": 1, "Running": 2}

func deleteFirst(a, b rankedPod, now time.Time) bool {
	p1, p2 := a.pod, b.pod
	n1, n2 := p1.GetSpec().GetNodeName(), p2.GetSpec().GetNodeName()
	if (n1 == "") != (n2 == "") {
		return n1 == ""
	}
	if o1, o2 := phaseOrder[p1.GetStatus().GetPhase()], phaseOrder[p2.GetStatus().GetPhase()]; o1 != o2 {
		return o1 < o2
	}
	if r1, r2 := IsPodReady(p1), IsPodReady(p2); r1 != r2 {
		return !r1
	}
	if a.rank != b.rank {
		return a.rank > b.rank
	}
	if IsPodReady(p1) && IsPodReady(p2) {
		t1, t2 := readySince(p1), readySince(p2)
		if !t1.Equal(t2) {
			return t1.After(t2) // ready for less time
		}
	}
	if c1, c2 := restarts(p1), restarts(p2); c1 != c2 {
		return c1 > c2
	}
	c1, c2 := p1.GetMetadata().GetCreationTimestamp(), p2.GetMetadata().GetCreationTimestamp()
	if (c1 == nil) != (c2 == nil) {
		return c1 == nil
	}
	if c1 != nil && !c1.AsTime().Equal(c2.AsTime()) {
		return c1.AsTime().After(c2.AsTime())
	}
	return p1.GetMetadata().GetName() > p2.GetMetadata().GetName()
}

func readySince(p *corev1.Pod) time.Time {
	if c := readyCondition(p); c != nil && c.GetLastTransitionTime() != nil {
		return c.GetLastTransitionTime().AsTime()
	}
	return time.Time{}
}

func restarts(p *corev1.Pod) int32 {
	var n int32
	for _, c := range p.GetStatus().GetContainerStatuses() {
		n = max(n, c.GetRestartCount())
	}
	return n
}
