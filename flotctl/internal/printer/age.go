package printer

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"
	"k8s.io/apimachinery/pkg/util/duration"
)

// Age renders the time since t the way kubectl does ("45s", "5m", "3h",
// "2d", "2y"); "<unknown>" when t is unset.
func Age(t *timestamppb.Timestamp, now time.Time) string {
	if t == nil {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t.AsTime()))
}

// Since is Age with "<none>" for an unset time, as kubectl prints missing
// timestamps in columns such as LAST SCHEDULE.
func Since(t *timestamppb.Timestamp, now time.Time) string {
	if t == nil {
		return "<none>"
	}
	return duration.HumanDuration(now.Sub(t.AsTime()))
}
