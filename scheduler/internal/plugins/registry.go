package plugins

import (
	"fmt"
	"slices"

	"flotilla.io/scheduler/internal/framework"
)

// DefaultWeights are upstream's default score plugin weights.
var DefaultWeights = map[string]int64{
	NameTaintToleration:   3,
	NameNodeAffinity:      2,
	NamePodTopologySpread: 2,
	NameInterPodAffinity:  2,
	NameNodeResourcesFit:  1,
	NameBalanced:          1,
	NameImageLocality:     1,
}

// Aliases maps older upstream names onto the plugins here.
var Aliases = map[string]string{"NodeResourcesLeastAllocated": NameNodeResourcesFit}

// all lists every plugin in filter order (cheap and decisive first, as
// upstream, so the first rejecting filter is the one reported).
func all() []framework.Plugin {
	return []framework.Plugin{
		NodeUnschedulable{}, NodeName{}, NodeReady{}, TaintToleration{}, NodeAffinity{},
		NodeResourcesFit{}, VolumeBinding{}, PodTopologySpread{}, InterPodAffinity{},
		BalancedAllocation{}, ImageLocality{},
	}
}

// Names lists every plugin name.
func Names() []string {
	var out []string
	for _, p := range all() {
		out = append(out, p.Name())
	}
	return out
}

// NewProfile builds the plugin set: every plugin not disabled, scored with
// weights (a weight of 0 turns a plugin's scoring off).
func NewProfile(disabled []string, weights map[string]int64) (*framework.Profile, error) {
	known := Names()
	for _, d := range disabled {
		if !slices.Contains(known, d) {
			return nil, fmt.Errorf("unknown plugin %q (known: %v)", d, known)
		}
	}
	for n := range weights {
		if !slices.Contains(known, n) {
			return nil, fmt.Errorf("unknown score plugin %q (known: %v)", n, known)
		}
	}
	prof := &framework.Profile{}
	for _, p := range all() {
		if slices.Contains(disabled, p.Name()) {
			continue
		}
		if pf, ok := p.(framework.PreFilterPlugin); ok {
			prof.PreFilter = append(prof.PreFilter, pf)
		}
		if f, ok := p.(framework.FilterPlugin); ok {
			prof.Filter = append(prof.Filter, f)
		}
		s, ok := p.(framework.ScorePlugin)
		if !ok {
			continue
		}
		w, set := weights[p.Name()]
		if !set {
			w = DefaultWeights[p.Name()]
		}
		if w <= 0 {
			continue
		}
		if ps, ok := p.(framework.PreScorePlugin); ok {
			prof.PreScore = append(prof.PreScore, ps)
		}
		prof.Score = append(prof.Score, framework.WeightedScore{Plugin: s, Weight: w})
	}
	return prof, nil
}

// DefaultProfile is every plugin with upstream's weights.
func DefaultProfile() *framework.Profile {
	p, _ := NewProfile(nil, nil)
	return p
}
