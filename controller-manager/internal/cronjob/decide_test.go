package cronjob

import (
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	batchv1 "flotilla.io/proto/flotilla/batch/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
)

var created = time.Date(2025, 3, 1, 10, 0, 30, 0, time.UTC)

func cronJob(schedule string, opts ...func(*batchv1.CronJob)) *batchv1.CronJob {
	cj := &batchv1.CronJob{
		Metadata: &metav1.ObjectMeta{Name: "cj", Namespace: "ns", Uid: "cjuid", CreationTimestamp: timestamppb.New(created)},
		Spec: &batchv1.CronJobSpec{Schedule: schedule, ConcurrencyPolicy: "Allow",
			SuccessfulJobsHistoryLimit: proto.Int32(3), FailedJobsHistoryLimit: proto.Int32(1)},
		Status: &batchv1.CronJobStatus{},
	}
	for _, o := range opts {
		o(cj)
	}
	return cj
}

// job is a Job of the CronJob scheduled at minute m after 10:00; cond is ""
// (running), "Complete" or "Failed".
func job(m int, cond string) *batchv1.Job {
	at := time.Date(2025, 3, 1, 10, m, 0, 0, time.UTC)
	j := &batchv1.Job{
		Metadata: &metav1.ObjectMeta{Name: fmt.Sprintf("cj-%d", at.Unix()/60), Uid: fmt.Sprintf("j%d", m),
			Annotations: map[string]string{scheduledAnnotation: at.Format(time.RFC3339)}},
		Status: &batchv1.JobStatus{},
	}
	if cond != "" {
		j.Status.Conditions = []*batchv1.JobCondition{{Type: cond, Status: "True", LastTransitionTime: timestamppb.New(at.Add(30 * time.Second))}}
		if cond == "Complete" {
			j.Status.CompletionTime = timestamppb.New(at.Add(30 * time.Second))
		}
	}
	return j
}

func active(jobs ...*batchv1.Job) func(*batchv1.CronJob) {
	return func(cj *batchv1.CronJob) {
		for _, j := range jobs {
			cj.Status.Active = append(cj.Status.Active, ref(j))
		}
	}
}

func lastScheduled(m int) func(*batchv1.CronJob) {
	return func(cj *batchv1.CronJob) {
		cj.Status.LastScheduleTime = timestamppb.New(time.Date(2025, 3, 1, 10, m, 0, 0, time.UTC))
	}
}

func policy(p string) func(*batchv1.CronJob) {
	return func(cj *batchv1.CronJob) { cj.Spec.ConcurrencyPolicy = p }
}

func at(m, s int) time.Time { return time.Date(2025, 3, 1, 10, m, s, 0, time.UTC) }

func TestDecide(t *testing.T) {
	tests := []struct {
		name       string
		cj         *batchv1.CronJob
		jobs       []*batchv1.Job
		now        time.Time
		create     string // "10:05" or ""
		active     int
		replace    int
		prune      []string
		eventWants string
	}{
		{name: "not yet due", cj: cronJob("*/5 * * * *"), now: at(4, 59)},
		{name: "due", cj: cronJob("*/5 * * * *"), now: at(5, 1), create: "10:05"},
		{name: "macro", cj: cronJob("@hourly"), now: at(59, 0).Add(time.Minute), create: "11:00"},
		{name: "already created", cj: cronJob("*/5 * * * *", active(job(5, ""))), jobs: []*batchv1.Job{job(5, "")}, now: at(6, 0), active: 1},
		{name: "several missed: only the latest runs", cj: cronJob("* * * * *"), now: at(7, 10), create: "10:07"},
		{name: "allow runs concurrently", cj: cronJob("* * * * *", lastScheduled(1), active(job(1, ""))), jobs: []*batchv1.Job{job(1, "")}, now: at(2, 0), create: "10:02", active: 1},
		{name: "forbid skips while one runs", cj: cronJob("* * * * *", policy("Forbid"), lastScheduled(1), active(job(1, ""))), jobs: []*batchv1.Job{job(1, "")}, now: at(2, 0), active: 1, eventWants: "JobAlreadyActive"},
		{name: "forbid runs once the active one finished", cj: cronJob("* * * * *", policy("Forbid"), lastScheduled(1), active(job(1, ""))), jobs: []*batchv1.Job{job(1, "Complete")}, now: at(2, 0), create: "10:02", eventWants: "SawCompletedJob"},
		{name: "replace deletes the running one", cj: cronJob("* * * * *", policy("Replace"), lastScheduled(1), active(job(1, ""))), jobs: []*batchv1.Job{job(1, "")}, now: at(2, 0), create: "10:02", replace: 1},
		{name: "suspended", cj: cronJob("* * * * *", func(cj *batchv1.CronJob) { cj.Spec.Suspend = proto.Bool(true) }), now: at(5, 0)},
		{name: "past the starting deadline", cj: cronJob("*/5 * * * *", func(cj *batchv1.CronJob) { cj.Spec.StartingDeadlineSeconds = proto.Int64(30) }), now: at(5, 40)}, // the window starts 30 s ago: the 10:05 run is skipped
		{name: "within the starting deadline", cj: cronJob("*/5 * * * *", func(cj *batchv1.CronJob) { cj.Spec.StartingDeadlineSeconds = proto.Int64(60) }), now: at(5, 40), create: "10:05"},
		{name: "too many missed", cj: cronJob("* * * * *"), now: at(0, 0).Add(3 * time.Hour), create: "13:00", eventWants: "TooManyMissedTimes"},
		{name: "time zone", cj: cronJob("0 12 * * *", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = proto.String("Europe/Paris") }), now: at(0, 0).Add(time.Hour + time.Minute), create: "11:00"},
		{name: "history limits", cj: cronJob("0 0 1 1 *", func(cj *batchv1.CronJob) { cj.Spec.SuccessfulJobsHistoryLimit = proto.Int32(1) }),
			jobs: []*batchv1.Job{job(3, "Complete"), job(1, "Complete"), job(2, "Complete"), job(4, "Failed"), job(5, "Failed"), job(6, "")},
			now:  at(7, 0), active: 1, prune: []string{"j1", "j2", "j4"}},
		{name: "bad schedule", cj: cronJob("61 * * * *"), now: at(5, 0), eventWants: "UnparseableSchedule"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := decide(tc.cj, tc.jobs, tc.now)
			got := ""
			if p.create != nil {
				got = p.create.UTC().Format("15:04")
				if !p.status.LastScheduleTime.AsTime().Equal(*p.create) {
					t.Errorf("lastScheduleTime %v, want %v", p.status.LastScheduleTime.AsTime(), *p.create)
				}
			}
			if got != tc.create {
				t.Errorf("create %q, want %q", got, tc.create)
			}
			if len(p.status.Active) != tc.active || len(p.replace) != tc.replace {
				t.Errorf("active %d replace %d, want %d %d", len(p.status.Active), len(p.replace), tc.active, tc.replace)
			}
			var pruned []string
			for _, j := range p.prune {
				pruned = append(pruned, j.Metadata.Uid)
			}
			if fmt.Sprint(pruned) != fmt.Sprint(tc.prune) {
				t.Errorf("pruned %v, want %v", pruned, tc.prune)
			}
			var reasons []string
			for _, e := range p.events {
				reasons = append(reasons, e.reason)
			}
			if tc.eventWants != "" && fmt.Sprint(reasons) != fmt.Sprintf("[%s]", tc.eventWants) {
				t.Errorf("events %v, want [%s]", reasons, tc.eventWants)
			}
		})
	}
}

func TestLastSuccessfulTime(t *testing.T) {
	p := decide(cronJob("0 0 1 1 *"), []*batchv1.Job{job(1, "Complete"), job(3, "Complete"), job(2, "Failed")}, at(9, 0))
	if got := p.status.LastSuccessfulTime.AsTime(); !got.Equal(at(3, 30)) {
		t.Errorf("lastSuccessfulTime %v, want 10:03:30", got)
	}
}

func TestJobName(t *testing.T) {
	if got := jobName(cronJob(""), time.Unix(27_000_000*60, 0)); got != "cj-27000000" {
		t.Errorf("jobName = %s", got)
	}
}
