package daemonset

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"google.golang.org/protobuf/types/known/timestamppb"

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
	ctx   context.Context
	dss   *client.Resource[*appsv1.DaemonSet]
	pods  *client.Resource[*corev1.Pod]
	nodes *client.Resource[*corev1.Node]
}

func start(t *testing.T) *env {
	t.Helper()
	s := testserver.Start(t)
	c := s.Client(s.Config)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	if _, err := testkubelet.Start(ctx, c, "n1", "n2"); err != nil {
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
	return &env{ctx: ctx, dss: client.For[*appsv1.DaemonSet](c), pods: client.For[*corev1.Pod](c), nodes: client.For[*corev1.Node](c)}
}

// addNode adds a Ready node (the stand-in kubelet reports pods bound to it).
func (e *env) addNode(t *testing.T, name string, labels map[string]string, taints ...*corev1.Taint) {
	t.Helper()
	n, err := e.nodes.Create(e.ctx, &corev1.Node{Metadata: &metav1.ObjectMeta{Name: name, Labels: labels}, Spec: &corev1.NodeSpec{Taints: taints}})
	if err != nil {
		t.Fatal(err)
	}
	n.Status = &corev1.NodeStatus{Conditions: []*corev1.NodeCondition{{Type: "Ready", Status: "True", LastHeartbeatTime: timestamppb.Now()}}}
	if _, err := e.nodes.UpdateStatus(e.ctx, n); err != nil {
		t.Fatal(err)
	}
}

func daemonSet(name string, mut func(*appsv1.DaemonSetSpec)) *appsv1.DaemonSet {
	labels := map[string]string{"app": name}
	ds := &appsv1.DaemonSet{
		Metadata: &metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: &appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: &corev1.PodTemplateSpec{
				Metadata: &metav1.ObjectMeta{Labels: labels},
				Spec:     &corev1.PodSpec{Containers: []*corev1.Container{{Name: "c", Image: "busybox:1.35"}}},
			},
		},
	}
	if mut != nil {
		mut(ds.Spec)
	}
	return ds
}

// podNodes lists the nodes of the DaemonSet's live pods, sorted.
func (e *env) podNodes(t *testing.T, ds string) ([]string, []*corev1.Pod) {
	t.Helper()
	l, err := e.pods.List(e.ctx, client.ListOptions{Namespace: "default", LabelSelector: "app=" + ds})
	if err != nil {
		t.Fatal(err)
	}
	var nodes []string
	var pods []*corev1.Pod
	for _, p := range l.Items {
		if p.Metadata.DeletionTimestamp == nil {
			nodes = append(nodes, p.Spec.NodeName)
			pods = append(pods, p)
		}
	}
	sort.Strings(nodes)
	return nodes, pods
}

func (e *env) waitNodes(t *testing.T, ds string, want ...string) []*corev1.Pod {
	t.Helper()
	var pods []*corev1.Pod
	eventually(t, ds+" on "+join(want), func() bool {
		var got []string
		got, pods = e.podNodes(t, ds)
		return join(got) == join(want)
	})
	return pods
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %s", what)
		}
	}
}

func TestEligibleNodes(t *testing.T) {
	e := start(t)
	e.addNode(t, "tainted", nil, &corev1.Taint{Key: "dedicated", Value: "infra", Effect: "NoSchedule"})
	e.addNode(t, "edge", map[string]string{"role": "edge"})
	for _, ds := range []*appsv1.DaemonSet{
		daemonSet("plain", nil),
		daemonSet("tolerant", func(s *appsv1.DaemonSetSpec) {
			s.Template.Spec.Tolerations = []*corev1.Toleration{{Key: "dedicated", Operator: "Equal", Value: "infra", Effect: "NoSchedule"}}
		}),
		daemonSet("selective", func(s *appsv1.DaemonSetSpec) { s.Template.Spec.NodeSelector = map[string]string{"role": "edge"} }),
	} {
		if _, err := e.dss.Create(e.ctx, ds); err != nil {
			t.Fatal(err)
		}
	}
	pods := e.waitNodes(t, "plain", "edge", "n1", "n2")
	e.waitNodes(t, "tolerant", "edge", "n1", "n2", "tainted")
	e.waitNodes(t, "selective", "edge")

	p := pods[0]
	terms := p.Spec.GetAffinity().GetNodeAffinity().GetRequiredDuringSchedulingIgnoredDuringExecution().GetNodeSelectorTerms()
	if len(terms) != 1 || terms[0].MatchFields[0].Key != "metadata.name" || terms[0].MatchFields[0].Values[0] != p.Spec.NodeName {
		t.Errorf("pod affinity %v, want metadata.name in [%s]", terms, p.Spec.NodeName)
	}
	if len(p.Spec.Tolerations) < 6 || p.Metadata.Labels[revisionLabel] == "" {
		t.Errorf("pod tolerations %v, labels %v", p.Spec.Tolerations, p.Metadata.Labels)
	}

	// A node added later gets its pods.
	e.addNode(t, "late", map[string]string{"role": "edge"})
	e.waitNodes(t, "plain", "edge", "late", "n1", "n2")
	e.waitNodes(t, "selective", "edge", "late")
	// A node that stops matching loses its pod.
	n, err := e.nodes.Get(e.ctx, "", "edge")
	if err != nil {
		t.Fatal(err)
	}
	delete(n.Metadata.Labels, "role")
	if _, err := e.nodes.Update(e.ctx, n); err != nil {
		t.Fatal(err)
	}
	e.waitNodes(t, "selective", "late")
	eventually(t, "status", func() bool {
		ds, err := e.dss.Get(e.ctx, "default", "tolerant")
		st := ds.GetStatus()
		return err == nil && st.DesiredNumberScheduled == 5 && st.CurrentNumberScheduled == 5 && st.NumberReady == 5 &&
			st.NumberAvailable == 5 && st.UpdatedNumberScheduled == 5 && st.NumberUnavailable == 0
	})
}

// rollOut changes the template and waits until every pod runs it, checking
// at every pod event that no node goes without an available pod more than
// allowed.
func rollOut(t *testing.T, e *env, name string, mut func(*appsv1.DaemonSetSpec), nodes, maxDown int) {
	t.Helper()
	ds := daemonSet(name, mut)
	if _, err := e.dss.Create(e.ctx, ds); err != nil {
		t.Fatal(err)
	}
	var all []string
	for i := range nodes {
		all = append(all, []string{"n1", "n2", "n3", "n4"}[i])
	}
	sort.Strings(all)
	eventually(t, "first rollout ready", func() bool {
		d, err := e.dss.Get(e.ctx, "default", name)
		return err == nil && int(d.GetStatus().GetNumberAvailable()) == nodes
	})
	w, err := e.pods.Watch(e.ctx, client.WatchOptions{Namespace: "default", LabelSelector: "app=" + name})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	worst := nodes
	go func() {
		state := map[string]*corev1.Pod{}
		for {
			ev, err := w.Next()
			if err != nil {
				return
			}
			if ev.Type == client.Deleted {
				delete(state, ev.Object.Metadata.Uid)
			} else if ev.Object != nil {
				state[ev.Object.Metadata.Uid] = ev.Object
			}
			up := map[string]bool{}
			for _, p := range state {
				if p.Metadata.DeletionTimestamp == nil && isReady(p) {
					up[p.Spec.NodeName] = true
				}
			}
			mu.Lock()
			worst = min(worst, len(up))
			mu.Unlock()
		}
	}()
	time.Sleep(200 * time.Millisecond) // the watch has seen the current pods
	mu.Lock()
	worst = nodes
	mu.Unlock()
	d := e.setImage(t, name, "busybox:1.36")
	hash := templateHash(d.Spec.Template)
	eventually(t, "rollout to the new template", func() bool {
		got, pods := e.podNodes(t, name)
		for _, p := range pods {
			if p.Metadata.Labels[revisionLabel] != hash || p.Spec.Containers[0].Image != "busybox:1.36" {
				return false
			}
		}
		d, err := e.dss.Get(e.ctx, "default", name)
		return err == nil && join(got) == join(all) && int(d.Status.UpdatedNumberScheduled) == nodes && int(d.Status.NumberAvailable) == nodes
	})
	w.Stop()
	mu.Lock()
	defer mu.Unlock()
	if worst < nodes-maxDown {
		t.Errorf("only %d of %d nodes had an available pod at one point; at most %d may be down", worst, nodes, maxDown)
	}
}

// setImage changes the template's image, retrying on conflicts.
func (e *env) setImage(t *testing.T, name, image string) *appsv1.DaemonSet {
	t.Helper()
	for {
		d, err := e.dss.Get(e.ctx, "default", name)
		if err != nil {
			t.Fatal(err)
		}
		d.Spec.Template.Spec.Containers[0].Image = image
		d, err = e.dss.Update(e.ctx, d)
		if err == nil {
			return d
		}
		if !client.IsConflict(err) {
			t.Fatal(err)
		}
	}
}

func isReady(p *corev1.Pod) bool {
	for _, c := range p.GetStatus().GetConditions() {
		if c.Type == "Ready" {
			return c.Status == "True"
		}
	}
	return false
}

func TestRollingUpdateMaxUnavailable(t *testing.T) {
	e := start(t)
	e.addNode(t, "n3", nil)
	rollOut(t, e, "ru", nil, 3, 1)
}

func TestRollingUpdateMaxSurge(t *testing.T) {
	e := start(t)
	e.addNode(t, "n3", nil)
	rollOut(t, e, "surge", func(s *appsv1.DaemonSetSpec) {
		s.UpdateStrategy = &appsv1.DaemonSetUpdateStrategy{Type: "RollingUpdate", RollingUpdate: &appsv1.RollingUpdateDaemonSet{
			MaxSurge: &metav1.IntOrString{IntVal: 1}, MaxUnavailable: &metav1.IntOrString{IntVal: 0},
		}}
	}, 3, 0)
}

func TestOnDelete(t *testing.T) {
	e := start(t)
	ds := daemonSet("od", func(s *appsv1.DaemonSetSpec) { s.UpdateStrategy = &appsv1.DaemonSetUpdateStrategy{Type: "OnDelete"} })
	if _, err := e.dss.Create(e.ctx, ds); err != nil {
		t.Fatal(err)
	}
	pods := e.waitNodes(t, "od", "n1", "n2")
	e.setImage(t, "od", "busybox:1.36")
	time.Sleep(300 * time.Millisecond)
	if _, now := e.podNodes(t, "od"); now[0].Metadata.Uid != pods[0].Metadata.Uid && now[0].Metadata.Uid != pods[1].Metadata.Uid {
		t.Fatal("OnDelete replaced a pod by itself")
	}
	if err := e.pods.Delete(e.ctx, "default", pods[0].Metadata.Name, client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "deleted pod replaced with the new template", func() bool {
		got, now := e.podNodes(t, "od")
		news := 0
		for _, p := range now {
			if p.Spec.Containers[0].Image == "busybox:1.36" {
				news++
			}
		}
		return join(got) == "n1,n2" && news == 1
	})
}
