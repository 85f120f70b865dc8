package defaults

// Defaulting of the apps/v1 workload kinds, as upstream's
// pkg/apis/apps/v1/defaults.go (with the MaxUnavailableStatefulSet feature
// off: a StatefulSet's rollingUpdate.maxUnavailable is left unset).

import (
	"google.golang.org/protobuf/proto"

	appsv1 "flotilla.io/proto/flotilla/apps/v1"
	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
)

func init() {
	Register("Deployment", func(obj proto.Message) { Deployment(obj.(*appsv1.Deployment)) })
	Register("ReplicaSet", func(obj proto.Message) { ReplicaSet(obj.(*appsv1.ReplicaSet)) })
	Register("StatefulSet", func(obj proto.Message) { StatefulSet(obj.(*appsv1.StatefulSet)) })
	Register("DaemonSet", func(obj proto.Message) { DaemonSet(obj.(*appsv1.DaemonSet)) })
}

// Deployment defaults a Deployment in place: 1 replica, a RollingUpdate
// strategy of 25% unavailable and 25% surge, 10 old ReplicaSets kept, a 600s
// progress deadline.
func Deployment(d *appsv1.Deployment) {
	if d.Spec == nil {
		d.Spec = &appsv1.DeploymentSpec{}
	}
	s := d.Spec
	if s.Replicas == nil {
		s.Replicas = proto.Int32(1)
	}
	if s.Strategy == nil {
		s.Strategy = &appsv1.DeploymentStrategy{}
	}
	if s.Strategy.Type == "" {
		s.Strategy.Type = "RollingUpdate"
	}
	if s.Strategy.Type == "RollingUpdate" {
		if s.Strategy.RollingUpdate == nil {
			s.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{}
		}
		ru := s.Strategy.RollingUpdate
		if ru.MaxUnavailable == nil {
			ru.MaxUnavailable = intOrPercent("25%")
		}
		if ru.MaxSurge == nil {
			ru.MaxSurge = intOrPercent("25%")
		}
	}
	if s.RevisionHistoryLimit == nil {
		s.RevisionHistoryLimit = proto.Int32(10)
	}
	if s.ProgressDeadlineSeconds == nil {
		s.ProgressDeadlineSeconds = proto.Int32(600)
	}
	s.Template = podTemplate(s.Template)
}

// ReplicaSet defaults a ReplicaSet in place: 1 replica.
func ReplicaSet(rs *appsv1.ReplicaSet) {
	if rs.Spec == nil {
		rs.Spec = &appsv1.ReplicaSetSpec{}
	}
	if rs.Spec.Replicas == nil {
		rs.Spec.Replicas = proto.Int32(1)
	}
	rs.Spec.Template = podTemplate(rs.Spec.Template)
}

// StatefulSet defaults a StatefulSet in place: 1 replica, OrderedReady pod
// management, a RollingUpdate strategy with partition 0, PVCs retained on
// deletion and scale-down, 10 revisions kept.
func StatefulSet(ss *appsv1.StatefulSet) {
	if ss.Spec == nil {
		ss.Spec = &appsv1.StatefulSetSpec{}
	}
	s := ss.Spec
	if s.PodManagementPolicy == "" {
		s.PodManagementPolicy = "OrderedReady"
	}
	if s.UpdateStrategy == nil {
		s.UpdateStrategy = &appsv1.StatefulSetUpdateStrategy{}
	}
	if s.UpdateStrategy.Type == "" {
		s.UpdateStrategy.Type = "RollingUpdate"
		if s.UpdateStrategy.RollingUpdate == nil {
			s.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{}
		}
	}
	if s.UpdateStrategy.Type == "RollingUpdate" && s.UpdateStrategy.RollingUpdate != nil && s.UpdateStrategy.RollingUpdate.Partition == nil {
		s.UpdateStrategy.RollingUpdate.Partition = proto.Int32(0)
	}
	if s.PersistentVolumeClaimRetentionPolicy == nil {
		s.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{}
	}
	if s.PersistentVolumeClaimRetentionPolicy.WhenDeleted == "" {
		s.PersistentVolumeClaimRetentionPolicy.WhenDeleted = "Retain"
	}
	if s.PersistentVolumeClaimRetentionPolicy.WhenScaled == "" {
		s.PersistentVolumeClaimRetentionPolicy.WhenScaled = "Retain"
	}
	if s.Replicas == nil {
		s.Replicas = proto.Int32(1)
	}
	if s.RevisionHistoryLimit == nil {
		s.RevisionHistoryLimit = proto.Int32(10)
	}
	s.Template = podTemplate(s.Template)
}

// DaemonSet defaults a DaemonSet in place: a RollingUpdate strategy with 1
// unavailable and no surge, 10 revisions kept.
func DaemonSet(ds *appsv1.DaemonSet) {
	if ds.Spec == nil {
		ds.Spec = &appsv1.DaemonSetSpec{}
	}
	s := ds.Spec
	if s.UpdateStrategy == nil {
		s.UpdateStrategy = &appsv1.DaemonSetUpdateStrategy{}
	}
	if s.UpdateStrategy.Type == "" {
		s.UpdateStrategy.Type = "RollingUpdate"
	}
	if s.UpdateStrategy.Type == "RollingUpdate" {
		if s.UpdateStrategy.RollingUpdate == nil {
			s.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateDaemonSet{}
		}
		ru := s.UpdateStrategy.RollingUpdate
		if ru.MaxUnavailable == nil {
			ru.MaxUnavailable = &metav1.IntOrString{IntVal: 1}
		}
		if ru.MaxSurge == nil {
			ru.MaxSurge = &metav1.IntOrString{IntVal: 0}
		}
	}
	if s.RevisionHistoryLimit == nil {
		s.RevisionHistoryLimit = proto.Int32(10)
	}
	s.Template = podTemplate(s.Template)
}

// podTemplate defaults a workload's pod template, creating it when unset as
// upstream's value field is always present.
func podTemplate(t *corev1.PodTemplateSpec) *corev1.PodTemplateSpec {
	if t == nil {
		t = &corev1.PodTemplateSpec{}
	}
	PodTemplateSpec(t)
	return t
}

func intOrPercent(s string) *metav1.IntOrString {
	return &metav1.IntOrString{Type: 1, StrVal: s}
}
