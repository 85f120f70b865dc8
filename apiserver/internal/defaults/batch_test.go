package defaults_test

import (
	"math"
	"testing"

	"google.golang.org/protobuf/proto"

	"flotilla.io/apiserver/internal/defaults"
	batchv1 "flotilla.io/proto/flotilla/batch/v1"
	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
)

func jobTemplate() *corev1.PodTemplateSpec {
	t := template()
	t.Spec.RestartPolicy = "Never"
	return t
}

func TestJob(t *testing.T) {
	// Without a uid the server-generated selector and labels are left out.
	j := &batchv1.Job{Metadata: &metav1.ObjectMeta{Name: "pi"}, Spec: &batchv1.JobSpec{Template: jobTemplate()}}
	defaults.Apply(j)
	wantTemplate := jobTemplate()
	defaults.PodTemplateSpec(wantTemplate)
	equal(t, j, &batchv1.Job{
		Metadata: &metav1.ObjectMeta{Name: "pi", Labels: map[string]string{"app": "web"}},
		Spec: &batchv1.JobSpec{
			Template:             wantTemplate,
			Completions:          proto.Int32(1),
			Parallelism:          proto.Int32(1),
			BackoffLimit:         proto.Int32(6),
			CompletionMode:       proto.String("NonIndexed"),
			Suspend:              proto.Bool(false),
			PodReplacementPolicy: proto.String("TerminatingOrFailed"),
			ManualSelector:       proto.Bool(false),
		},
	})

	// With a uid: the selector and the four pod labels.
	j = &batchv1.Job{Metadata: &metav1.ObjectMeta{Name: "pi", Uid: "u1"}, Spec: &batchv1.JobSpec{Template: jobTemplate()}}
	defaults.Apply(j)
	if got := j.Spec.Selector.GetMatchLabels(); len(got) != 1 || got["batch.kubernetes.io/controller-uid"] != "u1" {
		t.Fatalf("selector %v", got)
	}
	for k, v := range map[string]string{
		"app": "web", "controller-uid": "u1", "batch.kubernetes.io/controller-uid": "u1",
		"job-name": "pi", "batch.kubernetes.io/job-name": "pi",
	} {
		if got := j.Spec.Template.Metadata.Labels[k]; got != v {
			t.Fatalf("template label %s = %q, want %q", k, got, v)
		}
	}
	if len(j.Metadata.Labels) != 1 {
		t.Fatalf("job labels should be the user's template labels only: %v", j.Metadata.Labels)
	}

	// A manual selector is left alone; user labels are kept.
	j = &batchv1.Job{
		Metadata: &metav1.ObjectMeta{Name: "pi", Uid: "u1", Labels: map[string]string{"team": "a"}},
		Spec:     &batchv1.JobSpec{Template: jobTemplate(), ManualSelector: proto.Bool(true)},
	}
	defaults.Apply(j)
	if j.Spec.Selector != nil || len(j.Spec.Template.Metadata.Labels) != 1 || j.Metadata.Labels["team"] != "a" || len(j.Metadata.Labels) != 1 {
		t.Fatalf("manual selector job changed: %v", j)
	}

	// Parallelism alone: completions stay unset.
	j = &batchv1.Job{Spec: &batchv1.JobSpec{Parallelism: proto.Int32(3)}}
	defaults.Apply(j)
	if j.Spec.Completions != nil || j.Spec.GetParallelism() != 3 {
		t.Fatalf("got %v", j.Spec)
	}
	// Completions alone: parallelism 1.
	j = &batchv1.Job{Spec: &batchv1.JobSpec{Completions: proto.Int32(5)}}
	defaults.Apply(j)
	if j.Spec.GetCompletions() != 5 || j.Spec.GetParallelism() != 1 {
		t.Fatalf("got %v", j.Spec)
	}
	// backoffLimitPerIndex: backoffLimit MaxInt32. podFailurePolicy: Failed,
	// condition status True.
	j = &batchv1.Job{Spec: &batchv1.JobSpec{
		BackoffLimitPerIndex: proto.Int32(1),
		PodFailurePolicy: &batchv1.PodFailurePolicy{Rules: []*batchv1.PodFailurePolicyRule{{
			Action: "Ignore", OnPodConditions: []*batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: "DisruptionTarget"}},
		}}},
	}}
	defaults.Apply(j)
	if j.Spec.GetBackoffLimit() != math.MaxInt32 || j.Spec.GetPodReplacementPolicy() != "Failed" ||
		j.Spec.PodFailurePolicy.Rules[0].OnPodConditions[0].Status != "True" {
		t.Fatalf("got %v", j.Spec)
	}
}

func TestCronJob(t *testing.T) {
	cj := &batchv1.CronJob{Spec: &batchv1.CronJobSpec{
		Schedule:    "@daily",
		JobTemplate: &batchv1.JobTemplateSpec{Spec: &batchv1.JobSpec{Template: jobTemplate()}},
	}}
	defaults.Apply(cj)
	wantTemplate := jobTemplate()
	defaults.PodTemplateSpec(wantTemplate)
	equal(t, cj, &batchv1.CronJob{Spec: &batchv1.CronJobSpec{
		Schedule:                   "@daily",
		ConcurrencyPolicy:          "Allow",
		Suspend:                    proto.Bool(false),
		SuccessfulJobsHistoryLimit: proto.Int32(3),
		FailedJobsHistoryLimit:     proto.Int32(1),
		// As upstream, the Job spec itself is defaulted when a Job is made.
		JobTemplate: &batchv1.JobTemplateSpec{Spec: &batchv1.JobSpec{Template: wantTemplate}},
	}})
}
