package validation

import (
	"k8s.io/apimachinery/pkg/util/validation/field"

	corev1 "flotilla.io/proto/flotilla/core/v1"
)

// ValidatePodTemplateSpec checks a pod template's labels, annotations and spec.
func ValidatePodTemplateSpec(t *corev1.PodTemplateSpec, fld *field.Path) field.ErrorList {
	if t == nil {
		return field.ErrorList{field.Required(fld, "")}
	}
	var errs field.ErrorList
	if md := t.GetMetadata(); md != nil {
		errs = append(errs, ValidateLabels(md.Labels, fld.Child("metadata", "labels"))...)
		errs = append(errs, ValidateAnnotations(md.Annotations, fld.Child("metadata", "annotations"))...)
	}
	errs = append(errs, ValidatePodSpec(t.GetSpec(), fld.Child("spec"))...)
	return errs
}

// ValidatePodSpec checks a pod spec.
func ValidatePodSpec(spec *corev1.PodSpec, fld *field.Path) field.ErrorList {
	if spec == nil {
		return field.ErrorList{field.Required(fld, "")}
	}
	var errs field.ErrorList
	if len(spec.Containers) == 0 {
		errs = append(errs, field.Required(fld.Child("containers"), ""))
	}
	return errs
}
