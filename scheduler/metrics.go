package scheduler

import (
	"github.com/prometheus/client_golang/prometheus"

	"flotilla.io/scheduler/internal/queue"
)

type metrics struct {
	attempts           *prometheus.CounterVec
	e2eLatency         prometheus.Histogram
	algorithmLatency   prometheus.Histogram
	preemptionAttempts prometheus.Counter
	preemptionVictims  prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer, q *queue.Queue) *metrics {
	m := &metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flotilla_scheduler_schedule_attempts_total",
			Help: "Scheduling attempts by result: scheduled, unschedulable or error.",
		}, []string{"result"}),
		e2eLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "flotilla_scheduler_e2e_scheduling_duration_seconds",
			Help:    "Time from a pod entering the queue to its successful bind.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 18),
		}),
		algorithmLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "flotilla_scheduler_scheduling_algorithm_duration_seconds",
			Help:    "Time the filter and score algorithm took for one pod.",
			Buckets: prometheus.ExponentialBuckets(0.00001, 2, 18),
		}),
		preemptionAttempts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flotilla_scheduler_preemption_attempts_total",
			Help: "Preemptions carried out (a node chosen and its victims evicted).",
		}),
		preemptionVictims: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "flotilla_scheduler_preemption_victims",
			Help:    "Pods evicted per preemption.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 7),
		}),
	}
	for _, r := range []string{"scheduled", "unschedulable", "error"} {
		m.attempts.WithLabelValues(r)
	}
	reg.MustRegister(m.attempts, m.e2eLatency, m.algorithmLatency, m.preemptionAttempts, m.preemptionVictims)
	for i, name := range []string{"active", "backoff", "unschedulable"} {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "flotilla_scheduler_pending_pods",
			Help:        "Pending pods by queue: active, backoff or unschedulable.",
			ConstLabels: prometheus.Labels{"queue": name},
		}, func() float64 {
			a, b, u := q.Lengths()
			return float64([]int{a, b, u}[i])
		}))
	}
	return m
}
