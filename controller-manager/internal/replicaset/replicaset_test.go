package replicaset_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	appsv1 "flotilla.io/proto/flotilla/apps/v1"
	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"

	"flotilla.io/apiserver/testserver"
	"flotilla.io/sdk/client"

	controllermanager "flotilla.io/controller-manager"
	"flotilla.io/controller-manager/internal/controllerutil"
	"flotilla.io/controller-manager/internal/testkubelet"
)

// cluster is a real apiserver with the named controllers and a stand-in
// kubelet running in this process.
type cluster struct {
	c       *client.Client
	kubelet *testkubelet.Kubelet
	ctx     context.Context
}

func start(t *testing.T, controllers ...string) *cluster {
	t.Helper()
	s := testserver.StartWith(t, testserver.Options{Quiet: true})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	done := make(chan error, 1)
	go func() {
		done <- controllermanager.Run(ctx, controllermanager.Config{Client: s.Config, Controllers: controllers})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("controller-manager: %v", err)
		}
	})
	c := s.Client(s.Config)
	k, err := testkubelet.Start(ctx, c, "n1", "n2", "n3")
	if err != nil {
		t.Fatal(err)
	}
	return &cluster{c: c, kubelet: k, ctx: ctx}
}

func (cl *cluster) namespace(t *testing.T, name string) {
	t.Helper()
	if _, err := client.For[*corev1.Namespace](cl.c).Create(cl.ctx, &corev1.Namespace{Metadata: &metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
}

func template(app string) *corev1.PodTemplateSpec {
	return &corev1.PodTemplateSpec{
		Metadata: &metav1.ObjectMeta{Labels: map[string]string{"app": app}},
		Spec:     &corev1.PodSpec{Containers: []*corev1.Container{{Name: "c", Image: "busybox:1.35"}}},
	}
}

func replicaSet(ns, name string, replicas int32) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		Metadata: &metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: &appsv1.ReplicaSetSpec{
			Replicas: proto.Int32(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: template(name),
		},
	}
}

// pods lists the active pods labelled app=app.
func (cl *cluster) pods(t *testing.T, ns, app string) []*corev1.Pod {
	t.Helper()
	l, err := client.For[*corev1.Pod](cl.c).List(cl.ctx, client.ListOptions{Namespace: ns, LabelSelector: "app=" + app})
	if err != nil {
		t.Fatal(err)
	}
	var out []*corev1.Pod
	for _, p := range l.Items {
		if controllerutil.IsPodActive(p) {
			out = append(out, p)
		}
	}
	return out
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (cl *cluster) waitStatus(t *testing.T, ns, name string, replicas, available int32) *appsv1.ReplicaSet {
	t.Helper()
	var rs *appsv1.ReplicaSet
	eventually(t, fmt.Sprintf("%s/%s at %d replicas, %d available", ns, name, replicas, available), func() bool {
		var err error
		rs, err = client.For[*appsv1.ReplicaSet](cl.c).Get(cl.ctx, ns, name)
		if err != nil {
			t.Fatal(err)
		}
		st := rs.GetStatus()
		return st.GetObservedGeneration() == rs.Metadata.Generation && st.GetReplicas() == replicas &&
			st.GetReadyReplicas() == available && st.GetAvailableReplicas() == available && st.GetFullyLabeledReplicas() == replicas &&
			len(cl.pods(t, ns, name)) == int(replicas)
	})
	return rs
}

func TestReplicaSet(t *testing.T) {
	cl := start(t, "replicaset")
	rsc := client.For[*appsv1.ReplicaSet](cl.c)
	podc := client.For[*corev1.Pod](cl.c)

	t.Run("scale up and down", func(t *testing.T) {
		cl.namespace(t, "scale")
		rs, err := rsc.Create(cl.ctx, replicaSet("scale", "web", 5))
		if err != nil {
			t.Fatal(err)
		}
		rs = cl.waitStatus(t, "scale", "web", 5, 5)
		for _, p := range cl.pods(t, "scale", "web") {
			if !controllerutil.IsControlledBy(p.Metadata, rs.Metadata.Uid) || !controllerutil.ControllerOf(p.Metadata).GetBlockOwnerDeletion() {
				t.Fatalf("pod %s lacks the controller reference: %v", p.Metadata.Name, p.Metadata.OwnerReferences)
			}
		}
		rs.Spec.Replicas = proto.Int32(2)
		if _, err := rsc.Update(cl.ctx, rs); err != nil {
			t.Fatal(err)
		}
		cl.waitStatus(t, "scale", "web", 2, 2)
		// A deleted pod is replaced.
		victim := cl.pods(t, "scale", "web")[0]
		if err := podc.Delete(cl.ctx, "scale", victim.Metadata.Name, client.DeleteOptions{GracePeriodSeconds: proto.Int64(0)}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "a replacement pod", func() bool {
			ps := cl.pods(t, "scale", "web")
			return len(ps) == 2 && ps[0].Metadata.Name != victim.Metadata.Name && ps[1].Metadata.Name != victim.Metadata.Name
		})
	})

	t.Run("adopt and release", func(t *testing.T) {
		cl.namespace(t, "adopt")
		orphan := &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: "orphan", Namespace: "adopt", Labels: map[string]string{"app": "web"}},
			Spec: template("web").Spec}
		if _, err := podc.Create(cl.ctx, orphan); err != nil {
			t.Fatal(err)
		}
		rs, err := rsc.Create(cl.ctx, replicaSet("adopt", "web", 3))
		if err != nil {
			t.Fatal(err)
		}
		cl.waitStatus(t, "adopt", "web", 3, 3)
		p, err := podc.Get(cl.ctx, "adopt", "orphan")
		if err != nil {
			t.Fatal(err)
		}
		if !controllerutil.IsControlledBy(p.Metadata, rs.Metadata.Uid) {
			t.Fatalf("orphan not adopted: %v", p.Metadata.OwnerReferences)
		}
		// Relabel it: it is released and replaced.
		p.Metadata.Labels["app"] = "other"
		if _, err := podc.Update(cl.ctx, p); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the relabelled pod released", func() bool {
			p, err := podc.Get(cl.ctx, "adopt", "orphan")
			return err == nil && controllerutil.ControllerOf(p.Metadata) == nil
		})
		cl.waitStatus(t, "adopt", "web", 3, 3)
	})

	t.Run("no overshoot under a burst", func(t *testing.T) {
		cl.namespace(t, "burst")
		w, err := podc.Watch(cl.ctx, client.WatchOptions{Namespace: "burst"})
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		created := map[string]bool{}
		go func() {
			for {
				ev, err := w.Next()
				if err != nil {
					return
				}
				if ev.Type == client.Added {
					mu.Lock()
					created[ev.Object.Metadata.Name] = true
					mu.Unlock()
				}
			}
		}()
		defer w.Stop()
		rs, err := rsc.Create(cl.ctx, replicaSet("burst", "web", 60))
		if err != nil {
			t.Fatal(err)
		}
		// Touch the ReplicaSet again and again while it creates, so it is
		// synced many times before the informer has seen its pods.
		for i := range 20 {
			cur, err := rsc.Get(cl.ctx, "burst", "web")
			if err != nil {
				t.Fatal(err)
			}
			if cur.Metadata.Annotations == nil {
				cur.Metadata.Annotations = map[string]string{}
			}
			cur.Metadata.Annotations["touch"] = fmt.Sprint(i)
			if _, err := rsc.Update(cl.ctx, cur); err != nil && !client.IsConflict(err) {
				t.Fatal(err)
			}
		}
		cl.waitStatus(t, "burst", "web", 60, 60)
		time.Sleep(time.Second) // room for a late, wrong create
		mu.Lock()
		defer mu.Unlock()
		if len(created) != 60 {
			t.Fatalf("%d pods created for 60 replicas of %s", len(created), rs.Metadata.Name)
		}
	})

	t.Run("not ready pods are deleted first", func(t *testing.T) {
		cl.namespace(t, "rank")
		rs := replicaSet("rank", "web", 2)
		if _, err := rsc.Create(cl.ctx, rs); err != nil {
			t.Fatal(err)
		}
		rs = cl.waitStatus(t, "rank", "web", 2, 2)
		var err error
		// Two more pods that never become ready, then scale back down.
		rs.Spec.Template.Metadata.Annotations = map[string]string{testkubelet.NotReady: "true"}
		rs.Spec.Replicas = proto.Int32(4)
		if rs, err = rsc.Update(cl.ctx, rs); err != nil {
			t.Fatal(err)
		}
		eventually(t, "4 running pods", func() bool {
			n := 0
			for _, p := range cl.pods(t, "rank", "web") {
				if p.GetStatus().GetPhase() == "Running" {
					n++
				}
			}
			return n == 4
		})
		rs, err = rsc.Get(cl.ctx, "rank", "web")
		if err != nil {
			t.Fatal(err)
		}
		rs.Spec.Replicas = proto.Int32(2)
		if _, err := rsc.Update(cl.ctx, rs); err != nil {
			t.Fatal(err)
		}
		cl.waitStatus(t, "rank", "web", 2, 2)
		for _, p := range cl.pods(t, "rank", "web") {
			if !controllerutil.IsPodReady(p) {
				t.Fatalf("a ready pod was deleted before the not-ready pod %s", p.Metadata.Name)
			}
		}
	})
}
