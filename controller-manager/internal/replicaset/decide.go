package replicaset

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"
	"k8s.io/apimachinery/pkg/labels"

	corev1 "flotilla.io/proto/flotilla/core/v1"

	"flotilla.io/controller-manager/internal/controllerutil"
)

// BurstReplicas caps the creates or deletes of one sync, as upstream's
// burstReplicas: the rest waits for the next sync, after the informer has
// seen these.
const BurstReplicas = 500

// Spec is what the manager needs of a ReplicaSet or ReplicationController.
type Spec struct {
	Replicas        int32
	MinReadySeconds int32
	Selector        labels.Selector
	Template        *corev1.PodTemplateSpec
	Generation      int64
	Deleting        bool
}

// Condition is the ReplicaFailure condition (the only one either kind has).
type Condition struct {
	Status, Reason, Message string
	LastTransitionTime      *timestamppb.Timestamp
}

// Status is the status either kind reports.
type Status struct {
	Replicas, FullyLabeledReplicas, ReadyReplicas, AvailableReplicas int32
	ObservedGeneration                                               int64
	// ReplicaFailure is nil when creates and deletes work.
	ReplicaFailure *Condition
}

// Equal compares statuses, ignoring condition timestamps.
func (s Status) Equal(o Status) bool {
	a, b := s.ReplicaFailure, o.ReplicaFailure
	same := (a == nil) == (b == nil) && (a == nil || (a.Status == b.Status && a.Reason == b.Reason && a.Message == b.Message))
	s.ReplicaFailure, o.ReplicaFailure = nil, nil
	return same && s == o
}

// Plan is what one sync does to the pods: create Create pods, or delete
// Delete.
type Plan struct {
	Create int
	Delete []*corev1.Pod
}

// Decide compares the active pods a workload owns with its replicas and
// plans at most burst creates or deletes, choosing the pods to delete
// upstream's way (controllerutil.PodsToDelete).
func Decide(replicas int32, active []*corev1.Pod, burst int, now time.Time) Plan {
	diff := len(active) - int(replicas)
	switch {
	case diff < 0:
		return Plan{Create: min(-diff, burst)}
	case diff > 0:
		return Plan{Delete: controllerutil.PodsToDelete(active, active, min(diff, burst), now)}
	}
	return Plan{}
}

// CalculateStatus counts the pods into a status. manageErr is the error of
// this sync's creates or deletes: it sets the ReplicaFailure condition, and
// a sync without one clears it, as upstream; prev is the current status,
// whose failure keeps its transition time.
func CalculateStatus(spec Spec, active []*corev1.Pod, prev Status, plan Plan, manageErr error, now time.Time) Status {
	st := Status{ObservedGeneration: spec.Generation, Replicas: int32(len(active))}
	templateLabels := labels.Set(spec.Template.GetMetadata().GetLabels())
	for _, p := range active {
		if templateLabels.AsSelector().Matches(labels.Set(p.GetMetadata().GetLabels())) {
			st.FullyLabeledReplicas++
		}
		if controllerutil.IsPodReady(p) {
			st.ReadyReplicas++
			if controllerutil.IsPodAvailable(p, spec.MinReadySeconds, now) {
				st.AvailableReplicas++
			}
		}
	}
	if manageErr != nil {
		reason := "FailedCreate"
		if len(plan.Delete) > 0 {
			reason = "FailedDelete"
		}
		st.ReplicaFailure = &Condition{Status: "True", Reason: reason, Message: manageErr.Error(), LastTransitionTime: timestamppb.New(now)}
		if prev.ReplicaFailure != nil && prev.ReplicaFailure.Status == "True" {
			st.ReplicaFailure.LastTransitionTime = prev.ReplicaFailure.LastTransitionTime
		}
	}
	return st
}
