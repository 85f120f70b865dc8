package validation

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/validation/path"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	metav1 "flotilla.io/proto/flotilla/meta/v1"
)

// totalAnnotationSizeLimit is upstream's limit on all annotations together.
const totalAnnotationSizeLimit = 256 * 1024

// NameIsDNSSubdomain is the rule for most kinds' names.
func NameIsDNSSubdomain(name string, prefix bool) []string {
	if prefix {
		name = maskTrailingDash(name)
	}
	return validation.IsDNS1123Subdomain(name)
}

// NameIsDNSLabel is the rule for Namespace and Service names.
func NameIsDNSLabel(name string, prefix bool) []string {
	if prefix {
		name = maskTrailingDash(name)
	}
	return validation.IsDNS1123Label(name)
}

// NameIsPathSegment is the rule for RBAC object names.
func NameIsPathSegment(name string, prefix bool) []string {
	if prefix {
		return path.IsValidPathSegmentPrefix(name)
	}
	return path.IsValidPathSegmentName(name)
}

// maskTrailingDash lets a generateName prefix end in "-".
func maskTrailingDash(name string) string {
	if len(name) > 1 && strings.HasSuffix(name, "-") {
		return name[:len(name)-2] + "a"
	}
	return name
}

// ValidateObjectMeta checks metadata on create (old nil) or update.
func ValidateObjectMeta(md, old *metav1.ObjectMeta, namespaced bool, nameFn NameFunc, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if md == nil {
		return field.ErrorList{field.Required(fld, "")}
	}
	switch {
	case md.Name == "" && md.GenerateName == "":
		errs = append(errs, field.Required(fld.Child("name"), "name or generateName is required"))
	case md.Name != "":
		for _, msg := range nameFn(md.Name, false) {
			errs = append(errs, field.Invalid(fld.Child("name"), md.Name, msg))
		}
	}
	if md.GenerateName != "" {
		for _, msg := range nameFn(md.GenerateName, true) {
			errs = append(errs, field.Invalid(fld.Child("generateName"), md.GenerateName, msg))
		}
	}
	if namespaced {
		if md.Namespace == "" {
			errs = append(errs, field.Required(fld.Child("namespace"), ""))
		} else {
			for _, msg := range validation.IsDNS1123Label(md.Namespace) {
				errs = append(errs, field.Invalid(fld.Child("namespace"), md.Namespace, msg))
			}
		}
	} else if md.Namespace != "" {
		errs = append(errs, field.Forbidden(fld.Child("namespace"), "not allowed on this type: it is cluster-scoped"))
	}
	errs = append(errs, ValidateLabels(md.Labels, fld.Child("labels"))...)
	errs = append(errs, ValidateAnnotations(md.Annotations, fld.Child("annotations"))...)
	for n, ref := range md.OwnerReferences {
		p := fld.Child("ownerReferences").Index(n)
		if ref.ApiVersion == "" {
			errs = append(errs, field.Required(p.Child("apiVersion"), ""))
		}
		if ref.Kind == "" {
			errs = append(errs, field.Required(p.Child("kind"), ""))
		}
		if ref.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		}
		if ref.Uid == "" {
			errs = append(errs, field.Required(p.Child("uid"), ""))
		}
	}
	controllers := 0
	for _, ref := range md.OwnerReferences {
		if ref.GetController() {
			controllers++
		}
	}
	if controllers > 1 {
		errs = append(errs, field.Invalid(fld.Child("ownerReferences"), controllers, "only one reference can have Controller set to true"))
	}
	seen := map[string]bool{}
	for n, f := range md.Finalizers {
		p := fld.Child("finalizers").Index(n)
		for _, msg := range validation.IsQualifiedName(f) {
			errs = append(errs, field.Invalid(p, f, msg))
		}
		if seen[f] {
			errs = append(errs, field.Duplicate(p, f))
		}
		seen[f] = true
	}
	if old != nil {
		if md.Name != old.Name && old.Name != "" {
			errs = append(errs, field.Invalid(fld.Child("name"), md.Name, "field is immutable"))
		}
		if md.Namespace != old.Namespace {
			errs = append(errs, field.Invalid(fld.Child("namespace"), md.Namespace, "field is immutable"))
		}
		if md.Uid != "" && md.Uid != old.Uid {
			errs = append(errs, field.Invalid(fld.Child("uid"), md.Uid, "field is immutable"))
		}
		if old.DeletionTimestamp != nil {
			for _, f := range md.Finalizers {
				if !contains(old.Finalizers, f) {
					errs = append(errs, field.Forbidden(fld.Child("finalizers"), fmt.Sprintf("no new finalizers can be added if the object is being deleted, found new finalizer %q", f)))
				}
			}
		}
	}
	return errs
}

// ValidateLabels checks label keys and values.
func ValidateLabels(labels map[string]string, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	for k, v := range labels {
		for _, msg := range validation.IsQualifiedName(k) {
			errs = append(errs, field.Invalid(fld, k, msg))
		}
		for _, msg := range validation.IsValidLabelValue(v) {
			errs = append(errs, field.Invalid(fld.Key(k), v, msg))
		}
	}
	return errs
}

// ValidateAnnotations checks annotation keys and their total size.
func ValidateAnnotations(annotations map[string]string, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	size := 0
	for k, v := range annotations {
		for _, msg := range validation.IsQualifiedName(strings.ToLower(k)) {
			errs = append(errs, field.Invalid(fld, k, msg))
		}
		size += len(k) + len(v)
	}
	if size > totalAnnotationSizeLimit {
		errs = append(errs, field.TooLong(fld, "", totalAnnotationSizeLimit))
	}
	return errs
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
