package validation

// Helpers shared by the core/v1 kinds. Unexported names carry a "core" prefix
// so they cannot collide with other files of this package.

import (
	"fmt"
	"path"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	k8smetav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
)

// Upstream's shared error messages.
const (
	coreIsNegativeErrorMsg  = "must be greater than or equal to 0"
	coreIsNotPositiveErrMsg = "must be greater than zero"
	coreFileModeErrorMsg    = "must be a number between 0 and 0777 (octal), both inclusive"
	coreIntOrStringInt      = 0
	coreIntOrStringString   = 1
)

func coreNonNegative(v int64, fld *field.Path) field.ErrorList {
	if v < 0 {
		return field.ErrorList{field.Invalid(fld, v, coreIsNegativeErrorMsg)}
	}
	return nil
}

func coreDNSLabel(v string, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsDNS1123Label(v) {
		errs = append(errs, field.Invalid(fld, v, msg))
	}
	return errs
}

func coreDNSSubdomain(v string, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsDNS1123Subdomain(v) {
		errs = append(errs, field.Invalid(fld, v, msg))
	}
	return errs
}

func coreQualifiedName(v string, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsQualifiedName(v) {
		errs = append(errs, field.Invalid(fld, v, msg))
	}
	return errs
}

// NameIsDNS1035Label is the rule for Service names.
func NameIsDNS1035Label(name string, prefix bool) []string {
	if prefix {
		name = maskTrailingDash(name)
	}
	return validation.IsDNS1035Label(name)
}

func coreNotSupported(fld *field.Path, v string, valid ...string) *field.Error {
	return field.NotSupported(fld, v, valid)
}

func coreOneOf(v string, valid ...string) bool {
	for _, s := range valid {
		if v == s {
			return true
		}
	}
	return false
}

// coreParseQuantity parses a Quantity, reporting a malformed one at fld.
func coreParseQuantity(q *metav1.Quantity, fld *field.Path) (resource.Quantity, field.ErrorList) {
	s := q.GetString_()
	v, err := resource.ParseQuantity(s)
	if err != nil {
		return resource.Quantity{}, field.ErrorList{field.Invalid(fld, s, err.Error())}
	}
	return v, nil
}

// coreLabelSelector converts a selector and checks it with upstream's rules.
func coreLabelSelector(sel *metav1.LabelSelector, fld *field.Path) field.ErrorList {
	if sel == nil {
		return nil
	}
	return metav1validation.ValidateLabelSelector(coreToK8sSelector(sel), metav1validation.LabelSelectorValidationOptions{}, fld)
}

func coreToK8sSelector(sel *metav1.LabelSelector) *k8smetav1.LabelSelector {
	out := &k8smetav1.LabelSelector{MatchLabels: sel.GetMatchLabels()}
	for _, e := range sel.GetMatchExpressions() {
		out.MatchExpressions = append(out.MatchExpressions, k8smetav1.LabelSelectorRequirement{
			Key: e.Key, Operator: k8smetav1.LabelSelectorOperator(e.Operator), Values: e.Values,
		})
	}
	return out
}

// corePortNumOrName is upstream's ValidatePortNumOrName.
func corePortNumOrName(p *metav1.IntOrString, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch {
	case p == nil:
		errs = append(errs, field.Required(fld, ""))
	case p.Type == coreIntOrStringInt:
		for _, msg := range validation.IsValidPortNum(int(p.IntVal)) {
			errs = append(errs, field.Invalid(fld, p.IntVal, msg))
		}
	case p.Type == coreIntOrStringString:
		for _, msg := range validation.IsValidPortName(p.StrVal) {
			errs = append(errs, field.Invalid(fld, p.StrVal, msg))
		}
	default:
		errs = append(errs, field.InternalError(fld, fmt.Errorf("unknown type: %v", p.Type)))
	}
	return errs
}

// coreLocalDescendingPath is upstream's validateLocalDescendingPath.
func coreLocalDescendingPath(p string, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if path.IsAbs(p) {
		errs = append(errs, field.Invalid(fld, p, "must be a relative path"))
	}
	return append(errs, coreNoBacksteps(p, fld)...)
}

func coreNoBacksteps(p string, fld *field.Path) field.ErrorList {
	for _, item := range strings.Split(p, "/") {
		if item == ".." {
			return field.ErrorList{field.Invalid(fld, p, "must not contain '..'")}
		}
	}
	return nil
}

// coreLocalNonReservedPath is upstream's validateLocalNonReservedPath.
func coreLocalNonReservedPath(p string, fld *field.Path) field.ErrorList {
	errs := coreLocalDescendingPath(p, fld)
	if strings.HasPrefix(p, "..") && !strings.HasPrefix(p, "../") {
		errs = append(errs, field.Invalid(fld, p, "must not start with '..'"))
	}
	return errs
}

// coreNodeSelector is upstream's ValidateNodeSelector.
func coreNodeSelector(ns *corev1.NodeSelector, fld *field.Path) field.ErrorList {
	termFld := fld.Child("nodeSelectorTerms")
	if len(ns.GetNodeSelectorTerms()) == 0 {
		return field.ErrorList{field.Required(termFld, "must have at least one node selector term")}
	}
	var errs field.ErrorList
	for i, t := range ns.NodeSelectorTerms {
		errs = append(errs, coreNodeSelectorTerm(t, termFld.Index(i))...)
	}
	return errs
}

func coreNodeSelectorTerm(t *corev1.NodeSelectorTerm, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	for j, r := range t.GetMatchExpressions() {
		errs = append(errs, coreNodeSelectorRequirement(r, fld.Child("matchExpressions").Index(j))...)
	}
	for j, r := range t.GetMatchFields() {
		p := fld.Child("matchFields").Index(j)
		switch r.Operator {
		case "In", "NotIn":
			if len(r.Values) != 1 {
				errs = append(errs, field.Required(p.Child("values"), "must be only one value when `operator` is 'In' or 'NotIn' for node field selector"))
			}
		default:
			errs = append(errs, field.Invalid(p.Child("operator"), r.Operator, "not a valid selector operator"))
		}
		if r.Key != "metadata.name" {
			errs = append(errs, coreNotSupported(p.Child("key"), r.Key, "metadata.name"))
		}
	}
	return errs
}

func coreNodeSelectorRequirement(r *corev1.NodeSelectorRequirement, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch r.Operator {
	case "In", "NotIn":
		if len(r.Values) == 0 {
			errs = append(errs, field.Required(fld.Child("values"), "must be specified when `operator` is 'In' or 'NotIn'"))
		}
	case "Exists", "DoesNotExist":
		if len(r.Values) > 0 {
			errs = append(errs, field.Forbidden(fld.Child("values"), "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
		}
	case "Gt", "Lt":
		if len(r.Values) != 1 {
			errs = append(errs, field.Required(fld.Child("values"), "must be specified single value when `operator` is 'Lt' or 'Gt'"))
		}
	default:
		errs = append(errs, field.Invalid(fld.Child("operator"), r.Operator, "not a valid selector operator"))
	}
	errs = append(errs, coreQualifiedName(r.Key, fld.Child("key"))...)
	for i, v := range r.Values {
		for _, msg := range validation.IsValidLabelValue(v) {
			errs = append(errs, field.Invalid(fld.Child("values").Index(i), v, msg))
		}
	}
	return errs
}

// coreTaintEffect is upstream's validateTaintEffect.
func coreTaintEffect(effect string, allowEmpty bool, fld *field.Path) field.ErrorList {
	if !allowEmpty && effect == "" {
		return field.ErrorList{field.Required(fld, "")}
	}
	if !coreOneOf(effect, "NoSchedule", "PreferNoSchedule", "NoExecute") {
		return field.ErrorList{coreNotSupported(fld, effect, "NoSchedule", "PreferNoSchedule", "NoExecute")}
	}
	return nil
}

// coreConditionStatus checks a condition's status is True, False or Unknown.
func coreConditionStatus(s string, fld *field.Path) field.ErrorList {
	if s == "" {
		return field.ErrorList{field.Required(fld, "")}
	}
	if !coreOneOf(s, "True", "False", "Unknown") {
		return field.ErrorList{coreNotSupported(fld, s, "False", "True", "Unknown")}
	}
	return nil
}

// coreIP checks an IP address.
func coreIP(ip string, fld *field.Path) field.ErrorList {
	if ip == "" {
		return field.ErrorList{field.Required(fld, "")}
	}
	return validation.IsValidIP(fld, ip)
}

var coreSysctlName = regexp.MustCompile("^" + coreSysctlFmt + "$")
