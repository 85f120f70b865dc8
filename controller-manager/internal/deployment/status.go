package deployment

import (
	"fmt"
	"math"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	appsv1 "flotilla.io/proto/flotilla/apps/v1"
)

// Condition types and reasons, upstream's.
const (
	Available      = "Available"
	Progressing    = "Progressing"
	ReplicaFailure = "ReplicaFailure"

	ReasonMinimumAvailable   = "MinimumReplicasAvailable"
	ReasonMinimumUnavailable = "MinimumReplicasUnavailable"
	ReasonNewRSAvailable     = "NewReplicaSetAvailable"
	ReasonRSUpdated          = "ReplicaSetUpdated"
	ReasonNewRSCreated       = "NewReplicaSetCreated"
	ReasonFoundNewRS         = "FoundNewReplicaSet"
	ReasonTimedOut           = "ProgressDeadlineExceeded"
	ReasonPaused             = "DeploymentPaused"
	ReasonResumed            = "DeploymentResumed"
	ReasonFailedCreate       = "ReplicaSetCreateError"
)

// GetCondition returns the condition of type t, or nil.
func GetCondition(st *appsv1.DeploymentStatus, t string) *appsv1.DeploymentCondition {
	for _, c := range st.GetConditions() {
		if c.Type == t {
			return c
		}
	}
	return nil
}

// NewCondition is a condition stamped now.
func NewCondition(t, status, reason, msg string, now time.Time) *appsv1.DeploymentCondition {
	ts := timestamppb.New(now)
	return &appsv1.DeploymentCondition{Type: t, Status: status, Reason: reason, Message: msg, LastUpdateTime: ts, LastTransitionTime: ts}
}

// SetCondition sets c in st as upstream: an unchanged status and reason
// leave the existing condition alone; an unchanged status keeps its
// transition time.
func SetCondition(st *appsv1.DeploymentStatus, c *appsv1.DeploymentCondition) {
	cur := GetCondition(st, c.Type)
	if cur != nil && cur.Status == c.Status && cur.Reason == c.Reason {
		return
	}
	if cur != nil && cur.Status == c.Status {
		c.LastTransitionTime = cur.LastTransitionTime
	}
	RemoveCondition(st, c.Type)
	st.Conditions = append(st.Conditions, c)
}

// RemoveCondition drops the condition of type t.
func RemoveCondition(st *appsv1.DeploymentStatus, t string) {
	var out []*appsv1.DeploymentCondition
	for _, c := range st.Conditions {
		if c.Type != t {
			out = append(out, c)
		}
	}
	st.Conditions = out
}

// hasProgressDeadline is false when progressDeadlineSeconds is unset or
// MaxInt32 (upstream's "no deadline").
func hasProgressDeadline(d *appsv1.Deployment) bool {
	p := d.GetSpec().ProgressDeadlineSeconds
	return p != nil && *p != math.MaxInt32
}

// CalculateStatus counts the ReplicaSets into a status, with the Available
// condition; other conditions are carried over from d.
func CalculateStatus(d *appsv1.Deployment, newRS *appsv1.ReplicaSet, all []*appsv1.ReplicaSet, now time.Time) *appsv1.DeploymentStatus {
	available := sumStatus(all, (*appsv1.ReplicaSetStatus).GetAvailableReplicas)
	total := sumStatus(all, (*appsv1.ReplicaSetStatus).GetReplicas)
	st := &appsv1.DeploymentStatus{
		ObservedGeneration:  d.GetMetadata().GetGeneration(),
		Replicas:            total,
		UpdatedReplicas:     sumStatus([]*appsv1.ReplicaSet{newRS}, (*appsv1.ReplicaSetStatus).GetReplicas),
		ReadyReplicas:       sumStatus(all, (*appsv1.ReplicaSetStatus).GetReadyReplicas),
		AvailableReplicas:   available,
		UnavailableReplicas: max(total-available, 0),
		CollisionCount:      collisionCount(d),
	}
	for _, c := range d.GetStatus().GetConditions() {
		st.Conditions = append(st.Conditions, proto.Clone(c).(*appsv1.DeploymentCondition))
	}
	if available >= d.GetSpec().GetReplicas()-MaxUnavailable(d) {
		SetCondition(st, NewCondition(Available, "True", ReasonMinimumAvailable, "Deployment has minimum availability.", now))
	} else {
		SetCondition(st, NewCondition(Available, "False", ReasonMinimumUnavailable, "Deployment does not have minimum availability.", now))
	}
	return st
}

// Complete reports that every replica is updated and available and the
// latest spec is observed.
func Complete(d *appsv1.Deployment, st *appsv1.DeploymentStatus) bool {
	want := d.GetSpec().GetReplicas()
	return st.GetUpdatedReplicas() == want && st.GetReplicas() == want && st.GetAvailableReplicas() == want &&
		st.GetObservedGeneration() >= d.GetMetadata().GetGeneration()
}

// progressed reports any progress since d's recorded status.
func progressed(d *appsv1.Deployment, st *appsv1.DeploymentStatus) bool {
	old := d.GetStatus()
	return st.GetUpdatedReplicas() > old.GetUpdatedReplicas() ||
		st.GetReplicas()-st.GetUpdatedReplicas() < old.GetReplicas()-old.GetUpdatedReplicas() ||
		st.GetReadyReplicas() > old.GetReadyReplicas() || st.GetAvailableReplicas() > old.GetAvailableReplicas()
}

// timedOut reports that the Progressing condition has not moved for
// progressDeadlineSeconds.
func timedOut(d *appsv1.Deployment, st *appsv1.DeploymentStatus, now time.Time) bool {
	if !hasProgressDeadline(d) {
		return false
	}
	c := GetCondition(st, Progressing)
	switch {
	case c == nil || c.Reason == ReasonNewRSAvailable:
		return false
	case c.Reason == ReasonTimedOut:
		return true
	}
	deadline := c.GetLastUpdateTime().AsTime().Add(time.Duration(*d.Spec.ProgressDeadlineSeconds) * time.Second)
	return deadline.Before(now)
}

// RolloutStatus is CalculateStatus plus the Progressing condition (complete,
// progressing, or past its deadline) and the ReplicaFailure condition
// surfaced from the ReplicaSets, as upstream's syncRolloutStatus.
func RolloutStatus(d *appsv1.Deployment, newRS *appsv1.ReplicaSet, all []*appsv1.ReplicaSet, now time.Time) *appsv1.DeploymentStatus {
	st := CalculateStatus(d, newRS, all, now)
	if !hasProgressDeadline(d) {
		RemoveCondition(st, Progressing)
	}
	cur := GetCondition(st, Progressing)
	complete := st.Replicas == st.UpdatedReplicas && cur != nil && cur.Reason == ReasonNewRSAvailable
	if hasProgressDeadline(d) && !complete {
		name := newRS.GetMetadata().GetName()
		switch {
		case Complete(d, st):
			SetCondition(st, NewCondition(Progressing, "True", ReasonNewRSAvailable, fmt.Sprintf("ReplicaSet %q has successfully progressed.", name), now))
		case progressed(d, st):
			c := NewCondition(Progressing, "True", ReasonRSUpdated, fmt.Sprintf("ReplicaSet %q is progressing.", name), now)
			if cur != nil {
				if cur.Status == "True" {
					c.LastTransitionTime = cur.LastTransitionTime
				}
				RemoveCondition(st, Progressing)
			}
			SetCondition(st, c)
		case timedOut(d, st, now):
			SetCondition(st, NewCondition(Progressing, "False", ReasonTimedOut, fmt.Sprintf("ReplicaSet %q has timed out progressing.", name), now))
		}
	}
	if f := replicaFailure(newRS, all); f != nil {
		SetCondition(st, NewCondition(ReplicaFailure, f.Status, f.Reason, f.Message, now))
	} else {
		RemoveCondition(st, ReplicaFailure)
	}
	return st
}

// replicaFailure is the first ReplicaFailure condition of the ReplicaSets,
// the new one first.
func replicaFailure(newRS *appsv1.ReplicaSet, all []*appsv1.ReplicaSet) *appsv1.ReplicaSetCondition {
	for _, rs := range append([]*appsv1.ReplicaSet{newRS}, all...) {
		for _, c := range rs.GetStatus().GetConditions() {
			if c.Type == ReplicaFailure {
				return c
			}
		}
	}
	return nil
}

// RequeueForDeadline is when to look again to notice a progress deadline
// passing (0: no need).
func RequeueForDeadline(d *appsv1.Deployment, st *appsv1.DeploymentStatus, now time.Time) time.Duration {
	c := GetCondition(st, Progressing)
	if !hasProgressDeadline(d) || c == nil || Complete(d, st) || c.Reason == ReasonTimedOut || c.Status != "True" {
		return 0
	}
	after := c.GetLastUpdateTime().AsTime().Add(time.Duration(*d.Spec.ProgressDeadlineSeconds) * time.Second).Sub(now)
	if after < 0 {
		return time.Second
	}
	return after + time.Second
}

// StatusEqual compares statuses ignoring nothing: condition timestamps
// matter, as they carry progress.
func StatusEqual(a, b *appsv1.DeploymentStatus) bool { return proto.Equal(a, b) }
