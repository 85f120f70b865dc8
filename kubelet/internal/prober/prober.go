// Package prober runs the startup, readiness and liveness probes of the
// containers of running pods, one worker per container and probe kind, and
// keeps their results: Started, Ready and Live. Probes follow upstream's
// semantics: the startup probe gates the other two; readiness is false until
// its first success; successThreshold/failureThreshold consecutive results
// flip a result; a liveness (or startup) failure holds the worker until the
// container restarts. The pod worker reads results with Result and learns of
// changes from Changes.
package prober

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"k8s.io/utils/clock"

	corev1 "flotilla.io/proto/flotilla/core/v1"
)

// Execer runs a command in a container (the runtime implements it).
type Execer interface {
	ExecSync(ctx context.Context, pod *corev1.Pod, container string, cmd []string, timeout time.Duration) (exitCode int, output []byte, err error)
}

// Result is what the probes say about one container instance.
type Result struct {
	// Started: the startup probe succeeded (or there is none).
	Started bool
	// Ready: started and the readiness probe succeeded (or there is none).
	Ready bool
	// Live false: the liveness or startup probe failed; restart the container.
	Live bool
}

// kind is a probe kind.
type kind int

const (
	startup kind = iota
	readiness
	liveness
)

func (k kind) String() string {
	return [...]string{"startup", "readiness", "liveness"}[k]
}

// Manager owns the probe workers of every pod on the node.
type Manager struct {
	exec    Execer
	log     *zap.Logger
	clock   clock.WithTicker
	changes chan string
	// probed, when set (tests), is told about every probe a worker makes.
	probed func(event)
	// active counts running workers.
	active atomic.Int32

	mu         sync.Mutex
	pods       map[string]*podInfo
	containers map[key]*instance
}

// event describes one probe attempt (for tests).
type event struct {
	container string
	kind      kind
	// outcome is "success", "failure" or "skipped" (waiting for startup).
	outcome string
}

type key struct{ uid, container string }

// podInfo is the latest pod object and IP the workers probe with.
type podInfo struct {
	pod *corev1.Pod
	ip  string
}

// instance is one container instance's probes and results; a restart (new
// start time) replaces it.
type instance struct {
	startedAt time.Time
	cancel    context.CancelFunc
	spec      *corev1.Container
	hasStartup,
	hasReadiness bool
	started, ready, live bool
}

// New returns a Manager whose probes exec through exec.
func New(exec Execer, log *zap.Logger) *Manager {
	return newManager(exec, log, clock.RealClock{})
}

func newManager(exec Execer, log *zap.Logger, clk clock.WithTicker) *Manager {
	if log == nil {
		log = zap.NewNop()
	}
	return &Manager{
		exec:       exec,
		log:        log,
		clock:      clk,
		changes:    make(chan string, 128),
		pods:       map[string]*podInfo{},
		containers: map[key]*instance{},
	}
}

// Changes delivers the UIDs of pods whose results changed. Read it
// continuously: workers wait for the reader.
func (m *Manager) Changes() <-chan string { return m.changes }

// probedContainers are the containers the kubelet probes: app containers and
// sidecars (init containers with restartPolicy Always).
func probedContainers(pod *corev1.Pod) []*corev1.Container {
	var out []*corev1.Container
	for _, c := range pod.GetSpec().GetInitContainers() {
		if c.GetRestartPolicy() == "Always" {
			out = append(out, c)
		}
	}
	return append(out, pod.GetSpec().GetContainers()...)
}

// Update (re)starts probe workers for a pod's running containers; started
// maps container name -> start time of its current instance. A container
// missing from started is not running: its workers stop and its results
// reset. A new start time means a new instance: fresh workers, fresh
// results (not started, not ready, live).
func (m *Manager) Update(pod *corev1.Pod, podIP string, started map[string]time.Time) {
	uid := pod.GetMetadata().GetUid()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pods[uid] = &podInfo{pod: pod, ip: podIP}
	seen := map[string]bool{}
	for _, c := range probedContainers(pod) {
		seen[c.GetName()] = true
		k := key{uid, c.GetName()}
		at, running := started[c.GetName()]
		cur := m.containers[k]
		if cur != nil && running && cur.startedAt.Equal(at) {
			cur.spec = c
			continue
		}
		if cur != nil {
			cur.cancel()
			delete(m.containers, k)
		}
		if !running {
			continue
		}
		ctx, cancel := context.WithCancel(context.Background())
		in := &instance{
			startedAt:    at,
			cancel:       cancel,
			spec:         c,
			hasStartup:   c.GetStartupProbe() != nil,
			hasReadiness: c.GetReadinessProbe() != nil,
			live:         true,
		}
		in.started = !in.hasStartup
		in.ready = !in.hasReadiness
		m.containers[k] = in
		for kd, p := range map[kind]*corev1.Probe{startup: c.GetStartupProbe(), readiness: c.GetReadinessProbe(), liveness: c.GetLivenessProbe()} {
			if p == nil {
				continue
			}
			w := &worker{m: m, key: k, in: in, kind: kd, probe: p}
			m.active.Add(1)
			go func() {
				defer m.active.Add(-1)
				w.run(ctx)
			}()
		}
	}
	for k, in := range m.containers {
		if k.uid == uid && !seen[k.container] {
			in.cancel()
			delete(m.containers, k)
		}
	}
}

// Remove stops the pod's workers and forgets its results.
func (m *Manager) Remove(podUID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.pods, podUID)
	for k, in := range m.containers {
		if k.uid == podUID {
			in.cancel()
			delete(m.containers, k)
		}
	}
}

// Stop ends every worker (kubelet shutdown); results are forgotten.
func (m *Manager) Stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, in := range m.containers {
		in.cancel()
		delete(m.containers, k)
	}
	m.pods = map[string]*podInfo{}
}

// Result is the current verdict on a container; an unknown (not running)
// container is neither started nor ready, and live.
func (m *Manager) Result(podUID, container string) Result {
	m.mu.Lock()
	defer m.mu.Unlock()
	in := m.containers[key{podUID, container}]
	if in == nil {
		return Result{Live: true}
	}
	return Result{Started: in.started, Ready: in.started && in.ready, Live: in.live}
}

// target is what a worker probes: the pod, its IP and the container spec.
func (m *Manager) target(k key, in *instance) (*corev1.Pod, string, *corev1.Container, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.containers[k] != in {
		return nil, "", nil, false
	}
	p := m.pods[k.uid]
	if p == nil {
		return nil, "", nil, false
	}
	return p.pod, p.ip, in.spec, true
}

// isStarted reports whether the instance passed its startup probe.
func (m *Manager) isStarted(in *instance) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return in.started
}

// set applies fn to the instance's results if it is still current and
// announces a change.
func (m *Manager) set(ctx context.Context, k key, in *instance, fn func(*instance)) {
	m.mu.Lock()
	if m.containers[k] != in {
		m.mu.Unlock()
		return
	}
	before := Result{Started: in.started, Ready: in.ready, Live: in.live}
	fn(in)
	changed := before != Result{Started: in.started, Ready: in.ready, Live: in.live}
	m.mu.Unlock()
	if !changed {
		return
	}
	select {
	case m.changes <- k.uid:
	case <-ctx.Done():
	}
}
