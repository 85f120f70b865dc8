package bench

import (
	"fmt"
	"sort"
	"time"
)

// Latencies collects durations and reports percentiles.
type Latencies []time.Duration

// Percentile returns the p-th percentile (0-100), nearest rank.
func (l Latencies) Percentile(p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := append(Latencies(nil), l...)
	sort.Slice(s, func(a, b int) bool { return s[a] < s[b] })
	idx := int(float64(len(s))*p/100+0.5) - 1
	idx = min(max(idx, 0), len(s)-1)
	return s[idx]
}

// String is "p50 / p99".
func (l Latencies) String() string {
	return fmt.Sprintf("%s / %s", ms(l.Percentile(50)), ms(l.Percentile(99)))
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

// MiB formats bytes.
func MiB(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
