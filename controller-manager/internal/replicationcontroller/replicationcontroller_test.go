package replicationcontroller_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"

	"flotilla.io/apiserver/testserver"
	"flotilla.io/sdk/client"

	controllermanager "flotilla.io/controller-manager"
	"flotilla.io/controller-manager/internal/controllerutil"
	"flotilla.io/controller-manager/internal/testkubelet"
)

func TestReplicationController(t *testing.T) {
	s := testserver.StartWith(t, testserver.Options{Quiet: true})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- controllermanager.Run(ctx, controllermanager.Config{Client: s.Config, Controllers: []string{"replicationcontroller"}})
	}()
	defer func() { cancel(); <-done }()
	c := s.Client(s.Config)
	if _, err := testkubelet.Start(ctx, c, "n1", "n2"); err != nil {
		t.Fatal(err)
	}
	rcs := client.For[*corev1.ReplicationController](c)
	pods := client.For[*corev1.Pod](c)
	orphan := &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: "orphan", Namespace: "default", Labels: map[string]string{"app": "legacy"}},
		Spec: &corev1.PodSpec{Containers: []*corev1.Container{{Name: "c", Image: "busybox:1.35"}}}}
	if _, err := pods.Create(ctx, orphan); err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.Create(ctx, &corev1.ReplicationController{
		Metadata: &metav1.ObjectMeta{Name: "legacy", Namespace: "default"},
		Spec: &corev1.ReplicationControllerSpec{
			Replicas: proto.Int32(4),
			Template: &corev1.PodTemplateSpec{
				Metadata: &metav1.ObjectMeta{Labels: map[string]string{"app": "legacy"}},
				Spec:     &corev1.PodSpec{Containers: []*corev1.Container{{Name: "c", Image: "busybox:1.35"}}},
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	wait := func(replicas int32) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for {
			cur, err := rcs.Get(ctx, "default", "legacy")
			if err != nil {
				t.Fatal(err)
			}
			l, err := pods.List(ctx, client.ListOptions{Namespace: "default", LabelSelector: "app=legacy"})
			if err != nil {
				t.Fatal(err)
			}
			owned := 0
			for _, p := range l.Items {
				if controllerutil.IsPodActive(p) && controllerutil.IsControlledBy(p.Metadata, rc.Metadata.Uid) {
					owned++
				}
			}
			st := cur.GetStatus()
			if owned == int(replicas) && st.GetReplicas() == replicas && st.GetAvailableReplicas() == replicas && st.GetObservedGeneration() == cur.Metadata.Generation {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("rc never reached %d replicas: %d owned pods, status %v", replicas, owned, st)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	wait(4)
	if p, err := pods.Get(ctx, "default", "orphan"); err != nil || !controllerutil.IsControlledBy(p.Metadata, rc.Metadata.Uid) {
		t.Fatalf("orphan not adopted: %v %v", err, p.GetMetadata().GetOwnerReferences())
	}
	cur, err := rcs.Get(ctx, "default", "legacy")
	if err != nil {
		t.Fatal(err)
	}
	cur.Spec.Replicas = proto.Int32(1)
	if _, err := rcs.Update(ctx, cur); err != nil {
		t.Fatal(err)
	}
	wait(1)
}
