package garbagecollector_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	appsv1 "flotilla.io/proto/flotilla/apps/v1"
	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"

	"flotilla.io/apiserver/testserver"
	"flotilla.io/sdk/client"

	controllermanager "flotilla.io/controller-manager"
)

func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last state: %s", what, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type fixture struct {
	t    *testing.T
	ctx  context.Context
	rss  *client.Resource[*appsv1.ReplicaSet]
	pods *client.Resource[*corev1.Pod]
}

// replicaSet makes a ReplicaSet and pods it owns by hand (no ReplicaSet
// controller runs); node, when set, binds the pods so their deletion waits
// for a kubelet.
func (f *fixture) replicaSet(name, node string, pods int) *appsv1.ReplicaSet {
	f.t.Helper()
	labels := map[string]string{"app": name}
	rs, err := f.rss.Create(f.ctx, &appsv1.ReplicaSet{
		Metadata: &metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: &appsv1.ReplicaSetSpec{Replicas: proto.Int32(int32(pods)), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: &corev1.PodTemplateSpec{Metadata: &metav1.ObjectMeta{Labels: labels}, Spec: &corev1.PodSpec{Containers: []*corev1.Container{{Name: "c", Image: "busybox"}}}}},
	})
	if err != nil {
		f.t.Fatal(err)
	}
	for n := range pods {
		f.pod(fmt.Sprintf("%s-%d", name, n), node, &metav1.OwnerReference{
			ApiVersion: "apps/v1", Kind: "ReplicaSet", Name: name, Uid: rs.Metadata.Uid, Controller: proto.Bool(true), BlockOwnerDeletion: proto.Bool(true),
		})
	}
	return rs
}

func (f *fixture) pod(name, node string, owners ...*metav1.OwnerReference) {
	f.t.Helper()
	if _, err := f.pods.Create(f.ctx, &corev1.Pod{
		Metadata: &metav1.ObjectMeta{Namespace: "default", Name: name, OwnerReferences: owners},
		Spec:     &corev1.PodSpec{NodeName: node, Containers: []*corev1.Container{{Name: "c", Image: "busybox"}}},
	}); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) gone(what string, get func() error) {
	f.t.Helper()
	eventually(f.t, what+" deleted", func() (bool, string) {
		err := get()
		return client.IsNotFound(err), fmt.Sprint(err)
	})
}

func TestPropagation(t *testing.T) {
	s := testserver.Start(t)
	c := s.Client(s.Config)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- controllermanager.Run(ctx, controllermanager.Config{Client: s.Config, Controllers: []string{"garbagecollector"}})
	}()
	defer func() { cancel(); <-done }()
	f := &fixture{t: t, ctx: ctx, rss: client.For[*appsv1.ReplicaSet](c), pods: client.For[*corev1.Pod](c)}
	getPod := func(name string) func() error {
		return func() error { _, err := f.pods.Get(ctx, "default", name); return err }
	}

	t.Run("background", func(t *testing.T) {
		f.t = t
		f.replicaSet("bg", "", 2)
		if err := f.rss.Delete(ctx, "default", "bg", client.DeleteOptions{PropagationPolicy: client.Background}); err != nil {
			t.Fatal(err)
		}
		f.gone("pod bg-0", getPod("bg-0"))
		f.gone("pod bg-1", getPod("bg-1"))
	})

	t.Run("foreground", func(t *testing.T) {
		f.t = t
		f.replicaSet("fg", "n1", 2) // bound pods: their deletion waits for a kubelet
		if err := f.rss.Delete(ctx, "default", "fg", client.DeleteOptions{PropagationPolicy: client.Foreground}); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"fg-0", "fg-1"} {
			eventually(t, name+" terminating", func() (bool, string) {
				p, err := f.pods.Get(ctx, "default", name)
				return err == nil && p.Metadata.DeletionTimestamp != nil, fmt.Sprint(err)
			})
		}
		// The owner waits for its blocking dependents.
		rs, err := f.rss.Get(ctx, "default", "fg")
		if err != nil || rs.Metadata.DeletionTimestamp == nil {
			t.Fatalf("owner should wait for its pods: %v %v", rs, err)
		}
		// The "kubelet" confirms one pod; the owner still waits for the other.
		if err := f.pods.Delete(ctx, "default", "fg-0", client.DeleteOptions{GracePeriodSeconds: proto.Int64(0)}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond)
		if _, err := f.rss.Get(ctx, "default", "fg"); err != nil {
			t.Fatalf("owner gone before its last blocking dependent: %v", err)
		}
		if err := f.pods.Delete(ctx, "default", "fg-1", client.DeleteOptions{GracePeriodSeconds: proto.Int64(0)}); err != nil {
			t.Fatal(err)
		}
		f.gone("replicaset fg", func() error { _, err := f.rss.Get(ctx, "default", "fg"); return err })
	})

	t.Run("orphan", func(t *testing.T) {
		f.t = t
		f.replicaSet("or", "", 2)
		if err := f.rss.Delete(ctx, "default", "or", client.DeleteOptions{PropagationPolicy: client.Orphan}); err != nil {
			t.Fatal(err)
		}
		f.gone("replicaset or", func() error { _, err := f.rss.Get(ctx, "default", "or"); return err })
		for _, name := range []string{"or-0", "or-1"} {
			p, err := f.pods.Get(ctx, "default", name)
			if err != nil || len(p.Metadata.OwnerReferences) != 0 {
				t.Fatalf("orphaned pod %s: %v %v", name, p, err)
			}
		}
	})

	t.Run("a dependent with a live owner keeps it", func(t *testing.T) {
		f.t = t
		live := f.replicaSet("live", "", 0)
		f.pod("shared", "",
			&metav1.OwnerReference{ApiVersion: "apps/v1", Kind: "ReplicaSet", Name: "live", Uid: live.Metadata.Uid},
			&metav1.OwnerReference{ApiVersion: "apps/v1", Kind: "ReplicaSet", Name: "never-was", Uid: "0d4f0000-0000-0000-0000-000000000000"})
		eventually(t, "dangling ref dropped", func() (bool, string) {
			p, err := f.pods.Get(ctx, "default", "shared")
			if err != nil {
				return false, err.Error()
			}
			return len(p.Metadata.OwnerReferences) == 1 && p.Metadata.OwnerReferences[0].Name == "live", fmt.Sprint(p.Metadata.OwnerReferences)
		})
		// A pod whose only owner never existed is collected.
		f.pod("stray", "", &metav1.OwnerReference{ApiVersion: "v1", Kind: "ReplicationController", Name: "ghost", Uid: "0d4f0000-0000-0000-0000-000000000001"})
		f.gone("stray pod", getPod("stray"))
	})
}
