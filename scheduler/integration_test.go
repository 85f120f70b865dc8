package scheduler_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
	schedulingv1 "flotilla.io/proto/flotilla/scheduling/v1"

	"flotilla.io/apiserver/testserver"
	"flotilla.io/sdk/client"
	"flotilla.io/sdk/leaderelection"

	"flotilla.io/scheduler"
)

const timeout = 30 * time.Second

type env struct {
	t    *testing.T
	srv  *testserver.Server
	cli  *client.Client
	pods *client.Resource[*corev1.Pod]
}

func newEnv(t *testing.T) *env {
	t.Helper()
	srv := testserver.StartWith(t, testserver.Options{Quiet: true})
	cli := srv.Client(srv.Config)
	return &env{t: t, srv: srv, cli: cli, pods: client.For[*corev1.Pod](cli)}
}

// startScheduler runs a scheduler until the test ends or stop is called.
func (e *env) startScheduler(cfg scheduler.Config) (stop func()) {
	e.t.Helper()
	cfg.Client = e.srv.Config
	if cfg.Log == nil {
		cfg.Log = zaptest.NewLogger(e.t, zaptest.Level(zap.WarnLevel))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- scheduler.Run(ctx, cfg) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				e.t.Errorf("scheduler: %v", err)
			}
		case <-time.After(timeout):
			e.t.Error("scheduler did not stop")
		}
	}
	e.t.Cleanup(stop)
	return stop
}

type nodeOpt func(*corev1.Node)

func withLabels(kv ...string) nodeOpt {
	return func(n *corev1.Node) {
		for i := 0; i < len(kv); i += 2 {
			n.Metadata.Labels[kv[i]] = kv[i+1]
		}
	}
}

func withTaint(key, value, effect string) nodeOpt {
	return func(n *corev1.Node) {
		n.Spec.Taints = append(n.Spec.Taints, &corev1.Taint{Key: key, Value: value, Effect: effect})
	}
}

// createNode makes a Ready node with the given cpu and memory.
func (e *env) createNode(name, cpu, mem string, opts ...nodeOpt) {
	e.t.Helper()
	ctx := context.Background()
	n := &corev1.Node{
		Metadata: &metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}},
		Spec:     &corev1.NodeSpec{},
	}
	for _, o := range opts {
		o(n)
	}
	nodes := client.For[*corev1.Node](e.cli)
	created, err := nodes.Create(ctx, n)
	if err != nil {
		e.t.Fatal(err)
	}
	created.Status = &corev1.NodeStatus{
		Allocatable: map[string]*metav1.Quantity{"cpu": {String_: cpu}, "memory": {String_: mem}, "pods": {String_: "110"}},
		Capacity:    map[string]*metav1.Quantity{"cpu": {String_: cpu}, "memory": {String_: mem}, "pods": {String_: "110"}},
		Conditions:  []*corev1.NodeCondition{{Type: "Ready", Status: "True"}},
	}
	if _, err := nodes.UpdateStatus(ctx, created); err != nil {
		e.t.Fatal(err)
	}
}

func pod(name, cpu string) *corev1.Pod {
	return &corev1.Pod{
		Metadata: &metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{}},
		Spec: &corev1.PodSpec{Containers: []*corev1.Container{{
			Name: "c", Image: "busybox:1.35",
			Resources: &corev1.ResourceRequirements{Requests: map[string]*metav1.Quantity{"cpu": {String_: cpu}, "memory": {String_: "64Mi"}}},
		}}},
	}
}

func (e *env) create(p *corev1.Pod) {
	e.t.Helper()
	if _, err := e.pods.Create(context.Background(), p); err != nil {
		e.t.Fatal(err)
	}
}

// poll waits for cond to hold.
func (e *env) poll(what string, cond func() (bool, error)) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s (last error: %v)", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *env) get(name string) *corev1.Pod {
	e.t.Helper()
	p, err := e.pods.Get(context.Background(), "default", name)
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

// waitBound returns the node the pod was bound to.
func (e *env) waitBound(name string) string {
	e.t.Helper()
	var node string
	e.poll("pod "+name+" bound", func() (bool, error) {
		p, err := e.pods.Get(context.Background(), "default", name)
		node = p.GetSpec().GetNodeName()
		return node != "", err
	})
	return node
}

// waitUnschedulable returns the PodScheduled=False message.
func (e *env) waitUnschedulable(name string) string {
	e.t.Helper()
	var msg string
	e.poll("pod "+name+" unschedulable", func() (bool, error) {
		p, err := e.pods.Get(context.Background(), "default", name)
		for _, c := range p.GetStatus().GetConditions() {
			if c.GetType() == "PodScheduled" && c.GetStatus() == "False" && c.GetReason() == "Unschedulable" {
				msg = c.GetMessage()
				return true, nil
			}
		}
		return false, err
	})
	return msg
}

func TestUnschedulableMessageDiagnosisAndRecovery(t *testing.T) {
	e := newEnv(t)
	for i := range 3 {
		e.createNode(fmt.Sprintf("small-%d", i), "1", "4Gi")
	}
	for i := range 2 {
		e.createNode(fmt.Sprintf("gpu-%d", i), "8", "16Gi", withTaint("gpu", "true", "NoSchedule"))
	}
	e.startScheduler(scheduler.Config{})
	e.create(pod("big", "2"))
	msg := e.waitUnschedulable("big")
	// Reasons sort as strings, as upstream's FitError does.
	want := "0/5 nodes are available: 2 node(s) had untolerated taint {gpu: true}, 3 Insufficient cpu. " +
		"preemption: 0/5 nodes are available: 2 Preemption is not helpful for scheduling, 3 No preemption victims found for incoming pod."
	if msg != want {
		t.Fatalf("message:\n got %q\nwant %q", msg, want)
	}
	var diag map[string]string
	e.poll("diagnosis annotation", func() (bool, error) {
		raw := e.get("big").GetMetadata().GetAnnotations()[scheduler.DiagnosisAnnotation]
		return raw != "", json.Unmarshal([]byte(raw), &diag)
	})
	if len(diag) != 5 || diag["small-0"] != "NodeResourcesFit: Insufficient cpu" || diag["gpu-1"] != "TaintToleration: node(s) had untolerated taint {gpu: true}" {
		t.Fatalf("diagnosis = %v", diag)
	}
	e.poll("FailedScheduling event", func() (bool, error) {
		l, err := client.For[*corev1.Event](e.cli).List(context.Background(), client.ListOptions{Namespace: "default", FieldSelector: "involvedObject.name=big"})
		if err != nil {
			return false, err
		}
		for _, ev := range l.Items {
			if ev.GetReason() == "FailedScheduling" && ev.GetMessage() == want {
				return true, nil
			}
		}
		return false, err
	})
	// A node that fits arriving re-activates the pod: no polling needed.
	e.createNode("large", "4", "8Gi")
	if node := e.waitBound("big"); node != "large" {
		t.Fatalf("bound to %s, want large", node)
	}
}

func TestPlacementOnRealBindings(t *testing.T) {
	e := newEnv(t)
	e.createNode("a1", "4", "8Gi", withLabels("zone", "a", "disk", "ssd", "cores", "4"))
	e.createNode("a2", "4", "8Gi", withLabels("zone", "a", "disk", "hdd", "cores", "8"))
	e.createNode("b1", "4", "8Gi", withLabels("zone", "b", "disk", "hdd", "cores", "16"), withTaint("dedicated", "db", "NoSchedule"))
	e.startScheduler(scheduler.Config{})

	t.Run("nodeSelector", func(t *testing.T) {
		p := pod("sel", "100m")
		p.Spec.NodeSelector = map[string]string{"disk": "ssd"}
		e.create(p)
		if n := e.waitBound("sel"); n != "a1" {
			t.Fatalf("bound to %s", n)
		}
	})
	t.Run("nodeAffinity", func(t *testing.T) {
		p := pod("aff", "100m")
		p.Spec.Tolerations = []*corev1.Toleration{{Key: "dedicated", Operator: "Exists"}}
		p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []*corev1.NodeSelectorTerm{{
				MatchExpressions: []*corev1.NodeSelectorRequirement{{Key: "cores", Operator: "Gt", Values: []string{"10"}}},
			}}},
		}}
		e.create(p)
		if n := e.waitBound("aff"); n != "b1" {
			t.Fatalf("bound to %s", n)
		}
	})
	t.Run("taints", func(t *testing.T) {
		for i := range 4 {
			e.create(pod(fmt.Sprintf("plain-%d", i), "100m"))
		}
		for i := range 4 {
			if n := e.waitBound(fmt.Sprintf("plain-%d", i)); n == "b1" {
				t.Fatalf("plain-%d landed on tainted b1", i)
			}
		}
	})
	t.Run("podAntiAffinity", func(t *testing.T) {
		seen := map[string]bool{}
		for i := range 2 {
			p := pod(fmt.Sprintf("anti-%d", i), "100m")
			p.Metadata.Labels["app"] = "anti"
			p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: []*corev1.PodAffinityTerm{{
					LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "anti"}}, TopologyKey: "zone",
				}},
			}}
			p.Spec.Tolerations = []*corev1.Toleration{{Key: "dedicated", Operator: "Exists"}}
			e.create(p)
			n := e.waitBound(p.Metadata.Name)
			zone := map[string]string{"a1": "a", "a2": "a", "b1": "b"}[n]
			if seen[zone] {
				t.Fatalf("anti-%d shares zone %s", i, zone)
			}
			seen[zone] = true
		}
		p := pod("anti-2", "100m")
		p.Metadata.Labels["app"] = "anti"
		p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: []*corev1.PodAffinityTerm{{
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "anti"}}, TopologyKey: "zone",
			}},
		}}
		e.create(p)
		msg := e.waitUnschedulable("anti-2")
		if !strings.HasPrefix(msg, "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: db}, 2 node(s) didn't satisfy existing pods anti-affinity rules.") {
			t.Fatalf("message %q", msg)
		}
	})
	t.Run("topologySpread", func(t *testing.T) {
		perZone := map[string]int{}
		for i := range 4 {
			p := pod(fmt.Sprintf("spread-%d", i), "100m")
			p.Metadata.Labels["app"] = "spread"
			p.Spec.Tolerations = []*corev1.Toleration{{Key: "dedicated", Operator: "Exists"}}
			p.Spec.TopologySpreadConstraints = []*corev1.TopologySpreadConstraint{{
				MaxSkew: 1, TopologyKey: "zone", WhenUnsatisfiable: "DoNotSchedule",
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "spread"}},
			}}
			e.create(p)
			n := e.waitBound(p.Metadata.Name)
			perZone[map[string]string{"a1": "a", "a2": "a", "b1": "b"}[n]]++
		}
		if perZone["a"] != 2 || perZone["b"] != 2 {
			t.Fatalf("spread per zone = %v", perZone)
		}
	})
}

func TestPreemption(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	pcs := client.For[*schedulingv1.PriorityClass](e.cli)
	for name, v := range map[string]int32{"low": 10, "high": 1000} {
		if _, err := pcs.Create(ctx, &schedulingv1.PriorityClass{Metadata: &metav1.ObjectMeta{Name: name}, Value: v}); err != nil {
			t.Fatal(err)
		}
	}
	e.createNode("only", "2", "4Gi")
	e.startScheduler(scheduler.Config{})
	low := pod("low", "1500m")
	low.Spec.PriorityClassName = "low"
	e.create(low)
	e.waitBound("low")
	// Standing in for the kubelet: a pod marked for deletion goes at once.
	kctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		for kctx.Err() == nil {
			l, err := e.pods.List(kctx, client.ListOptions{Namespace: "default"})
			if err != nil {
				continue
			}
			for _, p := range l.Items {
				if p.GetMetadata().GetDeletionTimestamp() != nil {
					_ = e.pods.Delete(kctx, "default", p.Metadata.Name, client.DeleteOptions{GracePeriodSeconds: new(int64)})
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	never := pod("never", "1")
	never.Spec.PriorityClassName = "high"
	never.Spec.PreemptionPolicy = new("Never")
	e.create(never)
	if msg := e.waitUnschedulable("never"); !strings.HasSuffix(msg, "preemption: not eligible due to preemptionPolicy=Never.") {
		t.Fatalf("message %q", msg)
	}
	high := pod("high", "1")
	high.Spec.PriorityClassName = "high"
	e.create(high)
	e.poll("low evicted", func() (bool, error) {
		_, err := e.pods.Get(ctx, "default", "low")
		return client.IsNotFound(err), nil
	})
	if n := e.waitBound("high"); n != "only" {
		t.Fatalf("high bound to %s", n)
	}
	if e.get("high").GetStatus().GetNominatedNodeName() != "only" {
		t.Errorf("nominatedNodeName = %q", e.get("high").GetStatus().GetNominatedNodeName())
	}
}

func TestLeaderFailover(t *testing.T) {
	e := newEnv(t)
	e.createNode("n1", "4", "8Gi")
	election := func(id string) func(*client.Client, prometheus.Registerer, *zap.Logger) (*leaderelection.Config, error) {
		return func(c *client.Client, reg prometheus.Registerer, log *zap.Logger) (*leaderelection.Config, error) {
			return &leaderelection.Config{
				Client: c, Namespace: "flotilla-system", Name: "scheduler", Identity: id,
				LeaseDuration: 3 * time.Second, RenewDeadline: 2 * time.Second, RetryPeriod: 200 * time.Millisecond,
				ReleaseOnCancel: true, Logger: log, Registerer: reg,
			}, nil
		}
	}
	stopA := e.startScheduler(scheduler.Config{Election: election("a")})
	e.create(pod("first", "100m"))
	e.waitBound("first") // only a runs, so a leads
	e.startScheduler(scheduler.Config{Election: election("b")})
	stopA()
	e.create(pod("second", "100m"))
	e.waitBound("second")
}
