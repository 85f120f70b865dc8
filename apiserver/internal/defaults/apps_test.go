package defaults_test

import (
	"testing"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	"flotilla.io/apiserver/internal/defaults"
	appsv1 "flotilla.io/proto/flotilla/apps/v1"
	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
)

// template is a pod template as a user writes it.
func template() *corev1.PodTemplateSpec {
	return &corev1.PodTemplateSpec{
		Metadata: &metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec:     &corev1.PodSpec{Containers: []*corev1.Container{{Name: "c", Image: "nginx"}}},
	}
}

// defaultedTemplate is template() after the pod-template defaulting.
func defaultedTemplate() *corev1.PodTemplateSpec {
	t := template()
	defaults.PodTemplateSpec(t)
	return t
}

func equal(t *testing.T, got, want proto.Message) {
	t.Helper()
	if !proto.Equal(got, want) {
		t.Fatalf("defaults differ\ngot:  %s\nwant: %s", prototext.Format(got), prototext.Format(want))
	}
}

func TestDeployment(t *testing.T) {
	d := &appsv1.Deployment{Spec: &appsv1.DeploymentSpec{Template: template()}}
	defaults.Apply(d)
	equal(t, d, &appsv1.Deployment{Spec: &appsv1.DeploymentSpec{
		Replicas: proto.Int32(1),
		Template: defaultedTemplate(),
		Strategy: &appsv1.DeploymentStrategy{Type: "RollingUpdate", RollingUpdate: &appsv1.RollingUpdateDeployment{
			MaxUnavailable: &metav1.IntOrString{Type: 1, StrVal: "25%"},
			MaxSurge:       &metav1.IntOrString{Type: 1, StrVal: "25%"},
		}},
		RevisionHistoryLimit:    proto.Int32(10),
		ProgressDeadlineSeconds: proto.Int32(600),
	}})

	// Set values are kept; Recreate gets no rollingUpdate.
	d = &appsv1.Deployment{Spec: &appsv1.DeploymentSpec{
		Replicas: proto.Int32(0), Strategy: &appsv1.DeploymentStrategy{Type: "Recreate"},
		RevisionHistoryLimit: proto.Int32(0), ProgressDeadlineSeconds: proto.Int32(30),
	}}
	defaults.Apply(d)
	if d.Spec.GetReplicas() != 0 || d.Spec.Strategy.RollingUpdate != nil || d.Spec.GetRevisionHistoryLimit() != 0 || d.Spec.GetProgressDeadlineSeconds() != 30 {
		t.Fatalf("set values overwritten: %v", d)
	}
	if d.Spec.Template.GetSpec().GetRestartPolicy() != "Always" {
		t.Fatalf("missing template not defaulted: %v", d.Spec.Template)
	}

	// A partial rollingUpdate is completed.
	d = &appsv1.Deployment{Spec: &appsv1.DeploymentSpec{Strategy: &appsv1.DeploymentStrategy{
		RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &metav1.IntOrString{IntVal: 2}},
	}}}
	defaults.Apply(d)
	ru := d.Spec.Strategy.RollingUpdate
	if d.Spec.Strategy.Type != "RollingUpdate" || ru.MaxSurge.IntVal != 2 || ru.MaxUnavailable.StrVal != "25%" {
		t.Fatalf("got %v", d.Spec.Strategy)
	}
}

func TestReplicaSet(t *testing.T) {
	rs := &appsv1.ReplicaSet{Spec: &appsv1.ReplicaSetSpec{Template: template()}}
	defaults.Apply(rs)
	equal(t, rs, &appsv1.ReplicaSet{Spec: &appsv1.ReplicaSetSpec{Replicas: proto.Int32(1), Template: defaultedTemplate()}})
}

func TestStatefulSet(t *testing.T) {
	ss := &appsv1.StatefulSet{Spec: &appsv1.StatefulSetSpec{Template: template()}}
	defaults.Apply(ss)
	equal(t, ss, &appsv1.StatefulSet{Spec: &appsv1.StatefulSetSpec{
		Replicas:            proto.Int32(1),
		Template:            defaultedTemplate(),
		PodManagementPolicy: "OrderedReady",
		UpdateStrategy: &appsv1.StatefulSetUpdateStrategy{
			Type:          "RollingUpdate",
			RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: proto.Int32(0)},
		},
		RevisionHistoryLimit: proto.Int32(10),
		PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
			WhenDeleted: "Retain", WhenScaled: "Retain",
		},
	}})

	// OnDelete gets no rollingUpdate; a partial retention policy is completed.
	ss = &appsv1.StatefulSet{Spec: &appsv1.StatefulSetSpec{
		UpdateStrategy:                       &appsv1.StatefulSetUpdateStrategy{Type: "OnDelete"},
		PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{WhenDeleted: "Delete"},
	}}
	defaults.Apply(ss)
	if ss.Spec.UpdateStrategy.RollingUpdate != nil || ss.Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted != "Delete" || ss.Spec.PersistentVolumeClaimRetentionPolicy.WhenScaled != "Retain" {
		t.Fatalf("got %v", ss.Spec)
	}
}

func TestDaemonSet(t *testing.T) {
	ds := &appsv1.DaemonSet{Spec: &appsv1.DaemonSetSpec{Template: template()}}
	defaults.Apply(ds)
	equal(t, ds, &appsv1.DaemonSet{Spec: &appsv1.DaemonSetSpec{
		Template: defaultedTemplate(),
		UpdateStrategy: &appsv1.DaemonSetUpdateStrategy{Type: "RollingUpdate", RollingUpdate: &appsv1.RollingUpdateDaemonSet{
			MaxUnavailable: &metav1.IntOrString{IntVal: 1},
			MaxSurge:       &metav1.IntOrString{IntVal: 0},
		}},
		RevisionHistoryLimit: proto.Int32(10),
	}})
}
