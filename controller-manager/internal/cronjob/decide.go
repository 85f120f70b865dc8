package cronjob

import (
	"fmt"
	"sort"
	"time"

	"github.com/robfig/cron/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	batchv1 "flotilla.io/proto/flotilla/batch/v1"
	corev1 "flotilla.io/proto/flotilla/core/v1"
)

// scheduledAnnotation records on each Job the time it was scheduled for.
const scheduledAnnotation = "batch.kubernetes.io/cronjob-scheduled-timestamp"

// tooManyMissed is where upstream starts warning about missed schedules.
const tooManyMissed = 100

// parseSchedule reads spec.schedule (five fields or a macro such as
// @hourly) in spec.timeZone (the controller's local zone when unset).
func parseSchedule(cj *batchv1.CronJob) (cron.Schedule, error) {
	s := cj.GetSpec().GetSchedule()
	if tz := cj.GetSpec().TimeZone; tz != nil {
		if _, err := time.LoadLocation(*tz); err != nil {
			return nil, fmt.Errorf("unknown time zone %q: %w", *tz, err)
		}
		s = "TZ=" + *tz + " " + s
	}
	sched, err := cron.ParseStandard(s)
	if err != nil {
		return nil, fmt.Errorf("unparseable schedule %q: %w", cj.GetSpec().GetSchedule(), err)
	}
	return sched, nil
}

// mostRecent is the latest schedule time in (earliest, now] and how many
// were missed in that window, stopping at a million.
func mostRecent(sched cron.Schedule, cj *batchv1.CronJob, now time.Time) (*time.Time, int) {
	earliest := cj.GetMetadata().GetCreationTimestamp().AsTime()
	if last := cj.GetStatus().GetLastScheduleTime(); last != nil {
		earliest = last.AsTime()
	}
	if d := cj.GetSpec().StartingDeadlineSeconds; d != nil {
		if from := now.Add(-time.Duration(*d) * time.Second); from.After(earliest) {
			earliest = from
		}
	}
	var recent *time.Time
	n := 0
	for t := sched.Next(earliest); !t.IsZero() && !t.After(now) && n < 1_000_000; t = sched.Next(t) {
		recent = &t
		n++
	}
	return recent, n
}

// jobName is <cronjob>-<scheduled time in minutes since the epoch>, upstream's.
func jobName(cj *batchv1.CronJob, scheduled time.Time) string {
	return fmt.Sprintf("%s-%d", cj.GetMetadata().GetName(), scheduled.Unix()/60)
}

// jobFinished is a Job's final condition type ("Complete", "Failed") or "".
func jobFinished(j *batchv1.Job) (string, time.Time) {
	for _, c := range j.GetStatus().GetConditions() {
		if (c.Type == "Complete" || c.Type == "Failed") && c.Status == "True" {
			return c.Type, c.GetLastTransitionTime().AsTime()
		}
	}
	return "", time.Time{}
}

type event struct{ typ, reason, msg string }

// plan is what one reconcile of a CronJob does.
type plan struct {
	status *batchv1.CronJobStatus
	// create, when set, is the scheduled time of the Job to create now.
	create *time.Time
	// replace lists active Jobs to delete first (concurrencyPolicy Replace).
	replace []*corev1.ObjectReference
	// prune lists finished Jobs past the history limits.
	prune   []*batchv1.Job
	requeue time.Duration
	events  []event
}

// decide computes a CronJob's next status and actions from its Jobs (those
// it controls) at time now.
func decide(cj *batchv1.CronJob, jobs []*batchv1.Job, now time.Time) plan {
	st := proto.Clone(cj.GetStatus()).(*batchv1.CronJobStatus)
	if st == nil {
		st = &batchv1.CronJobStatus{}
	}
	p := plan{status: st}
	byUID := map[string]*batchv1.Job{}
	for _, j := range jobs {
		byUID[j.Metadata.Uid] = j
	}

	// The active list holds the Jobs that exist and have not finished.
	var active []*corev1.ObjectReference
	for _, ref := range st.Active {
		j, ok := byUID[ref.Uid]
		if !ok {
			p.events = append(p.events, event{"Normal", "MissingJob", "Active job went missing: " + ref.Name})
			continue
		}
		if typ, _ := jobFinished(j); typ == "" {
			active = append(active, ref)
		}
	}
	for _, j := range jobs {
		typ, at := jobFinished(j)
		if typ == "" && !inList(active, j) && j.Metadata.DeletionTimestamp == nil {
			active = append(active, ref(j))
		}
		if typ == "Complete" {
			if ct := j.GetStatus().GetCompletionTime(); ct != nil {
				at = ct.AsTime()
			}
			if st.LastSuccessfulTime == nil || at.After(st.LastSuccessfulTime.AsTime()) {
				st.LastSuccessfulTime = timestamppb.New(at)
			}
		}
		if typ != "" && inList(st.Active, j) {
			p.events = append(p.events, event{"Normal", "SawCompletedJob", fmt.Sprintf("Saw completed job: %s, condition: %s", j.Metadata.Name, typ)})
		}
	}
	st.Active = active
	p.prune = pruneHistory(cj, jobs)

	if cj.GetMetadata().GetDeletionTimestamp() != nil || cj.GetSpec().GetSuspend() {
		return p
	}
	sched, err := parseSchedule(cj)
	if err != nil {
		p.events = append(p.events, event{"Warning", "UnparseableSchedule", err.Error()})
		return p
	}
	next := sched.Next(now)
	if !next.IsZero() {
		p.requeue = next.Sub(now) + 100*time.Millisecond
	}
	scheduled, missed := mostRecent(sched, cj, now)
	if scheduled == nil {
		return p
	}
	if missed > tooManyMissed {
		p.events = append(p.events, event{"Warning", "TooManyMissedTimes",
			"too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew"})
	}
	if d := cj.GetSpec().StartingDeadlineSeconds; d != nil && scheduled.Add(time.Duration(*d)*time.Second).Before(now) {
		p.events = append(p.events, event{"Warning", "MissSchedule", "Missed scheduled time to start a job: " + scheduled.UTC().Format(time.RFC1123Z)})
		return p
	}
	name := jobName(cj, *scheduled)
	for _, j := range jobs {
		if j.Metadata.Name == name {
			return p // this schedule already has its Job
		}
	}
	switch cj.GetSpec().GetConcurrencyPolicy() {
	case "Forbid":
		if len(active) > 0 {
			// The schedule stays due; it runs once the active Job ends
			// (if still within startingDeadlineSeconds).
			p.events = append(p.events, event{"Normal", "JobAlreadyActive", "Not starting job because prior execution is running and concurrency policy is Forbid"})
			return p
		}
	case "Replace":
		p.replace = active
		st.Active = nil
	}
	p.create = scheduled
	st.LastScheduleTime = timestamppb.New(*scheduled)
	return p
}

func ref(j *batchv1.Job) *corev1.ObjectReference {
	return &corev1.ObjectReference{
		Kind: "Job", ApiVersion: "batch/v1", Namespace: j.Metadata.Namespace, Name: j.Metadata.Name,
		Uid: j.Metadata.Uid, ResourceVersion: j.Metadata.ResourceVersion,
	}
}

func inList(refs []*corev1.ObjectReference, j *batchv1.Job) bool {
	for _, r := range refs {
		if r.Uid == j.Metadata.Uid {
			return true
		}
	}
	return false
}

// pruneHistory picks the oldest finished Jobs beyond the successful and
// failed history limits.
func pruneHistory(cj *batchv1.CronJob, jobs []*batchv1.Job) []*batchv1.Job {
	var succeeded, failed []*batchv1.Job
	for _, j := range jobs {
		if j.Metadata.DeletionTimestamp != nil {
			continue
		}
		switch typ, _ := jobFinished(j); typ {
		case "Complete":
			succeeded = append(succeeded, j)
		case "Failed":
			failed = append(failed, j)
		}
	}
	var out []*batchv1.Job
	for _, h := range []struct {
		jobs  []*batchv1.Job
		limit *int32
	}{{succeeded, cj.GetSpec().SuccessfulJobsHistoryLimit}, {failed, cj.GetSpec().FailedJobsHistoryLimit}} {
		if h.limit == nil || len(h.jobs) <= int(*h.limit) {
			continue
		}
		sort.Slice(h.jobs, func(a, b int) bool { return startTime(h.jobs[a]).Before(startTime(h.jobs[b])) })
		out = append(out, h.jobs[:len(h.jobs)-int(*h.limit)]...)
	}
	return out
}

// startTime is when a Job was scheduled for (its creation if unknown).
func startTime(j *batchv1.Job) time.Time {
	if t, err := time.Parse(time.RFC3339, j.GetMetadata().GetAnnotations()[scheduledAnnotation]); err == nil {
		return t
	}
	return j.GetMetadata().GetCreationTimestamp().AsTime()
}
