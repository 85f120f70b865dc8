// Package core is the scheduling algorithm as a pure function of a pod and
// a snapshot: filter the nodes, score the feasible ones, pick the best; or
// explain why none fits and which pods to preempt. It does no I/O; the
// caller applies the decision.
package core

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"flotilla.io/scheduler/internal/framework"
)

// Nominated lists pods nominated (by earlier preemption) to a node that
// are not bound yet; they hold their place against lower-priority pods.
type Nominated func(node string) []*framework.PodInfo

// Algorithm runs one profile. Its only state between cycles is where the
// next node search starts (so searches rotate over the cluster).
type Algorithm struct {
	Profile *framework.Profile
	// PercentageOfNodesToScore stops the search after this share of nodes
	// were found feasible; 0 means upstream's adaptive default.
	PercentageOfNodesToScore int
	// Parallelism is how many goroutines filter and score (default 2).
	Parallelism int
	// Rand breaks ties between equal scores; nil uses a global source.
	Rand *rand.Rand

	mu        sync.Mutex
	nextStart int
}

// Result is a successful decision.
type Result struct {
	Node      string
	Evaluated int
	Feasible  int
}

// FitError says no node fits: per-node statuses and the counted message.
type FitError struct {
	Pod         *framework.PodInfo
	NumAllNodes int
	// Statuses maps each rejected node to the filter status that rejected it.
	Statuses map[string]*framework.Status
	// PreFilterMsg is set when a PreFilter rejected the pod outright.
	PreFilterMsg string
	// PostFilterMsg explains the preemption outcome.
	PostFilterMsg string

	state *framework.CycleState
}

// Error formats the message as upstream: "0/5 nodes are available: 3
// Insufficient cpu, 2 node(s) had untolerated taint {gpu: true}. preemption: ...".
func (f *FitError) Error() string {
	msg := fmt.Sprintf("0/%d nodes are available:", f.NumAllNodes)
	if f.PreFilterMsg != "" {
		msg += " " + f.PreFilterMsg + "."
	} else {
		msg += " " + strings.Join(Histogram(f.Statuses), ", ") + "."
	}
	if f.PostFilterMsg != "" {
		msg += " " + f.PostFilterMsg
	}
	return msg
}

// Histogram counts reasons over nodes: "3 Insufficient cpu", sorted.
func Histogram(statuses map[string]*framework.Status) []string {
	counts := map[string]int{}
	for _, st := range statuses {
		for _, r := range st.Reasons() {
			counts[r]++
		}
	}
	out := make([]string, 0, len(counts))
	for r, n := range counts {
		out = append(out, fmt.Sprintf("%d %s", n, r))
	}
	sort.Strings(out)
	return out
}

// Diagnosis maps each rejected node to "Plugin: reasons".
func (f *FitError) Diagnosis() map[string]string {
	out := make(map[string]string, len(f.Statuses))
	for n, st := range f.Statuses {
		out[n] = st.Plugin() + ": " + st.Message()
	}
	return out
}

// RejectedBy lists the plugins that rejected the pod on some node.
func (f *FitError) RejectedBy() []string {
	var out []string
	for _, st := range f.Statuses {
		if p := st.Plugin(); p != "" && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// numFeasibleToFind is upstream's adaptive percentageOfNodesToScore: all
// nodes up to 100, then 50% minus 1% per 125 nodes, at least 5%.
func (a *Algorithm) numFeasibleToFind(n int) int {
	const minFeasible = 100
	if n <= minFeasible {
		return n
	}
	pct := a.PercentageOfNodesToScore
	if pct <= 0 {
		pct = max(50-n/125, 5)
	}
	if pct >= 100 {
		return n
	}
	return max(n*pct/100, minFeasible)
}

func (a *Algorithm) workers() int {
	if a.Parallelism > 0 {
		return a.Parallelism
	}
	return 2
}

// parallel runs fn(i) for i in [0,n) on the algorithm's workers, in chunks.
func (a *Algorithm) parallel(ctx context.Context, n int, fn func(i int)) {
	w := min(a.workers(), n)
	if w <= 1 || n < 32 {
		for i := 0; i < n && ctx.Err() == nil; i++ {
			fn(i)
		}
		return
	}
	chunk := max(n/(w*4), 1)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range w {
		wg.Go(func() {
			for ctx.Err() == nil {
				start := int(next.Add(int64(chunk))) - chunk
				if start >= n {
					return
				}
				for i := start; i < min(start+chunk, n); i++ {
					fn(i)
				}
			}
		})
	}
	wg.Wait()
}

// Schedule picks a node for pod, or returns a *FitError.
func (a *Algorithm) Schedule(ctx context.Context, pod *framework.PodInfo, snap *framework.Snapshot, nominated Nominated) (Result, error) {
	nodes := snap.Nodes
	if len(nodes) == 0 {
		return Result{}, &FitError{Pod: pod, Statuses: map[string]*framework.Status{}}
	}
	state := framework.NewCycleState()
	if st := a.preFilter(state, pod, snap); st != nil {
		fe := &FitError{Pod: pod, NumAllNodes: len(nodes), PreFilterMsg: st.Message(), Statuses: make(map[string]*framework.Status, len(nodes)), state: state}
		for _, n := range nodes {
			fe.Statuses[n.Name()] = st
		}
		return Result{}, fe
	}
	feasible, statuses, evaluated := a.findFeasible(ctx, state, pod, nodes, nominated)
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	if len(feasible) == 0 {
		fe := &FitError{Pod: pod, NumAllNodes: len(nodes), Statuses: make(map[string]*framework.Status, len(nodes)), state: state}
		for i, st := range statuses {
			if st != nil {
				fe.Statuses[nodes[i].Name()] = st
			}
		}
		return Result{}, fe
	}
	res := Result{Evaluated: evaluated, Feasible: len(feasible)}
	if len(feasible) == 1 {
		res.Node = feasible[0].Name()
		return res, nil
	}
	scores, err := a.score(ctx, state, pod, snap, feasible)
	if err != nil {
		return Result{}, err
	}
	res.Node = a.selectHost(feasible, scores)
	return res, nil
}

// preFilter runs the PreFilter plugins; a non-nil status rejects the pod on
// every node.
func (a *Algorithm) preFilter(state *framework.CycleState, pod *framework.PodInfo, snap *framework.Snapshot) *framework.Status {
	for _, p := range a.Profile.PreFilter {
		st := p.PreFilter(state, pod, snap)
		switch {
		case st.Code() == framework.Skip:
			state.SkipFilter[p.Name()] = true
		case !st.IsSuccess():
			if st.Code() == framework.Error {
				return framework.NewStatus(framework.UnschedulableAndUnresolvable, st.Message()).WithPlugin(p.Name())
			}
			return st.WithPlugin(p.Name())
		}
	}
	return nil
}

// findFeasible filters nodes in parallel from the rotating start until
// enough are feasible; statuses[i] is node i's rejection, if any.
func (a *Algorithm) findFeasible(ctx context.Context, state *framework.CycleState, pod *framework.PodInfo, nodes []*framework.NodeInfo, nominated Nominated) ([]*framework.NodeInfo, []*framework.Status, int) {
	n := len(nodes)
	want := a.numFeasibleToFind(n)
	a.mu.Lock()
	start := a.nextStart % n
	a.mu.Unlock()
	found := make([]*framework.NodeInfo, n)
	statuses := make([]*framework.Status, n)
	var count, processed atomic.Int64
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	filters := a.activeFilters(state)
	a.parallel(fctx, n, func(i int) {
		idx := (start + i) % n
		node := nodes[idx]
		processed.Add(1)
		if st := a.filterWithNominated(state, pod, node, nominated, filters); st != nil {
			statuses[idx] = st
			return
		}
		if c := count.Add(1); c <= int64(want) {
			found[c-1] = node
			if c == int64(want) {
				cancel()
			}
		}
	})
	done := int(processed.Load())
	a.mu.Lock()
	a.nextStart = (start + done) % n
	a.mu.Unlock()
	k := min(int(count.Load()), want)
	return found[:k], statuses, done
}

// filterWithNominated runs the filters (activeFilters of state) with the
// pods nominated to the node at the pod's priority or above counted as if
// they were already there.
func (a *Algorithm) filterWithNominated(state *framework.CycleState, pod *framework.PodInfo, node *framework.NodeInfo, nominated Nominated, filters []framework.FilterPlugin) *framework.Status {
	if nominated != nil {
		var add []*framework.PodInfo
		for _, np := range nominated(node.Name()) {
			if np.Key != pod.Key && np.Priority >= pod.Priority {
				add = append(add, np)
			}
		}
		if len(add) > 0 {
			node = node.Clone()
			state = state.Clone()
			for _, np := range add {
				node.AddPod(np)
				a.addPodExt(state, pod, np, node)
			}
		}
	}
	return runFilters(filters, state, pod, node)
}

// activeFilters lists the Filter plugins whose PreFilter did not answer
// Skip, once per cycle rather than once per node.
func (a *Algorithm) activeFilters(state *framework.CycleState) []framework.FilterPlugin {
	out := make([]framework.FilterPlugin, 0, len(a.Profile.Filter))
	for _, f := range a.Profile.Filter {
		if !state.SkipFilter[f.Name()] {
			out = append(out, f)
		}
	}
	return out
}

// RunFilters runs every Filter plugin on one node and returns the first
// rejection.
func (a *Algorithm) RunFilters(state *framework.CycleState, pod *framework.PodInfo, node *framework.NodeInfo) *framework.Status {
	return runFilters(a.activeFilters(state), state, pod, node)
}

func runFilters(filters []framework.FilterPlugin, state *framework.CycleState, pod *framework.PodInfo, node *framework.NodeInfo) *framework.Status {
	for _, f := range filters {
		if st := f.Filter(state, pod, node); !st.IsSuccess() {
			if st.Code() == framework.Error {
				st = framework.NewStatus(framework.UnschedulableAndUnresolvable, st.Message())
			}
			return st.WithPlugin(f.Name())
		}
	}
	return nil
}

func (a *Algorithm) addPodExt(state *framework.CycleState, pod, added *framework.PodInfo, node *framework.NodeInfo) {
	for _, p := range a.Profile.PreFilter {
		if ext, ok := p.(framework.PreFilterExtensions); ok && !state.SkipFilter[p.Name()] {
			ext.AddPod(state, pod, added, node)
		}
	}
}

func (a *Algorithm) removePodExt(state *framework.CycleState, pod, removed *framework.PodInfo, node *framework.NodeInfo) {
	for _, p := range a.Profile.PreFilter {
		if ext, ok := p.(framework.PreFilterExtensions); ok && !state.SkipFilter[p.Name()] {
			ext.RemovePod(state, pod, removed, node)
		}
	}
}

// score returns each feasible node's weighted total.
func (a *Algorithm) score(ctx context.Context, state *framework.CycleState, pod *framework.PodInfo, snap *framework.Snapshot, nodes []*framework.NodeInfo) ([]int64, error) {
	for _, p := range a.Profile.PreScore {
		st := p.PreScore(state, pod, snap, nodes)
		switch {
		case st.Code() == framework.Skip:
			state.SkipScore[p.Name()] = true
		case !st.IsSuccess():
			return nil, fmt.Errorf("prescore %s: %w", p.Name(), st.AsError())
		}
	}
	var active []framework.WeightedScore
	for _, ws := range a.Profile.Score {
		if !state.SkipScore[ws.Plugin.Name()] {
			active = append(active, ws)
		}
	}
	per := make([][]framework.NodeScore, len(active))
	for j := range per {
		per[j] = make([]framework.NodeScore, len(nodes))
	}
	var firstErr atomic.Value
	a.parallel(ctx, len(nodes), func(i int) {
		for j, ws := range active {
			s, st := ws.Plugin.Score(state, pod, nodes[i])
			if !st.IsSuccess() {
				firstErr.CompareAndSwap(nil, fmt.Errorf("score %s: %w", ws.Plugin.Name(), st.AsError()))
			}
			per[j][i] = framework.NodeScore{Name: nodes[i].Name(), Score: s}
		}
	})
	if err, _ := firstErr.Load().(error); err != nil {
		return nil, err
	}
	total := make([]int64, len(nodes))
	for j, ws := range active {
		if norm, ok := ws.Plugin.(framework.ScoreNormalizer); ok {
			if st := norm.NormalizeScore(state, pod, per[j]); !st.IsSuccess() {
				return nil, fmt.Errorf("normalize %s: %w", ws.Plugin.Name(), st.AsError())
			}
		}
		for i := range nodes {
			total[i] += per[j][i].Score * ws.Weight
		}
	}
	return total, nil
}

// selectHost picks the highest score, breaking ties uniformly at random.
func (a *Algorithm) selectHost(nodes []*framework.NodeInfo, scores []int64) string {
	best, ties := 0, 1
	for i := 1; i < len(nodes); i++ {
		switch {
		case scores[i] > scores[best]:
			best, ties = i, 1
		case scores[i] == scores[best]:
			ties++
			if a.intn(ties) == 0 {
				best = i
			}
		}
	}
	return nodes[best].Name()
}

func (a *Algorithm) intn(n int) int {
	if a.Rand != nil {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.Rand.IntN(n)
	}
	return rand.IntN(n)
}
