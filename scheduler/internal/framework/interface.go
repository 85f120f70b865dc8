package framework

import "sync"

// MaxNodeScore is the highest score a Score plugin gives after normalizing.
const MaxNodeScore = 100

// Plugin is any scheduling plugin.
type Plugin interface {
	Name() string
}

// PreFilterPlugin computes, once per cycle, what its Filter needs about the
// whole cluster. Returning Skip skips its Filter for this pod.
type PreFilterPlugin interface {
	Plugin
	PreFilter(state *CycleState, pod *PodInfo, snap *Snapshot) *Status
}

// PreFilterExtensions keep a PreFilter's state right when preemption
// simulates removing (or re-adding) a pod on a node.
type PreFilterExtensions interface {
	AddPod(state *CycleState, pod, added *PodInfo, node *NodeInfo) *Status
	RemovePod(state *CycleState, pod, removed *PodInfo, node *NodeInfo) *Status
}

// FilterPlugin decides whether the pod fits one node. It runs on many
// nodes in parallel, so it must only read state.
type FilterPlugin interface {
	Plugin
	Filter(state *CycleState, pod *PodInfo, node *NodeInfo) *Status
}

// PreScorePlugin prepares scoring over the feasible nodes. Skip skips its
// Score for this pod.
type PreScorePlugin interface {
	Plugin
	PreScore(state *CycleState, pod *PodInfo, snap *Snapshot, nodes []*NodeInfo) *Status
}

// ScorePlugin ranks one feasible node; it runs in parallel like Filter.
type ScorePlugin interface {
	Plugin
	Score(state *CycleState, pod *PodInfo, node *NodeInfo) (int64, *Status)
}

// ScoreNormalizer maps a ScorePlugin's raw scores to 0..MaxNodeScore.
type ScoreNormalizer interface {
	NormalizeScore(state *CycleState, pod *PodInfo, scores []NodeScore) *Status
}

// NodeScore is one node's score.
type NodeScore struct {
	Name  string
	Score int64
}

// StateData is one plugin's per-cycle data.
type StateData interface {
	Clone() StateData
}

// CycleState carries plugin data from PreFilter/PreScore to Filter/Score
// within one cycle. Writes happen in the sequential phases only.
type CycleState struct {
	mu   sync.RWMutex
	data map[string]StateData
	// SkipFilter and SkipScore name plugins that answered Skip.
	SkipFilter map[string]bool
	SkipScore  map[string]bool
}

// NewCycleState makes an empty state.
func NewCycleState() *CycleState {
	return &CycleState{data: map[string]StateData{}, SkipFilter: map[string]bool{}, SkipScore: map[string]bool{}}
}

// Read returns a plugin's data.
func (c *CycleState) Read(key string) (StateData, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	d, ok := c.data[key]
	return d, ok
}

// Write stores a plugin's data.
func (c *CycleState) Write(key string, d StateData) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.data[key] = d
}

// Clone copies the state deeply enough for preemption's what-ifs.
func (c *CycleState) Clone() *CycleState {
	c.mu.RLock()
	defer c.mu.RUnlock()
	n := NewCycleState()
	for k, v := range c.data {
		n.data[k] = v.Clone()
	}
	for k := range c.SkipFilter {
		n.SkipFilter[k] = true
	}
	for k := range c.SkipScore {
		n.SkipScore[k] = true
	}
	return n
}

// WeightedScore is a score plugin with its weight.
type WeightedScore struct {
	Plugin ScorePlugin
	Weight int64
}

// Profile is the set of plugins one scheduler runs, in order.
type Profile struct {
	PreFilter []PreFilterPlugin
	Filter    []FilterPlugin
	PreScore  []PreScorePlugin
	Score     []WeightedScore
}
