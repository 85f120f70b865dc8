package validation

// Validation of the apps/v1 workload kinds (Deployment, ReplicaSet,
// StatefulSet, DaemonSet), after upstream's pkg/apis/apps/validation and the
// selector-immutability checks of the apps registry strategies. Unexported
// helpers carry an "apps" prefix; batch.go reuses a few of them.

import (
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"flotilla.io/proto/codec"
	appsv1 "flotilla.io/proto/flotilla/apps/v1"
	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
)

func init() {
	Register("Deployment", nil, func(obj, old proto.Message) field.ErrorList {
		return validateDeployment(obj.(*appsv1.Deployment), asDeployment(old))
	})
	Register("ReplicaSet", nil, func(obj, old proto.Message) field.ErrorList {
		return validateReplicaSet(obj.(*appsv1.ReplicaSet), asReplicaSet(old))
	})
	// Upstream: StatefulSet names are DNS labels (pods are named <set>-<ordinal>).
	Register("StatefulSet", NameIsDNSLabel, func(obj, old proto.Message) field.ErrorList {
		return validateStatefulSet(obj.(*appsv1.StatefulSet), asStatefulSet(old))
	})
	Register("DaemonSet", nil, func(obj, old proto.Message) field.ErrorList {
		return validateDaemonSet(obj.(*appsv1.DaemonSet), asDaemonSet(old))
	})
	RegisterStatus("Deployment", func(obj, old proto.Message) field.ErrorList {
		return validateDeploymentStatus(obj.(*appsv1.Deployment).GetStatus(), asDeployment(old).GetStatus(), field.NewPath("status"))
	})
	RegisterStatus("ReplicaSet", func(obj, _ proto.Message) field.ErrorList {
		return validateReplicaSetStatus(obj.(*appsv1.ReplicaSet).GetStatus(), field.NewPath("status"))
	})
	RegisterStatus("StatefulSet", func(obj, old proto.Message) field.ErrorList {
		return validateStatefulSetStatus(obj.(*appsv1.StatefulSet).GetStatus(), asStatefulSet(old).GetStatus(), field.NewPath("status"))
	})
	RegisterStatus("DaemonSet", func(obj, old proto.Message) field.ErrorList {
		return validateDaemonSetStatus(obj.(*appsv1.DaemonSet).GetStatus(), asDaemonSet(old).GetStatus(), field.NewPath("status"))
	})
}

func asDeployment(m proto.Message) *appsv1.Deployment {
	d, _ := m.(*appsv1.Deployment)
	return d
}

func asReplicaSet(m proto.Message) *appsv1.ReplicaSet {
	r, _ := m.(*appsv1.ReplicaSet)
	return r
}

func asStatefulSet(m proto.Message) *appsv1.StatefulSet {
	s, _ := m.(*appsv1.StatefulSet)
	return s
}

func asDaemonSet(m proto.Message) *appsv1.DaemonSet {
	d, _ := m.(*appsv1.DaemonSet)
	return d
}

// Upstream's messages shared by the workload kinds.
const (
	appsIsNegativeErrorMsg = "must be greater than or equal to 0"
	appsImmutableErrorMsg  = "field is immutable"
	appsSelectorMismatch   = "`selector` does not match template `labels`"
	appsIntOrStringString  = 1
)

// ---------------------------------------------------------------------------
// Deployment

func validateDeployment(d, old *appsv1.Deployment) field.ErrorList {
	spec := d.GetSpec()
	fld := field.NewPath("spec")
	if spec == nil {
		return field.ErrorList{field.Required(fld, "")}
	}
	var errs field.ErrorList
	errs = append(errs, appsNonNegative(int64(spec.GetReplicas()), fld.Child("replicas"))...)
	errs = append(errs, appsWorkloadSelector(spec.Selector, "deployment", fld.Child("selector"))...)
	errs = append(errs, appsTemplateForReplicaSet(spec.Selector, spec.Template, "ReplicaSet", fld.Child("template"))...)
	errs = append(errs, validateDeploymentStrategy(spec.Strategy, fld.Child("strategy"))...)
	errs = append(errs, appsNonNegative(int64(spec.MinReadySeconds), fld.Child("minReadySeconds"))...)
	if spec.RevisionHistoryLimit != nil {
		errs = append(errs, appsNonNegative(int64(*spec.RevisionHistoryLimit), fld.Child("revisionHistoryLimit"))...)
	}
	if spec.ProgressDeadlineSeconds != nil {
		p := fld.Child("progressDeadlineSeconds")
		errs = append(errs, appsNonNegative(int64(*spec.ProgressDeadlineSeconds), p)...)
		if *spec.ProgressDeadlineSeconds <= spec.MinReadySeconds {
			errs = append(errs, field.Invalid(p, *spec.ProgressDeadlineSeconds, "must be greater than minReadySeconds"))
		}
	}
	if old != nil {
		errs = append(errs, appsImmutable(spec.Selector, old.GetSpec().GetSelector(), fld.Child("selector"))...)
	}
	return errs
}

func validateDeploymentStrategy(s *appsv1.DeploymentStrategy, fld *field.Path) field.ErrorList {
	switch s.GetType() {
	case "Recreate":
		if s.RollingUpdate != nil {
			return field.ErrorList{field.Forbidden(fld.Child("rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'")}
		}
	case "RollingUpdate":
		if s.RollingUpdate == nil {
			return field.ErrorList{field.Required(fld.Child("rollingUpdate"), "this should be defaulted and never be nil")}
		}
		return validateRollingUpdateDeployment(s.RollingUpdate, fld.Child("rollingUpdate"))
	default:
		return field.ErrorList{field.NotSupported(fld, appsJSON{s}, []string{"Recreate", "RollingUpdate"})}
	}
	return nil
}

func validateRollingUpdateDeployment(ru *appsv1.RollingUpdateDeployment, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, appsPositiveIntOrPercent(ru.MaxUnavailable, fld.Child("maxUnavailable"))...)
	errs = append(errs, appsPositiveIntOrPercent(ru.MaxSurge, fld.Child("maxSurge"))...)
	if appsIntOrPercentValue(ru.MaxUnavailable) == 0 && appsIntOrPercentValue(ru.MaxSurge) == 0 {
		errs = append(errs, field.Invalid(fld.Child("maxUnavailable"), appsIntOrStringValue(ru.MaxUnavailable), "may not be 0 when `maxSurge` is 0"))
	}
	errs = append(errs, appsNotMoreThan100Percent(ru.MaxUnavailable, fld.Child("maxUnavailable"))...)
	return errs
}

func validateDeploymentStatus(s, old *appsv1.DeploymentStatus, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, appsNonNegative(s.GetObservedGeneration(), fld.Child("observedGeneration"))...)
	errs = append(errs, appsNonNegative(int64(s.GetReplicas()), fld.Child("replicas"))...)
	errs = append(errs, appsNonNegative(int64(s.GetUpdatedReplicas()), fld.Child("updatedReplicas"))...)
	errs = append(errs, appsNonNegative(int64(s.GetReadyReplicas()), fld.Child("readyReplicas"))...)
	errs = append(errs, appsNonNegative(int64(s.GetAvailableReplicas()), fld.Child("availableReplicas"))...)
	errs = append(errs, appsNonNegative(int64(s.GetUnavailableReplicas()), fld.Child("unavailableReplicas"))...)
	if s != nil && s.CollisionCount != nil {
		errs = append(errs, appsNonNegative(int64(*s.CollisionCount), fld.Child("collisionCount"))...)
	}
	msg := "cannot be greater than status.replicas"
	if s.GetUpdatedReplicas() > s.GetReplicas() {
		errs = append(errs, field.Invalid(fld.Child("updatedReplicas"), s.GetUpdatedReplicas(), msg))
	}
	if s.GetReadyReplicas() > s.GetReplicas() {
		errs = append(errs, field.Invalid(fld.Child("readyReplicas"), s.GetReadyReplicas(), msg))
	}
	if s.GetAvailableReplicas() > s.GetReplicas() {
		errs = append(errs, field.Invalid(fld.Child("availableReplicas"), s.GetAvailableReplicas(), msg))
	}
	if s.GetAvailableReplicas() > s.GetReadyReplicas() {
		errs = append(errs, field.Invalid(fld.Child("availableReplicas"), s.GetAvailableReplicas(), "cannot be greater than readyReplicas"))
	}
	errs = append(errs, appsCollisionCountDecrement(s.GetCollisionCount(), s != nil && s.CollisionCount != nil, old, fld)...)
	return errs
}

// appsCollisionCountDecrement is upstream's IsDecremented check on
// status.collisionCount; old is the previous status (nil on create).
func appsCollisionCountDecrement(v int32, set bool, old interface{ GetCollisionCount() int32 }, fld *field.Path) field.ErrorList {
	if old == nil {
		return nil
	}
	var oldSet bool
	switch o := old.(type) {
	case *appsv1.DeploymentStatus:
		oldSet = o != nil && o.CollisionCount != nil
	case *appsv1.StatefulSetStatus:
		oldSet = o != nil && o.CollisionCount != nil
	case *appsv1.DaemonSetStatus:
		oldSet = o != nil && o.CollisionCount != nil
	}
	if !oldSet {
		return nil
	}
	if !set || v < old.GetCollisionCount() {
		return field.ErrorList{field.Invalid(fld.Child("collisionCount"), v, "cannot be decremented")}
	}
	return nil
}

// ---------------------------------------------------------------------------
// ReplicaSet

func validateReplicaSet(rs, old *appsv1.ReplicaSet) field.ErrorList {
	spec := rs.GetSpec()
	fld := field.NewPath("spec")
	if spec == nil {
		return field.ErrorList{field.Required(fld, "")}
	}
	var errs field.ErrorList
	errs = append(errs, appsNonNegative(int64(spec.GetReplicas()), fld.Child("replicas"))...)
	errs = append(errs, appsNonNegative(int64(spec.MinReadySeconds), fld.Child("minReadySeconds"))...)
	// Upstream's message says "deployment" for ReplicaSets too.
	errs = append(errs, appsWorkloadSelector(spec.Selector, "deployment", fld.Child("selector"))...)
	errs = append(errs, appsTemplateForReplicaSet(spec.Selector, spec.Template, "ReplicaSet", fld.Child("template"))...)
	if old != nil {
		errs = append(errs, appsImmutable(spec.Selector, old.GetSpec().GetSelector(), fld.Child("selector"))...)
	}
	return errs
}

func validateReplicaSetStatus(s *appsv1.ReplicaSetStatus, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, appsNonNegative(int64(s.GetReplicas()), fld.Child("replicas"))...)
	errs = append(errs, appsNonNegative(int64(s.GetFullyLabeledReplicas()), fld.Child("fullyLabeledReplicas"))...)
	errs = append(errs, appsNonNegative(int64(s.GetReadyReplicas()), fld.Child("readyReplicas"))...)
	errs = append(errs, appsNonNegative(int64(s.GetAvailableReplicas()), fld.Child("availableReplicas"))...)
	errs = append(errs, appsNonNegative(s.GetObservedGeneration(), fld.Child("observedGeneration"))...)
	msg := "cannot be greater than status.replicas"
	if s.GetFullyLabeledReplicas() > s.GetReplicas() {
		errs = append(errs, field.Invalid(fld.Child("fullyLabeledReplicas"), s.GetFullyLabeledReplicas(), msg))
	}
	if s.GetReadyReplicas() > s.GetReplicas() {
		errs = append(errs, field.Invalid(fld.Child("readyReplicas"), s.GetReadyReplicas(), msg))
	}
	if s.GetAvailableReplicas() > s.GetReplicas() {
		errs = append(errs, field.Invalid(fld.Child("availableReplicas"), s.GetAvailableReplicas(), msg))
	}
	if s.GetAvailableReplicas() > s.GetReadyReplicas() {
		errs = append(errs, field.Invalid(fld.Child("availableReplicas"), s.GetAvailableReplicas(), "cannot be greater than readyReplicas"))
	}
	return errs
}

// ---------------------------------------------------------------------------
// StatefulSet

const statefulSetUpdateForbidden = "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"

func validateStatefulSet(ss, old *appsv1.StatefulSet) field.ErrorList {
	spec := ss.GetSpec()
	fld := field.NewPath("spec")
	if spec == nil {
		return field.ErrorList{field.Required(fld, "")}
	}
	var errs field.ErrorList
	switch spec.PodManagementPolicy {
	case "":
		errs = append(errs, field.Required(fld.Child("podManagementPolicy"), ""))
	case "OrderedReady", "Parallel":
	default:
		errs = append(errs, field.Invalid(fld.Child("podManagementPolicy"), spec.PodManagementPolicy, "must be 'OrderedReady' or 'Parallel'"))
	}

	us := spec.UpdateStrategy
	switch us.GetType() {
	case "":
		errs = append(errs, field.Required(fld.Child("updateStrategy"), ""))
	case "OnDelete":
		if us.RollingUpdate != nil {
			errs = append(errs, field.Invalid(fld.Child("updateStrategy", "rollingUpdate"), appsJSON{us.RollingUpdate}, "only allowed for updateStrategy 'RollingUpdate'"))
		}
	case "RollingUpdate":
		if us.RollingUpdate != nil {
			errs = append(errs, validateRollingUpdateStatefulSet(us.RollingUpdate, fld.Child("updateStrategy", "rollingUpdate"))...)
		}
	default:
		errs = append(errs, field.Invalid(fld.Child("updateStrategy"), appsJSON{us}, "must be 'RollingUpdate' or 'OnDelete'"))
	}

	if p := spec.PersistentVolumeClaimRetentionPolicy; p != nil {
		pf := fld.Child("persistentVolumeClaimRetentionPolicy")
		errs = append(errs, appsRetentionPolicyType(p.WhenDeleted, pf.Child("whenDeleted"))...)
		errs = append(errs, appsRetentionPolicyType(p.WhenScaled, pf.Child("whenScaled"))...)
	}

	errs = append(errs, appsNonNegative(int64(spec.GetReplicas()), fld.Child("replicas"))...)
	errs = append(errs, appsNonNegative(int64(spec.MinReadySeconds), fld.Child("minReadySeconds"))...)
	if spec.Ordinals != nil {
		errs = append(errs, appsNonNegative(int64(spec.Ordinals.Start), fld.Child("ordinals.start"))...)
	}
	if spec.RevisionHistoryLimit != nil {
		errs = append(errs, appsNonNegative(int64(*spec.RevisionHistoryLimit), fld.Child("revisionHistoryLimit"))...)
	}

	errs = append(errs, appsWorkloadSelector(spec.Selector, "statefulset", fld.Child("selector"))...)
	tf := fld.Child("template")
	if spec.Template == nil {
		errs = append(errs, field.Required(tf, ""))
	} else {
		if sel, err := appsSelectorAsSelector(spec.Selector); err != nil {
			errs = append(errs, field.Invalid(fld.Child("selector"), appsJSON{spec.Selector}, ""))
		} else if !sel.Empty() && !sel.Matches(labels.Set(spec.Template.GetMetadata().GetLabels())) {
			errs = append(errs, field.Invalid(tf.Child("metadata", "labels"), spec.Template.GetMetadata().GetLabels(), appsSelectorMismatch))
		}
		errs = append(errs, appsStatefulSetTemplate(spec, tf)...)
		if rp := spec.Template.GetSpec().GetRestartPolicy(); rp != "Always" {
			errs = append(errs, field.NotSupported(tf.Child("spec", "restartPolicy"), rp, []string{"Always"}))
		}
		if spec.Template.GetSpec().ActiveDeadlineSeconds != nil {
			errs = append(errs, field.Forbidden(tf.Child("spec", "activeDeadlineSeconds"), "activeDeadlineSeconds in StatefulSet is not Supported"))
		}
	}

	vf := fld.Child("volumeClaimTemplates")
	seen := map[string]bool{}
	for i, vct := range spec.VolumeClaimTemplates {
		nf := vf.Index(i).Child("metadata", "name")
		name := vct.GetMetadata().GetName()
		switch {
		case name == "":
			errs = append(errs, field.Required(nf, ""))
		case seen[name]:
			errs = append(errs, field.Duplicate(nf, name))
		default:
			for _, msg := range validation.IsDNS1123Label(name) {
				errs = append(errs, field.Invalid(nf, name, msg))
			}
		}
		seen[name] = true
	}

	if old != nil {
		clone := proto.Clone(spec).(*appsv1.StatefulSetSpec)
		oldSpec := old.GetSpec()
		if oldSpec == nil {
			oldSpec = &appsv1.StatefulSetSpec{}
		}
		clone.Replicas = oldSpec.Replicas
		clone.Template = oldSpec.Template
		clone.UpdateStrategy = oldSpec.UpdateStrategy
		clone.MinReadySeconds = oldSpec.MinReadySeconds
		clone.Ordinals = oldSpec.Ordinals
		clone.PersistentVolumeClaimRetentionPolicy = oldSpec.PersistentVolumeClaimRetentionPolicy
		if !proto.Equal(clone, oldSpec) {
			errs = append(errs, field.Forbidden(fld, statefulSetUpdateForbidden))
		}
	}
	return errs
}

// appsStatefulSetTemplate validates the pod template of a StatefulSet. Its
// containers may mount the set's volumeClaimTemplates, which are not in the
// template's volumes (the controller adds them to each pod), so they are added
// here as claim volumes before the pod-template check, and errors about the
// added volumes themselves are dropped.
//
// Upstream checks only the template's labels and annotations here (a TODO in
// ValidatePodTemplateSpecForStatefulSet); this is stricter, catching broken
// pod specs at the set rather than at pod creation.
func appsStatefulSetTemplate(spec *appsv1.StatefulSetSpec, fld *field.Path) field.ErrorList {
	t := spec.Template
	if len(spec.VolumeClaimTemplates) > 0 {
		t = proto.Clone(spec.Template).(*corev1.PodTemplateSpec)
		if t.Spec == nil {
			t.Spec = &corev1.PodSpec{}
		}
		have := map[string]bool{}
		for _, v := range t.Spec.Volumes {
			have[v.Name] = true
		}
		for _, vct := range spec.VolumeClaimTemplates {
			name := vct.GetMetadata().GetName()
			if name == "" || have[name] {
				continue
			}
			have[name] = true
			t.Spec.Volumes = append(t.Spec.Volumes, &corev1.Volume{
				Name:                  name,
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: name},
			})
		}
	}
	n := len(spec.Template.GetSpec().GetVolumes())
	volumes := fld.Child("spec", "volumes").String()
	var errs field.ErrorList
	for _, e := range ValidatePodTemplateSpec(t, fld) {
		if appsIsAddedVolume(e.Field, volumes, n) {
			continue
		}
		errs = append(errs, e)
	}
	return errs
}

// appsIsAddedVolume reports whether path names volumes[i] (or below) with i >= n.
func appsIsAddedVolume(path, volumes string, n int) bool {
	rest, ok := strings.CutPrefix(path, volumes+"[")
	if !ok {
		return false
	}
	end := strings.IndexByte(rest, ']')
	if end < 0 {
		return false
	}
	i, err := strconv.Atoi(rest[:end])
	return err == nil && i >= n
}

func validateRollingUpdateStatefulSet(ru *appsv1.RollingUpdateStatefulSetStrategy, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, appsNonNegative(int64(ru.GetPartition()), fld.Child("partition"))...)
	if ru.MaxUnavailable != nil {
		mf := fld.Child("maxUnavailable")
		errs = append(errs, appsPositiveIntOrPercent(ru.MaxUnavailable, mf)...)
		if appsIntOrPercentValue(ru.MaxUnavailable) == 0 {
			errs = append(errs, field.Invalid(mf, appsIntOrStringValue(ru.MaxUnavailable), "cannot be 0"))
		}
		errs = append(errs, appsNotMoreThan100Percent(ru.MaxUnavailable, mf)...)
	}
	return errs
}

func appsRetentionPolicyType(p string, fld *field.Path) field.ErrorList {
	switch p {
	case "Retain", "Delete":
		return nil
	}
	return field.ErrorList{field.NotSupported(fld, p, []string{"Retain", "Delete"})}
}

func validateStatefulSetStatus(s, old *appsv1.StatefulSetStatus, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, appsNonNegative(int64(s.GetReplicas()), fld.Child("replicas"))...)
	errs = append(errs, appsNonNegative(int64(s.GetReadyReplicas()), fld.Child("readyReplicas"))...)
	errs = append(errs, appsNonNegative(int64(s.GetCurrentReplicas()), fld.Child("currentReplicas"))...)
	errs = append(errs, appsNonNegative(int64(s.GetUpdatedReplicas()), fld.Child("updatedReplicas"))...)
	errs = append(errs, appsNonNegative(int64(s.GetAvailableReplicas()), fld.Child("availableReplicas"))...)
	errs = append(errs, appsNonNegative(s.GetObservedGeneration(), fld.Child("observedGeneration"))...)
	if s != nil && s.CollisionCount != nil {
		errs = append(errs, appsNonNegative(int64(*s.CollisionCount), fld.Child("collisionCount"))...)
	}
	msg := "cannot be greater than status.replicas"
	if s.GetReadyReplicas() > s.GetReplicas() {
		errs = append(errs, field.Invalid(fld.Child("readyReplicas"), s.GetReadyReplicas(), msg))
	}
	if s.GetCurrentReplicas() > s.GetReplicas() {
		errs = append(errs, field.Invalid(fld.Child("currentReplicas"), s.GetCurrentReplicas(), msg))
	}
	if s.GetUpdatedReplicas() > s.GetReplicas() {
		errs = append(errs, field.Invalid(fld.Child("updatedReplicas"), s.GetUpdatedReplicas(), msg))
	}
	if s.GetAvailableReplicas() > s.GetReplicas() {
		errs = append(errs, field.Invalid(fld.Child("availableReplicas"), s.GetAvailableReplicas(), msg))
	}
	if s.GetAvailableReplicas() > s.GetReadyReplicas() {
		errs = append(errs, field.Invalid(fld.Child("availableReplicas"), s.GetAvailableReplicas(), "cannot be greater than status.readyReplicas"))
	}
	errs = append(errs, appsCollisionCountDecrement(s.GetCollisionCount(), s != nil && s.CollisionCount != nil, old, fld)...)
	return errs
}

// ---------------------------------------------------------------------------
// DaemonSet

func validateDaemonSet(ds, old *appsv1.DaemonSet) field.ErrorList {
	spec := ds.GetSpec()
	fld := field.NewPath("spec")
	if spec == nil {
		return field.ErrorList{field.Required(fld, "")}
	}
	var errs field.ErrorList
	errs = append(errs, validateLabelSelector(spec.Selector, fld.Child("selector"))...)
	tf := fld.Child("template")
	// Upstream: a missing selector selects nothing, so it fails to match.
	if sel, err := appsSelectorAsSelector(spec.Selector); err == nil && !sel.Matches(labels.Set(spec.Template.GetMetadata().GetLabels())) {
		errs = append(errs, field.Invalid(tf.Child("metadata", "labels"), spec.Template.GetMetadata().GetLabels(), appsSelectorMismatch))
	}
	if spec.Selector != nil && len(spec.Selector.MatchLabels)+len(spec.Selector.MatchExpressions) == 0 {
		errs = append(errs, field.Invalid(fld.Child("selector"), appsJSON{spec.Selector}, "empty selector is invalid for daemonset"))
	}
	errs = append(errs, ValidatePodTemplateSpec(spec.Template, tf)...)
	if spec.Template != nil {
		if rp := spec.Template.GetSpec().GetRestartPolicy(); rp != "Always" {
			errs = append(errs, field.NotSupported(tf.Child("spec", "restartPolicy"), rp, []string{"Always"}))
		}
		if spec.Template.GetSpec().ActiveDeadlineSeconds != nil {
			errs = append(errs, field.Forbidden(tf.Child("spec", "activeDeadlineSeconds"), "activeDeadlineSeconds in DaemonSet is not Supported"))
		}
	}
	errs = append(errs, appsNonNegative(int64(spec.MinReadySeconds), fld.Child("minReadySeconds"))...)
	errs = append(errs, validateDaemonSetUpdateStrategy(spec.UpdateStrategy, fld.Child("updateStrategy"))...)
	if spec.RevisionHistoryLimit != nil {
		errs = append(errs, appsNonNegative(int64(*spec.RevisionHistoryLimit), fld.Child("revisionHistoryLimit"))...)
	}
	if old != nil {
		errs = append(errs, appsImmutable(spec.Selector, old.GetSpec().GetSelector(), fld.Child("selector"))...)
	}
	return errs
}

func validateDaemonSetUpdateStrategy(s *appsv1.DaemonSetUpdateStrategy, fld *field.Path) field.ErrorList {
	switch s.GetType() {
	case "OnDelete":
	case "RollingUpdate":
		if s.RollingUpdate == nil {
			return field.ErrorList{field.Required(fld.Child("rollingUpdate"), "")}
		}
		return validateRollingUpdateDaemonSet(s.RollingUpdate, fld.Child("rollingUpdate"))
	default:
		return field.ErrorList{field.NotSupported(fld, appsJSON{s}, []string{"RollingUpdate", "OnDelete"})}
	}
	return nil
}

func validateRollingUpdateDaemonSet(ru *appsv1.RollingUpdateDaemonSet, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, appsPositiveIntOrPercent(ru.MaxUnavailable, fld.Child("maxUnavailable"))...)
	errs = append(errs, appsPositiveIntOrPercent(ru.MaxSurge, fld.Child("maxSurge"))...)
	errs = append(errs, appsNotMoreThan100Percent(ru.MaxUnavailable, fld.Child("maxUnavailable"))...)
	errs = append(errs, appsNotMoreThan100Percent(ru.MaxSurge, fld.Child("maxSurge"))...)
	hasUnavailable := appsIntOrPercentValue(ru.MaxUnavailable) != 0
	hasSurge := appsIntOrPercentValue(ru.MaxSurge) != 0
	switch {
	case hasUnavailable && hasSurge:
		errs = append(errs, field.Invalid(fld.Child("maxSurge"), appsIntOrStringValue(ru.MaxSurge), "may not be set when maxUnavailable is non-zero"))
	case !hasUnavailable && !hasSurge:
		errs = append(errs, field.Required(fld.Child("maxUnavailable"), "cannot be 0 when maxSurge is 0"))
	}
	return errs
}

func validateDaemonSetStatus(s, old *appsv1.DaemonSetStatus, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, appsNonNegative(int64(s.GetCurrentNumberScheduled()), fld.Child("currentNumberScheduled"))...)
	errs = append(errs, appsNonNegative(int64(s.GetNumberMisscheduled()), fld.Child("numberMisscheduled"))...)
	errs = append(errs, appsNonNegative(int64(s.GetDesiredNumberScheduled()), fld.Child("desiredNumberScheduled"))...)
	errs = append(errs, appsNonNegative(int64(s.GetNumberReady()), fld.Child("numberReady"))...)
	errs = append(errs, appsNonNegative(s.GetObservedGeneration(), fld.Child("observedGeneration"))...)
	errs = append(errs, appsNonNegative(int64(s.GetUpdatedNumberScheduled()), fld.Child("updatedNumberScheduled"))...)
	errs = append(errs, appsNonNegative(int64(s.GetNumberAvailable()), fld.Child("numberAvailable"))...)
	errs = append(errs, appsNonNegative(int64(s.GetNumberUnavailable()), fld.Child("numberUnavailable"))...)
	if s != nil && s.CollisionCount != nil {
		errs = append(errs, appsNonNegative(int64(*s.CollisionCount), fld.Child("collisionCount"))...)
	}
	errs = append(errs, appsCollisionCountDecrement(s.GetCollisionCount(), s != nil && s.CollisionCount != nil, old, fld)...)
	return errs
}

// ---------------------------------------------------------------------------
// Shared helpers

// validateLabelSelector is upstream's metav1 ValidateLabelSelector with
// strict label values (AllowInvalidLabelValueInSelector false).
func validateLabelSelector(sel *metav1.LabelSelector, fld *field.Path) field.ErrorList {
	if sel == nil {
		return nil
	}
	errs := ValidateLabels(sel.MatchLabels, fld.Child("matchLabels"))
	for i, r := range sel.MatchExpressions {
		rf := fld.Child("matchExpressions").Index(i)
		switch r.Operator {
		case "In", "NotIn":
			if len(r.Values) == 0 {
				errs = append(errs, field.Required(rf.Child("values"), "must be specified when `operator` is 'In' or 'NotIn'"))
			}
		case "Exists", "DoesNotExist":
			if len(r.Values) > 0 {
				errs = append(errs, field.Forbidden(rf.Child("values"), "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
			}
		default:
			errs = append(errs, field.Invalid(rf.Child("operator"), r.Operator, "not a valid selector operator"))
		}
		for _, msg := range validation.IsQualifiedName(r.Key) {
			errs = append(errs, field.Invalid(rf.Child("key"), r.Key, msg))
		}
		for j, v := range r.Values {
			for _, msg := range validation.IsValidLabelValue(v) {
				errs = append(errs, field.Invalid(rf.Child("values").Index(j), v, msg))
			}
		}
	}
	return errs
}

// appsSelectorAsSelector is upstream's metav1.LabelSelectorAsSelector: nil
// selects nothing, empty selects everything.
func appsSelectorAsSelector(sel *metav1.LabelSelector) (labels.Selector, error) {
	if sel == nil {
		return labels.Nothing(), nil
	}
	if len(sel.MatchLabels)+len(sel.MatchExpressions) == 0 {
		return labels.Everything(), nil
	}
	var reqs []labels.Requirement
	for k, v := range sel.MatchLabels {
		r, err := labels.NewRequirement(k, selection.Equals, []string{v})
		if err != nil {
			return nil, err
		}
		reqs = append(reqs, *r)
	}
	for _, e := range sel.MatchExpressions {
		var op selection.Operator
		switch e.Operator {
		case "In":
			op = selection.In
		case "NotIn":
			op = selection.NotIn
		case "Exists":
			op = selection.Exists
		case "DoesNotExist":
			op = selection.DoesNotExist
		default:
			return nil, fmt.Errorf("%q is not a valid label selector operator", e.Operator)
		}
		r, err := labels.NewRequirement(e.Key, op, append([]string(nil), e.Values...))
		if err != nil {
			return nil, err
		}
		reqs = append(reqs, *r)
	}
	return labels.NewSelector().Add(reqs...), nil
}

// appsWorkloadSelector checks the selector of a Deployment, ReplicaSet or
// StatefulSet: required, valid and not empty.
func appsWorkloadSelector(sel *metav1.LabelSelector, kind string, fld *field.Path) field.ErrorList {
	if sel == nil {
		return field.ErrorList{field.Required(fld, "")}
	}
	errs := validateLabelSelector(sel, fld)
	if len(sel.MatchLabels)+len(sel.MatchExpressions) == 0 {
		errs = append(errs, field.Invalid(fld, appsJSON{sel}, "empty selector is invalid for "+kind))
	}
	return errs
}

// appsTemplateForReplicaSet is upstream's ValidatePodTemplateSpecForReplicaSet
// (also used by Deployments): the template must match the selector, be a
// valid pod template, restart Always and have no activeDeadlineSeconds.
func appsTemplateForReplicaSet(selector *metav1.LabelSelector, t *corev1.PodTemplateSpec, kind string, fld *field.Path) field.ErrorList {
	sel, err := appsSelectorAsSelector(selector)
	if err != nil {
		return field.ErrorList{field.Invalid(field.NewPath("spec", "selector"), appsJSON{selector}, "invalid label selector")}
	}
	if t == nil {
		return field.ErrorList{field.Required(fld, "")}
	}
	var errs field.ErrorList
	if !sel.Empty() && !sel.Matches(labels.Set(t.GetMetadata().GetLabels())) {
		errs = append(errs, field.Invalid(fld.Child("metadata", "labels"), t.GetMetadata().GetLabels(), appsSelectorMismatch))
	}
	errs = append(errs, ValidatePodTemplateSpec(t, fld)...)
	if rp := t.GetSpec().GetRestartPolicy(); rp != "Always" {
		errs = append(errs, field.NotSupported(fld.Child("spec", "restartPolicy"), rp, []string{"Always"}))
	}
	if t.GetSpec().ActiveDeadlineSeconds != nil {
		errs = append(errs, field.Forbidden(fld.Child("spec", "activeDeadlineSeconds"), "activeDeadlineSeconds in "+kind+" is not Supported"))
	}
	return errs
}

func appsNonNegative(v int64, fld *field.Path) field.ErrorList {
	if v < 0 {
		return field.ErrorList{field.Invalid(fld, v, appsIsNegativeErrorMsg)}
	}
	return nil
}

// appsImmutable is upstream's ValidateImmutableField for a message field.
func appsImmutable[M proto.Message](cur, old M, fld *field.Path) field.ErrorList {
	if proto.Equal(cur, old) {
		return nil
	}
	return field.ErrorList{field.Invalid(fld, appsJSON{cur}, appsImmutableErrorMsg)}
}

// appsIntOrStringValue is the bare value of an IntOrString for error output,
// rendered as upstream's intstr JSON (a number or a string).
func appsIntOrStringValue(v *metav1.IntOrString) any {
	if v.GetType() == appsIntOrStringString {
		return v.GetStrVal()
	}
	return v.GetIntVal()
}

// appsPositiveIntOrPercent is upstream's ValidatePositiveIntOrPercent. An
// unset value counts as 0, as upstream's non-pointer IntOrString.
func appsPositiveIntOrPercent(v *metav1.IntOrString, fld *field.Path) field.ErrorList {
	switch v.GetType() {
	case appsIntOrStringString:
		var errs field.ErrorList
		for _, msg := range validation.IsValidPercent(v.GetStrVal()) {
			errs = append(errs, field.Invalid(fld, v.GetStrVal(), msg))
		}
		return errs
	case 0:
		return appsNonNegative(int64(v.GetIntVal()), fld)
	default:
		return field.ErrorList{field.Invalid(fld, appsJSON{v}, "must be an integer or percentage (e.g '5%%')")}
	}
}

func appsPercentValue(v *metav1.IntOrString) (int, bool) {
	if v.GetType() != appsIntOrStringString || len(validation.IsValidPercent(v.GetStrVal())) != 0 {
		return 0, false
	}
	n, _ := strconv.Atoi(strings.TrimSuffix(v.GetStrVal(), "%"))
	return n, true
}

// appsIntOrPercentValue is upstream's getIntOrPercentValue: the percentage
// number, or the integer (a non-numeric string counts as 0).
func appsIntOrPercentValue(v *metav1.IntOrString) int {
	if n, ok := appsPercentValue(v); ok {
		return n
	}
	if v.GetType() == appsIntOrStringString {
		n, _ := strconv.Atoi(v.GetStrVal())
		return n
	}
	return int(v.GetIntVal())
}

func appsNotMoreThan100Percent(v *metav1.IntOrString, fld *field.Path) field.ErrorList {
	if n, ok := appsPercentValue(v); ok && n > 100 {
		return field.ErrorList{field.Invalid(fld, v.GetStrVal(), "must not be greater than 100%")}
	}
	return nil
}

// appsJSON renders a message in an error as upstream does a struct: as its
// JSON form (camelCase keys, IntOrString as a bare value).
type appsJSON struct{ m proto.Message }

func (v appsJSON) MarshalJSON() ([]byte, error) {
	if v.m == nil || !v.m.ProtoReflect().IsValid() {
		return []byte("null"), nil
	}
	return codec.MarshalMessageJSON(v.m)
}
