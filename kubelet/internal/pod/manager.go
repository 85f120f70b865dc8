// Package pod runs the kubelet's pod workers: one level-triggered sync
// loop per pod UID that compares the pod the apiserver wants with the
// containers containerd has, starts what is missing (init containers in
// order, then app containers), restarts per restartPolicy with upstream's
// crash backoff, stops what must stop, and reports the pod's status.
package pod

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/api/resource"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"

	"flotilla.io/sdk/client"
	"flotilla.io/sdk/events"
	"flotilla.io/sdk/informer"

	"flotilla.io/kubelet/internal/runtime"
)

// Runtime is what the workers need from containerd (runtime.Runtime).
type Runtime interface {
	List(ctx context.Context, podUID string) ([]runtime.Container, error)
	PodUIDs(ctx context.Context) (map[string]bool, error)
	EnsureImage(ctx context.Context, ref, policy string) (string, error)
	Create(ctx context.Context, s runtime.Spec) (runtime.Container, error)
	Start(ctx context.Context, id string) error
	Stop(ctx context.Context, id string, grace time.Duration, signal syscall.Signal) error
	Remove(ctx context.Context, id string) error
	ExecSync(ctx context.Context, pod *corev1.Pod, container string, cmd []string, timeout time.Duration) (int, []byte, error)
}

// Network gives pods their network namespace, address and /etc files
// (internal/network, adapted).
type Network interface {
	Setup(ctx context.Context, pod *corev1.Pod) (ip, netnsPath string, err error)
	Teardown(ctx context.Context, pod *corev1.Pod) error
	PodFiles(pod *corev1.Pod, ip, dir string) (resolv, hosts, hostname string, err error)
}

// Volumes prepares a pod's volumes (internal/volume).
type Volumes interface {
	Setup(ctx context.Context, pod *corev1.Pod) (map[string]string, error)
	Teardown(ctx context.Context, pod *corev1.Pod) error
}

// TokenRefresher is implemented by volume managers that renew projected
// service account tokens.
type TokenRefresher interface {
	Refresh(ctx context.Context, pod *corev1.Pod) error
}

// Prober runs probes (internal/prober, adapted).
type Prober interface {
	Update(pod *corev1.Pod, podIP string, started map[string]time.Time)
	Remove(podUID string)
	Result(podUID, container string) ProbeResult
}

// Config wires a Manager. Network, Volumes and Prober may be nil: pods
// then use the host's network, get no volumes, and count as ready once
// running.
type Config struct {
	NodeName string
	RootDir  string
	HostIP   string
	Client   *client.Client
	Pods     *informer.Informer[*corev1.Pod]
	Runtime  Runtime
	Network  Network
	Volumes  Volumes
	Prober   Prober
	Recorder events.Recorder
	// Allocatable and MemoryCapacity feed resourceFieldRef and OOM scores.
	Allocatable    map[string]resource.Quantity
	MemoryCapacity int64
	Backoff        Backoff
	Log            *zap.Logger
	Registry       prometheus.Registerer
	// Now is the clock (tests).
	Now func() time.Time
}

// Manager owns the pod workers.
type Manager struct {
	cfg     Config
	log     *zap.Logger
	pods    *client.Resource[*corev1.Pod]
	objects Objects

	mu      sync.Mutex
	workers map[string]*worker // by pod UID
	// admitted are the pods that passed admission and hold resources.
	admitted map[string]bool
	wg       sync.WaitGroup
	ctx      context.Context

	syncs    *prometheus.CounterVec
	duration prometheus.Histogram

	// The default/kubernetes Service's variables, looked up at most every
	// kubernetesEnvTTL.
	kubeEnvMu   sync.Mutex
	kubeEnv     []string
	kubeEnvRead time.Time
}

const kubernetesEnvTTL = 30 * time.Second

// kubernetesServiceEnv is the environment every container gets for the
// default/kubernetes Service (KUBERNETES_SERVICE_HOST, ...), so in-cluster
// clients find the apiserver; none while the Service cannot be read.
func (m *Manager) kubernetesServiceEnv(ctx context.Context) []string {
	m.kubeEnvMu.Lock()
	defer m.kubeEnvMu.Unlock()
	if m.cfg.Client == nil || (!m.kubeEnvRead.IsZero() && m.cfg.Now().Sub(m.kubeEnvRead) < kubernetesEnvTTL) {
		return m.kubeEnv
	}
	svc, err := client.For[*corev1.Service](m.cfg.Client).Get(ctx, "default", "kubernetes")
	switch {
	case err == nil:
		m.kubeEnv = ServiceEnv(svc)
	case client.IsNotFound(err):
		m.kubeEnv = nil
	default:
		m.log.Warn("kubernetes service for container environment", zap.Error(err))
		return m.kubeEnv // keep what we had; try again next time
	}
	m.kubeEnvRead = m.cfg.Now()
	return m.kubeEnv
}

type worker struct {
	uid  string
	kick chan struct{}
	st   *podState
	// stop cancels the sync in progress when it works towards running the
	// pod (an image pull, say) and the pod is deleted meanwhile; guarded
	// by Manager.mu.
	stop context.CancelFunc
}

// podState is a worker's memory between syncs.
type podState struct {
	backoff      map[string]*backoffState // by container name
	pullBackoff  map[string]*pullState
	waiting      map[string]Waiting
	sandboxReady bool
	ip, netns    string
	files        []string // resolv, hosts, hostname
	volumes      map[string]string
	status       *corev1.PodStatus // last written
	terminal     *Terminal
	admitted     bool
}

type pullState struct {
	backoffState
	failedAt time.Time
}

// New makes the manager; Start runs it.
func New(cfg Config) *Manager {
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Backoff == (Backoff{}) {
		cfg.Backoff = DefaultBackoff
	}
	m := &Manager{
		cfg: cfg, log: cfg.Log, pods: client.For[*corev1.Pod](cfg.Client),
		objects: apiObjects{c: cfg.Client}, workers: map[string]*worker{}, admitted: map[string]bool{},
		syncs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flotilla_kubelet_pod_syncs_total", Help: "Pod worker syncs by result.",
		}, []string{"result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "flotilla_kubelet_pod_sync_duration_seconds", Help: "Time one pod sync took.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
		}),
	}
	if cfg.Registry != nil {
		cfg.Registry.MustRegister(m.syncs, m.duration)
	}
	return m
}

type apiObjects struct{ c *client.Client }

func (o apiObjects) Secret(ctx context.Context, ns, name string) (*corev1.Secret, error) {
	return client.For[*corev1.Secret](o.c).Get(ctx, ns, name)
}

func (o apiObjects) ConfigMap(ctx context.Context, ns, name string) (*corev1.ConfigMap, error) {
	return client.For[*corev1.ConfigMap](o.c).Get(ctx, ns, name)
}

// Start runs the workers until ctx ends. It waits for the pod informer to
// sync, then cleans up containers of pods that are gone, and keeps doing so
// periodically. Containers keep running when ctx ends.
func (m *Manager) Start(ctx context.Context) error {
	m.mu.Lock()
	m.ctx = ctx
	m.mu.Unlock()
	m.cfg.Pods.AddHandler(informer.Handler[*corev1.Pod]{
		OnAdd: func(p *corev1.Pod) { m.Kick(p.GetMetadata().GetUid()) },
		OnUpdate: func(_, p *corev1.Pod) {
			if p.GetMetadata().GetDeletionTimestamp() != nil {
				m.interrupt(p.GetMetadata().GetUid())
			}
			m.Kick(p.GetMetadata().GetUid())
		},
		OnDelete: func(p *corev1.Pod) {
			m.interrupt(p.GetMetadata().GetUid())
			m.Kick(p.GetMetadata().GetUid())
		},
	})
	if !informer.WaitForSync(ctx, m.cfg.Pods) {
		return nil
	}
	for _, p := range m.cfg.Pods.Store().List() {
		m.Kick(p.GetMetadata().GetUid())
	}
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		m.housekeeping(ctx)
		select {
		case <-ctx.Done():
			m.wg.Wait()
			return nil
		case <-t.C:
		}
	}
}

// Kick makes the pod's worker sync soon (informer changes, container
// exits, probe results).
func (m *Manager) Kick(uid string) {
	if uid == "" {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ctx == nil || m.ctx.Err() != nil {
		return
	}
	w, ok := m.workers[uid]
	if !ok {
		w = &worker{uid: uid, kick: make(chan struct{}, 1), st: newPodState()}
		m.workers[uid] = w
		m.wg.Add(1)
		go m.run(m.ctx, w)
	}
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// interrupt cancels a sync that is starting the pod's containers, so a
// deletion need not wait for it.
func (m *Manager) interrupt(uid string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if w, ok := m.workers[uid]; ok && w.stop != nil {
		w.stop()
	}
}

// KickAll re-syncs every pod (containerd events may have been missed).
func (m *Manager) KickAll() {
	m.mu.Lock()
	uids := make([]string, 0, len(m.workers))
	for uid := range m.workers {
		uids = append(uids, uid)
	}
	m.mu.Unlock()
	for _, uid := range uids {
		m.Kick(uid)
	}
}

func newPodState() *podState {
	return &podState{backoff: map[string]*backoffState{}, pullBackoff: map[string]*pullState{}, waiting: map[string]Waiting{}}
}

// admit checks a fresh pod against what the admitted, unfinished pods
// leave of the node's allocatable; a pod that ran here before is admitted
// as it is.
func (m *Manager) admit(pod *corev1.Pod, fresh bool) *Rejection {
	m.mu.Lock()
	defer m.mu.Unlock()
	uid := pod.GetMetadata().GetUid()
	if fresh && m.cfg.Allocatable != nil {
		var running []*corev1.Pod
		for _, p := range m.cfg.Pods.Store().List() {
			u := p.GetMetadata().GetUid()
			if u != uid && m.admitted[u] && !isTerminal(p.GetStatus().GetPhase()) {
				running = append(running, p)
			}
		}
		if rej := Admit(pod, running, m.cfg.Allocatable); rej != nil {
			return rej
		}
	}
	m.admitted[uid] = true
	return nil
}

// release gives back a finished or deleted pod's resources.
func (m *Manager) release(uid string) {
	m.mu.Lock()
	delete(m.admitted, uid)
	m.mu.Unlock()
}

// podByUID finds the pod in the informer cache.
func (m *Manager) podByUID(uid string) *corev1.Pod {
	for _, p := range m.cfg.Pods.Store().List() {
		if p.GetMetadata().GetUid() == uid {
			return p
		}
	}
	return nil
}

// resyncPeriod re-checks running pods now and then even without events.
const resyncPeriod = 30 * time.Second

func (m *Manager) run(ctx context.Context, w *worker) {
	defer m.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.kick:
		case <-timer.C:
		}
		pod := m.podByUID(w.uid)
		if pod == nil {
			if err := m.cleanup(ctx, w.uid, w.st); err != nil {
				if ctx.Err() != nil {
					return
				}
				m.log.Warn("clean up pod", zap.String("uid", w.uid), zap.Error(err))
				timer.Reset(time.Second)
				continue
			}
			m.mu.Lock()
			if len(w.kick) == 0 {
				delete(m.workers, w.uid)
				m.mu.Unlock()
				return
			}
			m.mu.Unlock()
			continue
		}
		start := m.cfg.Now()
		sctx, stop := context.WithCancel(ctx)
		if pod.GetMetadata().GetDeletionTimestamp() == nil {
			m.mu.Lock()
			w.stop = stop
			m.mu.Unlock()
		}
		requeue, err := m.sync(sctx, pod, w.st)
		m.mu.Lock()
		w.stop = nil
		m.mu.Unlock()
		interrupted := sctx.Err() != nil
		stop()
		m.duration.Observe(time.Since(start).Seconds())
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if interrupted {
				continue // deleted meanwhile: the kick is pending
			}
			m.syncs.WithLabelValues("error").Inc()
			failures++
			requeue = min(time.Duration(failures)*time.Second, 30*time.Second)
			m.log.Warn("sync pod", zap.String("pod", object(pod)), zap.Error(err))
		} else {
			m.syncs.WithLabelValues("ok").Inc()
			failures = 0
		}
		if requeue <= 0 || requeue > resyncPeriod {
			requeue = resyncPeriod
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(requeue)
	}
}

func object(pod *corev1.Pod) string {
	return pod.GetMetadata().GetNamespace() + "/" + pod.GetMetadata().GetName()
}

// housekeeping cleans up after pods that no longer exist here (deleted
// while the kubelet was down): their containers and addresses.
func (m *Manager) housekeeping(ctx context.Context) {
	uids, err := m.cfg.Runtime.PodUIDs(ctx)
	if err != nil {
		m.log.Warn("list containers", zap.Error(err))
		return
	}
	known := map[string]bool{}
	for _, p := range m.cfg.Pods.Store().List() {
		known[p.GetMetadata().GetUid()] = true
	}
	for uid := range uids {
		if !known[uid] {
			m.Kick(uid)
		}
	}
	if l, ok := m.cfg.Network.(interface{ PodUIDs() ([]string, error) }); ok {
		held, err := l.PodUIDs()
		if err != nil {
			m.log.Warn("list pod addresses", zap.Error(err))
			return
		}
		for _, uid := range held {
			if !known[uid] {
				m.Kick(uid)
			}
		}
	}
}

// stub is a pod object for a pod known only from its containers' labels.
func stub(c runtime.Container) *corev1.Pod {
	return &corev1.Pod{Metadata: &metav1.ObjectMeta{Uid: c.PodUID, Name: c.PodName, Namespace: c.PodNamespace}}
}

// cleanup stops and removes everything of a pod that is gone from the
// apiserver.
func (m *Manager) cleanup(ctx context.Context, uid string, st *podState) error {
	cs, err := m.cfg.Runtime.List(ctx, uid)
	if err != nil {
		return err
	}
	m.release(uid)
	pod := &corev1.Pod{Metadata: &metav1.ObjectMeta{Uid: uid}}
	if len(cs) > 0 {
		pod = stub(cs[0])
	}
	if err := m.killContainers(ctx, pod, cs, 2*time.Second); err != nil {
		return err
	}
	return m.teardown(ctx, pod, cs, st)
}

// teardown removes the containers and the pod's network, volumes, files
// and cgroups.
func (m *Manager) teardown(ctx context.Context, pod *corev1.Pod, cs []runtime.Container, st *podState) error {
	var errs []error
	for _, c := range cs {
		if err := m.cfg.Runtime.Remove(ctx, c.ID); err != nil {
			errs = append(errs, err)
		}
	}
	if m.cfg.Prober != nil {
		m.cfg.Prober.Remove(pod.GetMetadata().GetUid())
	}
	if m.cfg.Network != nil {
		if err := m.cfg.Network.Teardown(ctx, pod); err != nil {
			errs = append(errs, err)
		}
	}
	if m.cfg.Volumes != nil {
		if err := m.cfg.Volumes.Teardown(ctx, pod); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	uid := pod.GetMetadata().GetUid()
	for _, qos := range []string{Guaranteed, Burstable, BestEffort} {
		removeCgroup(CgroupParent(m.cfg.NodeName, qos, uid))
	}
	_ = os.RemoveAll(filepath.Join(m.cfg.RootDir, "pods", uid))
	st.sandboxReady = false
	return nil
}

// removeCgroup removes a pod's (empty) cgroup directories in every v1
// hierarchy.
func removeCgroup(path string) {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*")
	for _, r := range roots {
		_ = syscall.Rmdir(filepath.Join(r, path))
	}
}

// updateStatus writes the status when it changed.
func (m *Manager) updateStatus(ctx context.Context, pod *corev1.Pod, st *podState, status *corev1.PodStatus) error {
	if proto.Equal(status, pod.GetStatus()) || (st.status != nil && proto.Equal(status, st.status)) {
		st.status = status
		return nil
	}
	next := proto.Clone(pod).(*corev1.Pod)
	next.Status = status
	for attempt := 0; ; attempt++ {
		_, err := m.pods.UpdateStatus(ctx, next)
		if err == nil {
			st.status = status
			return nil
		}
		if client.IsNotFound(err) {
			return nil
		}
		if !client.IsConflict(err) || attempt >= 3 {
			return err
		}
		cur, gerr := m.pods.Get(ctx, pod.GetMetadata().GetNamespace(), pod.GetMetadata().GetName())
		if gerr != nil {
			return gerr
		}
		if cur.GetMetadata().GetUid() != pod.GetMetadata().GetUid() {
			return nil
		}
		next = proto.Clone(cur).(*corev1.Pod)
		next.Status = mergeStatus(status, cur.GetStatus())
	}
}

// mergeStatus resolves a conflicting write: our computed status wins
// except for conditions the kubelet does not own.
func mergeStatus(ours, theirs *corev1.PodStatus) *corev1.PodStatus {
	owned := map[string]bool{CondReadyToStart: true, CondInitialized: true, CondContainersReady: true, CondReady: true, CondScheduled: true}
	out := proto.Clone(ours).(*corev1.PodStatus)
	for _, c := range theirs.GetConditions() {
		if !owned[c.GetType()] {
			found := false
			for i, o := range out.Conditions {
				if o.GetType() == c.GetType() {
					out.Conditions[i], found = c, true
				}
			}
			if !found {
				out.Conditions = append(out.Conditions, c)
			}
		}
	}
	return out
}
