package job

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	batchv1 "flotilla.io/proto/flotilla/batch/v1"
	corev1 "flotilla.io/proto/flotilla/core/v1"

	"flotilla.io/controller-manager/internal/controllerutil"
)

// Names upstream gives the things a Job controller writes.
const (
	// trackingFinalizer keeps a finished pod until the Job's status counts it.
	trackingFinalizer = "batch.kubernetes.io/job-tracking"
	// indexAnnotation (and label) carries an Indexed Job pod's index.
	indexAnnotation = "batch.kubernetes.io/job-completion-index"
	// indexEnv is the env var every container of an Indexed Job pod gets.
	indexEnv = "JOB_COMPLETION_INDEX"

	condComplete           = "Complete"
	condFailed             = "Failed"
	condSuspended          = "Suspended"
	condFailureTarget      = "FailureTarget"
	condSuccessCriteriaMet = "SuccessCriteriaMet"

	reasonBackoffLimit     = "BackoffLimitExceeded"
	reasonDeadline         = "DeadlineExceeded"
	reasonPodFailurePolicy = "PodFailurePolicy"
	reasonCompletions      = "CompletionsReached"
)

// backoff is the delay policy for replacing failed pods.
type backoff struct{ base, max time.Duration }

// delay is how long after the last of n consecutive failures a replacement
// waits: base doubling per failure, capped.
func (b backoff) delay(n int) time.Duration {
	if n <= 0 {
		return 0
	}
	d := b.base
	for i := 1; i < n && d < b.max; i++ {
		d *= 2
	}
	return min(d, b.max)
}

// finished reports whether a Job has its final Complete or Failed condition.
func finished(j *batchv1.Job) (string, time.Time, bool) {
	for _, c := range j.GetStatus().GetConditions() {
		if (c.Type == condComplete || c.Type == condFailed) && c.Status == "True" {
			return c.Type, c.GetLastTransitionTime().AsTime(), true
		}
	}
	return "", time.Time{}, false
}

func condition(st *batchv1.JobStatus, typ string) *batchv1.JobCondition {
	for _, c := range st.GetConditions() {
		if c.Type == typ {
			return c
		}
	}
	return nil
}

func isTrue(st *batchv1.JobStatus, typ string) bool {
	c := condition(st, typ)
	return c != nil && c.Status == "True"
}

// setCondition sets a condition, keeping its transition time when the
// status does not change. It reports whether anything changed.
func setCondition(st *batchv1.JobStatus, typ, status, reason, msg string, now time.Time) bool {
	if c := condition(st, typ); c != nil {
		if c.Status == status && c.Reason == reason && c.Message == msg {
			return false
		}
		if c.Status != status {
			c.LastTransitionTime = timestamppb.New(now)
		}
		c.Status, c.Reason, c.Message, c.LastProbeTime = status, reason, msg, timestamppb.New(now)
		return true
	}
	st.Conditions = append(st.Conditions, &batchv1.JobCondition{
		Type: typ, Status: status, Reason: reason, Message: msg,
		LastProbeTime: timestamppb.New(now), LastTransitionTime: timestamppb.New(now),
	})
	return true
}

func hasFinalizer(p *corev1.Pod) bool {
	return slices.Contains(p.GetMetadata().GetFinalizers(), trackingFinalizer)
}

func terminal(p *corev1.Pod) bool {
	ph := p.GetStatus().GetPhase()
	return ph == "Succeeded" || ph == "Failed"
}

// podIndex is an Indexed Job pod's index, or -1.
func podIndex(p *corev1.Pod) int {
	s, ok := p.GetMetadata().GetAnnotations()[indexAnnotation]
	if !ok {
		return -1
	}
	i, err := strconv.Atoi(s)
	if err != nil || i < 0 {
		return -1
	}
	return i
}

func indexed(j *batchv1.Job) bool { return j.GetSpec().GetCompletionMode() == "Indexed" }

// policyAction is the podFailurePolicy action for a failed pod: the first
// rule that matches, "Count" when none does.
func policyAction(j *batchv1.Job, p *corev1.Pod) string {
	for _, r := range j.GetSpec().GetPodFailurePolicy().GetRules() {
		if ruleMatches(r, p) {
			return r.Action
		}
	}
	return "Count"
}

func ruleMatches(r *batchv1.PodFailurePolicyRule, p *corev1.Pod) bool {
	if e := r.GetOnExitCodes(); e != nil {
		for _, cs := range p.GetStatus().GetContainerStatuses() {
			t := cs.GetState().GetTerminated()
			if t == nil || t.ExitCode == 0 || (e.ContainerName != nil && *e.ContainerName != cs.Name) {
				continue
			}
			if slices.Contains(e.Values, t.ExitCode) == (e.Operator == "In") {
				return true
			}
		}
		return false
	}
	for _, pat := range r.GetOnPodConditions() {
		for _, c := range p.GetStatus().GetConditions() {
			if c.Type == pat.Type && c.Status == pat.Status {
				return true
			}
		}
	}
	return false
}

// tracking sorts the finished pods that still hold the tracking finalizer:
// which to add to status.uncountedTerminatedPods as succeeded or failed,
// which to release without counting (ignored by the podFailurePolicy, or
// deleted while the Job is suspended), and the first pod whose failure fails
// the Job by policy.
type tracking struct {
	succeeded, failed, dropped []*corev1.Pod
	failJob                    *corev1.Pod
}

// track looks at pods with the finalizer; pods already listed as uncounted
// are left to be released.
func track(j *batchv1.Job, pods []*corev1.Pod) tracking {
	var t tracking
	unc := j.GetStatus().GetUncountedTerminatedPods()
	listed := map[string]bool{}
	for _, u := range append(slices.Clone(unc.GetSucceeded()), unc.GetFailed()...) {
		listed[u] = true
	}
	for _, p := range pods {
		if !hasFinalizer(p) || listed[p.Metadata.Uid] {
			continue
		}
		switch {
		case p.Status.GetPhase() == "Succeeded":
			t.succeeded = append(t.succeeded, p)
		case p.Status.GetPhase() == "Failed":
			switch policyAction(j, p) {
			case "Ignore":
				t.dropped = append(t.dropped, p)
			case "FailJob":
				if t.failJob == nil {
					t.failJob = p
				}
				t.failed = append(t.failed, p)
			default:
				t.failed = append(t.failed, p)
			}
		case p.Metadata.DeletionTimestamp != nil:
			if j.GetSpec().GetSuspend() {
				t.dropped = append(t.dropped, p)
			} else {
				t.failed = append(t.failed, p)
			}
		}
	}
	return t
}

// plan is what one reconcile of a Job does.
type plan struct {
	status *batchv1.JobStatus
	// create lists the indexes of pods to create (-1 for a NonIndexed pod).
	create []int
	// remove lists active pods to delete.
	remove []*corev1.Pod
	// requeue asks to look again after this long (backoff, deadline).
	requeue time.Duration
	// event is a notable change to record, if any.
	event *event
}

type event struct{ typ, reason, msg string }

// decide computes a Job's next status and the pod changes to get there. pods
// are the Job's pods as cached; released names pods whose finalizer was just
// removed (the cache may not show it yet).
func decide(j *batchv1.Job, pods []*corev1.Pod, released map[string]bool, now time.Time, b backoff) plan {
	spec := j.GetSpec()
	st := proto.Clone(j.GetStatus()).(*batchv1.JobStatus)
	if st == nil {
		st = &batchv1.JobStatus{}
	}
	var p plan
	p.status = st
	byUID := map[string]*corev1.Pod{}
	for _, pod := range pods {
		byUID[pod.Metadata.Uid] = pod
	}
	gone := func(uid string) bool {
		pod, ok := byUID[uid]
		return !ok || released[uid] || !hasFinalizer(pod)
	}

	// Move uncounted pods that lost their finalizer into the counts.
	completed := parseIndexes(st.CompletedIndexes)
	if unc := st.UncountedTerminatedPods; unc != nil {
		var keepS, keepF []string
		for _, uid := range unc.Succeeded {
			if !gone(uid) {
				keepS = append(keepS, uid)
				continue
			}
			if indexed(j) {
				if pod, ok := byUID[uid]; ok {
					if i := podIndex(pod); i >= 0 && i < int(spec.GetCompletions()) && !completed[i] {
						completed[i] = true
						st.Succeeded++
					}
				}
			} else {
				st.Succeeded++
			}
		}
		for _, uid := range unc.Failed {
			if !gone(uid) {
				keepF = append(keepF, uid)
				continue
			}
			st.Failed++
		}
		unc.Succeeded, unc.Failed = keepS, keepF
		if len(keepS)+len(keepF) == 0 {
			st.UncountedTerminatedPods = nil
		}
	}
	if indexed(j) {
		st.CompletedIndexes = formatIndexes(completed)
	}

	var active, terminating []*corev1.Pod
	var ready int32
	activeIdx := map[int]bool{}
	for _, pod := range pods {
		switch {
		case terminal(pod):
		case pod.Metadata.DeletionTimestamp != nil:
			terminating = append(terminating, pod)
		default:
			active = append(active, pod)
			activeIdx[podIndex(pod)] = true
			if controllerutil.IsPodReady(pod) {
				ready++
			}
		}
	}
	st.Active = int32(len(active))
	st.Ready = proto.Int32(ready)
	st.Terminating = proto.Int32(int32(len(terminating)))
	pendingCount := len(st.GetUncountedTerminatedPods().GetSucceeded()) + len(st.GetUncountedTerminatedPods().GetFailed())
	settled := len(terminating) == 0 && len(active) == 0 && pendingCount == 0

	// Already decided to fail or succeed: remove what runs, then finish.
	if c := condition(st, condFailureTarget); c != nil && c.Status == "True" {
		p.remove = active
		if settled {
			setCondition(st, condFailed, "True", c.Reason, c.Message, now)
			p.event = &event{"Warning", c.Reason, c.Message}
		}
		return p
	}
	succeed := func() plan {
		const msg = "Reached expected number of succeeded pods"
		setCondition(st, condSuccessCriteriaMet, "True", reasonCompletions, msg, now)
		p.remove = active
		if settled {
			setCondition(st, condComplete, "True", reasonCompletions, msg, now)
			st.CompletionTime = timestamppb.New(now)
			p.event = &event{"Normal", "Completed", "Job completed"}
		}
		return p
	}
	if isTrue(st, condSuccessCriteriaMet) {
		return succeed()
	}

	// Suspended: no pods run, the deadline clock stops.
	if spec.GetSuspend() {
		p.remove = active
		if setCondition(st, condSuspended, "True", "JobSuspended", "Job suspended", now) {
			p.event = &event{"Normal", "Suspended", "Job suspended"}
		}
		st.StartTime = nil
		return p
	}
	if c := condition(st, condSuspended); c != nil && c.Status == "True" {
		setCondition(st, condSuspended, "False", "JobResumed", "Job resumed", now)
		p.event = &event{"Normal", "Resumed", "Job resumed"}
	}
	if st.StartTime == nil {
		st.StartTime = timestamppb.New(now)
	}

	// Failure: by policy, by backoff limit, by deadline.
	fail := func(reason, msg string) plan {
		setCondition(st, condFailureTarget, "True", reason, msg, now)
		p.remove = active
		if settled {
			setCondition(st, condFailed, "True", reason, msg, now)
			p.event = &event{"Warning", reason, msg}
		}
		return p
	}
	if st.Failed > spec.GetBackoffLimit() {
		return fail(reasonBackoffLimit, "Job has reached the specified backoff limit")
	}
	if d := spec.ActiveDeadlineSeconds; d != nil {
		deadline := st.StartTime.AsTime().Add(time.Duration(*d) * time.Second)
		if !now.Before(deadline) {
			return fail(reasonDeadline, "Job was active longer than specified deadline")
		}
		p.requeue = deadline.Sub(now)
	}

	// Success.
	var done bool
	switch {
	case indexed(j):
		done = len(completed) >= int(spec.GetCompletions())
	case spec.Completions != nil:
		done = st.Succeeded >= *spec.Completions
	default:
		done = st.Succeeded > 0 && len(active) == 0
	}
	if done {
		return succeed()
	}

	// How many pods should run.
	want := int(spec.GetParallelism())
	switch {
	case indexed(j):
		want = min(want, int(spec.GetCompletions())-len(completed))
	case spec.Completions != nil:
		want = min(want, int(*spec.Completions-st.Succeeded))
	case st.Succeeded > 0:
		want = min(want, len(active)) // a work queue Job starts no pods once one succeeded
	}
	want = max(want, 0)
	if spec.GetPodReplacementPolicy() == "Failed" {
		want -= len(terminating)
	}
	if len(active) > want {
		p.remove = excess(active, len(active)-want)
		return p
	}
	need := want - len(active)
	if need <= 0 || pendingCount > 0 { // count finished pods before replacing them

		return p
	}
	if wait := backoffWait(pods, b, now); wait > 0 {
		p.requeue = minPositive(p.requeue, wait)
		return p
	}
	if indexed(j) {
		for i := 0; i < int(spec.GetCompletions()) && len(p.create) < need; i++ {
			if !completed[i] && !activeIdx[i] {
				p.create = append(p.create, i)
			}
		}
	} else {
		for range need {
			p.create = append(p.create, -1)
		}
	}
	return p
}

func minPositive(a, b time.Duration) time.Duration {
	if a <= 0 {
		return b
	}
	return min(a, b)
}

// backoffWait is how long until a replacement may start: the failures since
// the last success set the delay, counted from the latest failure.
func backoffWait(pods []*corev1.Pod, b backoff, now time.Time) time.Duration {
	var lastSuccess time.Time
	for _, p := range pods {
		if p.GetStatus().GetPhase() == "Succeeded" {
			if t := finishTime(p); t.After(lastSuccess) {
				lastSuccess = t
			}
		}
	}
	n := 0
	var lastFailure time.Time
	for _, p := range pods {
		if p.GetStatus().GetPhase() != "Failed" {
			continue
		}
		t := finishTime(p)
		if t.After(lastSuccess) {
			n++
			if t.After(lastFailure) {
				lastFailure = t
			}
		}
	}
	if n == 0 {
		return 0
	}
	return lastFailure.Add(b.delay(n)).Sub(now)
}

// finishTime is when a pod's last container finished (its creation time if
// unknown).
func finishTime(p *corev1.Pod) time.Time {
	var t time.Time
	for _, cs := range p.GetStatus().GetContainerStatuses() {
		if f := cs.GetState().GetTerminated().GetFinishedAt(); f != nil && f.AsTime().After(t) {
			t = f.AsTime()
		}
	}
	if t.IsZero() {
		t = p.GetMetadata().GetCreationTimestamp().AsTime()
	}
	return t
}

// excess picks n active pods to delete: not ready first, then newest.
func excess(active []*corev1.Pod, n int) []*corev1.Pod {
	s := slices.Clone(active)
	sort.SliceStable(s, func(a, b int) bool {
		ra, rb := controllerutil.IsPodReady(s[a]), controllerutil.IsPodReady(s[b])
		if ra != rb {
			return !ra
		}
		return s[a].Metadata.GetCreationTimestamp().AsTime().After(s[b].Metadata.GetCreationTimestamp().AsTime())
	})
	return s[:n]
}

// parseIndexes reads upstream's interval format ("1,3-5,7").
func parseIndexes(s string) map[int]bool {
	out := map[int]bool{}
	if s == "" {
		return out
	}
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			continue
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil {
				continue
			}
		}
		for i := a; i <= b && i-a < math.MaxInt32; i++ {
			out[i] = true
		}
	}
	return out
}

// formatIndexes writes a set of indexes in upstream's interval format.
func formatIndexes(set map[int]bool) string {
	idx := make([]int, 0, len(set))
	for i := range set {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	var parts []string
	for k := 0; k < len(idx); {
		e := k
		for e+1 < len(idx) && idx[e+1] == idx[e]+1 {
			e++
		}
		if e == k {
			parts = append(parts, strconv.Itoa(idx[k]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", idx[k], idx[e]))
		}
		k = e + 1
	}
	return strings.Join(parts, ",")
}
