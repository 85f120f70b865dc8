package suite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"flotilla.io/proto/codec"
	appsv1 "flotilla.io/proto/flotilla/apps/v1"
	batchv1 "flotilla.io/proto/flotilla/batch/v1"
	corev1 "flotilla.io/proto/flotilla/core/v1"
	"flotilla.io/sdk/client"
)

// idle is a container command that runs until SIGTERM and then exits at once
// (a shell as pid 1 ignores SIGTERM unless it traps it).
const idle = `[sh, -c, "trap 'exit 0' TERM; while :; do sleep 1; done"]`

const small = `{requests: {cpu: 10m, memory: 16Mi}}`

func TestPodRunsAndFinishes(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.create(`
apiVersion: v1
kind: Pod
metadata: {name: hello}
spec:
  restartPolicy: Never
  containers:
  - {name: c, image: %s, command: [sh, -c, "echo hello from $(hostname)"], resources: %s}
`, busybox, small)
	e.create(`
apiVersion: v1
kind: Pod
metadata: {name: fails}
spec:
  restartPolicy: Never
  containers:
  - {name: c, image: %s, command: [sh, -c, "exit 3"], resources: %s}
`, busybox, small)
	e.create(`
apiVersion: v1
kind: Pod
metadata: {name: server}
spec:
  terminationGracePeriodSeconds: 5
  containers:
  - name: c
    image: %s
    readinessProbe: {httpGet: {path: /healthz, port: 8080}, periodSeconds: 1}
    resources: %s
`, testserver, small)

	e.podSucceeds("hello", 2*time.Minute, "")
	if out := e.logs("hello"); !strings.Contains(out, "hello from hello") {
		t.Errorf("logs of pod hello = %q, want %q", out, "hello from hello")
	}
	p := e.podFinished("fails", 2*time.Minute)
	if p.GetStatus().GetPhase() != "Failed" {
		t.Errorf("pod fails: %s, want phase Failed", describePod(p))
	} else if cs := p.GetStatus().GetContainerStatuses(); len(cs) != 1 || cs[0].GetState().GetTerminated().GetExitCode() != 3 {
		t.Errorf("pod fails: %s, want exit code 3", describePod(p))
	}
	e.eventually("pod server Ready", 2*time.Minute, func() (bool, string, error) {
		p, err := e.pod("server")
		if err != nil {
			return false, "", err
		}
		return podReady(p) && p.GetStatus().GetPodIp() != "", describePod(p), nil
	})
	if err := client.For[*corev1.Pod](e.c).Delete(e.ctx, e.ns, "server", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	took := e.eventually("pod server deleted", time.Minute, func() (bool, string, error) {
		p, err := e.pod("server")
		if client.IsNotFound(err) {
			return true, "", nil
		}
		return false, describePod(p), err
	})
	t.Logf("pod server gone %v after delete", took.Round(100*time.Millisecond))
}

func TestDeploymentRollingUpdate(t *testing.T) {
	t.Parallel()
	e := setup(t)
	const replicas, maxUnavailable = 4, 1
	manifest := `
apiVersion: apps/v1
kind: Deployment
metadata: {name: roll}
spec:
  replicas: %d
  strategy: {type: RollingUpdate, rollingUpdate: {maxUnavailable: %d, maxSurge: 1}}
  selector: {matchLabels: {app: roll}}
  template:
    metadata: {labels: {app: roll}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: app
%s
        resources: %s
`
	before := fmt.Sprintf(`        image: %s
        command: %s
        readinessProbe: {exec: {command: ["true"]}, periodSeconds: 1}`, busybox, idle)
	after := fmt.Sprintf(`        image: %s
        readinessProbe: {httpGet: {path: /healthz, port: 8080}, periodSeconds: 1}`, testserver)
	e.create(manifest, replicas, maxUnavailable, before, small)
	e.waitDeployment("roll", replicas, 3*time.Minute)

	// Count Ready pods (not being deleted) after every change to any of
	// them, from a watch: no dip between samples goes unseen.
	pods := client.For[*corev1.Pod](e.c)
	initial, err := pods.List(e.ctx, client.ListOptions{Namespace: e.ns, LabelSelector: "app=roll"})
	if err != nil {
		t.Fatal(err)
	}
	ready := map[string]bool{}
	for _, p := range initial.Items {
		ready[p.GetMetadata().GetName()] = podReady(p)
	}
	w, err := pods.Watch(e.ctx, client.WatchOptions{Namespace: e.ns, LabelSelector: "app=roll", ResourceVersion: initial.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	minReady, events := replicas, 0
	var watchErr error
	stopped := false
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			ev, err := w.Next()
			if err != nil {
				mu.Lock()
				if !stopped {
					watchErr = err
				}
				mu.Unlock()
				return
			}
			switch ev.Type {
			case client.Deleted:
				delete(ready, ev.Object.GetMetadata().GetName())
			case client.Added, client.Modified:
				ready[ev.Object.GetMetadata().GetName()] = podReady(ev.Object)
			default:
				continue
			}
			n := 0
			for _, r := range ready {
				if r {
					n++
				}
			}
			mu.Lock()
			minReady, events = min(minReady, n), events+1
			mu.Unlock()
		}
	}()
	deploys := client.For[*appsv1.Deployment](e.c)
	live, err := deploys.Get(e.ctx, e.ns, "roll")
	if err != nil {
		t.Fatal(err)
	}
	next := &appsv1.Deployment{}
	if err := codec.UnmarshalInto([]byte(fmt.Sprintf(manifest, replicas, maxUnavailable, after, small)), next); err != nil {
		t.Fatal(err)
	}
	next.Metadata = live.GetMetadata()
	start := time.Now()
	if _, err := deploys.Update(e.ctx, next); err != nil {
		t.Fatalf("update deployment: %v", err)
	}
	e.waitDeployment("roll", replicas, 4*time.Minute)
	e.eventually("only new pods left", time.Minute, func() (bool, string, error) {
		pods := e.pods("app=roll")
		var states []string
		ok := len(pods) == replicas
		for _, p := range pods {
			img := p.GetSpec().GetContainers()[0].GetImage()
			states = append(states, p.GetMetadata().GetName()+"="+img)
			ok = ok && img == testserver && podReady(p)
		}
		return ok, strings.Join(states, " "), nil
	})
	mu.Lock()
	stopped = true
	mu.Unlock()
	w.Stop()
	<-done
	if watchErr != nil {
		t.Fatalf("watch of the rollout's pods broke: %v", watchErr)
	}
	t.Logf("rollout busybox -> testserver of %d replicas took %v; fewest Ready pods seen: %d (%d pod events)", replicas, time.Since(start).Round(100*time.Millisecond), minReady, events)
	if minReady < replicas-maxUnavailable {
		t.Errorf("during the rollout only %d pods were Ready, want at least %d (replicas %d - maxUnavailable %d)", minReady, replicas-maxUnavailable, replicas, maxUnavailable)
	}
}

// waitDeployment waits until a deployment has rolled out: observed, every
// replica updated and available.
func (e *env) waitDeployment(name string, replicas int32, timeout time.Duration) {
	e.t.Helper()
	e.eventually("deployment "+name+" rolled out", timeout, func() (bool, string, error) {
		d, err := client.For[*appsv1.Deployment](e.c).Get(e.ctx, e.ns, name)
		if err != nil {
			return false, "", err
		}
		s := d.GetStatus()
		state := fmt.Sprintf("generation %d observed %d replicas %d updated %d ready %d available %d",
			d.GetMetadata().GetGeneration(), s.GetObservedGeneration(), s.GetReplicas(), s.GetUpdatedReplicas(), s.GetReadyReplicas(), s.GetAvailableReplicas())
		return s.GetObservedGeneration() >= d.GetMetadata().GetGeneration() && s.GetReplicas() == replicas &&
			s.GetUpdatedReplicas() == replicas && s.GetAvailableReplicas() == replicas, state, nil
	})
}

// TestStatefulSet runs a StatefulSet on volumes made for it (bound at once,
// pinned to one node).
func TestStatefulSet(t *testing.T) {
	t.Parallel()
	e := setup(t)
	node := suite.nodes[0]
	dir := filepath.Join("/var/tmp/flotilla-e2e", e.ns)
	for i := range 3 {
		e.create(`
apiVersion: v1
kind: PersistentVolume
metadata: {name: %s-%d}
spec:
  capacity: {storage: 1Mi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: %s
  hostPath: {path: %s/%d, type: DirectoryOrCreate}
  nodeAffinity:
    required:
      nodeSelectorTerms:
      - matchExpressions: [{key: kubernetes.io/hostname, operator: In, values: [%s]}]
`, e.ns, i, e.ns, dir, i, node)
		name := fmt.Sprintf("%s-%d", e.ns, i)
		t.Cleanup(func() {
			_ = client.For[*corev1.PersistentVolume](e.c).Delete(context.Background(), "", name, client.DeleteOptions{})
		})
	}
	if suite.cluster != nil && suite.cluster.Kind() == "local" {
		t.Cleanup(func() { _ = os.RemoveAll(dir) }) // the local cluster's nodes share this machine's disk
	}
	e.statefulSet(e.ns)
}

// TestStatefulSetLocalPath runs a StatefulSet whose claims the local-path
// provisioner fulfils (dynamic provisioning, bound once a pod has a node).
func TestStatefulSetLocalPath(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.statefulSet("local-path")
}

// statefulSet checks ordered start, stable names and kept claims of a
// 3-member StatefulSet whose claims use storageClass.
func (e *env) statefulSet(storageClass string) {
	t := e.t
	t.Helper()
	e.create(`
apiVersion: v1
kind: Service
metadata: {name: db}
spec: {clusterIP: None, selector: {app: db}, ports: [{port: 80}]}
`)
	e.create(`
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 3
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: db
        image: %s
        # Counts its boots on the claim: a recreated pod sees the old data.
        command: [sh, -c, "n=$(cat /data/boots 2>/dev/null || echo 0); n=$((n+1)); echo $n >/data/boots; echo \"$(hostname) boot $n\"; trap 'exit 0' TERM; while :; do sleep 1; done"]
        readinessProbe: {exec: {command: [test, -f, /data/boots]}, periodSeconds: 1}
        volumeMounts: [{name: data, mountPath: /data}]
        resources: %s
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      storageClassName: %s
      resources: {requests: {storage: 1Mi}}
`, busybox, small, storageClass)
	names := []string{"db-0", "db-1", "db-2"}
	e.eventually("db-0, db-1, db-2 Ready", 3*time.Minute, func() (bool, string, error) {
		var states []string
		ready := 0
		for _, p := range e.pods("app=db") {
			states = append(states, describePod(p))
			if podReady(p) && slices.Contains(names, p.GetMetadata().GetName()) {
				ready++
			}
		}
		return ready == 3, strings.Join(states, "; "), nil
	})
	// Ordered: each pod was created only once its predecessor was Ready.
	for i := 1; i < 3; i++ {
		prev, _ := e.pod(names[i-1])
		cur, _ := e.pod(names[i])
		readyAt := readySince(prev)
		created := cur.GetMetadata().GetCreationTimestamp().AsTime()
		if created.Before(readyAt.Add(-time.Second)) {
			t.Errorf("%s created at %v, before %s was Ready at %v", names[i], created, names[i-1], readyAt)
		}
	}
	claims := client.For[*corev1.PersistentVolumeClaim](e.c)
	claimUID := map[string]string{}
	for _, n := range names {
		c, err := claims.Get(e.ctx, e.ns, "data-"+n)
		if err != nil {
			t.Fatalf("claim of %s: %v", n, err)
		}
		if c.GetStatus().GetPhase() != "Bound" {
			t.Errorf("claim data-%s is %s, want Bound", n, c.GetStatus().GetPhase())
		}
		claimUID[n] = c.GetMetadata().GetUid()
	}
	// A deleted member comes back with the same name and the same claim.
	old, _ := e.pod("db-1")
	if err := client.For[*corev1.Pod](e.c).Delete(e.ctx, e.ns, "db-1", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.eventually("db-1 recreated and Ready", 3*time.Minute, func() (bool, string, error) {
		p, err := e.pod("db-1")
		if err != nil {
			return false, "", err
		}
		return p.GetMetadata().GetUid() != old.GetMetadata().GetUid() && podReady(p), describePod(p), nil
	})
	if c, err := claims.Get(e.ctx, e.ns, "data-db-1"); err != nil || c.GetMetadata().GetUid() != claimUID["db-1"] {
		t.Errorf("claim data-db-1 after the pod was recreated: uid %s err %v, want the same claim %s", c.GetMetadata().GetUid(), err, claimUID["db-1"])
	}
	if out := e.logs("db-1"); !strings.Contains(out, "db-1 boot 2") {
		t.Errorf("recreated db-1 logged %q, want %q: its volume lost the first boot's data", out, "db-1 boot 2")
	}
	// Scaling down removes the highest ordinals and keeps their claims.
	sets := client.For[*appsv1.StatefulSet](e.c)
	for attempt := 0; ; attempt++ {
		s, err := sets.Get(e.ctx, e.ns, "db")
		if err != nil {
			t.Fatal(err)
		}
		one := int32(1)
		s.Spec.Replicas = &one
		if _, err = sets.Update(e.ctx, s); err == nil {
			break
		} else if !client.IsConflict(err) || attempt > 5 {
			t.Fatalf("scale db to 1: %v", err)
		}
	}
	e.eventually("db scaled to 1", 2*time.Minute, func() (bool, string, error) {
		var left []string
		for _, p := range e.pods("app=db") {
			left = append(left, p.GetMetadata().GetName())
		}
		return len(left) == 1 && left[0] == "db-0", strings.Join(left, " "), nil
	})
	for _, n := range names {
		if c, err := claims.Get(e.ctx, e.ns, "data-"+n); err != nil || c.GetMetadata().GetUid() != claimUID[n] {
			t.Errorf("claim data-%s after scaling down: %v (want it kept)", n, err)
		}
	}
}

func readySince(p *corev1.Pod) time.Time {
	for _, c := range p.GetStatus().GetConditions() {
		if c.GetType() == "Ready" && c.GetLastTransitionTime() != nil {
			return c.GetLastTransitionTime().AsTime()
		}
	}
	return time.Time{}
}

func TestDaemonSetOnEveryNode(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.create(`
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - {name: agent, image: %s, command: %s, resources: %s}
`, busybox, idle, small)
	e.eventually(fmt.Sprintf("one Ready agent on each of %v", suite.nodes), 3*time.Minute, func() (bool, string, error) {
		per := map[string]int{}
		var states []string
		for _, p := range e.pods("app=agent") {
			states = append(states, describePod(p))
			if podReady(p) {
				per[p.GetSpec().GetNodeName()]++
			}
		}
		ok := true
		for _, n := range suite.nodes {
			ok = ok && per[n] == 1
		}
		return ok, strings.Join(states, "; "), nil
	})
}

func TestJobCompletions(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.create(`
apiVersion: batch/v1
kind: Job
metadata: {name: work}
spec:
  completions: 3
  parallelism: 2
  backoffLimit: 2
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: w, image: %s, command: [sh, -c, "echo working; sleep 1"], resources: %s}
`, busybox, small)
	e.waitJob("work", 3, 3*time.Minute)
}

// waitJob waits for a Job to complete with the given successes.
func (e *env) waitJob(name string, succeeded int32, timeout time.Duration) *batchv1.Job {
	e.t.Helper()
	var j *batchv1.Job
	e.eventually("job "+name+" complete", timeout, func() (bool, string, error) {
		var err error
		if j, err = client.For[*batchv1.Job](e.c).Get(e.ctx, e.ns, name); err != nil {
			return false, "", err
		}
		s := j.GetStatus()
		complete := false
		for _, c := range s.GetConditions() {
			if c.GetType() == "Failed" && c.GetStatus() == "True" {
				e.t.Fatalf("job %s failed: %s %s", name, c.GetReason(), c.GetMessage())
			}
			complete = complete || (c.GetType() == "Complete" && c.GetStatus() == "True")
		}
		return complete && s.GetSucceeded() == succeeded, fmt.Sprintf("active %d succeeded %d failed %d", s.GetActive(), s.GetSucceeded(), s.GetFailed()), nil
	})
	return j
}

func TestCronJob(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.create(`
apiVersion: batch/v1
kind: CronJob
metadata: {name: tick}
spec:
  schedule: "*/1 * * * *"
  concurrencyPolicy: Forbid
  successfulJobsHistoryLimit: 2
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers:
          - {name: t, image: %s, command: [sh, -c, "echo tick"], resources: %s}
`, busybox, small)
	// The next minute boundary starts a Job; allow for it plus the run.
	var job string
	took := e.eventually("a Job of cronjob tick succeeds", 150*time.Second, func() (bool, string, error) {
		l, err := client.For[*batchv1.Job](e.c).List(e.ctx, client.ListOptions{Namespace: e.ns})
		if err != nil {
			return false, "", err
		}
		var states []string
		for _, j := range l.Items {
			owned := false
			for _, o := range j.GetMetadata().GetOwnerReferences() {
				owned = owned || (o.GetKind() == "CronJob" && o.GetName() == "tick")
			}
			states = append(states, fmt.Sprintf("%s owned=%v succeeded=%d", j.GetMetadata().GetName(), owned, j.GetStatus().GetSucceeded()))
			if owned && j.GetStatus().GetSucceeded() >= 1 {
				job = j.GetMetadata().GetName()
				return true, "", nil
			}
		}
		return false, fmt.Sprintf("jobs: [%s]", strings.Join(states, ", ")), nil
	})
	cj, err := client.For[*batchv1.CronJob](e.c).Get(e.ctx, e.ns, "tick")
	if err != nil {
		t.Fatal(err)
	}
	if cj.GetStatus().GetLastScheduleTime() == nil {
		t.Errorf("cronjob tick ran job %s but has no status.lastScheduleTime", job)
	}
	t.Logf("job %s of cronjob tick succeeded %v after the cronjob was created", job, took.Round(time.Second))
}
