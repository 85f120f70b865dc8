package validation

// Validation of scheduling.k8s.io/v1 PriorityClass, after upstream's
// pkg/apis/scheduling/validation.

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/util/validation/field"

	schedulingv1 "flotilla.io/proto/flotilla/scheduling/v1"
)

const (
	// schedulingHighestUserDefinablePriority is the highest priority a
	// user-defined class may have; higher ones are for system classes.
	schedulingHighestUserDefinablePriority = 1000000000
	// schedulingSystemCriticalPriority is the base of the system classes.
	schedulingSystemCriticalPriority = 2 * schedulingHighestUserDefinablePriority
	// schedulingSystemPrefix is reserved for the system classes' names.
	schedulingSystemPrefix = "system-"
)

// schedulingSystemClasses are the classes the system creates; only they may
// use the "system-" prefix, with exactly these values.
var schedulingSystemClasses = []struct {
	name  string
	value int32
}{
	{"system-node-critical", schedulingSystemCriticalPriority + 1000},
	{"system-cluster-critical", schedulingSystemCriticalPriority},
}

func init() {
	Register("PriorityClass", nil, func(obj, old proto.Message) field.ErrorList {
		pc := obj.(*schedulingv1.PriorityClass)
		errs := validatePriorityClass(pc)
		if o, ok := old.(*schedulingv1.PriorityClass); ok && o != nil {
			if pc.Value != o.Value {
				errs = append(errs, field.Forbidden(field.NewPath("value"), "may not be changed in an update."))
			}
			errs = append(errs, batchImmutableScalar(pc.PreemptionPolicy, o.PreemptionPolicy, field.NewPath("preemptionPolicy"))...)
		}
		return errs
	})
}

func validatePriorityClass(pc *schedulingv1.PriorityClass) field.ErrorList {
	var errs field.ErrorList
	name := pc.GetMetadata().GetName()
	if strings.HasPrefix(name, schedulingSystemPrefix) {
		if err := schedulingKnownSystemClass(name, pc.Value, pc.GlobalDefault); err != nil {
			errs = append(errs, field.Forbidden(field.NewPath("metadata", "name"),
				"priority class names with '"+schedulingSystemPrefix+"' prefix are reserved for system use only. error: "+err.Error()))
		}
	} else if pc.Value > schedulingHighestUserDefinablePriority {
		errs = append(errs, field.Forbidden(field.NewPath("value"),
			fmt.Sprintf("maximum allowed value of a user defined priority is %v", schedulingHighestUserDefinablePriority)))
	}
	if pc.PreemptionPolicy != nil {
		p := field.NewPath("preemptionPolicy")
		switch v := *pc.PreemptionPolicy; v {
		case "PreemptLowerPriority", "Never":
		case "":
			errs = append(errs, field.Required(p, ""))
		default:
			errs = append(errs, field.NotSupported(p, v, []string{"PreemptLowerPriority", "Never"}))
		}
	}
	return errs
}

func schedulingKnownSystemClass(name string, value int32, globalDefault bool) error {
	for _, c := range schedulingSystemClasses {
		if c.name != name {
			continue
		}
		if c.value != value {
			return fmt.Errorf("value of %v PriorityClass must be %v", c.name, c.value)
		}
		if globalDefault {
			return fmt.Errorf("globalDefault of %v PriorityClass must be false", c.name)
		}
		return nil
	}
	return fmt.Errorf("%v is not a known system priority class", name)
}
