package deployment

import (
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	appsv1 "flotilla.io/proto/flotilla/apps/v1"
	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
)

var now = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)

func pct(s string) *metav1.IntOrString { return &metav1.IntOrString{Type: 1, StrVal: s} }
func num(n int32) *metav1.IntOrString  { return &metav1.IntOrString{IntVal: n} }

func dep(replicas int32, surge, unavailable *metav1.IntOrString) *appsv1.Deployment {
	return &appsv1.Deployment{
		Metadata: &metav1.ObjectMeta{Name: "web", Namespace: "ns", Uid: "d1", Generation: 1},
		Spec: &appsv1.DeploymentSpec{
			Replicas: proto.Int32(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: &corev1.PodTemplateSpec{Metadata: &metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: &corev1.PodSpec{Containers: []*corev1.Container{{Name: "c", Image: "v2"}}}},
			Strategy:                &appsv1.DeploymentStrategy{Type: "RollingUpdate", RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: surge, MaxUnavailable: unavailable}},
			RevisionHistoryLimit:    proto.Int32(2),
			ProgressDeadlineSeconds: proto.Int32(60),
		},
	}
}

// rs is a ReplicaSet of spec replicas with available of them available,
// created age ago, sized for a deployment of desired/maxReplicas.
func rs(name string, replicas, available int32, age time.Duration, desired, maxReplicas int32) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		Metadata: &metav1.ObjectMeta{Name: name, CreationTimestamp: timestamppb.New(now.Add(-age)), Annotations: map[string]string{
			DesiredAnnotation: fmt.Sprint(desired), MaxReplicasAnnotation: fmt.Sprint(maxReplicas),
		}},
		Spec:   &appsv1.ReplicaSetSpec{Replicas: proto.Int32(replicas)},
		Status: &appsv1.ReplicaSetStatus{Replicas: replicas, ReadyReplicas: available, AvailableReplicas: available},
	}
}

func sizes(plan []Scale) map[string]int32 {
	out := map[string]int32{}
	for _, s := range plan {
		out[s.RS.Metadata.Name] = s.To
	}
	return out
}

func TestResolveFenceposts(t *testing.T) {
	for _, tc := range []struct {
		surge, unavailable *metav1.IntOrString
		desired            int32
		wantS, wantU       int32
	}{
		{pct("25%"), pct("25%"), 10, 3, 2}, // surge rounds up, unavailable down
		{pct("25%"), pct("25%"), 1, 1, 0},
		{num(0), num(0), 5, 0, 1}, // both zero: one may be unavailable
		{num(2), pct("50%"), 3, 2, 1},
		{pct("100%"), num(0), 3000, 3000, 0},
	} {
		s, u := ResolveFenceposts(tc.surge, tc.unavailable, tc.desired)
		if s != tc.wantS || u != tc.wantU {
			t.Errorf("%v/%v of %d: got %d/%d, want %d/%d", tc.surge, tc.unavailable, tc.desired, s, u, tc.wantS, tc.wantU)
		}
	}
}

func TestPlanRolling(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    *appsv1.Deployment
		new  *appsv1.ReplicaSet
		old  []*appsv1.ReplicaSet
		want map[string]int32
	}{
		{
			name: "start: new grows by maxSurge",
			d:    dep(10, num(3), num(2)),
			new:  rs("new", 0, 0, 0, 10, 13),
			old:  []*appsv1.ReplicaSet{rs("old", 10, 10, time.Hour, 10, 13)},
			want: map[string]int32{"new": 3},
		},
		{
			name: "surge used up: old shrinks to keep replicas-maxUnavailable available",
			d:    dep(10, num(3), num(2)),
			new:  rs("new", 3, 0, 0, 10, 13),
			old:  []*appsv1.ReplicaSet{rs("old", 10, 10, time.Hour, 10, 13)},
			want: map[string]int32{"old": 8},
		},
		{
			name: "new pods available: old shrinks further",
			d:    dep(10, num(3), num(2)),
			new:  rs("new", 5, 5, 0, 10, 13),
			old:  []*appsv1.ReplicaSet{rs("old", 8, 8, time.Hour, 10, 13)},
			want: map[string]int32{"old": 3},
		},
		{
			name: "unhealthy old pods go first, oldest ReplicaSet first",
			d:    dep(10, num(0), num(1)),
			new:  rs("new", 2, 2, 0, 10, 10),
			old: []*appsv1.ReplicaSet{
				rs("older", 4, 1, 2*time.Hour, 10, 10),
				rs("old", 4, 4, time.Hour, 10, 10),
			},
			// 10 pods of which 9 must stay: one may go, an unavailable one
			// of the oldest ReplicaSet.
			want: map[string]int32{"older": 3},
		},
		{
			name: "nothing may go while new pods are unavailable",
			d:    dep(10, num(3), num(0)),
			new:  rs("new", 3, 0, 0, 10, 13),
			old:  []*appsv1.ReplicaSet{rs("old", 10, 10, time.Hour, 10, 13)},
			want: map[string]int32{},
		},
		{
			// The old ReplicaSet was just scaled 5 -> 2; its status still
			// counts the 3 pods being deleted. Trusting it would take the
			// old ReplicaSet to 0 and availability to 7.
			name: "stale status of a just-shrunk ReplicaSet is capped by its spec",
			d:    dep(10, num(3), num(2)),
			new:  rs("new", 10, 7, 0, 10, 13),
			old:  []*appsv1.ReplicaSet{rs("old", 2, 5, time.Hour, 10, 13)},
			want: map[string]int32{"old": 1},
		},
		{
			name: "new too big after a scale down",
			d:    dep(4, num(1), num(1)),
			new:  rs("new", 6, 6, 0, 6, 7),
			want: map[string]int32{"new": 4},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := sizes(PlanRolling(tc.d, tc.new, tc.old))
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPlanScale(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    *appsv1.Deployment
		new  *appsv1.ReplicaSet
		old  []*appsv1.ReplicaSet
		want map[string]int32
	}{
		{
			name: "one active ReplicaSet takes all",
			d:    dep(7, num(3), num(2)),
			new:  rs("new", 10, 10, 0, 10, 13),
			old:  []*appsv1.ReplicaSet{rs("old", 0, 0, time.Hour, 10, 13)},
			want: map[string]int32{"new": 7},
		},
		{
			name: "proportional growth mid-rollout",
			d:    dep(20, num(3), num(2)),
			new:  rs("new", 5, 0, 0, 10, 13),
			old:  []*appsv1.ReplicaSet{rs("old", 8, 8, time.Hour, 10, 13)},
			want: map[string]int32{"old": 14, "new": 9},
		},
		{
			name: "proportional shrink mid-rollout",
			d:    dep(5, num(3), num(2)),
			new:  rs("new", 5, 0, 0, 10, 13),
			old:  []*appsv1.ReplicaSet{rs("old", 8, 8, time.Hour, 10, 13)},
			// allowed 8: -5 spread: old 8*8/13 ≈ 5 (-3), new 5*8/13 ≈ 3 (-2)
			want: map[string]int32{"old": 5, "new": 3},
		},
		{
			name: "scale to zero",
			d:    dep(0, num(3), num(2)),
			new:  rs("new", 5, 0, 0, 10, 13),
			old:  []*appsv1.ReplicaSet{rs("old", 8, 8, time.Hour, 10, 13)},
			want: map[string]int32{"old": 0, "new": 0},
		},
		{
			name: "saturated new: old go to zero",
			d:    dep(10, num(3), num(2)),
			new:  rs("new", 10, 10, 0, 10, 13),
			old:  []*appsv1.ReplicaSet{rs("old", 2, 2, time.Hour, 10, 13)},
			want: map[string]int32{"old": 0},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := sizes(PlanScale(tc.d, tc.new, tc.old))
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestIsScalingEvent(t *testing.T) {
	d := dep(10, num(3), num(2))
	if IsScalingEvent(d, rs("new", 3, 0, 0, 10, 13), []*appsv1.ReplicaSet{rs("old", 10, 10, time.Hour, 10, 13)}) {
		t.Fatal("no replicas change")
	}
	if !IsScalingEvent(d, rs("new", 3, 0, 0, 12, 15), nil) {
		t.Fatal("replicas changed from 12 to 10")
	}
	if IsScalingEvent(d, rs("new", 10, 10, 0, 10, 13), []*appsv1.ReplicaSet{rs("old", 0, 0, time.Hour, 4, 5)}) {
		t.Fatal("an inactive ReplicaSet's annotation does not count")
	}
}

func TestHistoryToDelete(t *testing.T) {
	d := dep(3, num(1), num(1)) // keeps 2
	mk := func(name string, rev, replicas int32) *appsv1.ReplicaSet {
		r := rs(name, replicas, replicas, time.Duration(10-rev)*time.Hour, 3, 4)
		r.Metadata.Annotations[RevisionAnnotation] = fmt.Sprint(rev)
		return r
	}
	old := []*appsv1.ReplicaSet{mk("r4", 4, 0), mk("r1", 1, 0), mk("r3", 3, 0), mk("r2", 2, 1)}
	var got []string
	for _, r := range HistoryToDelete(d, old) {
		got = append(got, r.Metadata.Name)
	}
	// Two beyond the limit: r1 and r2, but r2 still has a pod.
	if fmt.Sprint(got) != "[r1]" {
		t.Fatalf("got %v", got)
	}
}

func TestHashAndNewReplicaSet(t *testing.T) {
	d := dep(3, num(1), num(1))
	h := ComputeHash(d.Spec.Template, nil)
	if h != ComputeHash(proto.Clone(d.Spec.Template).(*corev1.PodTemplateSpec), nil) {
		t.Fatal("hash not stable")
	}
	if h == ComputeHash(d.Spec.Template, proto.Int32(1)) {
		t.Fatal("collisionCount must change the hash")
	}
	r := NewReplicaSet(d, &metav1.OwnerReference{Name: "web", Uid: "d1"})
	if r.Metadata.Name != "web-"+h || r.Spec.Selector.MatchLabels[HashLabel] != h || r.Spec.Template.Metadata.Labels[HashLabel] != h {
		t.Fatalf("replicaset %v", r)
	}
	if _, ok := d.Spec.Template.Metadata.Labels[HashLabel]; ok {
		t.Fatal("the deployment's template was changed")
	}
	if !EqualIgnoreHash(r.Spec.Template, d.Spec.Template) {
		t.Fatal("templates differ beyond the hash")
	}
	newRS, old := FindNewReplicaSet(d, []*appsv1.ReplicaSet{rs("other", 1, 1, time.Hour, 3, 4), r})
	if newRS != r || len(old) != 1 {
		t.Fatal("FindNewReplicaSet")
	}
}

func TestRolloutStatus(t *testing.T) {
	d := dep(3, num(1), num(0))
	newRS := rs("new", 3, 3, 0, 3, 4)
	st := RolloutStatus(d, newRS, []*appsv1.ReplicaSet{newRS}, now)
	if c := GetCondition(st, Progressing); c == nil || c.Reason != ReasonNewRSAvailable || c.Status != "True" {
		t.Fatalf("complete: %v", c)
	}
	if c := GetCondition(st, Available); c == nil || c.Status != "True" {
		t.Fatalf("available: %v", c)
	}

	// Stuck: no progress since the condition's last update, past the deadline.
	stuck := rs("new", 3, 1, 0, 3, 4)
	d.Status = &appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 3, ReadyReplicas: 1, AvailableReplicas: 1,
		Conditions: []*appsv1.DeploymentCondition{NewCondition(Progressing, "True", ReasonRSUpdated, "", now.Add(-30*time.Second))}}
	st = RolloutStatus(d, stuck, []*appsv1.ReplicaSet{stuck}, now)
	if c := GetCondition(st, Progressing); c.Reason != ReasonRSUpdated {
		t.Fatalf("before the deadline: %v", c)
	}
	if after := RequeueForDeadline(d, st, now); after < 30*time.Second || after > 32*time.Second {
		t.Fatalf("requeue after %v", after)
	}
	st = RolloutStatus(d, stuck, []*appsv1.ReplicaSet{stuck}, now.Add(31*time.Second))
	if c := GetCondition(st, Progressing); c.Reason != ReasonTimedOut || c.Status != "False" {
		t.Fatalf("after the deadline: %v", c)
	}
	if c := GetCondition(st, Available); c.Status != "False" {
		t.Fatalf("1 of 3 available with maxUnavailable 0: %v", c)
	}
	// Progress moves the deadline.
	better := rs("new", 3, 2, 0, 3, 4)
	st = RolloutStatus(d, better, []*appsv1.ReplicaSet{better}, now.Add(31*time.Second))
	if c := GetCondition(st, Progressing); c.Reason != ReasonRSUpdated || !c.LastUpdateTime.AsTime().Equal(now.Add(31*time.Second)) {
		t.Fatalf("progress: %v", c)
	}
	// A ReplicaSet's failure surfaces.
	stuck.Status.Conditions = []*appsv1.ReplicaSetCondition{{Type: ReplicaFailure, Status: "True", Reason: "FailedCreate", Message: "quota"}}
	st = RolloutStatus(d, stuck, []*appsv1.ReplicaSet{stuck}, now)
	if c := GetCondition(st, ReplicaFailure); c == nil || c.Reason != "FailedCreate" {
		t.Fatalf("replica failure: %v", c)
	}
}
