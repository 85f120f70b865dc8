package plugins

import (
	"math"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"

	"flotilla.io/scheduler/internal/framework"
	"flotilla.io/sdk/informer"
)

// Well-known topology labels.
const (
	LabelHostname = "kubernetes.io/hostname"
	LabelZone     = "topology.kubernetes.io/zone"
)

// spreadOwnerKinds are the controllers whose pods get upstream's default
// spreading when they declare no constraints of their own.
var spreadOwnerKinds = map[string]bool{"ReplicaSet": true, "StatefulSet": true, "ReplicationController": true}

// PodTopologySpread enforces DoNotSchedule topology spread constraints and
// scores ScheduleAnyway ones. Pods owned by a ReplicaSet, StatefulSet or
// ReplicationController with no constraints are spread by upstream's
// system defaults (hostname maxSkew 3, zone maxSkew 5, ScheduleAnyway)
// among the pods of the same owner.
type PodTopologySpread struct{}

func (PodTopologySpread) Name() string { return NamePodTopologySpread }

type constraint struct {
	maxSkew     int64
	key         string
	minDomains  int64
	match       func(*framework.PodInfo) bool
	honorAffine bool
	honorTaints bool
}

// constraints parses the pod's constraints with the given whenUnsatisfiable;
// with defaults, system defaults replace a missing list for owned pods.
func constraints(pod *framework.PodInfo, when string, defaults bool) ([]constraint, error) {
	ns := pod.Pod.GetMetadata().GetNamespace()
	var out []constraint
	for _, c := range pod.Pod.GetSpec().GetTopologySpreadConstraints() {
		if c.GetWhenUnsatisfiable() != when {
			continue
		}
		sel, err := informer.Selector(c.GetLabelSelector())
		if err != nil {
			return nil, err
		}
		podLabels := pod.Pod.GetMetadata().GetLabels()
		for _, k := range c.GetMatchLabelKeys() {
			if v, ok := podLabels[k]; ok {
				r, err := labels.NewRequirement(k, selection.In, []string{v})
				if err != nil {
					return nil, err
				}
				sel = sel.Add(*r)
			}
		}
		out = append(out, constraint{
			maxSkew: int64(c.GetMaxSkew()), key: c.GetTopologyKey(), minDomains: int64(max(c.GetMinDomains(), 1)),
			match: func(p *framework.PodInfo) bool {
				return p.Pod.GetMetadata().GetNamespace() == ns && sel.Matches(labels.Set(p.Pod.GetMetadata().GetLabels()))
			},
			honorAffine: c.GetNodeAffinityPolicy() != "Ignore",
			honorTaints: c.GetNodeTaintsPolicy() == "Honor",
		})
	}
	if len(pod.Pod.GetSpec().GetTopologySpreadConstraints()) > 0 || !defaults || when != "ScheduleAnyway" {
		return out, nil
	}
	owner := ""
	for _, ref := range pod.Pod.GetMetadata().GetOwnerReferences() {
		if ref.GetController() && spreadOwnerKinds[ref.GetKind()] {
			owner = ref.GetUid()
		}
	}
	if owner == "" {
		return nil, nil
	}
	same := func(p *framework.PodInfo) bool {
		if p.Pod.GetMetadata().GetNamespace() != ns {
			return false
		}
		for _, ref := range p.Pod.GetMetadata().GetOwnerReferences() {
			if ref.GetController() && ref.GetUid() == owner {
				return true
			}
		}
		return false
	}
	return []constraint{
		{maxSkew: 3, key: LabelHostname, minDomains: 1, match: same, honorAffine: true},
		{maxSkew: 5, key: LabelZone, minDomains: 1, match: same, honorAffine: true},
	}, nil
}

// eligible reports whether a node's pods count towards the spread: it has
// every key (when all are required) and passes the node policies.
func eligible(pod *framework.PodInfo, node *framework.NodeInfo, cs []constraint, requireAll bool) bool {
	if node.Node == nil {
		return false
	}
	lbls := node.Labels()
	for _, c := range cs {
		if _, ok := lbls[c.key]; !ok && requireAll {
			return false
		}
		if c.honorAffine && !MatchesNodeSelectorAndAffinity(pod.Pod, node.Node) {
			return false
		}
		if c.honorTaints && FirstUntolerated(node.Node.GetSpec().GetTaints(), pod.Pod.GetSpec().GetTolerations(), "NoSchedule", "NoExecute") != nil {
			return false
		}
	}
	return true
}

func countMatching(c *constraint, node *framework.NodeInfo) int64 {
	var n int64
	for _, p := range node.Pods {
		if !p.Terminating() && c.match(p) {
			n++
		}
	}
	return n
}

type spreadState struct {
	cs []constraint
	// counts[i] maps constraint i's domains (of eligible nodes) to matching
	// pods; minimum[i] is the smallest.
	counts  []map[string]int64
	minimum []int64
}

func (s *spreadState) Clone() framework.StateData {
	c := &spreadState{cs: s.cs, counts: make([]map[string]int64, len(s.counts)), minimum: append([]int64(nil), s.minimum...)}
	for i, m := range s.counts {
		c.counts[i] = make(map[string]int64, len(m))
		for k, v := range m {
			c.counts[i][k] = v
		}
	}
	return c
}

func (s *spreadState) recomputeMin() {
	for i, m := range s.counts {
		lo := int64(math.MaxInt64)
		for _, v := range m {
			lo = min(lo, v)
		}
		if int64(len(m)) < s.cs[i].minDomains || lo == math.MaxInt64 {
			lo = 0
		}
		s.minimum[i] = lo
	}
}

func (PodTopologySpread) PreFilter(state *framework.CycleState, pod *framework.PodInfo, snap *framework.Snapshot) *framework.Status {
	cs, err := constraints(pod, "DoNotSchedule", false)
	if err != nil {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, err.Error())
	}
	if len(cs) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	s := &spreadState{cs: cs, counts: make([]map[string]int64, len(cs)), minimum: make([]int64, len(cs))}
	for i := range s.counts {
		s.counts[i] = map[string]int64{}
	}
	for _, n := range snap.Nodes {
		if !eligible(pod, n, cs, true) {
			continue
		}
		for i := range cs {
			s.counts[i][n.Labels()[cs[i].key]] += countMatching(&cs[i], n)
		}
	}
	s.recomputeMin()
	state.Write(NamePodTopologySpread, s)
	return nil
}

func (PodTopologySpread) change(state *framework.CycleState, pod, p *framework.PodInfo, node *framework.NodeInfo, sign int64) *framework.Status {
	d, ok := state.Read(NamePodTopologySpread)
	if !ok {
		return nil
	}
	s := d.(*spreadState)
	if !eligible(pod, node, s.cs, true) {
		return nil
	}
	for i := range s.cs {
		if s.cs[i].match(p) {
			s.counts[i][node.Labels()[s.cs[i].key]] += sign
		}
	}
	s.recomputeMin()
	return nil
}

func (pl PodTopologySpread) AddPod(state *framework.CycleState, pod, added *framework.PodInfo, node *framework.NodeInfo) *framework.Status {
	return pl.change(state, pod, added, node, 1)
}

func (pl PodTopologySpread) RemovePod(state *framework.CycleState, pod, removed *framework.PodInfo, node *framework.NodeInfo) *framework.Status {
	return pl.change(state, pod, removed, node, -1)
}

func (PodTopologySpread) Filter(state *framework.CycleState, pod *framework.PodInfo, node *framework.NodeInfo) *framework.Status {
	d, ok := state.Read(NamePodTopologySpread)
	if !ok {
		return nil
	}
	s := d.(*spreadState)
	lbls := node.Labels()
	for i, c := range s.cs {
		v, ok := lbls[c.key]
		if !ok {
			return framework.NewStatus(framework.UnschedulableAndUnresolvable, ReasonSpreadNoLabel)
		}
		self := int64(0)
		if c.match(pod) {
			self = 1
		}
		if s.counts[i][v]+self-s.minimum[i] > c.maxSkew {
			return framework.NewStatus(framework.Unschedulable, ReasonSpread)
		}
	}
	return nil
}

type spreadScore struct {
	cs         []constraint
	counts     []map[string]int64
	weights    []float64
	requireAll bool
}

func (s *spreadScore) Clone() framework.StateData { return s }

const spreadScoreKey = NamePodTopologySpread + "/score"

func (PodTopologySpread) PreScore(state *framework.CycleState, pod *framework.PodInfo, snap *framework.Snapshot, nodes []*framework.NodeInfo) *framework.Status {
	cs, err := constraints(pod, "ScheduleAnyway", true)
	if err != nil {
		return framework.AsStatus(err)
	}
	if len(cs) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	requireAll := len(pod.Pod.GetSpec().GetTopologySpreadConstraints()) > 0
	s := &spreadScore{cs: cs, counts: make([]map[string]int64, len(cs)), weights: make([]float64, len(cs)), requireAll: requireAll}
	// Only the domains of feasible nodes matter; pods anywhere in them count.
	for i := range cs {
		s.counts[i] = map[string]int64{}
		for _, n := range nodes {
			if v, ok := n.Labels()[cs[i].key]; ok && eligible(pod, n, cs, requireAll) {
				s.counts[i][v] = 0
			}
		}
		s.weights[i] = math.Log(float64(len(s.counts[i]) + 2))
	}
	for _, n := range snap.Nodes {
		if !eligible(pod, n, cs, requireAll) {
			continue
		}
		for i := range cs {
			v, ok := n.Labels()[cs[i].key]
			if _, known := s.counts[i][v]; ok && known {
				s.counts[i][v] += countMatching(&cs[i], n)
			}
		}
	}
	state.Write(spreadScoreKey, s)
	return nil
}

// ignoredScore marks nodes lacking a required topology key: they score 0.
const ignoredScore = -1

func (PodTopologySpread) Score(state *framework.CycleState, _ *framework.PodInfo, node *framework.NodeInfo) (int64, *framework.Status) {
	d, ok := state.Read(spreadScoreKey)
	if !ok {
		return 0, nil
	}
	s := d.(*spreadScore)
	var score float64
	for i, c := range s.cs {
		v, ok := node.Labels()[c.key]
		if !ok {
			if s.requireAll {
				return ignoredScore, nil
			}
			continue
		}
		score += float64(s.counts[i][v])*s.weights[i] + float64(c.maxSkew-1)
	}
	return int64(math.Round(score)), nil
}

// NormalizeScore makes the emptiest domain best (upstream's formula).
func (PodTopologySpread) NormalizeScore(_ *framework.CycleState, _ *framework.PodInfo, scores []framework.NodeScore) *framework.Status {
	lo, hi := int64(math.MaxInt64), int64(0)
	for _, s := range scores {
		if s.Score == ignoredScore {
			continue
		}
		lo, hi = min(lo, s.Score), max(hi, s.Score)
	}
	for i := range scores {
		switch {
		case scores[i].Score == ignoredScore:
			scores[i].Score = 0
		case hi == 0:
			scores[i].Score = framework.MaxNodeScore
		default:
			scores[i].Score = framework.MaxNodeScore * (hi + lo - scores[i].Score) / hi
		}
	}
	return nil
}
