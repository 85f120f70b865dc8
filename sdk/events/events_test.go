package events

import (
	"context"
	"testing"
	"time"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"

	"flotilla.io/sdk/client"
	"flotilla.io/sdk/fakeserver"
)

func TestRecorderCreatesAndAggregates(t *testing.T) {
	_, c := fakeserver.Start(t)
	b := NewBroadcaster(Config{Client: c, Component: "test-controller"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- b.Start(ctx) }()
	pod := &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: "web", Namespace: "shop", Uid: "u1"}}
	r := b.Recorder()
	r.Eventf(pod, Warning, "FailedScheduling", "0/%d nodes are available", 3)
	r.Eventf(pod, Warning, "FailedScheduling", "0/%d nodes are available", 3)
	r.Event(pod, Normal, "Scheduled", "assigned shop/web to n1")
	events := client.For[*corev1.Event](c)
	deadline := time.Now().Add(5 * time.Second)
	for {
		l, err := events.List(ctx, client.ListOptions{Namespace: "shop"})
		if err != nil {
			t.Fatal(err)
		}
		byReason := map[string]*corev1.Event{}
		for _, ev := range l.Items {
			byReason[ev.Reason] = ev
		}
		f, s := byReason["FailedScheduling"], byReason["Scheduled"]
		if len(l.Items) == 2 && f != nil && f.Count == 2 && s != nil {
			if f.InvolvedObject.Kind != "Pod" || f.InvolvedObject.Uid != "u1" || f.Source.Component != "test-controller" || f.Type != Warning {
				t.Fatalf("event fields: %v", f)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("events: %v", l.Items)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
}

func TestRecorderNeverBlocks(t *testing.T) {
	_, c := fakeserver.Start(t)
	b := NewBroadcaster(Config{Client: c, Component: "x", QueueSize: 2})
	pod := &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: "p", Namespace: "default"}}
	for n := 0; n < 10; n++ { // not started: the queue fills and the rest are dropped
		b.Recorder().Event(pod, Normal, "R", "m")
	}
	if len(b.queue) != 2 {
		t.Fatalf("queued %d", len(b.queue))
	}
}

func TestSpamFilterLimitsEventsPerObject(t *testing.T) {
	_, c := fakeserver.Start(t)
	b := NewBroadcaster(Config{Client: c, Component: "x", QueueSize: 1000})
	now := time.Now()
	b.now = func() time.Time { return now }
	pod := &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: "p", Namespace: "default", Uid: "u"}}
	other := &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: "q", Namespace: "default", Uid: "v"}}
	for n := 0; n < 100; n++ {
		b.Recorder().Eventf(pod, Normal, "R", "event %d", n)
	}
	if len(b.queue) != 25 {
		t.Fatalf("queued %d events for one object, want the burst of 25", len(b.queue))
	}
	b.Recorder().Event(other, Normal, "R", "m") // another object has its own budget
	if len(b.queue) != 26 {
		t.Fatalf("other object's event dropped")
	}
	now = now.Add(5 * time.Minute) // one token back
	b.Recorder().Event(pod, Normal, "R", "later")
	b.Recorder().Event(pod, Normal, "R", "too soon")
	if len(b.queue) != 27 {
		t.Fatalf("after 5 minutes: %d queued, want 27", len(b.queue))
	}
}
