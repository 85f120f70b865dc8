package suite

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	"flotilla.io/sdk/client"
)

// The disruptive tests run one at a time, before the parallel ones (Go
// resumes parallel tests only once the sequential ones are done).

func TestNodeLossReschedulesPods(t *testing.T) {
	e := setup(t)
	e.needNodes(2)
	cluster := e.needCluster()
	const toleration = 5
	replicas := len(suite.nodes)
	e.create(`
apiVersion: apps/v1
kind: Deployment
metadata: {name: survivor}
spec:
  replicas: %d
  selector: {matchLabels: {app: survivor}}
  template:
    metadata: {labels: {app: survivor}}
    spec:
      terminationGracePeriodSeconds: 2
      # Leave a lost node after %d s instead of the default 300 s.
      tolerations:
      - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: %d}
      - {key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute, tolerationSeconds: %d}
      affinity:
        podAntiAffinity:
          preferredDuringSchedulingIgnoredDuringExecution:
          - weight: 100
            podAffinityTerm: {topologyKey: kubernetes.io/hostname, labelSelector: {matchLabels: {app: survivor}}}
      containers:
      - {name: c, image: %s, command: %s, readinessProbe: {exec: {command: ["true"]}, periodSeconds: 1}, resources: %s}
`, replicas, toleration, toleration, toleration, busybox, idle, small)
	e.waitDeployment("survivor", int32(replicas), 3*time.Minute)
	pods := e.pods("app=survivor")
	victim := pods[len(pods)-1].GetSpec().GetNodeName()
	for _, p := range pods {
		t.Logf("before: %s", describePod(p))
	}
	grace := cluster.NodeGrace()
	// Unknown after the grace, tainted within a monitor period, evicted after
	// the toleration; then a replacement is scheduled and started.
	bound := grace + toleration*time.Second + 60*time.Second
	t.Logf("stopping node %s (%s cluster); node-monitor-grace-period %v, tolerationSeconds %d: expecting its pods elsewhere within %v", victim, cluster.Kind(), grace, toleration, bound)
	resume, err := cluster.StopNode(victim)
	if err != nil {
		t.Fatalf("stop node %s: %v", victim, err)
	}
	var once sync.Once
	bringBack := func() {
		once.Do(func() {
			if err := resume(); err != nil {
				t.Errorf("bring node %s back: %v", victim, err)
			}
		})
	}
	t.Cleanup(bringBack)
	took := e.eventually(fmt.Sprintf("%d Ready survivor pods off node %s", replicas, victim), bound, func() (bool, string, error) {
		ready := 0
		var states []string
		for _, p := range e.pods("app=survivor") {
			states = append(states, describePod(p))
			if podReady(p) && p.GetSpec().GetNodeName() != victim {
				ready++
			}
		}
		return ready == replicas, strings.Join(states, "; "), nil
	})
	t.Logf("pods rescheduled off %s %v after it stopped", victim, took.Round(time.Second))
	bringBack()
	e.eventually("node "+victim+" Ready again", 2*time.Minute, func() (bool, string, error) {
		n, err := client.For[*corev1.Node](e.c).Get(e.ctx, "", victim)
		if err != nil {
			return false, "", err
		}
		return nodeReady(n), fmt.Sprintf("conditions %v", n.GetStatus().GetConditions()), nil
	})
}

// snapshot is what must survive a control-plane restart: objects by name
// with their uids, and the pods' uids and restart counts.
type snapshot map[string]string

func (e *env) snapshot() snapshot {
	e.t.Helper()
	s := snapshot{}
	cms, err := client.For[*corev1.ConfigMap](e.c).List(e.ctx, client.ListOptions{Namespace: e.ns, LabelSelector: "e2e=restart"})
	if err != nil {
		e.t.Fatalf("list configmaps: %v", err)
	}
	for _, c := range cms.Items {
		s["configmap/"+c.GetMetadata().GetName()] = c.GetMetadata().GetUid() + " " + c.GetData()["i"]
	}
	for _, p := range e.pods("app=steady") {
		restarts := int32(0)
		for _, cs := range p.GetStatus().GetContainerStatuses() {
			restarts += cs.GetRestartCount()
		}
		s["pod/"+p.GetMetadata().GetName()] = fmt.Sprintf("%s restarts=%d ready=%v", p.GetMetadata().GetUid(), restarts, podReady(p))
	}
	return s
}

func (s snapshot) diff(o snapshot) string {
	var out []string
	for k, v := range s {
		if o[k] != v {
			out = append(out, fmt.Sprintf("%s: %q -> %q", k, v, o[k]))
		}
	}
	for k, v := range o {
		if _, ok := s[k]; !ok {
			out = append(out, fmt.Sprintf("%s: new %q", k, v))
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

func TestControlPlaneRestartsLoseNothing(t *testing.T) {
	e := setup(t)
	cluster := e.needCluster()
	for i := range 20 {
		e.create(`
apiVersion: v1
kind: ConfigMap
metadata: {name: cm-%d, labels: {e2e: restart}}
data: {i: "%d"}
`, i, i)
	}
	e.create(`
apiVersion: apps/v1
kind: Deployment
metadata: {name: steady}
spec:
  replicas: 2
  selector: {matchLabels: {app: steady}}
  template:
    metadata: {labels: {app: steady}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - {name: c, image: %s, command: %s, readinessProbe: {exec: {command: ["true"]}, periodSeconds: 1}, resources: %s}
`, busybox, idle, small)
	e.waitDeployment("steady", 2, 3*time.Minute)
	before := e.snapshot()
	written := 0
	check := func(t *testing.T, what string, restart func() error) {
		t.Helper()
		e := &env{t: t, ctx: e.ctx, c: e.c, ns: e.ns}
		start := time.Now()
		if err := restart(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		// Writes work again: the apiserver answers and etcd has a quorum.
		e.eventually(what+": API writes again", 90*time.Second, func() (bool, string, error) {
			_, err := e.c.Dynamic().Create(e.ctx, &corev1.ConfigMap{Metadata: objectMeta(e.ns, fmt.Sprintf("after-%d", written))})
			if err != nil {
				return false, "", err
			}
			written++
			return true, "", nil
		})
		t.Logf("%s: API writable again after %v", what, time.Since(start).Round(100*time.Millisecond))
		// Nothing lost, no pod restarted (kubelets and controllers reconnect).
		e.eventually(what+": every object and pod as before", time.Minute, func() (bool, string, error) {
			d := before.diff(e.snapshot())
			return d == "", d, nil
		})
		// A leader-elected daemon that could not renew its lease during the
		// outage ends, for its supervisor to restart; wait out the renew
		// deadline, then look.
		time.Sleep(time.Until(start.Add(20 * time.Second)))
		if healed, err := cluster.Heal(); err != nil {
			t.Errorf("%s: restarting exited daemons: %v", what, err)
		} else if len(healed) > 0 {
			t.Errorf("%s: %v exited (leader lease lost during the outage) and nothing restarted them; "+
				"the suite started them again so the other tests can run. A %s cluster needs a supervisor that restarts "+
				"leader-elected daemons (hack/up.sh has none)", what, healed, cluster.Kind())
		}
		// The control plane still acts: a new pod is scheduled and runs.
		probe := fmt.Sprintf("probe-%d", written)
		e.create(`
apiVersion: v1
kind: Pod
metadata: {name: %s}
spec:
  restartPolicy: Never
  containers:
  - {name: c, image: %s, command: ["true"], resources: %s}
`, probe, busybox, small)
		e.podSucceeds(probe, 90*time.Second, "the scheduler, controller-manager or kubelets did not recover from the restart")
	}
	t.Run("apiserver", func(t *testing.T) { check(t, "restart apiserver", cluster.RestartAPIServer) })
	for _, m := range cluster.EtcdMembers() {
		t.Run(m, func(t *testing.T) {
			check(t, "restart etcd member "+m, func() error { return cluster.RestartEtcdMember(m) })
		})
	}
	for i := range written {
		if _, err := client.For[*corev1.ConfigMap](e.c).Get(e.ctx, e.ns, fmt.Sprintf("after-%d", i)); err != nil {
			t.Errorf("configmap after-%d written between restarts: %v", i, err)
		}
	}
}
