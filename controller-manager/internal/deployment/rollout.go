package deployment

import (
	"math"
	"sort"

	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/util/intstr"

	appsv1 "flotilla.io/proto/flotilla/apps/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
)

// Scale is one ReplicaSet resized to To replicas (From is its size now).
type Scale struct {
	RS       *appsv1.ReplicaSet
	From, To int32
}

func replicas(rs *appsv1.ReplicaSet) int32 {
	if rs == nil {
		return 0
	}
	return rs.GetSpec().GetReplicas()
}

func isRolling(d *appsv1.Deployment) bool {
	return d.GetSpec().GetStrategy().GetType() != "Recreate"
}

func toIntstr(v *metav1.IntOrString) *intstr.IntOrString {
	if v == nil {
		return nil
	}
	if v.Type == 1 {
		s := intstr.FromString(v.StrVal)
		return &s
	}
	s := intstr.FromInt32(v.IntVal)
	return &s
}

// ResolveFenceposts turns maxSurge and maxUnavailable into numbers for
// desired replicas, as upstream: surge rounds up, unavailable down, and
// both zero means one may be unavailable.
func ResolveFenceposts(maxSurge, maxUnavailable *metav1.IntOrString, desired int32) (int32, int32) {
	zero := intstr.FromInt32(0)
	s, u := toIntstr(maxSurge), toIntstr(maxUnavailable)
	if s == nil {
		s = &zero
	}
	if u == nil {
		u = &zero
	}
	surge, err := intstr.GetScaledValueFromIntOrPercent(s, int(desired), true)
	if err != nil {
		surge = 0
	}
	unavailable, err := intstr.GetScaledValueFromIntOrPercent(u, int(desired), false)
	if err != nil {
		unavailable = 0
	}
	if surge == 0 && unavailable == 0 {
		unavailable = 1
	}
	return int32(surge), int32(unavailable)
}

// MaxSurge is how far above replicas a rolling update may go.
func MaxSurge(d *appsv1.Deployment) int32 {
	if !isRolling(d) {
		return 0
	}
	ru := d.GetSpec().GetStrategy().GetRollingUpdate()
	s, _ := ResolveFenceposts(ru.GetMaxSurge(), ru.GetMaxUnavailable(), d.GetSpec().GetReplicas())
	return s
}

// MaxUnavailable is how many of replicas a rolling update may lack.
func MaxUnavailable(d *appsv1.Deployment) int32 {
	want := d.GetSpec().GetReplicas()
	if !isRolling(d) || want == 0 {
		return 0
	}
	ru := d.GetSpec().GetStrategy().GetRollingUpdate()
	_, u := ResolveFenceposts(ru.GetMaxSurge(), ru.GetMaxUnavailable(), want)
	return min(u, want)
}

func sumReplicas(rss []*appsv1.ReplicaSet) int32 {
	var n int32
	for _, rs := range rss {
		n += replicas(rs)
	}
	return n
}

func sumStatus(rss []*appsv1.ReplicaSet, f func(*appsv1.ReplicaSetStatus) int32) int32 {
	var n int32
	for _, rs := range rss {
		if rs != nil {
			n += f(rs.GetStatus())
		}
	}
	return n
}

func active(rss []*appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	var out []*appsv1.ReplicaSet
	for _, rs := range rss {
		if rs != nil && replicas(rs) > 0 {
			out = append(out, rs)
		}
	}
	return out
}

func withNew(newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	all := append([]*appsv1.ReplicaSet(nil), old...)
	if newRS != nil {
		all = append(all, newRS)
	}
	return all
}

// NewRSReplicas is the size the new ReplicaSet may grow to now: all of
// replicas for Recreate; for RollingUpdate, as far as maxSurge allows.
func NewRSReplicas(d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) int32 {
	want := d.GetSpec().GetReplicas()
	if !isRolling(d) {
		return want
	}
	current := sumReplicas(all)
	maxTotal := want + MaxSurge(d)
	if current >= maxTotal {
		return replicas(newRS)
	}
	up := min(maxTotal-current, want-replicas(newRS))
	return replicas(newRS) + up
}

// PlanRolling is one step of a rolling update: grow the new ReplicaSet
// within maxSurge; else shrink old ReplicaSets, unhealthy pods first, as far
// as maxUnavailable allows. newRS must exist.
func PlanRolling(d *appsv1.Deployment, newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) []Scale {
	want := d.GetSpec().GetReplicas()
	all := withNew(newRS, old)
	switch cur := replicas(newRS); {
	case cur > want:
		return []Scale{{RS: newRS, From: cur, To: want}}
	case cur < want:
		if n := NewRSReplicas(d, all, newRS); n != cur {
			return []Scale{{RS: newRS, From: cur, To: n}}
		}
	}
	return planScaleDownOld(d, newRS, active(old))
}

// available is rs's available pods as its status says, but never more
// than its spec asks for: right after a scale-down the status still counts
// the pods being deleted, and trusting it would let the next step scale
// down again below minAvailable.
func available(rs *appsv1.ReplicaSet) int32 {
	return min(rs.GetStatus().GetAvailableReplicas(), replicas(rs))
}

func planScaleDownOld(d *appsv1.Deployment, newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) []Scale {
	if sumReplicas(old) == 0 {
		return nil
	}
	size := map[*appsv1.ReplicaSet]int32{}
	for _, rs := range old {
		size[rs] = replicas(rs)
	}
	allPods := sumReplicas(old) + replicas(newRS)
	minAvailable := d.GetSpec().GetReplicas() - MaxUnavailable(d)
	newUnavailable := replicas(newRS) - available(newRS)
	maxScaledDown := allPods - minAvailable - newUnavailable
	if maxScaledDown <= 0 {
		return nil
	}
	sorted := append([]*appsv1.ReplicaSet(nil), old...)
	byCreation(sorted)
	// First the old pods that are not available anyway.
	var cleaned int32
	for _, rs := range sorted {
		if cleaned >= maxScaledDown {
			break
		}
		unhealthy := size[rs] - available(rs)
		if size[rs] == 0 || unhealthy <= 0 {
			continue
		}
		n := min(maxScaledDown-cleaned, unhealthy)
		size[rs] -= n
		cleaned += n
	}
	// Then available ones, oldest ReplicaSet first, keeping minAvailable.
	var availableNow int32
	for _, rs := range withNew(newRS, old) {
		availableNow += available(rs)
	}
	if availableNow > minAvailable {
		total := availableNow - minAvailable
		var done int32
		for _, rs := range sorted {
			if done >= total {
				break
			}
			if size[rs] == 0 {
				continue
			}
			n := min(size[rs], total-done)
			size[rs] -= n
			done += n
		}
	}
	var out []Scale
	for _, rs := range sorted {
		if size[rs] != replicas(rs) {
			out = append(out, Scale{RS: rs, From: replicas(rs), To: size[rs]})
		}
	}
	return out
}

// PlanRecreateScaleDown scales every old ReplicaSet to zero.
func PlanRecreateScaleDown(old []*appsv1.ReplicaSet) []Scale {
	var out []Scale
	for _, rs := range active(old) {
		out = append(out, Scale{RS: rs, From: replicas(rs), To: 0})
	}
	return out
}

// IsScalingEvent reports that replicas changed since the active ReplicaSets
// were last sized (their desired-replicas annotation differs).
func IsScalingEvent(d *appsv1.Deployment, newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) bool {
	for _, rs := range active(withNew(newRS, old)) {
		if desired, ok := intAnnotation(rs, DesiredAnnotation); ok && desired != d.GetSpec().GetReplicas() {
			return true
		}
	}
	return false
}

// isSaturated reports that rs runs all of replicas, available.
func isSaturated(d *appsv1.Deployment, rs *appsv1.ReplicaSet) bool {
	if rs == nil {
		return false
	}
	desired, ok := intAnnotation(rs, DesiredAnnotation)
	want := d.GetSpec().GetReplicas()
	return ok && desired == want && replicas(rs) == want && rs.GetStatus().GetAvailableReplicas() == want
}

// PlanScale resizes the ReplicaSets after replicas changed (or while
// paused): a lone active ReplicaSet takes all of it; a saturated new one
// means the old go to zero; during a rolling update the change is spread
// over the active ReplicaSets in proportion to their sizes, as upstream.
// Scales with To == From only refresh the size annotations.
func PlanScale(d *appsv1.Deployment, newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) []Scale {
	want := d.GetSpec().GetReplicas()
	if rs := activeOrLatest(newRS, old); rs != nil {
		return []Scale{{RS: rs, From: replicas(rs), To: want}}
	}
	if isSaturated(d, newRS) {
		return PlanRecreateScaleDown(old)
	}
	if !isRolling(d) {
		return nil
	}
	all := active(withNew(newRS, old))
	if len(all) == 0 {
		return nil
	}
	allowed := int32(0)
	if want > 0 {
		allowed = want + MaxSurge(d)
	}
	toAdd := allowed - sumReplicas(all)
	sort.SliceStable(all, func(i, j int) bool {
		a, b := all[i], all[j]
		if replicas(a) != replicas(b) {
			return replicas(a) > replicas(b) // larger first
		}
		ta, tb := a.GetMetadata().GetCreationTimestamp().AsTime(), b.GetMetadata().GetCreationTimestamp().AsTime()
		if toAdd > 0 {
			return ta.After(tb) // newer first when growing
		}
		return ta.Before(tb) // older first when shrinking
	})
	size := make([]int32, len(all))
	var added int32
	for i, rs := range all {
		size[i] = replicas(rs)
		if toAdd != 0 {
			p := proportion(d, rs, toAdd, added)
			size[i] += p
			added += p
		}
	}
	if toAdd != 0 {
		size[0] = max(size[0]+toAdd-added, 0)
	}
	out := make([]Scale, len(all))
	for i, rs := range all {
		out[i] = Scale{RS: rs, From: replicas(rs), To: size[i]}
	}
	return out
}

// proportion is rs's share of toAdd, bounded by what is left to add.
func proportion(d *appsv1.Deployment, rs *appsv1.ReplicaSet, toAdd, added int32) int32 {
	if replicas(rs) == 0 || toAdd == 0 || toAdd == added {
		return 0
	}
	fraction := fraction(d, rs)
	left := toAdd - added
	if toAdd > 0 {
		return min(fraction, left)
	}
	return max(fraction, left)
}

// fraction is how rs grows or shrinks if it keeps its share of the
// deployment's size at its last sizing (max-replicas annotation).
func fraction(d *appsv1.Deployment, rs *appsv1.ReplicaSet) int32 {
	want := d.GetSpec().GetReplicas()
	if want == 0 {
		return -replicas(rs)
	}
	target := want + MaxSurge(d)
	annotated, ok := intAnnotation(rs, MaxReplicasAnnotation)
	if !ok || annotated == 0 {
		annotated = d.GetStatus().GetReplicas()
	}
	if annotated == 0 {
		return 0
	}
	size := float64(replicas(rs)*target) / float64(annotated)
	return int32(math.Round(size)) - replicas(rs)
}

// activeOrLatest is the only active ReplicaSet, or the newest when none is
// active; nil when several are.
func activeOrLatest(newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) *appsv1.ReplicaSet {
	if newRS == nil && len(old) == 0 {
		return nil
	}
	sorted := append([]*appsv1.ReplicaSet(nil), old...)
	byCreation(sorted)
	for i, j := 0, len(sorted)-1; i < j; i, j = i+1, j-1 {
		sorted[i], sorted[j] = sorted[j], sorted[i]
	}
	act := active(withNew(newRS, sorted))
	switch len(act) {
	case 0:
		if newRS != nil {
			return newRS
		}
		return sorted[0]
	case 1:
		return act[0]
	}
	return nil
}

// Resized returns a copy of rs at to replicas with the deployment's size
// annotations, and whether anything changed.
func Resized(d *appsv1.Deployment, rs *appsv1.ReplicaSet, to int32) (*appsv1.ReplicaSet, bool) {
	c := proto.Clone(rs).(*appsv1.ReplicaSet)
	changed := SetReplicasAnnotations(c, d.GetSpec().GetReplicas(), d.GetSpec().GetReplicas()+MaxSurge(d))
	if replicas(c) != to {
		c.Spec.Replicas = proto.Int32(to)
		changed = true
	}
	return c, changed
}
