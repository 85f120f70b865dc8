package validation

// Validation of the batch/v1 kinds (Job, CronJob), after upstream's
// pkg/apis/batch/validation with the options upstream's registry uses for new
// objects (prefixed batch.kubernetes.io labels required, elastic Indexed Jobs).
// The pod template stays immutable on update, also while a Job is suspended.

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	batchv1 "flotilla.io/proto/flotilla/batch/v1"
)

// The labels the server puts on a Job's pods and selects them by.
const (
	batchLabelControllerUID       = "batch.kubernetes.io/controller-uid"
	batchLabelJobName             = "batch.kubernetes.io/job-name"
	batchLabelLegacyControllerUID = "controller-uid"
	batchLabelLegacyJobName       = "job-name"
)

// Upstream's limits.
const (
	batchMaxParallelismForIndexedJob             = 100000
	batchMaxFailedIndexesForIndexedJob           = 100_000
	batchCompletionsSoftLimit                    = 100_000
	batchParallelismLimitForHighCompletions      = 10_000
	batchMaxFailedIndexesLimitForHighCompletions = 10_000
	batchMaxPodFailurePolicyRules                = 20
	batchMaxOnExitCodesValues                    = 255
	batchMaxOnPodConditionsPatterns              = 20
	batchMaxManagedByLength                      = 63
	batchMaxSucceededIndexesLength               = 64 * 1024
	batchMaxSuccessPolicyRules                   = 20
	// The CronJob controller appends an 11-character suffix to Job names,
	// which must stay within 63 characters.
	batchMaxCronJobNameLength = 52
)

var (
	batchPodFailurePolicyActions = []string{"Count", "FailIndex", "FailJob", "Ignore"}
	batchOnExitCodesOperators    = []string{"In", "NotIn"}
	batchConditionStatuses       = []string{"False", "True", "Unknown"}
	batchPodReplacementPolicies  = []string{"Failed", "TerminatingOrFailed"}
	batchConcurrencyPolicies     = []string{"Allow", "Forbid", "Replace"}
	// https://data.iana.org/time-zones/theory.html#naming, as upstream.
	batchTimeZoneCharacters = regexp.MustCompile(`^[A-Za-z\.\-_0-9+]{1,14}$`)
)

func init() {
	Register("Job", nil, func(obj, old proto.Message) field.ErrorList {
		o, _ := old.(*batchv1.Job)
		return validateJob(obj.(*batchv1.Job), o)
	})
	Register("CronJob", nil, func(obj, old proto.Message) field.ErrorList {
		o, _ := old.(*batchv1.CronJob)
		return validateCronJob(obj.(*batchv1.CronJob), o)
	})
	RegisterStatus("Job", func(obj, _ proto.Message) field.ErrorList {
		return validateJobStatus(obj.(*batchv1.Job).GetStatus(), field.NewPath("status"))
	})
}

// ---------------------------------------------------------------------------
// Job

func validateJob(job, old *batchv1.Job) field.ErrorList {
	spec := job.GetSpec()
	fld := field.NewPath("spec")
	if spec == nil {
		return field.ErrorList{field.Required(fld, "")}
	}
	if old != nil {
		// As upstream's ValidateJobUpdate: the generated selector and the
		// name were checked on create and cannot change.
		return append(validateJobSpec(spec, fld), validateJobSpecUpdate(spec, old.GetSpec(), fld)...)
	}
	var errs field.ErrorList
	errs = append(errs, batchGeneratedSelector(job)...)
	errs = append(errs, validateJobSpec(spec, fld)...)
	if spec.GetCompletionMode() == "Indexed" && spec.GetCompletions() > 0 {
		// Pods of an Indexed Job get the hostname <name>-<index>.
		hostname := fmt.Sprintf("%s-%d", job.GetMetadata().GetName(), spec.GetCompletions()-1)
		if len(validation.IsDNS1123Label(hostname)) > 0 {
			errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), job.GetMetadata().GetName(),
				"will not able to create pod with invalid DNS label: "+hostname))
		}
	}
	return errs
}

// batchGeneratedSelector checks that a server-generated selector selects the
// Job's own pods: the template carries the uid and name labels (legacy and
// batch.kubernetes.io/ ones, as upstream requires of new Jobs) and the
// selector matches them. Manual selectors are the user's business.
func batchGeneratedSelector(job *batchv1.Job) field.ErrorList {
	spec := job.GetSpec()
	if spec.GetManualSelector() || spec.Selector == nil {
		return nil
	}
	md := job.GetMetadata()
	var errs field.ErrorList
	if md.GetUid() == "" {
		errs = append(errs, field.Required(field.NewPath("metadata", "uid"), ""))
	}
	tm := field.NewPath("spec", "template", "metadata")
	tl := spec.GetTemplate().GetMetadata().GetLabels()
	errs = append(errs, batchHasLabel(tl, tm, batchLabelLegacyControllerUID, md.GetUid())...)
	errs = append(errs, batchHasLabel(tl, tm, batchLabelLegacyJobName, md.GetName())...)
	errs = append(errs, batchHasLabel(tl, tm, batchLabelControllerUID, md.GetUid())...)
	errs = append(errs, batchHasLabel(tl, tm, batchLabelJobName, md.GetName())...)
	expected := labels.Set{
		batchLabelLegacyControllerUID: md.GetUid(), batchLabelLegacyJobName: md.GetName(),
		batchLabelControllerUID: md.GetUid(), batchLabelJobName: md.GetName(),
	}
	if sel, err := appsSelectorAsSelector(spec.Selector); err == nil && !sel.Matches(expected) {
		errs = append(errs, field.Invalid(field.NewPath("spec", "selector"), appsJSON{spec.Selector}, "`selector` not auto-generated"))
	}
	return errs
}

// batchHasLabel is upstream's ValidateHasLabel.
func batchHasLabel(have map[string]string, fld *field.Path, key, want string) field.ErrorList {
	v, ok := have[key]
	if !ok {
		return field.ErrorList{field.Required(fld.Child("labels").Key(key), key)}
	}
	if v != want {
		return field.ErrorList{field.Invalid(fld.Child("labels").Key(key), have, fmt.Sprintf("must be '%s'", want))}
	}
	return nil
}

// validateJobSpec is upstream's ValidateJobSpec: the spec of a Job, with its
// selector.
func validateJobSpec(spec *batchv1.JobSpec, fld *field.Path) field.ErrorList {
	errs := batchJobSpec(spec, fld)
	if spec.Selector == nil {
		errs = append(errs, field.Required(fld.Child("selector"), ""))
	} else {
		errs = append(errs, validateLabelSelector(spec.Selector, fld.Child("selector"))...)
	}
	if sel, err := appsSelectorAsSelector(spec.Selector); err == nil && !sel.Matches(labels.Set(spec.GetTemplate().GetMetadata().GetLabels())) {
		errs = append(errs, field.Invalid(fld.Child("template", "metadata", "labels"), spec.GetTemplate().GetMetadata().GetLabels(), appsSelectorMismatch))
	}
	return errs
}

// batchJobSpec is upstream's validateJobSpec: the checks a Job and a
// CronJob's jobTemplate share.
func batchJobSpec(spec *batchv1.JobSpec, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if spec.Parallelism != nil {
		errs = append(errs, appsNonNegative(int64(*spec.Parallelism), fld.Child("parallelism"))...)
	}
	if spec.Completions != nil {
		errs = append(errs, appsNonNegative(int64(*spec.Completions), fld.Child("completions"))...)
	}
	if spec.ActiveDeadlineSeconds != nil {
		errs = append(errs, appsNonNegative(*spec.ActiveDeadlineSeconds, fld.Child("activeDeadlineSeconds"))...)
	}
	if spec.BackoffLimit != nil {
		errs = append(errs, appsNonNegative(int64(*spec.BackoffLimit), fld.Child("backoffLimit"))...)
	}
	if spec.TtlSecondsAfterFinished != nil {
		errs = append(errs, appsNonNegative(int64(*spec.TtlSecondsAfterFinished), fld.Child("ttlSecondsAfterFinished"))...)
	}
	if spec.BackoffLimitPerIndex != nil {
		errs = append(errs, appsNonNegative(int64(*spec.BackoffLimitPerIndex), fld.Child("backoffLimitPerIndex"))...)
	}
	if spec.MaxFailedIndexes != nil {
		errs = append(errs, appsNonNegative(int64(*spec.MaxFailedIndexes), fld.Child("maxFailedIndexes"))...)
		if spec.BackoffLimitPerIndex == nil {
			errs = append(errs, field.Required(fld.Child("backoffLimitPerIndex"), "when maxFailedIndexes is specified"))
		}
	}
	if spec.ManagedBy != nil {
		errs = append(errs, validation.IsDomainPrefixedPath(fld.Child("managedBy"), *spec.ManagedBy)...)
		if len(*spec.ManagedBy) > batchMaxManagedByLength {
			errs = append(errs, field.TooLongMaxLength(fld.Child("managedBy"), *spec.ManagedBy, batchMaxManagedByLength))
		}
	}
	indexed := spec.GetCompletionMode() == "Indexed"
	if spec.CompletionMode != nil {
		if m := *spec.CompletionMode; m != "NonIndexed" && m != "Indexed" {
			errs = append(errs, field.NotSupported(fld.Child("completionMode"), m, []string{"NonIndexed", "Indexed"}))
		}
	}
	if indexed {
		if spec.Completions == nil {
			errs = append(errs, field.Required(fld.Child("completions"), "when completion mode is Indexed"))
		}
		if spec.Parallelism != nil && *spec.Parallelism > batchMaxParallelismForIndexedJob {
			errs = append(errs, field.Invalid(fld.Child("parallelism"), *spec.Parallelism,
				fmt.Sprintf("must be less than or equal to %d when completion mode is Indexed", batchMaxParallelismForIndexedJob)))
		}
		if spec.Completions != nil && spec.MaxFailedIndexes != nil && *spec.MaxFailedIndexes > *spec.Completions {
			errs = append(errs, field.Invalid(fld.Child("maxFailedIndexes"), *spec.MaxFailedIndexes, "must be less than or equal to completions"))
		}
		if spec.MaxFailedIndexes != nil && *spec.MaxFailedIndexes > batchMaxFailedIndexesForIndexedJob {
			errs = append(errs, field.Invalid(fld.Child("maxFailedIndexes"), *spec.MaxFailedIndexes,
				fmt.Sprintf("must be less than or equal to %d", batchMaxFailedIndexesForIndexedJob)))
		}
		if spec.Completions != nil && *spec.Completions > batchCompletionsSoftLimit && spec.BackoffLimitPerIndex != nil {
			if spec.MaxFailedIndexes == nil {
				errs = append(errs, field.Required(fld.Child("maxFailedIndexes"),
					fmt.Sprintf("must be specified when completions is above %d", batchCompletionsSoftLimit)))
			}
			if spec.Parallelism != nil && *spec.Parallelism > batchParallelismLimitForHighCompletions {
				errs = append(errs, field.Invalid(fld.Child("parallelism"), *spec.Parallelism,
					fmt.Sprintf("must be less than or equal to %d when completions are above %d and used with backoff limit per index", batchParallelismLimitForHighCompletions, batchCompletionsSoftLimit)))
			}
			if spec.MaxFailedIndexes != nil && *spec.MaxFailedIndexes > batchMaxFailedIndexesLimitForHighCompletions {
				errs = append(errs, field.Invalid(fld.Child("maxFailedIndexes"), *spec.MaxFailedIndexes,
					fmt.Sprintf("must be less than or equal to %d when completions are above %d and used with backoff limit per index", batchMaxFailedIndexesLimitForHighCompletions, batchCompletionsSoftLimit)))
			}
		}
	}
	if spec.CompletionMode == nil || *spec.CompletionMode == "NonIndexed" {
		if spec.BackoffLimitPerIndex != nil {
			errs = append(errs, field.Invalid(fld.Child("backoffLimitPerIndex"), *spec.BackoffLimitPerIndex, "requires indexed completion mode"))
		}
		if spec.MaxFailedIndexes != nil {
			errs = append(errs, field.Invalid(fld.Child("maxFailedIndexes"), *spec.MaxFailedIndexes, "requires indexed completion mode"))
		}
	}
	if spec.PodFailurePolicy != nil {
		errs = append(errs, batchPodFailurePolicy(spec, fld.Child("podFailurePolicy"))...)
	}
	if spec.SuccessPolicy != nil {
		if !indexed {
			errs = append(errs, field.Invalid(fld.Child("successPolicy"), appsJSON{spec.SuccessPolicy}, "requires indexed completion mode"))
		} else {
			errs = append(errs, batchSuccessPolicy(spec, fld.Child("successPolicy"))...)
		}
	}
	if spec.PodReplacementPolicy != nil {
		p := fld.Child("podReplacementPolicy")
		if spec.PodFailurePolicy != nil {
			if *spec.PodReplacementPolicy != "Failed" {
				errs = append(errs, field.NotSupported(p, *spec.PodReplacementPolicy, []string{"Failed"}))
			}
		} else if !contains(batchPodReplacementPolicies, *spec.PodReplacementPolicy) {
			errs = append(errs, field.NotSupported(p, *spec.PodReplacementPolicy, batchPodReplacementPolicies))
		}
	}

	tf := fld.Child("template")
	errs = append(errs, ValidatePodTemplateSpec(spec.Template, tf)...)
	if spec.Template != nil {
		rf := tf.Child("spec", "restartPolicy")
		switch rp := spec.Template.GetSpec().GetRestartPolicy(); {
		case rp == "Always" || rp == "":
			errs = append(errs, field.Required(rf, `valid values: "OnFailure", "Never"`))
		case rp != "OnFailure" && rp != "Never":
			errs = append(errs, field.NotSupported(rf, rp, []string{"OnFailure", "Never"}))
		case spec.PodFailurePolicy != nil && rp != "Never":
			errs = append(errs, field.Invalid(rf, rp, `only "Never" is supported when podFailurePolicy is specified`))
		}
	}
	return errs
}

func batchPodFailurePolicy(spec *batchv1.JobSpec, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	rules := spec.PodFailurePolicy.Rules
	rf := fld.Child("rules")
	if len(rules) > batchMaxPodFailurePolicyRules {
		errs = append(errs, field.TooMany(rf, len(rules), batchMaxPodFailurePolicyRules))
	}
	containers := map[string]bool{}
	for _, c := range spec.GetTemplate().GetSpec().GetContainers() {
		containers[c.Name] = true
	}
	for _, c := range spec.GetTemplate().GetSpec().GetInitContainers() {
		containers[c.Name] = true
	}
	for i, rule := range rules {
		p := rf.Index(i)
		ap := p.Child("action")
		switch {
		case rule.Action == "":
			errs = append(errs, field.Required(ap, fmt.Sprintf("valid values: %q", batchPodFailurePolicyActions)))
		case rule.Action == "FailIndex":
			if spec.BackoffLimitPerIndex == nil {
				errs = append(errs, field.Invalid(ap, rule.Action, "requires the backoffLimitPerIndex to be set"))
			}
		case !contains(batchPodFailurePolicyActions, rule.Action):
			errs = append(errs, field.NotSupported(ap, rule.Action, batchPodFailurePolicyActions))
		}
		if rule.OnExitCodes != nil {
			errs = append(errs, batchOnExitCodes(rule.OnExitCodes, p.Child("onExitCodes"), containers)...)
		}
		if n := len(rule.OnPodConditions); n > 0 {
			cf := p.Child("onPodConditions")
			if n > batchMaxOnPodConditionsPatterns {
				errs = append(errs, field.TooMany(cf, n, batchMaxOnPodConditionsPatterns))
			}
			for j, pat := range rule.OnPodConditions {
				pf := cf.Index(j)
				for _, msg := range validation.IsQualifiedName(pat.Type) {
					errs = append(errs, field.Invalid(pf.Child("type"), pat.Type, msg))
				}
				switch {
				case pat.Status == "":
					errs = append(errs, field.Required(pf.Child("status"), fmt.Sprintf("valid values: %q", batchConditionStatuses)))
				case !contains(batchConditionStatuses, pat.Status):
					errs = append(errs, field.NotSupported(pf.Child("status"), pat.Status, batchConditionStatuses))
				}
			}
		}
		if rule.OnExitCodes != nil && len(rule.OnPodConditions) > 0 {
			errs = append(errs, field.Invalid(p, field.OmitValueType{}, "specifying both OnExitCodes and OnPodConditions is not supported"))
		}
		if rule.OnExitCodes == nil && len(rule.OnPodConditions) == 0 {
			errs = append(errs, field.Invalid(p, field.OmitValueType{}, "specifying one of OnExitCodes and OnPodConditions is required"))
		}
	}
	return errs
}

func batchOnExitCodes(r *batchv1.PodFailurePolicyOnExitCodesRequirement, fld *field.Path, containers map[string]bool) field.ErrorList {
	var errs field.ErrorList
	switch {
	case r.Operator == "":
		errs = append(errs, field.Required(fld.Child("operator"), fmt.Sprintf("valid values: %q", batchOnExitCodesOperators)))
	case !contains(batchOnExitCodesOperators, r.Operator):
		errs = append(errs, field.NotSupported(fld.Child("operator"), r.Operator, batchOnExitCodesOperators))
	}
	if r.ContainerName != nil && !containers[*r.ContainerName] {
		errs = append(errs, field.Invalid(fld.Child("containerName"), *r.ContainerName, "must be one of the container or initContainer names in the pod template"))
	}
	vf := fld.Child("values")
	switch {
	case len(r.Values) == 0:
		errs = append(errs, field.Invalid(vf, r.Values, "at least one value is required"))
	case len(r.Values) > batchMaxOnExitCodesValues:
		errs = append(errs, field.TooMany(vf, len(r.Values), batchMaxOnExitCodesValues))
	}
	ordered := true
	seen := map[int32]bool{}
	for j, v := range r.Values {
		if r.Operator == "In" && v == 0 {
			errs = append(errs, field.Invalid(vf.Index(j), v, "must not be 0 for the In operator"))
		}
		if seen[v] {
			errs = append(errs, field.Duplicate(vf.Index(j), v))
		}
		seen[v] = true
		if j > 0 && r.Values[j-1] > v {
			ordered = false
		}
	}
	if !ordered {
		errs = append(errs, field.Invalid(vf, r.Values, "must be ordered"))
	}
	return errs
}

func batchSuccessPolicy(spec *batchv1.JobSpec, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	rules := spec.SuccessPolicy.Rules
	rf := fld.Child("rules")
	if len(rules) == 0 {
		errs = append(errs, field.Required(rf, "at least one rules must be specified when the successPolicy is specified"))
	}
	if len(rules) > batchMaxSuccessPolicyRules {
		errs = append(errs, field.TooMany(rf, len(rules), batchMaxSuccessPolicyRules))
	}
	if spec.Completions == nil {
		return errs // reported as required for Indexed Jobs
	}
	completions := *spec.Completions
	for i, rule := range rules {
		p := rf.Index(i)
		if rule.SucceededCount == nil && rule.SucceededIndexes == nil {
			errs = append(errs, field.Required(p, "at least one of succeededCount or succeededIndexes must be specified"))
		}
		var total int32
		if rule.SucceededIndexes != nil {
			sf := p.Child("succeededIndexes")
			if len(*rule.SucceededIndexes) > batchMaxSucceededIndexesLength {
				errs = append(errs, field.TooLong(sf, *rule.SucceededIndexes, batchMaxSucceededIndexesLength))
			}
			var err error
			if total, err = batchIndexesFormat(*rule.SucceededIndexes, completions); err != nil {
				errs = append(errs, field.Invalid(sf, *rule.SucceededIndexes, "error parsing succeededIndexes: "+err.Error()))
			}
		}
		if rule.SucceededCount != nil {
			cf := p.Child("succeededCount")
			errs = append(errs, appsNonNegative(int64(*rule.SucceededCount), cf)...)
			if *rule.SucceededCount > completions {
				errs = append(errs, field.Invalid(cf, *rule.SucceededCount,
					fmt.Sprintf("must be less than or equal to %d (the number of specified completions)", completions)))
			}
			if rule.SucceededIndexes != nil && *rule.SucceededCount > total {
				errs = append(errs, field.Invalid(cf, *rule.SucceededCount,
					fmt.Sprintf("must be less than or equal to %d (the number of indexes in the specified succeededIndexes field)", total)))
			}
		}
	}
	return errs
}

// batchIndexesFormat parses an interval list such as "1,3-5,7" of indexes
// below completions, returning how many indexes it holds.
func batchIndexesFormat(s string, completions int32) (int32, error) {
	if s == "" {
		return 0, nil
	}
	var total int32
	last := int32(-1)
	for _, interval := range strings.Split(s, ",") {
		x, y, err := batchIndexInterval(interval, completions)
		if err != nil {
			return 0, err
		}
		if last >= x {
			return 0, fmt.Errorf("non-increasing order, previous: %d, current: %d", last, x)
		}
		total += y - x + 1
		last = y
	}
	return total, nil
}

func batchIndexInterval(s string, completions int32) (int32, int32, error) {
	parts := strings.Split(s, "-")
	if len(parts) > 2 {
		return 0, 0, fmt.Errorf("the fragment %q violates the requirement that an index interval can have at most two parts separated by '-'", s)
	}
	x, err := strconv.Atoi(parts[0])
	if err != nil {
		return 0, 0, fmt.Errorf("cannot convert string to integer for index: %q", parts[0])
	}
	if x >= int(completions) {
		return 0, 0, fmt.Errorf("too large index: %q", parts[0])
	}
	if len(parts) == 1 {
		return int32(x), int32(x), nil
	}
	y, err := strconv.Atoi(parts[1])
	if err != nil {
		return 0, 0, fmt.Errorf("cannot convert string to integer for index: %q", parts[1])
	}
	if y >= int(completions) {
		return 0, 0, fmt.Errorf("too large index: %q", parts[1])
	}
	if x >= y {
		return 0, 0, fmt.Errorf("non-increasing order, previous: %d, current: %d", x, y)
	}
	return int32(x), int32(y), nil
}

func validateJobSpecUpdate(spec, old *batchv1.JobSpec, fld *field.Path) field.ErrorList {
	if old == nil {
		old = &batchv1.JobSpec{}
	}
	var errs field.ErrorList
	// Elastic Indexed Jobs: completions may change together with parallelism.
	if spec.Completions == nil || old.Completions == nil || *spec.Completions != *old.Completions {
		switch {
		case spec.GetCompletionMode() != "Indexed":
			errs = append(errs, batchImmutableScalar(spec.Completions, old.Completions, fld.Child("completions"))...)
		case spec.Completions == nil:
			// reported as required for Indexed Jobs
		case spec.GetParallelism() != *spec.Completions || spec.Parallelism == nil:
			errs = append(errs, field.Invalid(fld.Child("completions"), *spec.Completions, "can only be modified in tandem with spec.parallelism"))
		}
	}
	errs = append(errs, appsImmutable(spec.Selector, old.Selector, fld.Child("selector"))...)
	errs = append(errs, appsImmutable(spec.Template, old.Template, fld.Child("template"))...)
	errs = append(errs, batchImmutableScalar(spec.CompletionMode, old.CompletionMode, fld.Child("completionMode"))...)
	errs = append(errs, appsImmutable(spec.PodFailurePolicy, old.PodFailurePolicy, fld.Child("podFailurePolicy"))...)
	errs = append(errs, batchImmutableScalar(spec.BackoffLimitPerIndex, old.BackoffLimitPerIndex, fld.Child("backoffLimitPerIndex"))...)
	errs = append(errs, batchImmutableScalar(spec.ManagedBy, old.ManagedBy, fld.Child("managedBy"))...)
	errs = append(errs, appsImmutable(spec.SuccessPolicy, old.SuccessPolicy, fld.Child("successPolicy"))...)
	return errs
}

// batchImmutableScalar is upstream's ValidateImmutableField for an optional
// scalar field.
func batchImmutableScalar[T comparable](cur, old *T, fld *field.Path) field.ErrorList {
	if (cur == nil) == (old == nil) && (cur == nil || *cur == *old) {
		return nil
	}
	var v any
	if cur != nil {
		v = *cur
	}
	return field.ErrorList{field.Invalid(fld, v, appsImmutableErrorMsg)}
}

func validateJobStatus(s *batchv1.JobStatus, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, appsNonNegative(int64(s.GetActive()), fld.Child("active"))...)
	errs = append(errs, appsNonNegative(int64(s.GetSucceeded()), fld.Child("succeeded"))...)
	errs = append(errs, appsNonNegative(int64(s.GetFailed()), fld.Child("failed"))...)
	if s != nil && s.Ready != nil {
		errs = append(errs, appsNonNegative(int64(*s.Ready), fld.Child("ready"))...)
		if *s.Ready > s.Active {
			errs = append(errs, field.Invalid(fld.Child("ready"), *s.Ready, "cannot set more ready pods than active"))
		}
	}
	if s != nil && s.Terminating != nil {
		errs = append(errs, appsNonNegative(int64(*s.Terminating), fld.Child("terminating"))...)
	}
	if u := s.GetUncountedTerminatedPods(); u != nil {
		uf := fld.Child("uncountedTerminatedPods")
		seen := map[string]bool{}
		check := func(list []string, p *field.Path) {
			for i, uid := range list {
				switch {
				case uid == "":
					errs = append(errs, field.Invalid(p.Index(i), uid, "must not be empty"))
				case seen[uid]:
					errs = append(errs, field.Duplicate(p.Index(i), uid))
				default:
					seen[uid] = true
				}
			}
		}
		check(u.Succeeded, uf.Child("succeeded"))
		check(u.Failed, uf.Child("failed"))
	}
	return errs
}

// ---------------------------------------------------------------------------
// CronJob

func validateCronJob(cj, old *batchv1.CronJob) field.ErrorList {
	var errs field.ErrorList
	if old == nil && len(cj.GetMetadata().GetName()) > batchMaxCronJobNameLength {
		// Only on create, so that existing longer names can still be updated.
		errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), cj.GetMetadata().GetName(), "must be no more than 52 characters"))
	}
	spec := cj.GetSpec()
	fld := field.NewPath("spec")
	if spec == nil {
		return append(errs, field.Required(fld, ""))
	}
	var oldSpec *batchv1.CronJobSpec
	if old != nil {
		oldSpec = old.GetSpec()
		if oldSpec == nil {
			oldSpec = &batchv1.CronJobSpec{}
		}
	}
	if spec.Schedule == "" {
		errs = append(errs, field.Required(fld.Child("schedule"), ""))
	} else {
		allowTZ := oldSpec != nil && strings.Contains(oldSpec.Schedule, "TZ")
		errs = append(errs, batchSchedule(spec.Schedule, allowTZ, spec.TimeZone, fld.Child("schedule"))...)
	}
	if spec.StartingDeadlineSeconds != nil {
		errs = append(errs, appsNonNegative(*spec.StartingDeadlineSeconds, fld.Child("startingDeadlineSeconds"))...)
	}
	if oldSpec == nil || len(batchImmutableScalar(spec.TimeZone, oldSpec.TimeZone, nil)) > 0 {
		errs = append(errs, batchTimeZone(spec.TimeZone, fld.Child("timeZone"))...)
	}
	switch cp := spec.ConcurrencyPolicy; {
	case cp == "":
		errs = append(errs, field.Required(fld.Child("concurrencyPolicy"), ""))
	case !contains(batchConcurrencyPolicies, cp):
		errs = append(errs, field.NotSupported(fld.Child("concurrencyPolicy"), cp, batchConcurrencyPolicies))
	}
	errs = append(errs, batchJobTemplate(spec.JobTemplate, fld.Child("jobTemplate"))...)
	if spec.SuccessfulJobsHistoryLimit != nil {
		errs = append(errs, appsNonNegative(int64(*spec.SuccessfulJobsHistoryLimit), fld.Child("successfulJobsHistoryLimit"))...)
	}
	if spec.FailedJobsHistoryLimit != nil {
		errs = append(errs, appsNonNegative(int64(*spec.FailedJobsHistoryLimit), fld.Child("failedJobsHistoryLimit"))...)
	}
	return errs
}

func batchSchedule(schedule string, allowTZ bool, timeZone *string, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if _, err := cron.ParseStandard(schedule); err != nil {
		errs = append(errs, field.Invalid(fld, schedule, err.Error()))
	}
	switch {
	case allowTZ && strings.Contains(schedule, "TZ") && timeZone != nil:
		errs = append(errs, field.Invalid(fld, schedule, "cannot use both timeZone field and TZ or CRON_TZ in schedule"))
	case !allowTZ && strings.Contains(schedule, "TZ"):
		errs = append(errs, field.Invalid(fld, schedule, "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"))
	}
	return errs
}

func batchTimeZone(tz *string, fld *field.Path) field.ErrorList {
	if tz == nil {
		return nil
	}
	if *tz == "" {
		return field.ErrorList{field.Invalid(fld, *tz, "timeZone must be nil or non-empty string")}
	}
	for _, part := range strings.Split(*tz, "/") {
		if part == "." || part == ".." || strings.HasPrefix(part, "-") || !batchTimeZoneCharacters.MatchString(part) {
			return field.ErrorList{field.Invalid(fld, *tz, "unknown time zone "+*tz)}
		}
	}
	var errs field.ErrorList
	if strings.EqualFold(*tz, "Local") {
		errs = append(errs, field.Invalid(fld, *tz, "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones"))
	}
	if _, err := time.LoadLocation(*tz); err != nil {
		errs = append(errs, field.Invalid(fld, *tz, err.Error()))
	}
	return errs
}

// batchJobTemplate is upstream's ValidateJobTemplateSpec: the Job spec rules,
// and no selector (the server generates one for each Job).
func batchJobTemplate(t *batchv1.JobTemplateSpec, fld *field.Path) field.ErrorList {
	spec := t.GetSpec()
	if spec == nil {
		spec = &batchv1.JobSpec{}
	}
	sf := fld.Child("spec")
	errs := batchJobSpec(spec, sf)
	if spec.Selector != nil {
		errs = append(errs, field.Invalid(sf.Child("selector"), appsJSON{spec.Selector}, "`selector` will be auto-generated"))
	}
	if spec.GetManualSelector() {
		errs = append(errs, field.NotSupported(sf.Child("manualSelector"), true, []string{"nil", "false"}))
	}
	return errs
}
