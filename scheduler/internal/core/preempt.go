package core

import (
	"fmt"
	"slices"

	"flotilla.io/scheduler/internal/framework"
)

// Preemption outcome reasons (upstream's wording).
const (
	reasonNotHelpful = "Preemption is not helpful for scheduling"
	reasonNoVictims  = "No preemption victims found for incoming pod"
)

// Candidate is a node where evicting Victims lets the pod fit.
type Candidate struct {
	Node    string
	Victims []*framework.PodInfo
}

// Eligible reports whether the pod may preempt at all, and why not.
func Eligible(pod *framework.PodInfo, snap *framework.Snapshot) (bool, string) {
	if pod.Pod.GetSpec().GetPreemptionPolicy() == "Never" {
		return false, "not eligible due to preemptionPolicy=Never."
	}
	// A pod that already preempted waits for its victims to go away.
	if nom := pod.Pod.GetStatus().GetNominatedNodeName(); nom != "" {
		if n, ok := snap.ByName[nom]; ok {
			for _, p := range n.Pods {
				if p.Terminating() && p.Priority < pod.Priority {
					return false, "not eligible due to a terminating pod on the nominated node."
				}
			}
		}
	}
	return true, ""
}

// Preempt looks for the node where evicting the fewest, least important
// lower-priority pods makes pod fit (upstream's DefaultPreemption, without
// PodDisruptionBudgets). Without a candidate it sets fe.PostFilterMsg and
// returns nil.
func (a *Algorithm) Preempt(pod *framework.PodInfo, snap *framework.Snapshot, fe *FitError, nominated Nominated) *Candidate {
	if ok, why := Eligible(pod, snap); !ok {
		fe.PostFilterMsg = "preemption: " + why
		return nil
	}
	state := fe.state
	if state == nil || fe.PreFilterMsg != "" {
		fe.PostFilterMsg = fmt.Sprintf("preemption: 0/%d nodes are available: %d %s.", len(snap.Nodes), len(snap.Nodes), reasonNotHelpful)
		return nil
	}
	outcome := map[string]*framework.Status{}
	var cands []*Candidate
	// Upstream dry-runs at least 100 nodes or 10% of the cluster.
	limit := max(100, len(snap.Nodes)/10)
	for _, n := range snap.Nodes {
		st := fe.Statuses[n.Name()]
		if st.Code() != framework.Unschedulable {
			outcome[n.Name()] = framework.NewStatus(framework.UnschedulableAndUnresolvable, reasonNotHelpful)
			continue
		}
		if len(cands) >= limit {
			continue
		}
		victims, ok := a.victimsOn(state, pod, n, nominated)
		if !ok {
			outcome[n.Name()] = framework.NewStatus(framework.Unschedulable, reasonNoVictims)
			continue
		}
		cands = append(cands, &Candidate{Node: n.Name(), Victims: victims})
	}
	if len(cands) == 0 {
		fe.PostFilterMsg = "preemption: " + (&FitError{NumAllNodes: len(snap.Nodes), Statuses: outcome}).Error()
		return nil
	}
	return best(cands)
}

// victimsOn finds the minimal set of lower-priority pods on node whose
// removal lets pod fit: remove them all, then give back (most important
// first) every pod the pod still fits beside.
func (a *Algorithm) victimsOn(state *framework.CycleState, pod *framework.PodInfo, node *framework.NodeInfo, nominated Nominated) ([]*framework.PodInfo, bool) {
	node = node.Clone()
	state = state.Clone()
	filters := a.activeFilters(state)
	var lower []*framework.PodInfo
	for _, p := range node.Pods {
		if p.Priority < pod.Priority && !p.Terminating() {
			lower = append(lower, p)
		}
	}
	if len(lower) == 0 {
		return nil, false
	}
	for _, p := range lower {
		node.RemovePod(p)
		a.removePodExt(state, pod, p, node)
	}
	if a.filterWithNominated(state, pod, node, nominated, filters) != nil {
		return nil, false
	}
	slices.SortStableFunc(lower, func(x, y *framework.PodInfo) int {
		if x.Priority != y.Priority {
			return int(y.Priority) - int(x.Priority)
		}
		return x.Created.Compare(y.Created)
	})
	var victims []*framework.PodInfo
	for _, p := range lower {
		node.AddPod(p)
		a.addPodExt(state, pod, p, node)
		if a.filterWithNominated(state, pod, node, nominated, filters) != nil {
			node.RemovePod(p)
			a.removePodExt(state, pod, p, node)
			victims = append(victims, p)
		}
	}
	return victims, true
}

// best orders candidates as upstream: lowest highest-victim priority, then
// lowest priority sum, then fewest victims, then first found.
func best(cands []*Candidate) *Candidate {
	key := func(c *Candidate) (int64, int64, int) {
		hi, sum := int64(-1<<31), int64(0)
		for _, v := range c.Victims {
			hi = max(hi, int64(v.Priority))
			sum += int64(v.Priority) + 1<<31 // offset keeps negatives ordered
		}
		return hi, sum, len(c.Victims)
	}
	b := cands[0]
	bh, bs, bn := key(b)
	for _, c := range cands[1:] {
		h, s, n := key(c)
		if h < bh || (h == bh && (s < bs || (s == bs && n < bn))) {
			b, bh, bs, bn = c, h, s, n
		}
	}
	return b
}
