package job

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	batchv1 "flotilla.io/proto/flotilla/batch/v1"
	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
)

var t0 = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)

type podOpt func(*corev1.Pod)

func pod(name, phase string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{
		Metadata: &metav1.ObjectMeta{Name: name, Uid: "uid-" + name, CreationTimestamp: timestamppb.New(t0), Finalizers: []string{trackingFinalizer}},
		Status:   &corev1.PodStatus{Phase: phase},
	}
	if phase == "Running" {
		p.Status.Conditions = []*corev1.PodCondition{{Type: "Ready", Status: "True"}}
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func finishedAt(t time.Time, code int32) podOpt {
	return func(p *corev1.Pod) {
		p.Status.ContainerStatuses = []*corev1.ContainerStatus{{Name: "c", State: &corev1.ContainerState{
			Terminated: &corev1.ContainerStateTerminated{ExitCode: code, FinishedAt: timestamppb.New(t)},
		}}}
	}
}

func index(i int) podOpt {
	return func(p *corev1.Pod) {
		p.Metadata.Annotations = map[string]string{indexAnnotation: fmt.Sprint(i)}
	}
}

func counted(p *corev1.Pod) { p.Metadata.Finalizers = nil }

func deleting(p *corev1.Pod) { p.Metadata.DeletionTimestamp = timestamppb.New(t0) }

type jobOpt func(*batchv1.Job)

func job(opts ...jobOpt) *batchv1.Job {
	j := &batchv1.Job{
		Metadata: &metav1.ObjectMeta{Name: "j", Namespace: "ns", Uid: "juid"},
		Spec: &batchv1.JobSpec{
			Parallelism: proto.Int32(1), Completions: proto.Int32(1), BackoffLimit: proto.Int32(6),
			CompletionMode: proto.String("NonIndexed"), PodReplacementPolicy: proto.String("TerminatingOrFailed"),
		},
		Status: &batchv1.JobStatus{StartTime: timestamppb.New(t0)},
	}
	for _, o := range opts {
		o(j)
	}
	return j
}

func withStatus(f func(*batchv1.JobStatus)) jobOpt { return func(j *batchv1.Job) { f(j.Status) } }
func withSpec(f func(*batchv1.JobSpec)) jobOpt     { return func(j *batchv1.Job) { f(j.Spec) } }

func TestDecide(t *testing.T) {
	b := backoff{10 * time.Second, 6 * time.Minute}
	type want struct {
		create  []int
		remove  []string
		active  int32
		succ    int32
		failed  int32
		conds   []string // types with status True
		indexes string
		requeue time.Duration
	}
	tests := []struct {
		name string
		job  *batchv1.Job
		pods []*corev1.Pod
		want want
	}{
		{name: "new job creates parallelism pods capped by completions",
			job:  job(withSpec(func(s *batchv1.JobSpec) { s.Parallelism, s.Completions = proto.Int32(3), proto.Int32(2) })),
			want: want{create: []int{-1, -1}}},
		{name: "running pods are enough",
			job:  job(withSpec(func(s *batchv1.JobSpec) { s.Parallelism, s.Completions = proto.Int32(2), proto.Int32(5) })),
			pods: []*corev1.Pod{pod("a", "Running"), pod("b", "Pending")},
			want: want{active: 2}},
		{name: "counted successes lower the pods wanted",
			job:  job(withSpec(func(s *batchv1.JobSpec) { s.Parallelism, s.Completions = proto.Int32(3), proto.Int32(4) }), withStatus(func(s *batchv1.JobStatus) { s.Succeeded = 3 })),
			want: want{create: []int{-1}, succ: 3}},
		{name: "uncounted pod released moves into the counts",
			job: job(withStatus(func(s *batchv1.JobStatus) {
				s.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{Succeeded: []string{"uid-a"}}
			})),
			pods: []*corev1.Pod{pod("a", "Succeeded", counted)},
			want: want{succ: 1, conds: []string{condSuccessCriteriaMet, condComplete}}},
		{name: "uncounted pod still holding its finalizer waits",
			job: job(withStatus(func(s *batchv1.JobStatus) {
				s.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{Succeeded: []string{"uid-a"}}
			})),
			pods: []*corev1.Pod{pod("a", "Succeeded")},
			want: want{}},
		{name: "success with pods still terminating sets only SuccessCriteriaMet",
			job:  job(withStatus(func(s *batchv1.JobStatus) { s.Succeeded = 1 })),
			pods: []*corev1.Pod{pod("b", "Running", deleting)},
			want: want{succ: 1, conds: []string{condSuccessCriteriaMet}}},
		{name: "backoff limit exceeded fails and removes running pods",
			job:  job(withSpec(func(s *batchv1.JobSpec) { s.BackoffLimit = proto.Int32(1) }), withStatus(func(s *batchv1.JobStatus) { s.Failed = 2 })),
			pods: []*corev1.Pod{pod("a", "Running")},
			want: want{remove: []string{"a"}, active: 1, failed: 2, conds: []string{condFailureTarget}}},
		{name: "failure target with nothing left becomes Failed",
			job: job(withStatus(func(s *batchv1.JobStatus) {
				s.Failed = 7
				s.Conditions = []*batchv1.JobCondition{{Type: condFailureTarget, Status: "True", Reason: reasonBackoffLimit}}
			})),
			want: want{failed: 7, conds: []string{condFailureTarget, condFailed}}},
		{name: "deadline passed",
			job:  job(withSpec(func(s *batchv1.JobSpec) { s.ActiveDeadlineSeconds = proto.Int64(30) })),
			pods: []*corev1.Pod{pod("a", "Running")},
			want: want{remove: []string{"a"}, active: 1, conds: []string{condFailureTarget}}},
		{name: "backoff delays the replacement of a failed pod",
			job:  job(withStatus(func(s *batchv1.JobStatus) { s.Failed = 2 })),
			pods: []*corev1.Pod{pod("a", "Failed", counted, finishedAt(t0.Add(50*time.Second), 1)), pod("b", "Failed", counted, finishedAt(t0.Add(55*time.Second), 1))},
			want: want{failed: 2, requeue: 15 * time.Second}},
		{name: "backoff over: replace",
			job:  job(withStatus(func(s *batchv1.JobStatus) { s.Failed = 1 })),
			pods: []*corev1.Pod{pod("a", "Failed", counted, finishedAt(t0, 1))},
			want: want{create: []int{-1}, failed: 1}},
		{name: "indexed creates the lowest missing indexes",
			job: job(withSpec(func(s *batchv1.JobSpec) {
				s.CompletionMode, s.Completions, s.Parallelism = proto.String("Indexed"), proto.Int32(5), proto.Int32(3)
			}), withStatus(func(s *batchv1.JobStatus) { s.CompletedIndexes, s.Succeeded = "0", 1 })),
			pods: []*corev1.Pod{pod("a", "Running", index(2))},
			want: want{create: []int{1, 3}, active: 1, succ: 1, indexes: "0"}},
		{name: "indexed counts a succeeded index once",
			job: job(withSpec(func(s *batchv1.JobSpec) {
				s.CompletionMode, s.Completions, s.Parallelism = proto.String("Indexed"), proto.Int32(3), proto.Int32(1)
			}), withStatus(func(s *batchv1.JobStatus) {
				s.CompletedIndexes, s.Succeeded = "0,2", 2
				s.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{Succeeded: []string{"uid-a", "uid-b"}}
			})),
			pods: []*corev1.Pod{pod("a", "Succeeded", counted, index(1)), pod("b", "Succeeded", counted, index(2))},
			want: want{succ: 3, indexes: "0-2", conds: []string{condSuccessCriteriaMet, condComplete}}},
		{name: "suspended removes active pods",
			job:  job(withSpec(func(s *batchv1.JobSpec) { s.Suspend = proto.Bool(true) })),
			pods: []*corev1.Pod{pod("a", "Running")},
			want: want{remove: []string{"a"}, active: 1, conds: []string{condSuspended}}},
		{name: "lower parallelism removes the newest pods",
			job:  job(withSpec(func(s *batchv1.JobSpec) { s.Parallelism, s.Completions = proto.Int32(1), proto.Int32(5) })),
			pods: []*corev1.Pod{pod("old", "Running"), pod("new", "Running", func(p *corev1.Pod) { p.Metadata.CreationTimestamp = timestamppb.New(t0.Add(time.Second)) })},
			want: want{remove: []string{"new"}, active: 2}},
		{name: "work queue job stops after a success",
			job:  job(withSpec(func(s *batchv1.JobSpec) { s.Parallelism, s.Completions = proto.Int32(3), nil }), withStatus(func(s *batchv1.JobStatus) { s.Succeeded = 1 })),
			pods: []*corev1.Pod{pod("a", "Running")},
			want: want{active: 1, succ: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := decide(tc.job, tc.pods, nil, t0.Add(time.Minute), b)
			var removed []string
			for _, r := range p.remove {
				removed = append(removed, r.Metadata.Name)
			}
			var conds []string
			for _, c := range p.status.Conditions {
				if c.Status == "True" {
					conds = append(conds, c.Type)
				}
			}
			got := want{create: p.create, remove: removed, active: p.status.Active, succ: p.status.Succeeded,
				failed: p.status.Failed, conds: conds, indexes: p.status.CompletedIndexes, requeue: p.requeue}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestTrack(t *testing.T) {
	j := job(withSpec(func(s *batchv1.JobSpec) {
		s.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []*batchv1.PodFailurePolicyRule{
			{Action: "Ignore", OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: "In", Values: []int32{3}}},
			{Action: "FailJob", OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: "NotIn", Values: []int32{1, 3}}},
		}}
	}), withStatus(func(s *batchv1.JobStatus) {
		s.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{Failed: []string{"uid-listed"}}
	}))
	pods := []*corev1.Pod{
		pod("ok", "Succeeded"), pod("counted", "Succeeded", counted), pod("listed", "Failed", finishedAt(t0, 1)),
		pod("retry", "Failed", finishedAt(t0, 1)), pod("ignored", "Failed", finishedAt(t0, 3)),
		pod("fatal", "Failed", finishedAt(t0, 9)), pod("gone", "Running", deleting), pod("running", "Running"),
	}
	tr := track(j, pods)
	names := func(ps []*corev1.Pod) (out []string) {
		for _, p := range ps {
			out = append(out, p.Metadata.Name)
		}
		return out
	}
	if got := names(tr.succeeded); !slices.Equal(got, []string{"ok"}) {
		t.Errorf("succeeded = %v", got)
	}
	if got := names(tr.failed); !slices.Equal(got, []string{"retry", "fatal", "gone"}) {
		t.Errorf("failed = %v", got)
	}
	if got := names(tr.dropped); !slices.Equal(got, []string{"ignored"}) {
		t.Errorf("dropped = %v", got)
	}
	if tr.failJob == nil || tr.failJob.Metadata.Name != "fatal" {
		t.Errorf("failJob = %v", tr.failJob)
	}
}

func TestBackoffDelay(t *testing.T) {
	b := backoff{10 * time.Second, 6 * time.Minute}
	for n, want := range map[int]time.Duration{0: 0, 1: 10 * time.Second, 2: 20 * time.Second, 4: 80 * time.Second, 6: 320 * time.Second, 7: 6 * time.Minute, 40: 6 * time.Minute} {
		if got := b.delay(n); got != want {
			t.Errorf("delay(%d) = %v, want %v", n, got, want)
		}
	}
}

func TestIndexesFormat(t *testing.T) {
	for _, s := range []string{"", "0", "0-3", "1,3-5,7"} {
		if got := formatIndexes(parseIndexes(s)); got != s {
			t.Errorf("round trip %q = %q", s, got)
		}
	}
}
