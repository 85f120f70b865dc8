package test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
	"flotilla.io/sdk/client"

	"flotilla.io/apiserver/testserver"
)

func TestSmokePodCreateGetListWatch(t *testing.T) {
	s := testserver.Start(t)
	c := s.Client(s.Config)
	pods := client.For[*corev1.Pod](c)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pod := &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: "web", Namespace: "default"}, Spec: &corev1.PodSpec{Containers: []*corev1.Container{{Name: "c", Image: "busybox"}}}}
	got, err := pods.Create(ctx, proto.Clone(pod).(*corev1.Pod))
	if err != nil {
		t.Fatal(err)
	}
	if got.Metadata.Uid == "" || got.Metadata.ResourceVersion == "" {
		t.Fatalf("server fields not set: %v", got.Metadata)
	}
	g, err := pods.Get(ctx, "default", "web")
	if err != nil || g.Metadata.ResourceVersion != got.Metadata.ResourceVersion {
		t.Fatalf("get: %v %v", g, err)
	}
	l, err := pods.List(ctx, client.ListOptions{Namespace: "default"})
	if err != nil || len(l.Items) != 1 {
		t.Fatalf("list: %v %v", l, err)
	}
}
