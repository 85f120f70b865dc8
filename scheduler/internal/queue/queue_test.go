package queue

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"

	"flotilla.io/scheduler/internal/framework"
)

func pi(name string, prio int32, created time.Time) *framework.PodInfo {
	return framework.NewPodInfo(&corev1.Pod{
		Metadata: &metav1.ObjectMeta{Name: name, Namespace: "ns", CreationTimestamp: timestamppb.New(created)},
		Spec:     &corev1.PodSpec{Priority: &prio},
	})
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func pop(t *testing.T, q *Queue) (*QueuedPod, int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	qp, cycle, ok := q.Pop(ctx)
	if !ok {
		t.Fatal("pop: nothing active")
	}
	return qp, cycle
}

func TestPriorityThenCreation(t *testing.T) {
	q := New(Options{})
	t0 := time.Unix(1000, 0)
	q.Add(pi("late-low", 0, t0.Add(2*time.Second)))
	q.Add(pi("early-low", 0, t0))
	q.Add(pi("high", 10, t0.Add(5*time.Second)))
	for _, want := range []string{"ns/high", "ns/early-low", "ns/late-low"} {
		qp, _ := pop(t, q)
		if qp.Key != want {
			t.Fatalf("popped %s, want %s", qp.Key, want)
		}
		q.Done(qp.Key)
	}
}

func TestBackoffDoublesToMax(t *testing.T) {
	q := New(Options{})
	for attempts, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second, 5: 10 * time.Second, 9: 10 * time.Second} {
		if got := q.Backoff(attempts); got != want {
			t.Errorf("attempt %d: %v, want %v", attempts, got, want)
		}
	}
}

func TestUnschedulableWaitsForRelevantEvent(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	q := New(Options{Now: c.now})
	q.Add(pi("p", 0, c.t))
	qp, cycle := pop(t, q)
	q.AddUnschedulable(qp, cycle, []string{"NodeResourcesFit"})
	if where := q.Contains("ns/p"); where != "unschedulable" {
		t.Fatalf("pod in %q", where)
	}
	q.MoveAll(Event{Name: "NamespaceUpdate", Plugins: []string{"InterPodAffinity"}})
	if where := q.Contains("ns/p"); where != "unschedulable" {
		t.Fatalf("irrelevant event moved the pod to %q", where)
	}
	q.MoveAll(Event{Name: "AssignedPodDelete", Plugins: []string{"NodeResourcesFit"}})
	if where := q.Contains("ns/p"); where != "backoff" {
		t.Fatalf("still backing off: pod in %q", where)
	}
	c.t = c.t.Add(2 * time.Second)
	q.flush()
	if where := q.Contains("ns/p"); where != "active" {
		t.Fatalf("after backoff: pod in %q", where)
	}
}

func TestEventDuringAttemptIsNotLost(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	q := New(Options{Now: c.now})
	q.Add(pi("p", 0, c.t))
	qp, cycle := pop(t, q)
	q.MoveAll(Event{Name: "NodeAdd"}) // a node arrives while p is being scheduled
	q.AddUnschedulable(qp, cycle, []string{"NodeResourcesFit"})
	if where := q.Contains("ns/p"); where != "backoff" {
		t.Fatalf("pod in %q, want backoff", where)
	}
}

func TestOwnStatusWritesDoNotWake(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	q := New(Options{Now: c.now})
	p := pi("p", 0, c.t)
	q.Add(p)
	qp, cycle := pop(t, q)
	q.AddUnschedulable(qp, cycle, []string{"NodeResourcesFit"})
	c.t = c.t.Add(time.Minute)
	withStatus := framework.NewPodInfo(&corev1.Pod{Metadata: p.Pod.Metadata, Spec: p.Pod.Spec, Status: &corev1.PodStatus{Conditions: []*corev1.PodCondition{{Type: "PodScheduled", Status: "False"}}}})
	q.Update(withStatus)
	if where := q.Contains("ns/p"); where != "unschedulable" {
		t.Fatalf("status write moved pod to %q", where)
	}
	prio := int32(5)
	changed := framework.NewPodInfo(&corev1.Pod{Metadata: p.Pod.Metadata, Spec: &corev1.PodSpec{Priority: &prio, NodeSelector: map[string]string{"a": "b"}}})
	q.Update(changed)
	if where := q.Contains("ns/p"); where != "active" {
		t.Fatalf("spec change left pod in %q", where)
	}
}

func TestDeleteAndNomination(t *testing.T) {
	q := New(Options{})
	p := pi("p", 0, time.Now())
	q.Add(p)
	q.Nominate(p, "n1")
	if got := q.Nominated("n1"); len(got) != 1 {
		t.Fatalf("nominated %v", got)
	}
	q.Delete(p.Key)
	if q.Contains(p.Key) != "" || len(q.Nominated("n1")) != 0 {
		t.Fatal("delete left traces")
	}
	a, b, u := q.Lengths()
	if a+b+u != 0 {
		t.Fatal("queue not empty")
	}
}

func TestPopEndsWithContext(t *testing.T) {
	q := New(Options{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan bool)
	go func() {
		_, _, ok := q.Pop(ctx)
		done <- ok
	}()
	cancel()
	select {
	case ok := <-done:
		if ok {
			t.Fatal("pop returned a pod")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("pop did not return")
	}
}
