// Package replicationcontroller is the ReplicationController controller:
// upstream runs it as the ReplicaSet controller behind an adapter, and so do
// we (replicaset.Manager with the kind's own selector and status).
package replicationcontroller

import (
	"k8s.io/apimachinery/pkg/labels"

	corev1 "flotilla.io/proto/flotilla/core/v1"

	"flotilla.io/controller-manager/internal/controller"
	"flotilla.io/controller-manager/internal/replicaset"
)

func init() {
	controller.Register("replicationcontroller", func(c *controller.Context) (controller.Loop, error) {
		return New(c), nil
	})
}

// New builds the ReplicationController controller.
func New(c *controller.Context) *replicaset.Manager[*corev1.ReplicationController] {
	return replicaset.NewManager(c, "replicationcontroller", replicaset.Adapter[*corev1.ReplicationController]{
		Kind: "ReplicationController", APIVersion: "v1",
		Spec:      spec,
		Status:    status,
		SetStatus: setStatus,
	})
}

// spec reads an RC; its selector is a plain map, and an empty one means
// the template's labels (the apiserver defaults it so).
func spec(rc *corev1.ReplicationController) (replicaset.Spec, error) {
	sel := rc.GetSpec().GetSelector()
	if len(sel) == 0 {
		sel = rc.GetSpec().GetTemplate().GetMetadata().GetLabels()
	}
	selector := labels.Nothing()
	if len(sel) > 0 {
		selector = labels.SelectorFromSet(sel)
	}
	return replicaset.Spec{
		Replicas: rc.GetSpec().GetReplicas(), MinReadySeconds: rc.GetSpec().GetMinReadySeconds(),
		Selector: selector, Template: rc.GetSpec().GetTemplate(), Generation: rc.GetMetadata().GetGeneration(),
		Deleting: rc.GetMetadata().GetDeletionTimestamp() != nil,
	}, nil
}

func status(rc *corev1.ReplicationController) replicaset.Status {
	s := rc.GetStatus()
	st := replicaset.Status{
		Replicas: s.GetReplicas(), FullyLabeledReplicas: s.GetFullyLabeledReplicas(),
		ReadyReplicas: s.GetReadyReplicas(), AvailableReplicas: s.GetAvailableReplicas(),
		ObservedGeneration: s.GetObservedGeneration(),
	}
	for _, c := range s.GetConditions() {
		if c.Type == "ReplicaFailure" {
			st.ReplicaFailure = &replicaset.Condition{Status: c.Status, Reason: c.Reason, Message: c.Message, LastTransitionTime: c.LastTransitionTime}
		}
	}
	return st
}

func setStatus(rc *corev1.ReplicationController, st replicaset.Status) {
	s := &corev1.ReplicationControllerStatus{
		Replicas: st.Replicas, FullyLabeledReplicas: st.FullyLabeledReplicas,
		ReadyReplicas: st.ReadyReplicas, AvailableReplicas: st.AvailableReplicas,
		ObservedGeneration: st.ObservedGeneration,
	}
	for _, c := range rc.GetStatus().GetConditions() {
		if c.Type != "ReplicaFailure" {
			s.Conditions = append(s.Conditions, c)
		}
	}
	if f := st.ReplicaFailure; f != nil {
		s.Conditions = append(s.Conditions, &corev1.ReplicationControllerCondition{
			Type: "ReplicaFailure", Status: f.Status, Reason: f.Reason, Message: f.Message, LastTransitionTime: f.LastTransitionTime,
		})
	}
	rc.Status = s
}
