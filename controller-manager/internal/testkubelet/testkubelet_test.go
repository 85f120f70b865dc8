package testkubelet

import (
	"context"
	"testing"
	"time"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"

	"flotilla.io/apiserver/testserver"
	"flotilla.io/sdk/client"
)

func TestStandIn(t *testing.T) {
	s := testserver.Start(t)
	c := s.Client(s.Config)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := Start(ctx, c, "n1", "n2"); err != nil {
		t.Fatal(err)
	}
	pods := client.For[*corev1.Pod](c)
	mk := func(name string, ann map[string]string) {
		p := &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: name, Namespace: "default", Annotations: ann},
			Spec: &corev1.PodSpec{Containers: []*corev1.Container{{Name: "c", Image: "busybox:1.35"}}}}
		if _, err := pods.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	mk("runs", nil)
	mk("done", map[string]string{ExitCode: "0"})
	mk("fails", map[string]string{ExitCode: "3", RunFor: "200ms"})
	want := map[string]string{"runs": "Running", "done": "Succeeded", "fails": "Failed"}
	for {
		ok := true
		for name, phase := range want {
			p, err := pods.Get(ctx, "default", name)
			if err != nil {
				t.Fatal(err)
			}
			if p.GetStatus().GetPhase() != phase || p.Spec.NodeName == "" {
				ok = false
			}
		}
		if ok {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("pods never reached their phases")
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err := pods.Delete(ctx, "default", "runs", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := pods.Get(ctx, "default", "runs"); client.IsNotFound(err) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatal("terminating pod never confirmed")
		case <-time.After(50 * time.Millisecond):
		}
	}
}
