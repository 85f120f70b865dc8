// Package replicaset is the ReplicaSet controller: it keeps each ReplicaSet's
// pods at spec.replicas, adopting matching orphans and releasing pods that
// stop matching, with expectations so a burst of events never makes it
// create or delete twice, and reports the counts in status. The same
// Manager, through an Adapter, runs the ReplicationController controller.
package replicaset

import (
	appsv1 "flotilla.io/proto/flotilla/apps/v1"

	"flotilla.io/sdk/informer"

	"flotilla.io/controller-manager/internal/controller"
)

func init() {
	controller.Register("replicaset", func(c *controller.Context) (controller.Loop, error) {
		return New(c), nil
	})
}

// New builds the ReplicaSet controller.
func New(c *controller.Context) *Manager[*appsv1.ReplicaSet] {
	return NewManager(c, "replicaset", Adapter[*appsv1.ReplicaSet]{
		Kind: "ReplicaSet", APIVersion: "apps/v1",
		Spec: func(rs *appsv1.ReplicaSet) (Spec, error) {
			sel, err := informer.Selector(rs.GetSpec().GetSelector())
			if err != nil {
				return Spec{}, err
			}
			return Spec{
				Replicas: rs.GetSpec().GetReplicas(), MinReadySeconds: rs.GetSpec().GetMinReadySeconds(),
				Selector: sel, Template: rs.GetSpec().GetTemplate(), Generation: rs.GetMetadata().GetGeneration(),
				Deleting: rs.GetMetadata().GetDeletionTimestamp() != nil,
			}, nil
		},
		Status: func(rs *appsv1.ReplicaSet) Status {
			s := rs.GetStatus()
			st := Status{
				Replicas: s.GetReplicas(), FullyLabeledReplicas: s.GetFullyLabeledReplicas(),
				ReadyReplicas: s.GetReadyReplicas(), AvailableReplicas: s.GetAvailableReplicas(),
				ObservedGeneration: s.GetObservedGeneration(),
			}
			for _, c := range s.GetConditions() {
				if c.Type == "ReplicaFailure" {
					st.ReplicaFailure = &Condition{Status: c.Status, Reason: c.Reason, Message: c.Message, LastTransitionTime: c.LastTransitionTime}
				}
			}
			return st
		},
		SetStatus: func(rs *appsv1.ReplicaSet, st Status) {
			s := &appsv1.ReplicaSetStatus{
				Replicas: st.Replicas, FullyLabeledReplicas: st.FullyLabeledReplicas,
				ReadyReplicas: st.ReadyReplicas, AvailableReplicas: st.AvailableReplicas,
				ObservedGeneration: st.ObservedGeneration,
			}
			for _, c := range rs.GetStatus().GetConditions() {
				if c.Type != "ReplicaFailure" {
					s.Conditions = append(s.Conditions, c)
				}
			}
			if f := st.ReplicaFailure; f != nil {
				s.Conditions = append(s.Conditions, &appsv1.ReplicaSetCondition{
					Type: "ReplicaFailure", Status: f.Status, Reason: f.Reason, Message: f.Message, LastTransitionTime: f.LastTransitionTime,
				})
			}
			rs.Status = s
		},
	})
}

var _ controller.Loop = (*Manager[*appsv1.ReplicaSet])(nil)
