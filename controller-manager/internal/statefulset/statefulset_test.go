package statefulset

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	appsv1 "flotilla.io/proto/flotilla/apps/v1"
	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"

	"flotilla.io/apiserver/testserver"
	"flotilla.io/sdk/client"
	"flotilla.io/sdk/events"
	"flotilla.io/sdk/informer"

	"flotilla.io/controller-manager/internal/controller"
	"flotilla.io/controller-manager/internal/testkubelet"
)

type env struct {
	ctx    context.Context
	sets   *client.Resource[*appsv1.StatefulSet]
	pods   *client.Resource[*corev1.Pod]
	claims *client.Resource[*corev1.PersistentVolumeClaim]
	kl     *testkubelet.Kubelet
}

func start(t *testing.T) *env {
	t.Helper()
	s := testserver.Start(t)
	c := s.Client(s.Config)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	kl, err := testkubelet.Start(ctx, c, "n1", "n2")
	if err != nil {
		t.Fatal(err)
	}
	factory := informer.NewFactory(c, informer.Options{})
	b := events.NewBroadcaster(events.Config{Client: c, Component: "test"})
	cc := &controller.Context{Client: c, Informers: factory, Recorder: b.Recorder(), Log: zap.NewNop(), Registry: prometheus.NewRegistry(), Workers: 2}
	ctrl, err := New(cc)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	t.Cleanup(cancel)
	wg.Go(func() { _ = factory.Start(ctx) })
	wg.Go(func() { _ = b.Start(ctx) })
	if !factory.WaitForSync(ctx) {
		t.Fatal("informers never synced")
	}
	wg.Go(func() { _ = ctrl.Start(ctx) })
	return &env{ctx: ctx, sets: client.For[*appsv1.StatefulSet](c), pods: client.For[*corev1.Pod](c),
		claims: client.For[*corev1.PersistentVolumeClaim](c), kl: kl}
}

func statefulSet(name string, replicas int32, mut func(*appsv1.StatefulSetSpec)) *appsv1.StatefulSet {
	labels := map[string]string{"app": name}
	s := &appsv1.StatefulSet{
		Metadata: &metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: &appsv1.StatefulSetSpec{
			Replicas: proto.Int32(replicas), ServiceName: name, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: &corev1.PodTemplateSpec{
				Metadata: &metav1.ObjectMeta{Labels: labels},
				Spec:     &corev1.PodSpec{Containers: []*corev1.Container{{Name: "c", Image: "busybox:1.35"}}},
			},
		},
	}
	if mut != nil {
		mut(s.Spec)
	}
	return s
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %s", what)
		}
	}
}

// recorder watches a StatefulSet's pods and logs, in order, each pod's
// creation (with whether its predecessor was ready then) and deletion.
type recorder struct {
	mu      sync.Mutex
	created []string
	early   []string // pods created before their predecessor was Ready
	deleted []string
}

func (e *env) record(t *testing.T, name string) *recorder {
	t.Helper()
	w, err := e.pods.Watch(e.ctx, client.WatchOptions{Namespace: "default", LabelSelector: "app=" + name})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	r := &recorder{}
	go func() {
		last := map[string]*corev1.Pod{}
		dying := map[string]bool{}
		for {
			ev, err := w.Next()
			if err != nil || ev.Object == nil {
				return
			}
			p := ev.Object
			n := p.Metadata.Name
			r.mu.Lock()
			if ev.Type == client.Added {
				r.created = append(r.created, n)
				sts := &appsv1.StatefulSet{Metadata: &metav1.ObjectMeta{Name: name}}
				if o := ordinalOf(sts, n); o > 0 {
					if prev := last[podName(sts, o-1)]; prev == nil || !healthy(prev) {
						r.early = append(r.early, n)
					}
				}
			}
			if (ev.Type == client.Deleted || p.Metadata.DeletionTimestamp != nil) && !dying[p.Metadata.Uid] {
				dying[p.Metadata.Uid] = true
				r.deleted = append(r.deleted, n)
			}
			if ev.Type == client.Deleted {
				delete(last, n)
			} else {
				last[n] = p
			}
			r.mu.Unlock()
		}
	}()
	return r
}

func (r *recorder) get() (created, early, deleted []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.created...), append([]string(nil), r.early...), append([]string(nil), r.deleted...)
}

func (e *env) waitReady(t *testing.T, name string, n int32) *appsv1.StatefulSet {
	t.Helper()
	var s *appsv1.StatefulSet
	eventually(t, name+" ready", func() bool {
		var err error
		s, err = e.sets.Get(e.ctx, "default", name)
		st := s.GetStatus()
		return err == nil && st.GetReplicas() == n && st.GetReadyReplicas() == n && st.GetObservedGeneration() == s.Metadata.Generation
	})
	return s
}

func (e *env) update(t *testing.T, name string, mut func(*appsv1.StatefulSetSpec)) {
	t.Helper()
	for {
		s, err := e.sets.Get(e.ctx, "default", name)
		if err != nil {
			t.Fatal(err)
		}
		mut(s.Spec)
		if _, err = e.sets.Update(e.ctx, s); err == nil {
			return
		} else if !client.IsConflict(err) {
			t.Fatal(err)
		}
	}
}

func TestOrderedScaleAndClaims(t *testing.T) {
	e := start(t)
	r := e.record(t, "web")
	s := statefulSet("web", 3, func(s *appsv1.StatefulSetSpec) {
		s.VolumeClaimTemplates = []*corev1.PersistentVolumeClaim{{
			Metadata: &metav1.ObjectMeta{Name: "data"},
			Spec: &corev1.PersistentVolumeClaimSpec{AccessModes: []string{"ReadWriteOnce"}, Resources: &corev1.VolumeResourceRequirements{
				Requests: map[string]*metav1.Quantity{"storage": {String_: "1Gi"}},
			}},
		}}
	})
	if _, err := e.sets.Create(e.ctx, s); err != nil {
		t.Fatal(err)
	}
	e.waitReady(t, "web", 3)
	created, early, _ := r.get()
	if join(created) != "web-0,web-1,web-2" || len(early) > 0 {
		t.Errorf("created %v, early %v; want web-0,web-1,web-2 each after its predecessor was ready", created, early)
	}
	p, err := e.pods.Get(e.ctx, "default", "web-1")
	if err != nil {
		t.Fatal(err)
	}
	if p.Spec.Hostname != "web-1" || p.Spec.Subdomain != "web" || p.Spec.Volumes[0].GetPersistentVolumeClaim().GetClaimName() != "data-web-1" {
		t.Errorf("pod hostname %q subdomain %q volumes %v", p.Spec.Hostname, p.Spec.Subdomain, p.Spec.Volumes)
	}
	for _, n := range []string{"data-web-0", "data-web-1", "data-web-2"} {
		if _, err := e.claims.Get(e.ctx, "default", n); err != nil {
			t.Errorf("claim %s: %v", n, err)
		}
	}

	e.update(t, "web", func(s *appsv1.StatefulSetSpec) { s.Replicas = proto.Int32(1) })
	e.waitReady(t, "web", 1)
	if _, _, deleted := r.get(); join(deleted) != "web-2,web-1" {
		t.Errorf("deleted %v, want web-2 then web-1", deleted)
	}
	// The claims outlive the pods (whenScaled: Retain) and are used again.
	for _, n := range []string{"data-web-1", "data-web-2"} {
		if _, err := e.claims.Get(e.ctx, "default", n); err != nil {
			t.Errorf("claim %s after scale down: %v", n, err)
		}
	}
	e.update(t, "web", func(s *appsv1.StatefulSetSpec) { s.Replicas = proto.Int32(2) })
	e.waitReady(t, "web", 2)
}

func join(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ","
		}
		out += x
	}
	return out
}

func TestHaltsOnUnreadyPod(t *testing.T) {
	e := start(t)
	if _, err := e.sets.Create(e.ctx, statefulSet("db", 1, nil)); err != nil {
		t.Fatal(err)
	}
	e.waitReady(t, "db", 1)
	e.kl.Pause(true) // new pods stay Pending
	e.update(t, "db", func(s *appsv1.StatefulSetSpec) { s.Replicas = proto.Int32(3) })
	eventually(t, "db-1 created", func() bool {
		_, err := e.pods.Get(e.ctx, "default", "db-1")
		return err == nil
	})
	time.Sleep(time.Second) // give the controller the chance to go wrong
	if _, err := e.pods.Get(e.ctx, "default", "db-2"); !client.IsNotFound(err) {
		t.Fatalf("db-2 created while db-1 was not ready (err %v)", err)
	}
	e.kl.Pause(false)
	// The paused stand-in missed db-1's events: nudge it with a label.
	p, err := e.pods.Get(e.ctx, "default", "db-1")
	if err != nil {
		t.Fatal(err)
	}
	p.Metadata.Labels["nudge"] = "1"
	if _, err := e.pods.Update(e.ctx, p); err != nil {
		t.Fatal(err)
	}
	e.waitReady(t, "db", 3)
}

func TestPartitionedRollingUpdate(t *testing.T) {
	e := start(t)
	if _, err := e.sets.Create(e.ctx, statefulSet("app", 3, nil)); err != nil {
		t.Fatal(err)
	}
	old := e.waitReady(t, "app", 3).Status.CurrentRevision
	r := e.record(t, "app")
	e.update(t, "app", func(s *appsv1.StatefulSetSpec) {
		s.Template.Spec.Containers[0].Image = "busybox:1.36"
		s.UpdateStrategy = &appsv1.StatefulSetUpdateStrategy{Type: "RollingUpdate", RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: proto.Int32(1)}}
	})
	var s *appsv1.StatefulSet
	eventually(t, "ordinals 1 and 2 updated", func() bool {
		s = e.waitReady(t, "app", 3)
		return s.Status.UpdatedReplicas == 2
	})
	if s.Status.CurrentRevision != old || s.Status.UpdateRevision == old || s.Status.CurrentReplicas != 1 {
		t.Errorf("status %v: want currentRevision %s kept with 1 current replica", s.Status, old)
	}
	for n, want := range map[string]string{"app-0": "busybox:1.35", "app-1": "busybox:1.36", "app-2": "busybox:1.36"} {
		p, err := e.pods.Get(e.ctx, "default", n)
		if err != nil || p.Spec.Containers[0].Image != want {
			t.Errorf("%s: image %v (err %v), want %s", n, p.GetSpec().GetContainers(), err, want)
		}
	}
	if _, _, deleted := r.get(); join(deleted) != "app-2,app-1" {
		t.Errorf("updated %v, want app-2 then app-1", deleted)
	}
	e.update(t, "app", func(s *appsv1.StatefulSetSpec) { s.UpdateStrategy.RollingUpdate.Partition = proto.Int32(0) })
	eventually(t, "all updated", func() bool {
		s = e.waitReady(t, "app", 3)
		return s.Status.UpdatedReplicas == 3 && s.Status.CurrentRevision == s.Status.UpdateRevision && s.Status.CurrentReplicas == 3
	})
}
