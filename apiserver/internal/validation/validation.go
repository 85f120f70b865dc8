// Package validation checks objects before they are stored, with upstream
// Kubernetes' rules and error messages: every error names the field path and
// the reason ("spec.containers[0].image: Required value").
//
// Each kind registers its own check from a file of this package; Validate
// runs the metadata checks every kind shares, then the kind's own.
package validation

import (
	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/util/validation/field"

	metav1 "flotilla.io/proto/flotilla/meta/v1"
	"flotilla.io/proto/kind"
	"flotilla.io/proto/object"
)

// Func validates one kind. old is nil on create and the stored object on
// update; both are typed messages of the kind.
type Func func(obj, old proto.Message) field.ErrorList

// NameFunc validates an object name, returning the reasons it is invalid.
type NameFunc func(name string, prefix bool) []string

var (
	byKind = map[string]Func{}
	names  = map[string]NameFunc{}
	status = map[string]Func{}
)

// Register sets the validation of a kind. name may be nil for the default,
// a DNS-1123 subdomain.
func Register(k string, name NameFunc, f Func) {
	byKind[k] = f
	if name != nil {
		names[k] = name
	}
}

// RegisterStatus sets the validation of a kind's status writes.
func RegisterStatus(k string, f Func) { status[k] = f }

// Validate checks an object for create (old nil) or update.
func Validate(obj, old proto.Message) field.ErrorList {
	info, ok := kind.ForMessage(obj)
	if !ok {
		return field.ErrorList{field.InternalError(nil, errUnregistered)}
	}
	nameFn := names[info.Kind]
	if nameFn == nil {
		nameFn = NameIsDNSSubdomain
	}
	var oldMeta *metav1.ObjectMeta
	if old != nil {
		oldMeta = object.Meta(old)
	}
	errs := ValidateObjectMeta(object.Meta(obj), oldMeta, info.Namespaced, nameFn, field.NewPath("metadata"))
	if f := byKind[info.Kind]; f != nil {
		errs = append(errs, f(obj, old)...)
	}
	return errs
}

// ValidateStatus checks a status write.
func ValidateStatus(obj, old proto.Message) field.ErrorList {
	info, ok := kind.ForMessage(obj)
	if !ok {
		return field.ErrorList{field.InternalError(nil, errUnregistered)}
	}
	if f := status[info.Kind]; f != nil {
		return f(obj, old)
	}
	return nil
}

type unregistered struct{}

func (unregistered) Error() string { return "object kind is not registered" }

var errUnregistered error = unregistered{}
