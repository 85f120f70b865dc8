package pod

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	corev1 "flotilla.io/proto/flotilla/core/v1"

	"flotilla.io/sdk/client"
	"flotilla.io/sdk/events"

	"flotilla.io/kubelet/internal/runtime"
)

// minGrace is upstream's minimum grace period for a kill.
const minGrace = 2 * time.Second

func (m *Manager) event(pod *corev1.Pod, typ, reason, format string, args ...any) {
	if m.cfg.Recorder != nil {
		m.cfg.Recorder.Eventf(pod, typ, reason, format, args...)
	}
}

func minPositive(a, b time.Duration) time.Duration {
	switch {
	case a <= 0:
		return b
	case b <= 0:
		return a
	}
	return min(a, b)
}

func isTerminal(phase string) bool { return phase == PhaseSucceeded || phase == PhaseFailed }

// podGrace is the pod's termination grace period.
func podGrace(pod *corev1.Pod) time.Duration {
	g := int64(30)
	if p := pod.GetSpec().TerminationGracePeriodSeconds; p != nil {
		g = *p
	}
	if d := pod.GetMetadata().DeletionGracePeriodSeconds; d != nil {
		g = *d
	}
	return max(time.Duration(g)*time.Second, minGrace)
}

// sync makes one pod true on the node and reports its status. It returns
// when to look again (0: on the next event or resync).
func (m *Manager) sync(ctx context.Context, pod *corev1.Pod, st *podState) (time.Duration, error) {
	uid := pod.GetMetadata().GetUid()
	cs, err := m.cfg.Runtime.List(ctx, uid)
	if err != nil {
		return 0, err
	}
	if pod.GetMetadata().GetDeletionTimestamp() != nil {
		return 0, m.terminate(ctx, pod, cs, st)
	}
	now := m.cfg.Now()
	old := pod.GetStatus()
	if st.status != nil {
		old = st.status // the informer may not have seen our last write yet
	}
	if !st.admitted && st.terminal == nil && !isTerminal(old.GetPhase()) {
		// A pod new to this node (no containers, no status from an earlier
		// run) must fit what the node has left.
		fresh := len(cs) == 0 && len(old.GetContainerStatuses()) == 0 && len(old.GetInitContainerStatuses()) == 0
		if rej := m.admit(pod, fresh); rej != nil {
			st.terminal = &Terminal{Phase: PhaseFailed, Reason: rej.Reason, Message: "Pod was rejected: " + rej.Message}
			m.event(pod, events.Warning, rej.Reason, "%s", st.terminal.Message)
		}
		st.admitted = st.terminal == nil
	}
	var requeue time.Duration
	if st.terminal == nil && !isTerminal(old.GetPhase()) {
		if d := pod.GetSpec().ActiveDeadlineSeconds; d != nil {
			start := now
			if t := old.GetStartTime(); t != nil {
				start = t.AsTime()
			}
			left := start.Add(time.Duration(*d) * time.Second).Sub(now)
			if left <= 0 {
				st.terminal = &Terminal{Phase: PhaseFailed, Reason: ReasonDeadlineExceeded, Message: "Pod was active on the node longer than the specified deadline"}
				m.event(pod, events.Warning, ReasonDeadlineExceeded, "Pod was active on the node longer than the specified deadline")
			} else {
				requeue = left
			}
		}
	}
	if st.terminal != nil || isTerminal(old.GetPhase()) {
		m.release(pod.GetMetadata().GetUid())
		if err := m.killContainers(ctx, pod, cs, podGrace(pod)); err != nil {
			return 0, err
		}
		if cs, err = m.cfg.Runtime.List(ctx, uid); err != nil {
			return 0, err
		}
		if err := m.updateStatus(ctx, pod, st, m.status(pod, old, st, cs)); err != nil {
			return 0, err
		}
		return 0, m.releaseSandbox(ctx, pod, st)
	}

	if !st.sandboxReady {
		t0 := time.Now()
		defer func() {
			m.log.Debug("pod sandbox ready", zap.String("pod", object(pod)), zap.Duration("took", time.Since(t0)))
		}()
		if err := m.sandbox(ctx, pod, st); err != nil {
			m.event(pod, events.Warning, "FailedCreatePodSandBox", "Failed to create pod sandbox: %v", err)
			_ = m.updateStatus(ctx, pod, st, m.status(pod, old, st, cs))
			return 0, fmt.Errorf("pod sandbox: %w", err)
		}
	} else if r, ok := m.cfg.Volumes.(TokenRefresher); ok {
		// Renew projected service account tokens before they expire.
		if err := r.Refresh(ctx, pod); err != nil {
			m.log.Warn("refresh volumes", zap.String("pod", object(pod)), zap.Error(err))
		}
	}

	policy := pod.GetSpec().GetRestartPolicy()
	initDone := true
	for _, ic := range pod.GetSpec().GetInitContainers() {
		cur, _ := latest(cs, ic.GetName(), true)
		if cur != nil && cur.State == runtime.Exited && cur.ExitCode == 0 {
			continue
		}
		initDone = false
		restart := cur != nil && cur.State == runtime.Exited && cur.ExitCode != 0 && policy != "Never"
		requeue = minPositive(requeue, m.step(ctx, pod, st, ic, true, cur, restart))
		break
	}
	if initDone {
		for _, c := range pod.GetSpec().GetContainers() {
			cur, _ := latest(cs, c.GetName(), false)
			restart := cur != nil && cur.State == runtime.Exited && ShouldRestart(policy, cur.ExitCode)
			requeue = minPositive(requeue, m.step(ctx, pod, st, c, false, cur, restart))
		}
	}

	if cs, err = m.cfg.Runtime.List(ctx, uid); err != nil {
		return 0, err
	}
	status := m.status(pod, old, st, cs)
	if err := m.updateStatus(ctx, pod, st, status); err != nil {
		return 0, err
	}
	if m.cfg.Prober != nil {
		started := map[string]time.Time{}
		for _, c := range pod.GetSpec().GetContainers() {
			if cur, _ := latest(cs, c.GetName(), false); cur != nil && cur.State == runtime.Running {
				started[c.GetName()] = cur.StartedAt
			}
		}
		m.cfg.Prober.Update(pod, st.ip, started)
	}
	m.collectGarbage(ctx, cs)
	if isTerminal(status.GetPhase()) {
		return 0, m.releaseSandbox(ctx, pod, st)
	}
	return requeue, nil
}

func (m *Manager) status(pod *corev1.Pod, old *corev1.PodStatus, st *podState, cs []runtime.Container) *corev1.PodStatus {
	uid := pod.GetMetadata().GetUid()
	cs = m.terminationMessages(cs)
	in := StatusInput{
		Containers: cs, Waiting: st.waiting, PodIP: st.ip, HostIP: m.cfg.HostIP,
		SandboxReady: st.sandboxReady, Terminal: st.terminal, Now: m.cfg.Now(),
	}
	if st.ip == "" && st.status != nil {
		in.PodIP = st.status.GetPodIp()
	}
	specs := map[string]*corev1.Container{}
	for _, c := range pod.GetSpec().GetContainers() {
		specs[c.GetName()] = c
	}
	in.Probe = func(name string) ProbeResult {
		r := ProbeResult{Started: true, Ready: true, Live: true}
		if m.cfg.Prober != nil {
			r = m.cfg.Prober.Result(uid, name)
		}
		c := specs[name]
		if c.GetStartupProbe() == nil {
			r.Started = true
		}
		if c.GetReadinessProbe() == nil {
			r.Ready = true
		}
		return r
	}
	if old == nil && st.status != nil {
		old = st.status
	}
	return Status(pod, old, in)
}

// step moves one container towards running: start it the first time,
// restart it after an exit when the policy says so (with backoff), or
// kill it when its liveness probe failed.
func (m *Manager) step(ctx context.Context, pod *corev1.Pod, st *podState, c *corev1.Container, init bool, cur *runtime.Container, restart bool) time.Duration {
	name := c.GetName()
	switch {
	case cur == nil:
		return m.startContainer(ctx, pod, st, c, init, 0)
	case cur.State == runtime.Created:
		if err := m.cfg.Runtime.Start(ctx, cur.ID); err != nil {
			m.event(pod, events.Warning, "Failed", "Error: %v", err)
		}
		return 0
	case cur.State == runtime.Running && cur.Hash != "" && cur.Hash != SpecHash(c):
		m.event(pod, events.Normal, "Killing", "Container %s definition changed, will be restarted", name)
		if err := m.killOne(ctx, pod, c, *cur, podGrace(pod)); err != nil {
			m.log.Warn("kill container", zap.String("pod", object(pod)), zap.String("container", name), zap.Error(err))
		}
		return time.Second
	case cur.State == runtime.Exited && cur.Hash != "" && cur.Hash != SpecHash(c) && !init:
		// A changed container starts again whatever the restart policy.
		return m.startContainer(ctx, pod, st, c, init, cur.Attempt+1)
	case cur.State == runtime.Running:
		if init || m.cfg.Prober == nil || c.GetLivenessProbe() == nil {
			return 0
		}
		if r := m.cfg.Prober.Result(pod.GetMetadata().GetUid(), name); !r.Live {
			m.event(pod, events.Normal, "Killing", "Container %s failed liveness probe, will be restarted", name)
			grace := podGrace(pod)
			if g := c.GetLivenessProbe().TerminationGracePeriodSeconds; g != nil {
				grace = max(time.Duration(*g)*time.Second, minGrace)
			}
			if err := m.killOne(ctx, pod, c, *cur, grace); err != nil {
				m.log.Warn("kill container", zap.String("pod", object(pod)), zap.String("container", name), zap.Error(err))
			}
			return time.Second
		}
		return 0
	case cur.State == runtime.Exited:
		if !restart {
			delete(st.waiting, name)
			return 0
		}
		bs := st.backoff[name]
		if bs == nil {
			bs = &backoffState{}
			st.backoff[name] = bs
		}
		ran := cur.FinishedAt.Sub(cur.StartedAt)
		if wait := m.cfg.Backoff.Wait(bs, cur.FinishedAt, ran, m.cfg.Now()); wait > 0 {
			if _, was := st.waiting[name]; !was {
				m.event(pod, events.Warning, "BackOff", "Back-off restarting failed container %s in pod %s", name, object(pod))
			}
			st.waiting[name] = Waiting{Reason: "CrashLoopBackOff", Message: fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)",
				bs.delay, name, pod.GetMetadata().GetName(), pod.GetMetadata().GetNamespace(), pod.GetMetadata().GetUid())}
			return wait
		}
		m.cfg.Backoff.Restarted(bs)
		return m.startContainer(ctx, pod, st, c, init, cur.Attempt+1)
	default:
		return 2 * time.Second
	}
}

// SpecHash identifies a pod container's spec; when it changes (a new
// image) the container is restarted, as upstream does.
func SpecHash(c *corev1.Container) string {
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(c)
	h := fnv.New64a()
	_, _ = h.Write(b)
	return strconv.FormatUint(h.Sum64(), 16)
}

// LogPath is where a container attempt's log goes (kubelet/DESIGN.md).
func LogPath(root string, pod *corev1.Pod, container string, attempt int) string {
	md := pod.GetMetadata()
	return filepath.Join(root, "logs", fmt.Sprintf("%s_%s_%s", md.GetNamespace(), md.GetName(), md.GetUid()), container, fmt.Sprintf("%d.log", attempt))
}

func (m *Manager) startContainer(ctx context.Context, pod *corev1.Pod, st *podState, c *corev1.Container, init bool, attempt int) time.Duration {
	name := c.GetName()
	now := m.cfg.Now()
	if ps := st.pullBackoff[name]; ps != nil {
		if wait := ps.failedAt.Add(ps.delay).Sub(now); wait > 0 {
			st.waiting[name] = Waiting{Reason: "ImagePullBackOff", Message: fmt.Sprintf("Back-off pulling image %q", c.GetImage())}
			return wait
		}
	}
	t0 := time.Now()
	imageID, err := m.cfg.Runtime.EnsureImage(ctx, c.GetImage(), c.GetImagePullPolicy())
	tImage := time.Since(t0)
	if err != nil {
		ps := st.pullBackoff[name]
		if ps == nil {
			ps = &pullState{}
			st.pullBackoff[name] = ps
		}
		m.cfg.Backoff.Restarted(&ps.backoffState)
		ps.failedAt = now
		reason := "ErrImagePull"
		if errors.Is(err, runtime.ErrImageNeverPull) {
			reason = "ErrImageNeverPull"
		}
		msg := fmt.Sprintf("failed to pull image %q: %v", c.GetImage(), err)
		if reason == "ErrImageNeverPull" {
			msg = fmt.Sprintf("Container image %q is not present with pull policy of Never", c.GetImage())
		}
		st.waiting[name] = Waiting{Reason: reason, Message: msg}
		m.event(pod, events.Warning, "Failed", "%s", msg)
		return ps.delay
	}
	delete(st.pullBackoff, name)
	_ = imageID

	spec, err := m.containerSpec(ctx, pod, st, c, init, attempt)
	if err != nil {
		var ce *ConfigError
		if errors.As(err, &ce) || client.IsNotFound(err) {
			st.waiting[name] = Waiting{Reason: "CreateContainerConfigError", Message: err.Error()}
			m.event(pod, events.Warning, "Failed", "Error: %v", err)
			return 5 * time.Second
		}
		st.waiting[name] = Waiting{Reason: "CreateContainerConfigError", Message: err.Error()}
		return 5 * time.Second
	}
	tSpec := time.Since(t0)
	created, err := m.cfg.Runtime.Create(ctx, spec)
	tCreate := time.Since(t0)
	if errdefs.IsAlreadyExists(err) {
		// A create interrupted before it was recorded: start over.
		_ = m.cfg.Runtime.Remove(ctx, runtime.ContainerID(spec.PodUID, spec.Name, spec.Attempt))
		created, err = m.cfg.Runtime.Create(ctx, spec)
	}
	if err != nil {
		st.waiting[name] = Waiting{Reason: "CreateContainerError", Message: err.Error()}
		m.event(pod, events.Warning, "Failed", "Error: %v", err)
		return 5 * time.Second
	}
	delete(st.waiting, name)
	m.event(pod, events.Normal, "Created", "Created container %s", name)
	if err := m.cfg.Runtime.Start(ctx, created.ID); err != nil {
		m.event(pod, events.Warning, "Failed", "Error: %v", err)
		return 0
	}
	m.event(pod, events.Normal, "Started", "Started container %s", name)
	m.log.Debug("container started", zap.String("pod", object(pod)), zap.String("container", name),
		zap.Duration("image", tImage), zap.Duration("spec", tSpec), zap.Duration("create", tCreate), zap.Duration("start", time.Since(t0)))
	if h := c.GetLifecycle().GetPostStart(); h != nil {
		if err := m.runHook(ctx, pod, st, name, h, 30*time.Second); err != nil {
			m.event(pod, events.Warning, "FailedPostStartHook", "PostStartHook failed: %v", err)
			_ = m.cfg.Runtime.Stop(ctx, created.ID, podGrace(pod), syscall.SIGTERM)
		}
	}
	return 0
}

// containerSpec turns a pod container into a runtime spec.
func (m *Manager) containerSpec(ctx context.Context, pod *corev1.Pod, st *podState, c *corev1.Container, init bool, attempt int) (runtime.Spec, error) {
	md := pod.GetMetadata()
	env, err := Env(ctx, pod, c, EnvInput{PodIP: st.ip, HostIP: m.cfg.HostIP, Allocatable: m.cfg.Allocatable, Objects: m.objects, NotFound: client.IsNotFound,
		ServiceEnv: m.kubernetesServiceEnv(ctx)})
	if err != nil {
		return runtime.Spec{}, err
	}
	lookup := EnvMap(env)
	expand := func(in []string) []string {
		out := make([]string, len(in))
		for i, s := range in {
			out[i] = Expand(s, lookup)
		}
		return out
	}
	mounts, err := m.mounts(pod, st, c)
	if err != nil {
		return runtime.Spec{}, err
	}
	if tm, err := m.terminationLog(pod, c, attempt); err != nil {
		return runtime.Spec{}, err
	} else if tm != nil {
		mounts = append(mounts, *tm)
	}
	qos := QOSClass(pod)
	lim := ContainerLimits(qos, c, m.cfg.MemoryCapacity)
	id := runtime.ContainerID(md.GetUid(), c.GetName(), attempt)
	hostname := pod.GetSpec().GetHostname()
	if hostname == "" {
		hostname = md.GetName()
	}
	if len(hostname) > 63 {
		hostname = hostname[:63]
	}
	if st.netns == "" {
		hostname = ""
	}
	s := runtime.Spec{
		PodUID: md.GetUid(), PodName: md.GetName(), PodNamespace: md.GetNamespace(), Name: c.GetName(),
		Attempt: attempt, Init: init, Image: c.GetImage(),
		Command: expand(c.GetCommand()), Args: expand(c.GetArgs()), Env: env, WorkingDir: c.GetWorkingDir(),
		Hostname: hostname, NetNSPath: st.netns, Mounts: mounts,
		CgroupsPath: CgroupParent(m.cfg.NodeName, qos, md.GetUid()) + "/" + id,
		CPUShares:   lim.CPUShares, CPUQuota: lim.CPUQuota, CPUPeriod: CFSPeriod, MemoryLimit: lim.MemoryLimit,
		OOMScoreAdj: lim.OOMScoreAdj,
		LogPath:     LogPath(m.cfg.RootDir, pod, c.GetName(), attempt),
		TTY:         c.GetTty(),
		Hash:        SpecHash(c),
	}
	sc, psc := c.GetSecurityContext(), pod.GetSpec().GetSecurityContext()
	if psc != nil {
		s.RunAsUser, s.RunAsGroup = psc.RunAsUser, psc.RunAsGroup
	}
	if sc != nil && sc.RunAsUser != nil {
		s.RunAsUser = sc.RunAsUser
	}
	if sc != nil && sc.RunAsGroup != nil {
		s.RunAsGroup = sc.RunAsGroup
	}
	return s, nil
}

// terminationLogPath is the host file behind a container attempt's
// terminationMessagePath.
func (m *Manager) terminationLogPath(uid, container string, attempt int) string {
	return filepath.Join(m.cfg.RootDir, "pods", uid, "containers", container, strconv.Itoa(attempt)+".termination-log")
}

// terminationLog makes the (empty) file the container may write its
// termination message to, mounted at terminationMessagePath.
func (m *Manager) terminationLog(pod *corev1.Pod, c *corev1.Container, attempt int) (*specs.Mount, error) {
	dst := c.GetTerminationMessagePath()
	if dst == "" {
		dst = "/dev/termination-log"
	}
	if !filepath.IsAbs(dst) {
		return nil, configErrorf("terminationMessagePath %q must be absolute", dst)
	}
	src := m.terminationLogPath(pod.GetMetadata().GetUid(), c.GetName(), attempt)
	if err := os.MkdirAll(filepath.Dir(src), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(src, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o666)
	if err != nil {
		return nil, err
	}
	_ = f.Close()
	return &specs.Mount{Destination: dst, Type: "bind", Source: src, Options: []string{"rbind", "rprivate", "rw"}}, nil
}

// maxTerminationMessage bounds a termination message (upstream's 4 KiB).
const maxTerminationMessage = 4096

// terminationMessages fills the message of exited containers from what
// they wrote to their termination log.
func (m *Manager) terminationMessages(cs []runtime.Container) []runtime.Container {
	var out []runtime.Container
	for i, c := range cs {
		if c.State != runtime.Exited || c.Message != "" {
			continue
		}
		f, err := os.Open(m.terminationLogPath(c.PodUID, c.Name, c.Attempt))
		if err != nil {
			continue
		}
		b := make([]byte, maxTerminationMessage)
		n, _ := f.Read(b)
		_ = f.Close()
		if n == 0 {
			continue
		}
		if out == nil {
			out = append([]runtime.Container(nil), cs...)
		}
		out[i].Message = string(b[:n])
	}
	if out == nil {
		return cs
	}
	return out
}

// mounts are the container's volume mounts plus the pod's /etc files.
func (m *Manager) mounts(pod *corev1.Pod, st *podState, c *corev1.Container) ([]specs.Mount, error) {
	var out []specs.Mount
	taken := map[string]bool{}
	for _, vm := range c.GetVolumeMounts() {
		src, ok := st.volumes[vm.GetName()]
		if !ok {
			return nil, configErrorf("cannot find volume %q to mount into container %q", vm.GetName(), c.GetName())
		}
		if sp := vm.GetSubPath(); sp != "" {
			if filepath.IsAbs(sp) || strings.Contains(sp, "..") {
				return nil, configErrorf("invalid subPath %q", sp)
			}
			src = filepath.Join(src, sp)
			if _, err := os.Stat(src); os.IsNotExist(err) {
				if err := os.MkdirAll(src, 0o755); err != nil {
					return nil, err
				}
			}
		}
		opts := []string{"rbind", "rprivate", "rw"}
		if vm.GetReadOnly() {
			opts[2] = "ro"
		}
		out = append(out, specs.Mount{Destination: vm.GetMountPath(), Type: "bind", Source: src, Options: opts})
		taken[filepath.Clean(vm.GetMountPath())] = true
	}
	for i, dst := range []string{"/etc/resolv.conf", "/etc/hosts", "/etc/hostname"} {
		if i < len(st.files) && st.files[i] != "" && !taken[dst] {
			out = append(out, specs.Mount{Destination: dst, Type: "bind", Source: st.files[i], Options: []string{"rbind", "rprivate", "rw"}})
		}
	}
	return out, nil
}

// sandbox prepares what the pod's containers share: network namespace and
// address, /etc files and volumes.
func (m *Manager) sandbox(ctx context.Context, pod *corev1.Pod, st *podState) error {
	dir := filepath.Join(m.cfg.RootDir, "pods", pod.GetMetadata().GetUid())
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	st.ip, st.netns, st.files = m.cfg.HostIP, "", nil
	if m.cfg.Network != nil && !pod.GetSpec().GetHostNetwork() {
		ip, netns, err := m.cfg.Network.Setup(ctx, pod)
		if err != nil {
			return err
		}
		resolv, hosts, hostname, err := m.cfg.Network.PodFiles(pod, ip, dir)
		if err != nil {
			return err
		}
		st.ip, st.netns, st.files = ip, netns, []string{resolv, hosts, hostname}
	}
	if m.cfg.Volumes != nil {
		vols, err := m.cfg.Volumes.Setup(ctx, pod)
		if err != nil {
			return fmt.Errorf("volumes: %w", err)
		}
		st.volumes = vols
	} else {
		// Without the volume manager every volume is an empty directory.
		st.volumes = map[string]string{}
		for _, v := range pod.GetSpec().GetVolumes() {
			p := filepath.Join(dir, "volumes", v.GetName())
			if err := os.MkdirAll(p, 0o777); err != nil {
				return err
			}
			st.volumes[v.GetName()] = p
		}
	}
	st.sandboxReady = true
	return nil
}

// releaseSandbox frees a finished pod's address and volumes; its exited
// containers stay for their logs until the pod is deleted.
func (m *Manager) releaseSandbox(ctx context.Context, pod *corev1.Pod, st *podState) error {
	if !st.sandboxReady {
		return nil
	}
	if m.cfg.Prober != nil {
		m.cfg.Prober.Remove(pod.GetMetadata().GetUid())
	}
	if m.cfg.Network != nil {
		if err := m.cfg.Network.Teardown(ctx, pod); err != nil {
			return err
		}
	}
	st.sandboxReady = false
	return nil
}

// terminate carries out a graceful deletion: preStop hooks, SIGTERM, the
// grace period, SIGKILL; then it removes everything and confirms the
// deletion to the apiserver with grace 0.
func (m *Manager) terminate(ctx context.Context, pod *corev1.Pod, cs []runtime.Container, st *podState) error {
	m.release(pod.GetMetadata().GetUid())
	if err := m.killContainers(ctx, pod, cs, podGrace(pod)); err != nil {
		return err
	}
	cs, err := m.cfg.Runtime.List(ctx, pod.GetMetadata().GetUid())
	if err != nil {
		return err
	}
	if err := m.teardown(ctx, pod, cs, st); err != nil {
		return err
	}
	md := pod.GetMetadata()
	err = m.pods.Delete(ctx, md.GetNamespace(), md.GetName(), client.DeleteOptions{
		GracePeriodSeconds: new(int64), Preconditions: &client.Preconditions{UID: md.GetUid()},
	})
	if err != nil && !client.IsNotFound(err) && !client.IsPreconditionFailed(err) {
		return fmt.Errorf("confirm deletion: %w", err)
	}
	return nil
}

// killContainers stops every running container of the pod in parallel.
func (m *Manager) killContainers(ctx context.Context, pod *corev1.Pod, cs []runtime.Container, grace time.Duration) error {
	specs := map[string]*corev1.Container{}
	for _, c := range pod.GetSpec().GetInitContainers() {
		specs[c.GetName()] = c
	}
	for _, c := range pod.GetSpec().GetContainers() {
		specs[c.GetName()] = c
	}
	var wg sync.WaitGroup
	errs := make([]error, len(cs))
	for i, c := range cs {
		if c.State != runtime.Running && c.State != runtime.Created {
			continue
		}
		wg.Go(func() {
			if c.State == runtime.Created {
				errs[i] = m.cfg.Runtime.Remove(ctx, c.ID)
				return
			}
			m.event(pod, events.Normal, "Killing", "Stopping container %s", c.Name)
			errs[i] = m.killOne(ctx, pod, specs[c.Name], c, grace)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// killOne runs the preStop hook within the grace period, then stops the
// container with what is left of it (at least minGrace).
func (m *Manager) killOne(ctx context.Context, pod *corev1.Pod, spec *corev1.Container, c runtime.Container, grace time.Duration) error {
	deadline := m.cfg.Now().Add(grace)
	if h := spec.GetLifecycle().GetPreStop(); h != nil {
		st := &podState{ip: pod.GetStatus().GetPodIp()}
		if err := m.runHook(ctx, pod, st, c.Name, h, grace); err != nil {
			m.event(pod, events.Warning, "FailedPreStopHook", "PreStopHook failed: %v", err)
		}
	}
	left := max(deadline.Sub(m.cfg.Now()), minGrace)
	return m.cfg.Runtime.Stop(ctx, c.ID, left, stopSignal(spec))
}

func stopSignal(c *corev1.Container) syscall.Signal {
	switch strings.TrimPrefix(c.GetLifecycle().GetStopSignal(), "SIG") {
	case "INT":
		return syscall.SIGINT
	case "QUIT":
		return syscall.SIGQUIT
	case "KILL":
		return syscall.SIGKILL
	case "HUP":
		return syscall.SIGHUP
	case "USR1":
		return syscall.SIGUSR1
	case "USR2":
		return syscall.SIGUSR2
	}
	return syscall.SIGTERM
}

// runHook runs a lifecycle handler: exec in the container, an HTTP GET, a
// TCP connect, or a sleep.
func (m *Manager) runHook(ctx context.Context, pod *corev1.Pod, st *podState, container string, h *corev1.LifecycleHandler, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	host := st.ip
	if host == "" {
		host = m.cfg.HostIP
	}
	switch {
	case h.GetExec() != nil:
		code, out, err := m.cfg.Runtime.ExecSync(ctx, pod, container, h.GetExec().GetCommand(), timeout)
		if err != nil {
			return err
		}
		if code != 0 {
			return fmt.Errorf("command %q exited with %d: %s", h.GetExec().GetCommand(), code, strings.TrimSpace(string(out)))
		}
	case h.GetHttpGet() != nil:
		g := h.GetHttpGet()
		if g.GetHost() != "" {
			host = g.GetHost()
		}
		scheme := strings.ToLower(g.GetScheme())
		if scheme == "" {
			scheme = "http"
		}
		url := fmt.Sprintf("%s://%s%s", scheme, net.JoinHostPort(host, portOf(g.GetPort().GetIntVal(), g.GetPort().GetStrVal())), g.GetPath())
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode >= 400 {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
	case h.GetTcpSocket() != nil:
		t := h.GetTcpSocket()
		if t.GetHost() != "" {
			host = t.GetHost()
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, portOf(t.GetPort().GetIntVal(), t.GetPort().GetStrVal())))
		if err != nil {
			return err
		}
		_ = conn.Close()
	case h.GetSleep() != nil:
		select {
		case <-time.After(time.Duration(h.GetSleep().GetSeconds()) * time.Second):
		case <-ctx.Done():
		}
	}
	return nil
}

func portOf(n int32, s string) string {
	if s != "" {
		return s
	}
	return strconv.Itoa(int(n))
}

// keepAttempts is how many attempts of each container stay (the current
// one and the previous, for logs --previous).
const keepAttempts = 2

// collectGarbage removes exited attempts beyond keepAttempts.
func (m *Manager) collectGarbage(ctx context.Context, cs []runtime.Container) {
	count := map[string]int{}
	for i := len(cs) - 1; i >= 0; i-- { // newest attempt last in List's order
		c := cs[i]
		k := fmt.Sprintf("%t/%s", c.Init, c.Name)
		count[k]++
		if count[k] > keepAttempts && c.State == runtime.Exited {
			if err := m.cfg.Runtime.Remove(ctx, c.ID); err != nil {
				m.log.Debug("remove old container", zap.String("container", c.ID), zap.Error(err))
			}
		}
	}
}
