package deployment_test

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
	"flotilla.io/controller-manager/internal/deployment"
	"flotilla.io/controller-manager/internal/testkubelet"
)

type env struct {
	t       *testing.T
	ctx     context.Context
	c       *client.Client
	deploys *client.Resource[*appsv1.Deployment]
	rss     *client.Resource[*appsv1.ReplicaSet]
	pods    *client.Resource[*corev1.Pod]
}

func setup(t *testing.T) *env {
	s := testserver.StartWith(t, testserver.Options{Quiet: true})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	done := make(chan error, 1)
	go func() {
		done <- controllermanager.Run(ctx, controllermanager.Config{Client: s.Config, Controllers: []string{"replicaset", "deployment"}})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("controller-manager: %v", err)
		}
	})
	c := s.Client(s.Config)
	if _, err := testkubelet.Start(ctx, c, "n1", "n2", "n3"); err != nil {
		t.Fatal(err)
	}
	return &env{t: t, ctx: ctx, c: c, deploys: client.For[*appsv1.Deployment](c), rss: client.For[*appsv1.ReplicaSet](c), pods: client.For[*corev1.Pod](c)}
}

func (e *env) namespace(name string) {
	e.t.Helper()
	if _, err := client.For[*corev1.Namespace](e.c).Create(e.ctx, &corev1.Namespace{Metadata: &metav1.ObjectMeta{Name: name}}); err != nil {
		e.t.Fatal(err)
	}
}

func intOrStr(n int32) *metav1.IntOrString { return &metav1.IntOrString{IntVal: n} }

func newDeployment(ns, name string, replicas int32) *appsv1.Deployment {
	return &appsv1.Deployment{
		Metadata: &metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: &appsv1.DeploymentSpec{
			Replicas: proto.Int32(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: &corev1.PodTemplateSpec{
				Metadata: &metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec:     &corev1.PodSpec{Containers: []*corev1.Container{{Name: "c", Image: "busybox:1.35"}}},
			},
			Strategy: &appsv1.DeploymentStrategy{Type: "RollingUpdate", RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: intOrStr(3), MaxUnavailable: intOrStr(2)}},
		},
	}
}

func (e *env) eventually(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *env) get(ns, name string) *appsv1.Deployment {
	e.t.Helper()
	d, err := e.deploys.Get(e.ctx, ns, name)
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

// update re-reads the deployment, changes it and writes it, retrying
// conflicts with the controller's writes.
func (e *env) update(ns, name string, change func(d *appsv1.Deployment)) {
	e.t.Helper()
	for {
		d := e.get(ns, name)
		change(d)
		_, err := e.deploys.Update(e.ctx, d)
		if client.IsConflict(err) {
			continue
		}
		if err != nil {
			e.t.Fatal(err)
		}
		return
	}
}

func condition(d *appsv1.Deployment, typ string) *appsv1.DeploymentCondition {
	return deployment.GetCondition(d.GetStatus(), typ)
}

// waitComplete waits for the rollout to finish: every replica updated and
// available, Progressing=NewReplicaSetAvailable.
func (e *env) waitComplete(ns, name string) *appsv1.Deployment {
	e.t.Helper()
	var d *appsv1.Deployment
	e.eventually(fmt.Sprintf("deployment %s/%s complete", ns, name), func() bool {
		d = e.get(ns, name)
		st := d.GetStatus()
		want := d.Spec.GetReplicas()
		p := condition(d, deployment.Progressing)
		a := condition(d, deployment.Available)
		return st.GetObservedGeneration() == d.Metadata.Generation && st.GetUpdatedReplicas() == want && st.GetReplicas() == want &&
			st.GetAvailableReplicas() == want && p != nil && p.Reason == deployment.ReasonNewRSAvailable && a != nil && a.Status == "True" &&
			len(e.activePods(ns, name)) == int(want)
	})
	return d
}

func (e *env) activePods(ns, app string) []*corev1.Pod {
	l, err := e.pods.List(e.ctx, client.ListOptions{Namespace: ns, LabelSelector: "app=" + app})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []*corev1.Pod
	for _, p := range l.Items {
		if controllerutil.IsPodActive(p) {
			out = append(out, p)
		}
	}
	return out
}

func (e *env) replicaSets(ns string) map[string]*appsv1.ReplicaSet {
	l, err := e.rss.List(e.ctx, client.ListOptions{Namespace: ns})
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]*appsv1.ReplicaSet{}
	for _, rs := range l.Items {
		out[rs.Metadata.Annotations[deployment.RevisionAnnotation]] = rs
	}
	return out
}

// podWatch follows the pods of a namespace and checks an invariant after
// every change.
type podWatch struct {
	mu   sync.Mutex
	pods map[string]*corev1.Pod
	err  error
}

func (e *env) watchPods(ns string, check func(pods map[string]*corev1.Pod) error) *podWatch {
	w, err := e.pods.Watch(e.ctx, client.WatchOptions{Namespace: ns})
	if err != nil {
		e.t.Fatal(err)
	}
	pw := &podWatch{pods: map[string]*corev1.Pod{}}
	go func() {
		defer w.Stop()
		for {
			ev, err := w.Next()
			if err != nil {
				return
			}
			pw.mu.Lock()
			if ev.Type == client.Deleted {
				delete(pw.pods, ev.Object.Metadata.Name)
			} else if ev.Type != client.Bookmark {
				pw.pods[ev.Object.Metadata.Name] = ev.Object
			}
			if pw.err == nil {
				pw.err = check(pw.pods)
			}
			pw.mu.Unlock()
		}
	}()
	e.t.Cleanup(w.Stop)
	return pw
}

func (pw *podWatch) check(t *testing.T) {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	if pw.err != nil {
		t.Fatal(pw.err)
	}
}

func TestDeployment(t *testing.T) {
	e := setup(t)

	t.Run("rolling update keeps within maxSurge and maxUnavailable", func(t *testing.T) {
		e.t = t
		e.namespace("roll")
		if _, err := e.deploys.Create(e.ctx, newDeployment("roll", "web", 10)); err != nil {
			t.Fatal(err)
		}
		d := e.waitComplete("roll", "web")
		if d.Metadata.Annotations[deployment.RevisionAnnotation] != "1" {
			t.Fatalf("revision %q", d.Metadata.Annotations[deployment.RevisionAnnotation])
		}
		for _, p := range e.activePods("roll", "web") {
			if p.Metadata.Labels[deployment.HashLabel] == "" {
				t.Fatalf("pod %s has no pod-template-hash", p.Metadata.Name)
			}
		}
		minAvailable, maxPods := 10, 0
		pw := e.watchPods("roll", func(pods map[string]*corev1.Pod) error {
			avail, live := 0, 0
			for _, p := range pods {
				if p.Metadata.DeletionTimestamp != nil || !controllerutil.IsPodActive(p) {
					continue
				}
				live++
				if controllerutil.IsPodReady(p) {
					avail++
				}
			}
			maxPods = max(maxPods, live)
			if len(pods) >= 10 { // the watch has caught up with the list
				minAvailable = min(minAvailable, avail)
			}
			if live > 13 {
				return fmt.Errorf("%d pods exceed replicas+maxSurge=13", live)
			}
			return nil
		})
		time.Sleep(200 * time.Millisecond)
		e.update("roll", "web", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "busybox:1.36" })
		d = e.waitComplete("roll", "web")
		pw.check(t)
		if minAvailable < 8 {
			t.Fatalf("available pods dropped to %d, below replicas-maxUnavailable=8", minAvailable)
		}
		t.Logf("rollout: min available %d, max pods %d", minAvailable, maxPods)
		for _, p := range e.activePods("roll", "web") {
			if p.Spec.Containers[0].Image != "busybox:1.36" {
				t.Fatalf("pod %s still runs %s", p.Metadata.Name, p.Spec.Containers[0].Image)
			}
		}
		rss := e.replicaSets("roll")
		if len(rss) != 2 || rss["1"].Spec.GetReplicas() != 0 || rss["2"].Spec.GetReplicas() != 10 || d.Metadata.Annotations[deployment.RevisionAnnotation] != "2" {
			t.Fatalf("replicasets after the rollout: %v", rss)
		}

		// Rollback (what `flotctl rollout undo` does): the template of
		// revision 1 again. Its ReplicaSet comes back as revision 3.
		old := rss["1"].Spec.Template
		e.update("roll", "web", func(d *appsv1.Deployment) {
			d.Spec.Template = proto.Clone(old).(*corev1.PodTemplateSpec)
			delete(d.Spec.Template.Metadata.Labels, deployment.HashLabel)
		})
		d = e.waitComplete("roll", "web")
		rss = e.replicaSets("roll")
		if d.Metadata.Annotations[deployment.RevisionAnnotation] != "3" || rss["3"] == nil || rss["3"].Spec.GetReplicas() != 10 || rss["3"].Spec.Template.Spec.Containers[0].Image != "busybox:1.35" {
			t.Fatalf("after rollback: revision %s, replicasets %v", d.Metadata.Annotations[deployment.RevisionAnnotation], rss)
		}
	})

	t.Run("recreate", func(t *testing.T) {
		e.t = t
		e.namespace("recreate")
		d := newDeployment("recreate", "web", 4)
		d.Spec.Strategy = &appsv1.DeploymentStrategy{Type: "Recreate"}
		if _, err := e.deploys.Create(e.ctx, d); err != nil {
			t.Fatal(err)
		}
		e.waitComplete("recreate", "web")
		pw := e.watchPods("recreate", func(pods map[string]*corev1.Pod) error {
			var oldPods, newPods int
			for _, p := range pods {
				if p.Spec.Containers[0].Image == "busybox:1.36" {
					newPods++
				} else {
					oldPods++
				}
			}
			if oldPods > 0 && newPods > 0 {
				return fmt.Errorf("%d old pods still exist next to %d new ones", oldPods, newPods)
			}
			return nil
		})
		time.Sleep(200 * time.Millisecond)
		e.update("recreate", "web", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "busybox:1.36" })
		e.waitComplete("recreate", "web")
		pw.check(t)
	})

	t.Run("pause and resume", func(t *testing.T) {
		e.t = t
		e.namespace("pause")
		if _, err := e.deploys.Create(e.ctx, newDeployment("pause", "web", 3)); err != nil {
			t.Fatal(err)
		}
		e.waitComplete("pause", "web")
		e.update("pause", "web", func(d *appsv1.Deployment) { d.Spec.Paused = true })
		e.eventually("Progressing=DeploymentPaused", func() bool {
			c := condition(e.get("pause", "web"), deployment.Progressing)
			return c != nil && c.Reason == deployment.ReasonPaused && c.Status == "Unknown"
		})
		e.update("pause", "web", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "busybox:1.36" })
		time.Sleep(time.Second)
		if n := len(e.replicaSets("pause")); n != 1 {
			t.Fatalf("a paused deployment rolled out: %d replicasets", n)
		}
		e.update("pause", "web", func(d *appsv1.Deployment) { d.Spec.Paused = false })
		e.waitComplete("pause", "web")
		if n := len(e.replicaSets("pause")); n != 2 {
			t.Fatalf("%d replicasets after resume", n)
		}
	})

	t.Run("proportional scaling during a rollout", func(t *testing.T) {
		e.t = t
		e.namespace("prop")
		if _, err := e.deploys.Create(e.ctx, newDeployment("prop", "web", 10)); err != nil {
			t.Fatal(err)
		}
		e.waitComplete("prop", "web")
		// A template whose pods never become ready stalls the rollout at
		// old 8 (10 - maxUnavailable), new 5 (13 - 8).
		e.update("prop", "web", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].Image = "busybox:broken"
			d.Spec.Template.Metadata.Annotations = map[string]string{testkubelet.NotReady: "true"}
		})
		sizes := func() (int32, int32) {
			rss := e.replicaSets("prop")
			return rss["1"].GetSpec().GetReplicas(), rss["2"].GetSpec().GetReplicas()
		}
		e.eventually("the rollout stalled at 8 old + 5 new", func() bool { o, n := sizes(); return o == 8 && n == 5 })
		e.update("prop", "web", func(d *appsv1.Deployment) { d.Spec.Replicas = proto.Int32(20) })
		// 23 allowed (20 + surge 3), 10 more spread by size: 8*23/13 ≈ 14, 5*23/13 ≈ 9.
		e.eventually("proportional sizes 14 + 9", func() bool { o, n := sizes(); return o == 14 && n == 9 })
	})

	t.Run("progress deadline exceeded", func(t *testing.T) {
		e.t = t
		e.namespace("deadline")
		d := newDeployment("deadline", "web", 2)
		d.Spec.ProgressDeadlineSeconds = proto.Int32(2)
		d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: intOrStr(1), MaxUnavailable: intOrStr(0)}
		d.Spec.Template.Metadata.Annotations = map[string]string{testkubelet.NotReady: "true"}
		if _, err := e.deploys.Create(e.ctx, d); err != nil {
			t.Fatal(err)
		}
		e.eventually("Progressing=False ProgressDeadlineExceeded", func() bool {
			d := e.get("deadline", "web")
			c := condition(d, deployment.Progressing)
			a := condition(d, deployment.Available)
			return c != nil && c.Status == "False" && c.Reason == deployment.ReasonTimedOut && a != nil && a.Status == "False"
		})
	})
}
