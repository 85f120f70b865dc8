package component

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"flotilla.io/sdk/version"
)

// NewRegistry makes the process's one metrics registry, with Go runtime and
// process metrics and flotilla_build_info{component,version,revision} = 1.
// Pass it to everything that has metrics; never use the global registry.
func NewRegistry(component string) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	v := version.Get()
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "flotilla_build_info",
		Help:        "Always 1; labels say which build runs.",
		ConstLabels: prometheus.Labels{"component": component, "version": v.Version, "revision": v.Revision},
	})
	build.Set(1)
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		build,
	)
	return reg
}
