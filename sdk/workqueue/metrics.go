package workqueue

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/util/workqueue"
)

// Metrics records every queue made with it, labelled by queue name.
type Metrics struct {
	depth          *prometheus.GaugeVec
	adds           *prometheus.CounterVec
	latency        *prometheus.HistogramVec
	workDuration   *prometheus.HistogramVec
	unfinished     *prometheus.GaugeVec
	longestRunning *prometheus.GaugeVec
	retries        *prometheus.CounterVec
}

var _ workqueue.MetricsProvider = (*Metrics)(nil)

// NewMetrics registers the flotilla_workqueue_* metrics with reg. Calling
// it twice with one registry shares the same metrics.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	buckets := prometheus.ExponentialBuckets(1e-6, 10, 10) // 1µs .. ~17min
	labels := []string{"name"}
	return &Metrics{
		depth: register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "flotilla_workqueue_depth", Help: "Items waiting in the queue.",
		}, labels)),
		adds: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flotilla_workqueue_adds_total", Help: "Items added to the queue.",
		}, labels)),
		latency: register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "flotilla_workqueue_queue_duration_seconds", Help: "Time an item waits before a worker takes it.", Buckets: buckets,
		}, labels)),
		workDuration: register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "flotilla_workqueue_work_duration_seconds", Help: "Time a worker spends on an item.", Buckets: buckets,
		}, labels)),
		unfinished: register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "flotilla_workqueue_unfinished_work_seconds", Help: "Work in progress not yet Done; growth suggests stuck workers.",
		}, labels)),
		longestRunning: register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "flotilla_workqueue_longest_running_processor_seconds", Help: "Age of the oldest item a worker holds.",
		}, labels)),
		retries: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flotilla_workqueue_retries_total", Help: "Rate-limited re-adds.",
		}, labels)),
	}
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err) // a clashing metric name is a programming error
	}
	return c
}

func (m *Metrics) NewDepthMetric(name string) workqueue.GaugeMetric {
	return m.depth.WithLabelValues(name)
}

func (m *Metrics) NewAddsMetric(name string) workqueue.CounterMetric {
	return m.adds.WithLabelValues(name)
}

func (m *Metrics) NewLatencyMetric(name string) workqueue.HistogramMetric {
	return m.latency.WithLabelValues(name)
}

func (m *Metrics) NewWorkDurationMetric(name string) workqueue.HistogramMetric {
	return m.workDuration.WithLabelValues(name)
}

func (m *Metrics) NewUnfinishedWorkSecondsMetric(name string) workqueue.SettableGaugeMetric {
	return m.unfinished.WithLabelValues(name)
}

func (m *Metrics) NewLongestRunningProcessorSecondsMetric(name string) workqueue.SettableGaugeMetric {
	return m.longestRunning.WithLabelValues(name)
}

func (m *Metrics) NewRetriesMetric(name string) workqueue.CounterMetric {
	return m.retries.WithLabelValues(name)
}

type noMetrics struct{}

type noop struct{}

func (noop) Inc()            {}
func (noop) Dec()            {}
func (noop) Set(float64)     {}
func (noop) Observe(float64) {}

func (noMetrics) NewDepthMetric(string) workqueue.GaugeMetric            { return noop{} }
func (noMetrics) NewAddsMetric(string) workqueue.CounterMetric           { return noop{} }
func (noMetrics) NewLatencyMetric(string) workqueue.HistogramMetric      { return noop{} }
func (noMetrics) NewWorkDurationMetric(string) workqueue.HistogramMetric { return noop{} }
func (noMetrics) NewUnfinishedWorkSecondsMetric(string) workqueue.SettableGaugeMetric {
	return noop{}
}
func (noMetrics) NewLongestRunningProcessorSecondsMetric(string) workqueue.SettableGaugeMetric {
	return noop{}
}
func (noMetrics) NewRetriesMetric(string) workqueue.CounterMetric { return noop{} }
