package validation_test

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"flotilla.io/apiserver/internal/defaults"
	"flotilla.io/apiserver/internal/validation"
	appsv1 "flotilla.io/proto/flotilla/apps/v1"
	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
)

// want is one expected error: its field path and type.
type want struct {
	field string
	typ   field.ErrorType
}

// check validates obj (old nil for a create) after defaulting both, as the
// server does: no errors when w is nil, else w among them (upstream often
// reports one mistake under several paths, e.g. a missing selector also
// fails to match the template).
func check(t *testing.T, obj, old proto.Message, w *want) {
	t.Helper()
	defaults.Apply(obj)
	if old != nil {
		defaults.Apply(old)
	}
	errs := validation.Validate(obj, old)
	if w == nil {
		if len(errs) != 0 {
			t.Fatalf("want no errors, got %v", errs)
		}
		return
	}
	for _, e := range errs {
		if e.Field == w.field && e.Type == w.typ {
			return
		}
	}
	t.Fatalf("want %s %s, got %v", w.field, w.typ, errs)
}

func meta(name string) *metav1.ObjectMeta {
	return &metav1.ObjectMeta{Name: name, Namespace: "default", Uid: "1a2b3c"}
}

func podTemplate(restart string) *corev1.PodTemplateSpec {
	return &corev1.PodTemplateSpec{
		Metadata: &metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec: &corev1.PodSpec{
			RestartPolicy: restart,
			Containers:    []*corev1.Container{{Name: "c", Image: "nginx"}},
		},
	}
}

func appSelector() *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
}

func pct(s string) *metav1.IntOrString { return &metav1.IntOrString{Type: 1, StrVal: s} }
func num(n int32) *metav1.IntOrString  { return &metav1.IntOrString{IntVal: n} }

func TestDeployment(t *testing.T) {
	valid := func() *appsv1.Deployment {
		return &appsv1.Deployment{Metadata: meta("web"), Spec: &appsv1.DeploymentSpec{
			Selector: appSelector(), Template: podTemplate(""),
		}}
	}
	cases := []struct {
		name   string
		mutate func(d *appsv1.Deployment)
		want   *want
	}{
		{"valid", func(d *appsv1.Deployment) {}, nil},
		{"valid recreate", func(d *appsv1.Deployment) { d.Spec.Strategy = &appsv1.DeploymentStrategy{Type: "Recreate"} }, nil},
		{"valid expression selector", func(d *appsv1.Deployment) {
			d.Spec.Selector = &metav1.LabelSelector{MatchExpressions: []*metav1.LabelSelectorRequirement{{Key: "app", Operator: "In", Values: []string{"web", "api"}}}}
		}, nil},
		{"negative replicas", func(d *appsv1.Deployment) { d.Spec.Replicas = proto.Int32(-1) }, &want{"spec.replicas", field.ErrorTypeInvalid}},
		{"no selector", func(d *appsv1.Deployment) { d.Spec.Selector = nil }, &want{"spec.selector", field.ErrorTypeRequired}},
		{"empty selector", func(d *appsv1.Deployment) { d.Spec.Selector = &metav1.LabelSelector{} }, &want{"spec.selector", field.ErrorTypeInvalid}},
		{"selector mismatch", func(d *appsv1.Deployment) { d.Spec.Selector.MatchLabels["app"] = "db" }, &want{"spec.template.metadata.labels", field.ErrorTypeInvalid}},
		{"In without values", func(d *appsv1.Deployment) {
			d.Spec.Selector.MatchExpressions = []*metav1.LabelSelectorRequirement{{Key: "app", Operator: "In"}}
		}, &want{"spec.selector.matchExpressions[0].values", field.ErrorTypeRequired}},
		{"Exists with values", func(d *appsv1.Deployment) {
			d.Spec.Selector.MatchExpressions = []*metav1.LabelSelectorRequirement{{Key: "app", Operator: "Exists", Values: []string{"x"}}}
		}, &want{"spec.selector.matchExpressions[0].values", field.ErrorTypeForbidden}},
		{"bad operator", func(d *appsv1.Deployment) {
			d.Spec.Selector.MatchExpressions = []*metav1.LabelSelectorRequirement{{Key: "app", Operator: "Near"}}
		}, &want{"spec.selector.matchExpressions[0].operator", field.ErrorTypeInvalid}},
		{"bad key", func(d *appsv1.Deployment) {
			d.Spec.Selector.MatchExpressions = []*metav1.LabelSelectorRequirement{{Key: "a b", Operator: "Exists"}}
		}, &want{"spec.selector.matchExpressions[0].key", field.ErrorTypeInvalid}},
		{"restartPolicy Never", func(d *appsv1.Deployment) { d.Spec.Template.Spec.RestartPolicy = "Never" }, &want{"spec.template.spec.restartPolicy", field.ErrorTypeNotSupported}},
		{"activeDeadlineSeconds", func(d *appsv1.Deployment) { d.Spec.Template.Spec.ActiveDeadlineSeconds = proto.Int64(5) }, &want{"spec.template.spec.activeDeadlineSeconds", field.ErrorTypeForbidden}},
		{"no containers", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers = nil }, &want{"spec.template.spec.containers", field.ErrorTypeRequired}},
		{"bad strategy", func(d *appsv1.Deployment) { d.Spec.Strategy = &appsv1.DeploymentStrategy{Type: "BlueGreen"} }, &want{"spec.strategy", field.ErrorTypeNotSupported}},
		{"rollingUpdate with Recreate", func(d *appsv1.Deployment) {
			d.Spec.Strategy = &appsv1.DeploymentStrategy{Type: "Recreate", RollingUpdate: &appsv1.RollingUpdateDeployment{}}
		}, &want{"spec.strategy.rollingUpdate", field.ErrorTypeForbidden}},
		{"both zero", func(d *appsv1.Deployment) {
			d.Spec.Strategy = &appsv1.DeploymentStrategy{RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: num(0), MaxSurge: pct("0%")}}
		}, &want{"spec.strategy.rollingUpdate.maxUnavailable", field.ErrorTypeInvalid}},
		{"negative surge", func(d *appsv1.Deployment) {
			d.Spec.Strategy = &appsv1.DeploymentStrategy{RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: num(-1)}}
		}, &want{"spec.strategy.rollingUpdate.maxSurge", field.ErrorTypeInvalid}},
		{"bad percent", func(d *appsv1.Deployment) {
			d.Spec.Strategy = &appsv1.DeploymentStrategy{RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: pct("ten")}}
		}, &want{"spec.strategy.rollingUpdate.maxSurge", field.ErrorTypeInvalid}},
		{"unavailable over 100%", func(d *appsv1.Deployment) {
			d.Spec.Strategy = &appsv1.DeploymentStrategy{RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: pct("101%")}}
		}, &want{"spec.strategy.rollingUpdate.maxUnavailable", field.ErrorTypeInvalid}},
		{"surge over 100% is fine", func(d *appsv1.Deployment) {
			d.Spec.Strategy = &appsv1.DeploymentStrategy{RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: pct("200%")}}
		}, nil},
		{"negative minReadySeconds", func(d *appsv1.Deployment) { d.Spec.MinReadySeconds = -1 }, &want{"spec.minReadySeconds", field.ErrorTypeInvalid}},
		{"negative revisionHistoryLimit", func(d *appsv1.Deployment) { d.Spec.RevisionHistoryLimit = proto.Int32(-1) }, &want{"spec.revisionHistoryLimit", field.ErrorTypeInvalid}},
		{"progress deadline not above minReady", func(d *appsv1.Deployment) {
			d.Spec.MinReadySeconds = 30
			d.Spec.ProgressDeadlineSeconds = proto.Int32(30)
		}, &want{"spec.progressDeadlineSeconds", field.ErrorTypeInvalid}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := valid()
			c.mutate(d)
			check(t, d, nil, c.want)
		})
	}

	t.Run("selector immutable", func(t *testing.T) {
		d := valid()
		d.Spec.Selector.MatchLabels["tier"] = "fe"
		d.Spec.Template.Metadata.Labels["tier"] = "fe"
		check(t, d, valid(), &want{"spec.selector", field.ErrorTypeInvalid})
	})
	t.Run("template mutable", func(t *testing.T) {
		d := valid()
		d.Spec.Template.Spec.Containers[0].Image = "nginx:2"
		d.Spec.Replicas = proto.Int32(5)
		check(t, d, valid(), nil)
	})
	t.Run("message", func(t *testing.T) {
		d := valid()
		d.Spec.Selector.MatchLabels["app"] = "db"
		defaults.Apply(d)
		errs := validation.Validate(d, nil)
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), "`selector` does not match template `labels`") {
			t.Fatalf("got %v", errs)
		}
	})
}

func TestReplicaSet(t *testing.T) {
	valid := func() *appsv1.ReplicaSet {
		return &appsv1.ReplicaSet{Metadata: meta("web"), Spec: &appsv1.ReplicaSetSpec{Selector: appSelector(), Template: podTemplate("")}}
	}
	cases := []struct {
		name   string
		mutate func(r *appsv1.ReplicaSet)
		want   *want
	}{
		{"valid", func(r *appsv1.ReplicaSet) {}, nil},
		{"zero replicas", func(r *appsv1.ReplicaSet) { r.Spec.Replicas = proto.Int32(0) }, nil},
		{"negative replicas", func(r *appsv1.ReplicaSet) { r.Spec.Replicas = proto.Int32(-2) }, &want{"spec.replicas", field.ErrorTypeInvalid}},
		{"negative minReadySeconds", func(r *appsv1.ReplicaSet) { r.Spec.MinReadySeconds = -1 }, &want{"spec.minReadySeconds", field.ErrorTypeInvalid}},
		{"no selector", func(r *appsv1.ReplicaSet) { r.Spec.Selector = nil }, &want{"spec.selector", field.ErrorTypeRequired}},
		{"selector mismatch", func(r *appsv1.ReplicaSet) { r.Spec.Template.Metadata.Labels = nil }, &want{"spec.template.metadata.labels", field.ErrorTypeInvalid}},
		{"bad label value", func(r *appsv1.ReplicaSet) {
			r.Spec.Selector.MatchExpressions = []*metav1.LabelSelectorRequirement{{Key: "app", Operator: "NotIn", Values: []string{"-bad-"}}}
		}, &want{"spec.selector.matchExpressions[0].values[0]", field.ErrorTypeInvalid}},
		{"restartPolicy OnFailure", func(r *appsv1.ReplicaSet) { r.Spec.Template.Spec.RestartPolicy = "OnFailure" }, &want{"spec.template.spec.restartPolicy", field.ErrorTypeNotSupported}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := valid()
			c.mutate(r)
			check(t, r, nil, c.want)
		})
	}
	t.Run("selector immutable", func(t *testing.T) {
		r := valid()
		r.Spec.Selector = &metav1.LabelSelector{MatchExpressions: []*metav1.LabelSelectorRequirement{{Key: "app", Operator: "Exists"}}}
		check(t, r, valid(), &want{"spec.selector", field.ErrorTypeInvalid})
	})
}

func TestStatefulSet(t *testing.T) {
	valid := func() *appsv1.StatefulSet {
		tmpl := podTemplate("")
		tmpl.Spec.Containers[0].VolumeMounts = []*corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
		return &appsv1.StatefulSet{Metadata: meta("db"), Spec: &appsv1.StatefulSetSpec{
			Selector: appSelector(), Template: tmpl, ServiceName: "db",
			VolumeClaimTemplates: []*corev1.PersistentVolumeClaim{{
				Metadata: &metav1.ObjectMeta{Name: "data"},
				Spec: &corev1.PersistentVolumeClaimSpec{
					AccessModes: []string{"ReadWriteOnce"},
					Resources: &corev1.VolumeResourceRequirements{
						Requests: map[string]*metav1.Quantity{"storage": {String_: "1Gi"}},
					},
				},
			}},
		}}
	}
	cases := []struct {
		name   string
		mutate func(s *appsv1.StatefulSet)
		want   *want
	}{
		{"valid", func(s *appsv1.StatefulSet) {}, nil},
		{"valid without serviceName", func(s *appsv1.StatefulSet) { s.Spec.ServiceName = "" }, nil},
		{"valid parallel on delete", func(s *appsv1.StatefulSet) {
			s.Spec.PodManagementPolicy = "Parallel"
			s.Spec.UpdateStrategy = &appsv1.StatefulSetUpdateStrategy{Type: "OnDelete"}
		}, nil},
		{"name not a DNS label", func(s *appsv1.StatefulSet) { s.Metadata.Name = "db.example" }, &want{"metadata.name", field.ErrorTypeInvalid}},
		{"bad podManagementPolicy", func(s *appsv1.StatefulSet) { s.Spec.PodManagementPolicy = "Random" }, &want{"spec.podManagementPolicy", field.ErrorTypeInvalid}},
		{"bad updateStrategy", func(s *appsv1.StatefulSet) { s.Spec.UpdateStrategy = &appsv1.StatefulSetUpdateStrategy{Type: "Blue"} }, &want{"spec.updateStrategy", field.ErrorTypeInvalid}},
		{"rollingUpdate with OnDelete", func(s *appsv1.StatefulSet) {
			s.Spec.UpdateStrategy = &appsv1.StatefulSetUpdateStrategy{Type: "OnDelete", RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{}}
		}, &want{"spec.updateStrategy.rollingUpdate", field.ErrorTypeInvalid}},
		{"negative partition", func(s *appsv1.StatefulSet) {
			s.Spec.UpdateStrategy = &appsv1.StatefulSetUpdateStrategy{Type: "RollingUpdate", RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: proto.Int32(-1)}}
		}, &want{"spec.updateStrategy.rollingUpdate.partition", field.ErrorTypeInvalid}},
		{"zero maxUnavailable", func(s *appsv1.StatefulSet) {
			s.Spec.UpdateStrategy = &appsv1.StatefulSetUpdateStrategy{Type: "RollingUpdate", RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{MaxUnavailable: num(0)}}
		}, &want{"spec.updateStrategy.rollingUpdate.maxUnavailable", field.ErrorTypeInvalid}},
		{"bad retention", func(s *appsv1.StatefulSet) {
			s.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{WhenDeleted: "Keep"}
		}, &want{"spec.persistentVolumeClaimRetentionPolicy.whenDeleted", field.ErrorTypeNotSupported}},
		{"negative replicas", func(s *appsv1.StatefulSet) { s.Spec.Replicas = proto.Int32(-1) }, &want{"spec.replicas", field.ErrorTypeInvalid}},
		{"negative ordinals", func(s *appsv1.StatefulSet) { s.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: -1} }, &want{"spec.ordinals.start", field.ErrorTypeInvalid}},
		{"no selector", func(s *appsv1.StatefulSet) { s.Spec.Selector = nil }, &want{"spec.selector", field.ErrorTypeRequired}},
		{"empty selector", func(s *appsv1.StatefulSet) { s.Spec.Selector = &metav1.LabelSelector{} }, &want{"spec.selector", field.ErrorTypeInvalid}},
		{"selector mismatch", func(s *appsv1.StatefulSet) { s.Spec.Selector.MatchLabels["app"] = "x" }, &want{"spec.template.metadata.labels", field.ErrorTypeInvalid}},
		{"restartPolicy Never", func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.RestartPolicy = "Never" }, &want{"spec.template.spec.restartPolicy", field.ErrorTypeNotSupported}},
		{"bad claim template name", func(s *appsv1.StatefulSet) { s.Spec.VolumeClaimTemplates[0].Metadata.Name = "Data" }, nil},
		{"unknown mount", func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.Containers[0].VolumeMounts[0].Name = "logs" }, &want{"spec.template.spec.containers[0].volumeMounts[0].name", field.ErrorTypeNotFound}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := valid()
			c.mutate(s)
			if c.name == "bad claim template name" {
				defaults.Apply(s)
				var found bool
				for _, e := range validation.Validate(s, nil) {
					found = found || (e.Field == "spec.volumeClaimTemplates[0].metadata.name" && e.Type == field.ErrorTypeInvalid)
				}
				if !found {
					t.Fatalf("want spec.volumeClaimTemplates[0].metadata.name Invalid, got %v", validation.Validate(s, nil))
				}
				return
			}
			check(t, s, nil, c.want)
		})
	}
	t.Run("allowed update", func(t *testing.T) {
		s := valid()
		s.Spec.Replicas = proto.Int32(3)
		s.Spec.MinReadySeconds = 5
		s.Spec.Template.Spec.Containers[0].Image = "postgres:17"
		s.Spec.UpdateStrategy = &appsv1.StatefulSetUpdateStrategy{Type: "OnDelete"}
		s.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{WhenDeleted: "Delete", WhenScaled: "Delete"}
		s.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: 2}
		check(t, s, valid(), nil)
	})
	t.Run("forbidden update", func(t *testing.T) {
		s := valid()
		s.Spec.ServiceName = "other"
		check(t, s, valid(), &want{"spec", field.ErrorTypeForbidden})
	})
}

func TestDaemonSet(t *testing.T) {
	valid := func() *appsv1.DaemonSet {
		return &appsv1.DaemonSet{Metadata: meta("agent"), Spec: &appsv1.DaemonSetSpec{Selector: appSelector(), Template: podTemplate("Always")}}
	}
	ru := func(unavailable, surge *metav1.IntOrString) *appsv1.DaemonSetUpdateStrategy {
		return &appsv1.DaemonSetUpdateStrategy{Type: "RollingUpdate", RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: unavailable, MaxSurge: surge}}
	}
	cases := []struct {
		name   string
		mutate func(d *appsv1.DaemonSet)
		want   *want
	}{
		{"valid", func(d *appsv1.DaemonSet) {}, nil},
		{"valid OnDelete", func(d *appsv1.DaemonSet) { d.Spec.UpdateStrategy = &appsv1.DaemonSetUpdateStrategy{Type: "OnDelete"} }, nil},
		{"valid surge", func(d *appsv1.DaemonSet) { d.Spec.UpdateStrategy = ru(num(0), pct("10%")) }, nil},
		{"no selector", func(d *appsv1.DaemonSet) { d.Spec.Selector = nil }, &want{"spec.template.metadata.labels", field.ErrorTypeInvalid}},
		{"empty selector", func(d *appsv1.DaemonSet) { d.Spec.Selector = &metav1.LabelSelector{} }, &want{"spec.selector", field.ErrorTypeInvalid}},
		{"selector mismatch", func(d *appsv1.DaemonSet) { d.Spec.Template.Metadata.Labels["app"] = "x" }, &want{"spec.template.metadata.labels", field.ErrorTypeInvalid}},
		{"restartPolicy OnFailure", func(d *appsv1.DaemonSet) { d.Spec.Template.Spec.RestartPolicy = "OnFailure" }, &want{"spec.template.spec.restartPolicy", field.ErrorTypeNotSupported}},
		{"bad strategy", func(d *appsv1.DaemonSet) { d.Spec.UpdateStrategy = &appsv1.DaemonSetUpdateStrategy{Type: "Fast"} }, &want{"spec.updateStrategy", field.ErrorTypeNotSupported}},
		{"both set", func(d *appsv1.DaemonSet) { d.Spec.UpdateStrategy = ru(num(1), num(1)) }, &want{"spec.updateStrategy.rollingUpdate.maxSurge", field.ErrorTypeInvalid}},
		{"both zero", func(d *appsv1.DaemonSet) { d.Spec.UpdateStrategy = ru(num(0), num(0)) }, &want{"spec.updateStrategy.rollingUpdate.maxUnavailable", field.ErrorTypeRequired}},
		{"surge over 100%", func(d *appsv1.DaemonSet) { d.Spec.UpdateStrategy = ru(num(0), pct("110%")) }, &want{"spec.updateStrategy.rollingUpdate.maxSurge", field.ErrorTypeInvalid}},
		{"negative minReadySeconds", func(d *appsv1.DaemonSet) { d.Spec.MinReadySeconds = -1 }, &want{"spec.minReadySeconds", field.ErrorTypeInvalid}},
		{"negative revisionHistoryLimit", func(d *appsv1.DaemonSet) { d.Spec.RevisionHistoryLimit = proto.Int32(-1) }, &want{"spec.revisionHistoryLimit", field.ErrorTypeInvalid}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := valid()
			c.mutate(d)
			check(t, d, nil, c.want)
		})
	}
	t.Run("selector immutable", func(t *testing.T) {
		d := valid()
		d.Spec.Selector.MatchLabels["tier"] = "node"
		d.Spec.Template.Metadata.Labels["tier"] = "node"
		check(t, d, valid(), &want{"spec.selector", field.ErrorTypeInvalid})
	})
}

func TestWorkloadStatus(t *testing.T) {
	d := &appsv1.Deployment{Metadata: meta("web"), Status: &appsv1.DeploymentStatus{Replicas: 1, ReadyReplicas: 2}}
	errs := validation.ValidateStatus(d, d)
	if len(errs) != 1 || errs[0].Field != "status.readyReplicas" {
		t.Fatalf("got %v", errs)
	}
	old := &appsv1.StatefulSet{Metadata: meta("db"), Status: &appsv1.StatefulSetStatus{CollisionCount: proto.Int32(2)}}
	cur := &appsv1.StatefulSet{Metadata: meta("db"), Status: &appsv1.StatefulSetStatus{CollisionCount: proto.Int32(1)}}
	errs = validation.ValidateStatus(cur, old)
	if len(errs) != 1 || errs[0].Field != "status.collisionCount" || errs[0].Type != field.ErrorTypeInvalid {
		t.Fatalf("got %v", errs)
	}
}
