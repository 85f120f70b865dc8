package scheduler

import (
	"fmt"
	"os"
	"time"

	"sigs.k8s.io/yaml"

	"flotilla.io/scheduler/internal/framework"
	"flotilla.io/scheduler/internal/plugins"
)

// DefaultSchedulerName is the schedulerName pods get by default.
const DefaultSchedulerName = "default-scheduler"

// File is the scheduler configuration file: the subset of upstream's
// KubeSchedulerConfiguration the scheduler supports, in the same shape, so
// an upstream file restricted to these fields applies unchanged.
type File struct {
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind,omitempty"`
	// Parallelism is how many goroutines filter and score (default 2).
	Parallelism int `json:"parallelism,omitempty"`
	// PercentageOfNodesToScore stops the feasible-node search early in big
	// clusters; 0 is upstream's adaptive default.
	PercentageOfNodesToScore int   `json:"percentageOfNodesToScore,omitempty"`
	PodInitialBackoffSeconds int64 `json:"podInitialBackoffSeconds,omitempty"`
	PodMaxBackoffSeconds     int64 `json:"podMaxBackoffSeconds,omitempty"`
	// Profiles holds at most one profile.
	Profiles []Profile `json:"profiles,omitempty"`
}

// Profile names the scheduler and adjusts its plugins.
type Profile struct {
	SchedulerName string   `json:"schedulerName,omitempty"`
	Plugins       *Plugins `json:"plugins,omitempty"`
}

// Plugins adjusts the filter and score extension points.
type Plugins struct {
	Filter PluginSet `json:"filter,omitempty"`
	Score  PluginSet `json:"score,omitempty"`
}

// PluginSet enables (with a weight, for score) and disables plugins; the
// name "*" in disabled means every default plugin.
type PluginSet struct {
	Enabled  []PluginRef `json:"enabled,omitempty"`
	Disabled []PluginRef `json:"disabled,omitempty"`
}

// PluginRef names a plugin; Weight only matters for score plugins.
type PluginRef struct {
	Name   string `json:"name"`
	Weight int64  `json:"weight,omitempty"`
}

// LoadFile reads a configuration file; unknown fields are errors.
func LoadFile(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read scheduler config: %w", err)
	}
	var f File
	if err := yaml.UnmarshalStrict(b, &f); err != nil {
		return nil, fmt.Errorf("parse scheduler config %s: %w", path, err)
	}
	if _, err := f.profile(); err != nil {
		return nil, fmt.Errorf("scheduler config %s: %w", path, err)
	}
	return &f, nil
}

// schedulerName is the profile's name or the default.
func (f *File) schedulerName() string {
	if f != nil && len(f.Profiles) > 0 && f.Profiles[0].SchedulerName != "" {
		return f.Profiles[0].SchedulerName
	}
	return DefaultSchedulerName
}

func (f *File) backoff() (initial, maxWait time.Duration) {
	initial, maxWait = time.Second, 10*time.Second
	if f != nil && f.PodInitialBackoffSeconds > 0 {
		initial = time.Duration(f.PodInitialBackoffSeconds) * time.Second
	}
	if f != nil && f.PodMaxBackoffSeconds > 0 {
		maxWait = time.Duration(f.PodMaxBackoffSeconds) * time.Second
	}
	return initial, maxWait
}

func canonical(name string) string {
	if n, ok := plugins.Aliases[name]; ok {
		return n
	}
	return name
}

// profile builds the plugin set the file describes.
func (f *File) profile() (*framework.Profile, error) {
	if f == nil || len(f.Profiles) == 0 || f.Profiles[0].Plugins == nil {
		if f != nil && len(f.Profiles) > 1 {
			return nil, fmt.Errorf("profiles: only one profile is supported, got %d", len(f.Profiles))
		}
		return plugins.NewProfile(nil, nil)
	}
	if len(f.Profiles) > 1 {
		return nil, fmt.Errorf("profiles: only one profile is supported, got %d", len(f.Profiles))
	}
	p := f.Profiles[0].Plugins
	var disabled []string
	for _, r := range p.Filter.Disabled {
		if r.Name == "*" {
			return nil, fmt.Errorf("plugins.filter.disabled: \"*\" would leave no filters; name them")
		}
		disabled = append(disabled, canonical(r.Name))
	}
	weights := map[string]int64{}
	for _, r := range p.Score.Disabled {
		if r.Name == "*" {
			for n := range plugins.DefaultWeights {
				weights[n] = 0
			}
			continue
		}
		weights[canonical(r.Name)] = 0
	}
	for _, r := range p.Score.Enabled {
		w := r.Weight
		if w == 0 {
			w = max(plugins.DefaultWeights[canonical(r.Name)], 1)
		}
		if w < 0 || w > 100 {
			return nil, fmt.Errorf("plugins.score.enabled: weight of %s must be 1..100, got %d", r.Name, r.Weight)
		}
		weights[canonical(r.Name)] = w
	}
	return plugins.NewProfile(disabled, weights)
}
