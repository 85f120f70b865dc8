package bench

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	var l Latencies
	for n := 1; n <= 100; n++ {
		l = append(l, time.Duration(n)*time.Millisecond)
	}
	cases := map[float64]time.Duration{50: 50 * time.Millisecond, 99: 99 * time.Millisecond, 100: 100 * time.Millisecond, 0: time.Millisecond}
	for p, want := range cases {
		if got := l.Percentile(p); got != want {
			t.Errorf("p%v = %v, want %v", p, got, want)
		}
	}
	if (Latencies{}).Percentile(50) != 0 {
		t.Error("empty percentile")
	}
}
