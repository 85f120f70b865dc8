package test

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	"flotilla.io/sdk/client"
)

func TestBindAssignsAPodOnce(t *testing.T) {
	_, c := start(t)
	ctx := ctxFor(t, 20*time.Second)
	pods := client.For[*corev1.Pod](c)
	p, err := pods.Create(ctx, pod("default", "p", nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Bind(ctx, "default", "p", "wrong-uid", "n1"); status.Code(unwrap(err)) != codes.FailedPrecondition {
		t.Fatalf("bind with a stale uid: %v", err)
	}
	bound, err := c.Bind(ctx, "default", "p", p.Metadata.Uid, "n1")
	if err != nil {
		t.Fatal(err)
	}
	if bound.Spec.NodeName != "n1" || len(bound.Status.Conditions) != 1 || bound.Status.Conditions[0].Type != "PodScheduled" || bound.Status.Conditions[0].Status != "True" {
		t.Fatalf("bound pod: node %q conditions %v", bound.Spec.NodeName, bound.Status.Conditions)
	}
	if _, err := c.Bind(ctx, "default", "p", "", "n2"); !client.IsConflict(err) {
		t.Fatalf("second bind: %v", err)
	}
	got, _ := pods.Get(ctx, "default", "p")
	if got.Spec.NodeName != "n1" {
		t.Fatalf("node after second bind: %q", got.Spec.NodeName)
	}
	// A spec update cannot move the pod.
	got.Spec.NodeName = "n3"
	if _, err := pods.Update(ctx, got); !client.IsInvalid(err) {
		t.Fatalf("moving a bound pod by update: %v", err)
	}
}

func unwrap(err error) error {
	for {
		if _, ok := status.FromError(err); ok {
			return err
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}
