package validation

// Validation of coordination.k8s.io/v1 Lease, after upstream's
// pkg/apis/coordination/validation.

import (
	"strings"

	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	coordinationv1 "flotilla.io/proto/flotilla/coordination/v1"
)

// coordinationLeaseStrategies are the Kubernetes-defined coordinated leader
// election strategies; others must be domain-prefixed.
var coordinationLeaseStrategies = []string{"OldestEmulationVersion"}

func init() {
	Register("Lease", nil, func(obj, _ proto.Message) field.ErrorList {
		return validateLeaseSpec(obj.(*coordinationv1.Lease).GetSpec(), field.NewPath("spec"))
	})
}

func validateLeaseSpec(spec *coordinationv1.LeaseSpec, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if spec == nil {
		return nil
	}
	if spec.LeaseDurationSeconds != nil && *spec.LeaseDurationSeconds <= 0 {
		errs = append(errs, field.Invalid(fld.Child("leaseDurationSeconds"), *spec.LeaseDurationSeconds, "must be greater than 0"))
	}
	if spec.LeaseTransitions != nil && *spec.LeaseTransitions < 0 {
		errs = append(errs, field.Invalid(fld.Child("leaseTransitions"), *spec.LeaseTransitions, "must be greater than or equal to 0"))
	}
	if spec.Strategy != nil {
		sf := fld.Child("strategy")
		s := *spec.Strategy
		if !strings.Contains(s, "/") {
			if !contains(coordinationLeaseStrategies, s) {
				errs = append(errs, field.NotSupported(sf, s, coordinationLeaseStrategies))
			}
		} else if msgs := validation.IsQualifiedName(s); len(msgs) != 0 {
			errs = append(errs, field.Invalid(sf, s, strings.Join(msgs, ",")))
		}
	}
	if spec.GetPreferredHolder() != "" && spec.GetStrategy() == "" {
		errs = append(errs, field.Forbidden(fld.Child("preferredHolder"), "may only be specified if `strategy` is defined"))
	}
	return errs
}
