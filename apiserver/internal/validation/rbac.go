package validation

// Validation of the rbac.authorization.k8s.io/v1 kinds, after upstream's
// pkg/apis/rbac/validation. Names are path segments, as upstream.

import (
	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/util/validation/field"

	rbacv1 "flotilla.io/proto/flotilla/rbac/v1"
)

const rbacGroupName = "rbac.authorization.k8s.io"

func init() {
	Register("Role", NameIsPathSegment, func(obj, _ proto.Message) field.ErrorList {
		return rbacRules(obj.(*rbacv1.Role).GetRules(), true)
	})
	Register("ClusterRole", NameIsPathSegment, func(obj, _ proto.Message) field.ErrorList {
		return validateClusterRole(obj.(*rbacv1.ClusterRole))
	})
	Register("RoleBinding", NameIsPathSegment, func(obj, old proto.Message) field.ErrorList {
		b := obj.(*rbacv1.RoleBinding)
		errs := rbacBinding(b.GetRoleRef(), b.GetSubjects(), true)
		if o, ok := old.(*rbacv1.RoleBinding); ok && o != nil {
			errs = append(errs, rbacRoleRefUpdate(b.GetRoleRef(), o.GetRoleRef())...)
		}
		return errs
	})
	Register("ClusterRoleBinding", NameIsPathSegment, func(obj, old proto.Message) field.ErrorList {
		b := obj.(*rbacv1.ClusterRoleBinding)
		errs := rbacBinding(b.GetRoleRef(), b.GetSubjects(), false)
		if o, ok := old.(*rbacv1.ClusterRoleBinding); ok && o != nil {
			errs = append(errs, rbacRoleRefUpdate(b.GetRoleRef(), o.GetRoleRef())...)
		}
		return errs
	})
}

func rbacRules(rules []*rbacv1.PolicyRule, namespaced bool) field.ErrorList {
	var errs field.ErrorList
	for i, r := range rules {
		errs = append(errs, rbacPolicyRule(r, namespaced, field.NewPath("rules").Index(i))...)
	}
	return errs
}

func validateClusterRole(r *rbacv1.ClusterRole) field.ErrorList {
	errs := rbacRules(r.GetRules(), false)
	if ar := r.GetAggregationRule(); ar != nil {
		sf := field.NewPath("aggregationRule", "clusterRoleSelectors")
		if len(ar.ClusterRoleSelectors) == 0 {
			errs = append(errs, field.Required(sf, "at least one clusterRoleSelector required if aggregationRule is non-nil"))
		}
		for i, sel := range ar.ClusterRoleSelectors {
			p := sf.Index(i)
			errs = append(errs, validateLabelSelector(sel, p)...)
			if _, err := appsSelectorAsSelector(sel); err != nil {
				errs = append(errs, field.Invalid(p, appsJSON{sel}, "invalid label selector."))
			}
		}
	}
	return errs
}

// rbacPolicyRule is upstream's ValidatePolicyRule.
func rbacPolicyRule(r *rbacv1.PolicyRule, namespaced bool, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(r.GetVerbs()) == 0 {
		errs = append(errs, field.Required(fld.Child("verbs"), "verbs must contain at least one value"))
	}
	if len(r.GetNonResourceUrls()) > 0 {
		if namespaced {
			errs = append(errs, field.Invalid(fld.Child("nonResourceURLs"), r.NonResourceUrls, "namespaced rules cannot apply to non-resource URLs"))
		}
		if len(r.ApiGroups) > 0 || len(r.Resources) > 0 || len(r.ResourceNames) > 0 {
			errs = append(errs, field.Invalid(fld.Child("nonResourceURLs"), r.NonResourceUrls, "rules cannot apply to both regular resources and non-resource URLs"))
		}
		return errs
	}
	if len(r.GetApiGroups()) == 0 {
		errs = append(errs, field.Required(fld.Child("apiGroups"), "resource rules must supply at least one api group"))
	}
	if len(r.GetResources()) == 0 {
		errs = append(errs, field.Required(fld.Child("resources"), "resource rules must supply at least one resource"))
	}
	return errs
}

// rbacBinding checks a RoleBinding (namespaced) or ClusterRoleBinding. An
// unset roleRef is treated as an empty one, as upstream's value field.
func rbacBinding(ref *rbacv1.RoleRef, subjects []*rbacv1.Subject, namespaced bool) field.ErrorList {
	var errs field.ErrorList
	rf := field.NewPath("roleRef")
	if ref.GetApiGroup() != rbacGroupName {
		errs = append(errs, field.NotSupported(rf.Child("apiGroup"), ref.GetApiGroup(), []string{rbacGroupName}))
	}
	kinds := []string{"ClusterRole"}
	if namespaced {
		kinds = []string{"Role", "ClusterRole"}
	}
	if !contains(kinds, ref.GetKind()) {
		errs = append(errs, field.NotSupported(rf.Child("kind"), ref.GetKind(), kinds))
	}
	if ref.GetName() == "" {
		errs = append(errs, field.Required(rf.Child("name"), ""))
	} else {
		for _, msg := range NameIsPathSegment(ref.GetName(), false) {
			errs = append(errs, field.Invalid(rf.Child("name"), ref.GetName(), msg))
		}
	}
	for i, s := range subjects {
		errs = append(errs, rbacSubject(s, namespaced, field.NewPath("subjects").Index(i))...)
	}
	return errs
}

// rbacSubject is upstream's ValidateRoleBindingSubject.
func rbacSubject(s *rbacv1.Subject, namespaced bool, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if s.GetName() == "" {
		errs = append(errs, field.Required(fld.Child("name"), ""))
	}
	switch s.GetKind() {
	case "ServiceAccount":
		if s.GetName() != "" {
			for _, msg := range NameIsDNSSubdomain(s.GetName(), false) {
				errs = append(errs, field.Invalid(fld.Child("name"), s.GetName(), msg))
			}
		}
		if s.GetApiGroup() != "" {
			errs = append(errs, field.NotSupported(fld.Child("apiGroup"), s.GetApiGroup(), []string{""}))
		}
		if !namespaced && s.GetNamespace() == "" {
			errs = append(errs, field.Required(fld.Child("namespace"), ""))
		}
	case "User", "Group":
		if s.GetApiGroup() != rbacGroupName {
			errs = append(errs, field.NotSupported(fld.Child("apiGroup"), s.GetApiGroup(), []string{rbacGroupName}))
		}
	default:
		errs = append(errs, field.NotSupported(fld.Child("kind"), s.GetKind(), []string{"ServiceAccount", "User", "Group"}))
	}
	return errs
}

func rbacRoleRefUpdate(ref, old *rbacv1.RoleRef) field.ErrorList {
	if ref.GetApiGroup() == old.GetApiGroup() && ref.GetKind() == old.GetKind() && ref.GetName() == old.GetName() {
		return nil
	}
	return field.ErrorList{field.Invalid(field.NewPath("roleRef"), appsJSON{ref}, "cannot change roleRef")}
}
