package plugins

import (
	"maps"

	"flotilla.io/scheduler/internal/framework"
)

// InterPodAffinity enforces required pod affinity and anti-affinity (the
// pod's own terms and, symmetrically, existing pods' required anti-affinity
// against it) and scores preferred terms, per topology domain.
type InterPodAffinity struct {
	// HardPodAffinityWeight is what an existing pod's required affinity term
	// matching the new pod adds to a domain's score (upstream's default 1).
	HardPodAffinityWeight int64
}

func (InterPodAffinity) Name() string { return NameInterPodAffinity }

// topologyPair is one domain: a node label key and its value.
type topologyPair struct{ key, value string }

type topologyCounts map[topologyPair]int64

func (c topologyCounts) add(key string, node *framework.NodeInfo, n int64) {
	if key == "" {
		return
	}
	v, ok := node.Labels()[key]
	if !ok {
		return
	}
	p := topologyPair{key, v}
	c[p] += n
	if c[p] == 0 {
		delete(c, p)
	}
}

type affinityState struct {
	existingAnti, affinity, anti topologyCounts
	nsLabels                     framework.NamespaceLabels
}

func (s *affinityState) Clone() framework.StateData {
	return &affinityState{existingAnti: maps.Clone(s.existingAnti), affinity: maps.Clone(s.affinity), anti: maps.Clone(s.anti), nsLabels: s.nsLabels}
}

// countsFor adds (sign +1) or removes (-1) existing pod ep on node to the
// state's counts for incoming pod p.
func (s *affinityState) countsFor(p, ep *framework.PodInfo, node *framework.NodeInfo, sign int64) {
	for i := range ep.RequiredAntiAffinity {
		t := &ep.RequiredAntiAffinity[i]
		if t.Matches(p, s.nsLabels) {
			s.existingAnti.add(t.TopologyKey, node, sign)
		}
	}
	if len(p.RequiredAffinity) > 0 && matchesAll(p.RequiredAffinity, ep, s.nsLabels) {
		for _, t := range p.RequiredAffinity {
			s.affinity.add(t.TopologyKey, node, sign)
		}
	}
	for i := range p.RequiredAntiAffinity {
		t := &p.RequiredAntiAffinity[i]
		if t.Matches(ep, s.nsLabels) {
			s.anti.add(t.TopologyKey, node, sign)
		}
	}
}

func matchesAll(terms []framework.AffinityTerm, p *framework.PodInfo, ns framework.NamespaceLabels) bool {
	for i := range terms {
		if !terms[i].Matches(p, ns) {
			return false
		}
	}
	return true
}

func (pl InterPodAffinity) PreFilter(state *framework.CycleState, pod *framework.PodInfo, snap *framework.Snapshot) *framework.Status {
	if pod.ParseErr != nil {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, pod.ParseErr.Error())
	}
	own := len(pod.RequiredAffinity)+len(pod.RequiredAntiAffinity) > 0
	if !own && len(snap.HaveRequiredAntiAffinity) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	s := &affinityState{existingAnti: topologyCounts{}, affinity: topologyCounts{}, anti: topologyCounts{}, nsLabels: snap.NamespaceLabels}
	if own {
		for _, n := range snap.Nodes {
			for _, ep := range n.Pods {
				s.countsFor(pod, ep, n, 1)
			}
		}
	} else {
		for _, n := range snap.HaveRequiredAntiAffinity {
			for _, ep := range n.PodsWithRequiredAntiAffinity {
				s.countsFor(pod, ep, n, 1)
			}
		}
	}
	state.Write(NameInterPodAffinity, s)
	return nil
}

func (InterPodAffinity) AddPod(state *framework.CycleState, pod, added *framework.PodInfo, node *framework.NodeInfo) *framework.Status {
	if d, ok := state.Read(NameInterPodAffinity); ok {
		d.(*affinityState).countsFor(pod, added, node, 1)
	}
	return nil
}

func (InterPodAffinity) RemovePod(state *framework.CycleState, pod, removed *framework.PodInfo, node *framework.NodeInfo) *framework.Status {
	if d, ok := state.Read(NameInterPodAffinity); ok {
		d.(*affinityState).countsFor(pod, removed, node, -1)
	}
	return nil
}

func (InterPodAffinity) Filter(state *framework.CycleState, pod *framework.PodInfo, node *framework.NodeInfo) *framework.Status {
	d, ok := state.Read(NameInterPodAffinity)
	if !ok {
		return nil
	}
	s := d.(*affinityState)
	lbls := node.Labels()
	if len(s.existingAnti) > 0 {
		// Look the node's few labels up rather than walk every domain.
		for k, v := range lbls {
			if s.existingAnti[topologyPair{k, v}] > 0 {
				return framework.NewStatus(framework.Unschedulable, ReasonExistingAnti)
			}
		}
	}
	for _, t := range pod.RequiredAntiAffinity {
		if v, has := lbls[t.TopologyKey]; has && s.anti[topologyPair{t.TopologyKey, v}] > 0 {
			return framework.NewStatus(framework.Unschedulable, ReasonAntiAffinity)
		}
	}
	if len(pod.RequiredAffinity) > 0 {
		ok := true
		for _, t := range pod.RequiredAffinity {
			v, has := lbls[t.TopologyKey]
			if !has || s.affinity[topologyPair{t.TopologyKey, v}] <= 0 {
				ok = false
				break
			}
		}
		// The first pod of a group that selects itself may go anywhere the
		// topology keys exist, or no group could ever start.
		if !ok && len(s.affinity) == 0 && matchesAll(pod.RequiredAffinity, pod, s.nsLabels) {
			ok = true
			for _, t := range pod.RequiredAffinity {
				if _, has := lbls[t.TopologyKey]; !has {
					ok = false
				}
			}
		}
		if !ok {
			return framework.NewStatus(framework.UnschedulableAndUnresolvable, ReasonAffinity)
		}
	}
	return nil
}

type affinityScore struct{ scores topologyCounts }

func (s *affinityScore) Clone() framework.StateData { return s }

const scoreKey = NameInterPodAffinity + "/score"

func (pl InterPodAffinity) PreScore(state *framework.CycleState, pod *framework.PodInfo, snap *framework.Snapshot, _ []*framework.NodeInfo) *framework.Status {
	own := len(pod.PreferredAffinity)+len(pod.PreferredAntiAffinity) > 0
	if !own && len(snap.HaveAffinity) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	hard := pl.HardPodAffinityWeight
	if hard == 0 {
		hard = 1
	}
	s := &affinityScore{scores: topologyCounts{}}
	ns := snap.NamespaceLabels
	score := func(ep *framework.PodInfo, n *framework.NodeInfo) {
		for _, t := range pod.PreferredAffinity {
			if t.Matches(ep, ns) {
				s.scores.add(t.TopologyKey, n, int64(t.Weight))
			}
		}
		for _, t := range pod.PreferredAntiAffinity {
			if t.Matches(ep, ns) {
				s.scores.add(t.TopologyKey, n, -int64(t.Weight))
			}
		}
		for _, t := range ep.RequiredAffinity {
			if t.Matches(pod, ns) {
				s.scores.add(t.TopologyKey, n, hard)
			}
		}
		for _, t := range ep.PreferredAffinity {
			if t.Matches(pod, ns) {
				s.scores.add(t.TopologyKey, n, int64(t.Weight))
			}
		}
		for _, t := range ep.PreferredAntiAffinity {
			if t.Matches(pod, ns) {
				s.scores.add(t.TopologyKey, n, -int64(t.Weight))
			}
		}
	}
	if own {
		for _, n := range snap.Nodes {
			for _, ep := range n.Pods {
				score(ep, n)
			}
		}
	} else {
		for _, n := range snap.HaveAffinity {
			for _, ep := range n.PodsWithAffinity {
				score(ep, n)
			}
		}
	}
	if len(s.scores) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	state.Write(scoreKey, s)
	return nil
}

func (InterPodAffinity) Score(state *framework.CycleState, _ *framework.PodInfo, node *framework.NodeInfo) (int64, *framework.Status) {
	d, ok := state.Read(scoreKey)
	if !ok {
		return 0, nil
	}
	var sum int64
	lbls := node.Labels()
	for p, v := range d.(*affinityScore).scores {
		if lv, has := lbls[p.key]; has && lv == p.value {
			sum += v
		}
	}
	return sum, nil
}

// NormalizeScore maps the range of scores onto 0..100 (upstream's).
func (InterPodAffinity) NormalizeScore(_ *framework.CycleState, _ *framework.PodInfo, scores []framework.NodeScore) *framework.Status {
	minMax(scores)
	return nil
}

func minMax(scores []framework.NodeScore) {
	if len(scores) == 0 {
		return
	}
	lo, hi := scores[0].Score, scores[0].Score
	for _, s := range scores {
		lo, hi = min(lo, s.Score), max(hi, s.Score)
	}
	for i := range scores {
		if hi > lo {
			scores[i].Score = framework.MaxNodeScore * (scores[i].Score - lo) / (hi - lo)
		} else {
			scores[i].Score = 0
		}
	}
}
