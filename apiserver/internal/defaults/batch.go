package defaults

// Defaulting of the batch/v1 kinds, as upstream's pkg/apis/batch/v1/defaults.go,
// plus the selector and pod labels upstream's Job registry strategy generates
// on create (generateSelector), done here when the Job already has its uid.

import (
	"math"

	"google.golang.org/protobuf/proto"

	batchv1 "flotilla.io/proto/flotilla/batch/v1"
	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
)

// The labels a Job's pods carry and are selected by.
const (
	labelJobControllerUID       = "batch.kubernetes.io/controller-uid"
	labelJobName                = "batch.kubernetes.io/job-name"
	labelJobLegacyControllerUID = "controller-uid"
	labelJobLegacyName          = "job-name"
)

func init() {
	Register("Job", func(obj proto.Message) { Job(obj.(*batchv1.Job)) })
	Register("CronJob", func(obj proto.Message) { CronJob(obj.(*batchv1.CronJob)) })
}

// Job defaults a Job in place: completions and parallelism 1 when both are
// unset (parallelism 1 when only it is), backoffLimit 6 (MaxInt32 with
// backoffLimitPerIndex), NonIndexed, not suspended, pods replaced once
// terminating or failed (Failed with a podFailurePolicy), condition patterns
// status True, no manual selector; the Job's labels from its template's when
// it has none. With metadata.uid set and no manual selector, it also
// generates the selector and the template labels that select the Job's pods.
func Job(job *batchv1.Job) {
	if job.Spec == nil {
		job.Spec = &batchv1.JobSpec{}
	}
	s := job.Spec
	if s.Completions == nil && s.Parallelism == nil {
		s.Completions = proto.Int32(1)
		s.Parallelism = proto.Int32(1)
	}
	if s.Parallelism == nil {
		s.Parallelism = proto.Int32(1)
	}
	if s.BackoffLimit == nil {
		if s.BackoffLimitPerIndex != nil {
			s.BackoffLimit = proto.Int32(math.MaxInt32)
		} else {
			s.BackoffLimit = proto.Int32(6)
		}
	}
	if s.Template == nil {
		s.Template = &corev1.PodTemplateSpec{}
	}
	if tl := s.Template.GetMetadata().GetLabels(); tl != nil {
		if job.Metadata == nil {
			job.Metadata = &metav1.ObjectMeta{}
		}
		if len(job.Metadata.Labels) == 0 {
			job.Metadata.Labels = make(map[string]string, len(tl))
			for k, v := range tl {
				job.Metadata.Labels[k] = v
			}
		}
	}
	if s.CompletionMode == nil {
		s.CompletionMode = proto.String("NonIndexed")
	}
	if s.Suspend == nil {
		s.Suspend = proto.Bool(false)
	}
	for _, rule := range s.GetPodFailurePolicy().GetRules() {
		for _, p := range rule.OnPodConditions {
			if p.Status == "" {
				p.Status = "True"
			}
		}
	}
	if s.PodReplacementPolicy == nil {
		if s.PodFailurePolicy != nil {
			s.PodReplacementPolicy = proto.String("Failed")
		} else {
			s.PodReplacementPolicy = proto.String("TerminatingOrFailed")
		}
	}
	if s.ManualSelector == nil {
		s.ManualSelector = proto.Bool(false)
	}
	PodTemplateSpec(s.Template)
	if uid := job.GetMetadata().GetUid(); uid != "" && !s.GetManualSelector() {
		generateJobSelector(job, uid)
	}
}

// generateJobSelector is upstream's generateSelector: labels the user already
// set are kept (validation rejects them when they conflict).
func generateJobSelector(job *batchv1.Job, uid string) {
	t := job.Spec.Template
	if t.Metadata == nil {
		t.Metadata = &metav1.ObjectMeta{}
	}
	if t.Metadata.Labels == nil {
		t.Metadata.Labels = map[string]string{}
	}
	for k, v := range map[string]string{
		labelJobLegacyName:          job.GetMetadata().GetName(),
		labelJobName:                job.GetMetadata().GetName(),
		labelJobLegacyControllerUID: uid,
		labelJobControllerUID:       uid,
	} {
		if _, found := t.Metadata.Labels[k]; !found {
			t.Metadata.Labels[k] = v
		}
	}
	if job.Spec.Selector == nil {
		job.Spec.Selector = &metav1.LabelSelector{}
	}
	if job.Spec.Selector.MatchLabels == nil {
		job.Spec.Selector.MatchLabels = map[string]string{}
	}
	if _, found := job.Spec.Selector.MatchLabels[labelJobControllerUID]; !found {
		job.Spec.Selector.MatchLabels[labelJobControllerUID] = uid
	}
}

// CronJob defaults a CronJob in place: concurrencyPolicy Allow, not
// suspended, 3 successful and 1 failed Jobs kept. As upstream, the Job spec
// of jobTemplate is not defaulted (each Job is when the controller creates
// it); only its pod template is.
func CronJob(cj *batchv1.CronJob) {
	if cj.Spec == nil {
		cj.Spec = &batchv1.CronJobSpec{}
	}
	s := cj.Spec
	if s.ConcurrencyPolicy == "" {
		s.ConcurrencyPolicy = "Allow"
	}
	if s.Suspend == nil {
		s.Suspend = proto.Bool(false)
	}
	if s.SuccessfulJobsHistoryLimit == nil {
		s.SuccessfulJobsHistoryLimit = proto.Int32(3)
	}
	if s.FailedJobsHistoryLimit == nil {
		s.FailedJobsHistoryLimit = proto.Int32(1)
	}
	if s.JobTemplate == nil {
		s.JobTemplate = &batchv1.JobTemplateSpec{}
	}
	if s.JobTemplate.Spec == nil {
		s.JobTemplate.Spec = &batchv1.JobSpec{}
	}
	if s.JobTemplate.Spec.Template == nil {
		s.JobTemplate.Spec.Template = &corev1.PodTemplateSpec{}
	}
	PodTemplateSpec(s.JobTemplate.Spec.Template)
}
