// Package runtime is the kubelet's view of containerd: images, and the
// containers of its pods in its own containerd namespace. Every container it
// creates carries the labels of kubelet/DESIGN.md, and it lists, stops and
// removes only containers labelled as managed by its node: a foreign
// container in the same namespace is never touched.
//
// A container's exit is recorded in its labels (exit code, times, reason)
// and its task deleted, so the record survives kubelet restarts without
// keeping a shim per exited container.
package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	tasksapi "github.com/containerd/containerd/api/services/tasks/v1"
	taskapi "github.com/containerd/containerd/api/types/task"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"go.uber.org/zap"
)

// Labels on every container the kubelet creates (kubelet/DESIGN.md).
const (
	LabelPodUID        = "io.flotilla.pod.uid"
	LabelPodName       = "io.flotilla.pod.name"
	LabelPodNamespace  = "io.flotilla.pod.namespace"
	LabelContainerName = "io.flotilla.container.name"
	LabelAttempt       = "io.flotilla.container.attempt"
	LabelManagedBy     = "io.flotilla.managed-by"

	// The runtime's own bookkeeping.
	labelInit       = "io.flotilla.container.init"
	labelImage      = "io.flotilla.container.image"
	labelImageID    = "io.flotilla.container.image-id"
	labelLogPath    = "io.flotilla.container.log-path"
	labelCgroup     = "io.flotilla.container.cgroup"
	labelHash       = "io.flotilla.container.hash"
	labelStartedAt  = "io.flotilla.state.started-at"
	labelFinishedAt = "io.flotilla.state.finished-at"
	labelExitCode   = "io.flotilla.state.exit-code"
	labelReason     = "io.flotilla.state.reason"
	labelMessage    = "io.flotilla.state.message"
)

// Snapshotter is the one snapshotter the kubelet unpacks images for.
const Snapshotter = "overlayfs"

// State is where a container is in its life.
type State int

const (
	// Created: made but never started.
	Created State = iota
	Running
	Exited
	Unknown
)

func (s State) String() string {
	return [...]string{"Created", "Running", "Exited", "Unknown"}[s]
}

// Container is what the runtime knows about one container.
type Container struct {
	ID                               string
	PodUID, PodName, PodNamespace    string
	Name                             string
	Attempt                          int
	Init                             bool
	Image, ImageID                   string
	State                            State
	Pid                              uint32
	CreatedAt, StartedAt, FinishedAt time.Time
	ExitCode                         int
	// Reason is Completed, Error, OOMKilled or StartError once exited.
	Reason, Message string
	LogPath         string
	// Hash is the pod worker's hash of the container's spec.
	Hash string
}

// ContainerID is the containerd ID of a pod's container attempt.
func ContainerID(podUID, name string, attempt int) string {
	return fmt.Sprintf("%s-%s-%d", podUID, name, attempt)
}

// Spec is what the pod worker asks the runtime to create.
type Spec struct {
	PodUID, PodName, PodNamespace, Name string
	Attempt                             int
	Init                                bool
	// Image must have been made present with EnsureImage.
	Image string
	// Command and Args follow upstream: Command replaces the image
	// entrypoint, Args its cmd.
	Command, Args []string
	Env           []string
	WorkingDir    string
	Hostname      string
	// NetNSPath joins the pod's network namespace; empty uses the host's.
	NetNSPath string
	Mounts    []specs.Mount
	// CgroupsPath is the container's cgroup (cgroupfs, v1).
	CgroupsPath string
	CPUShares   uint64
	CPUQuota    int64
	CPUPeriod   uint64
	MemoryLimit int64
	// OOMScoreAdj, when set, is raised to at least the kubelet's own score:
	// a lower one would need CAP_SYS_RESOURCE (shared/MACHINE-NOTES.md).
	OOMScoreAdj *int
	RunAsUser   *int64
	RunAsGroup  *int64
	LogPath     string
	TTY         bool
	// Hash identifies the pod spec's container; a changed one is restarted.
	Hash string
}

// Config wires a Runtime.
type Config struct {
	// Address is containerd's socket.
	Address string
	// Namespace is the containerd namespace of this kubelet.
	Namespace string
	// NodeName is written in LabelManagedBy and filters everything.
	NodeName string
	// LogIO, when set, makes the IO for a container's log file (the
	// kubelet's binary log driver); nil writes raw output with cio.LogFile.
	LogIO func(logPath string) cio.Creator
	// OnExit is called with the pod UID after a container of ours exited
	// and its exit was recorded.
	OnExit func(podUID string)
	// OnReconnect is called after the event stream was re-established:
	// exits may have been missed.
	OnReconnect func()
	Log         *zap.Logger
}

// Runtime is the containerd wrapper. It is safe for concurrent use.
type Runtime struct {
	cfg    Config
	client *containerd.Client
	log    *zap.Logger

	mu    sync.Mutex
	locks map[string]*sync.Mutex // per container ID: finalize vs stop vs remove
	oom   map[string]bool        // container IDs with an OOM event
}

// New connects to containerd and makes sure the namespace exists.
func New(ctx context.Context, cfg Config) (*Runtime, error) {
	if cfg.Namespace == "" {
		cfg.Namespace = "flotilla"
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	c, err := containerd.New(cfg.Address, containerd.WithDefaultNamespace(cfg.Namespace), containerd.WithTimeout(10*time.Second))
	if err != nil {
		return nil, fmt.Errorf("containerd %s: %w", cfg.Address, err)
	}
	r := &Runtime{cfg: cfg, client: c, log: cfg.Log, locks: map[string]*sync.Mutex{}, oom: map[string]bool{}}
	if err := c.NamespaceService().Create(r.ctx(ctx), cfg.Namespace, nil); err != nil && !errdefs.IsAlreadyExists(err) {
		_ = c.Close()
		return nil, fmt.Errorf("containerd namespace %s: %w", cfg.Namespace, err)
	}
	return r, nil
}

// Close ends the connection; containers keep running.
func (r *Runtime) Close() error { return r.client.Close() }

// Client is the underlying containerd client.
func (r *Runtime) Client() *containerd.Client { return r.client }

func (r *Runtime) ctx(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, r.cfg.Namespace)
}

// Version is containerd's version, as "containerd://1.6.20".
func (r *Runtime) Version(ctx context.Context) (string, error) {
	v, err := r.client.Version(r.ctx(ctx))
	if err != nil {
		return "", err
	}
	return "containerd://" + strings.TrimPrefix(v.Version, "v"), nil
}

func (r *Runtime) lock(id string) func() {
	r.mu.Lock()
	l, ok := r.locks[id]
	if !ok {
		l = &sync.Mutex{}
		r.locks[id] = l
	}
	r.mu.Unlock()
	l.Lock()
	return l.Unlock
}

func (r *Runtime) forget(id string) {
	r.mu.Lock()
	delete(r.locks, id)
	delete(r.oom, id)
	r.mu.Unlock()
}

func quote(s string) string { return strconv.Quote(s) }

// List returns this node's containers, of one pod when podUID is set,
// sorted by pod, name and attempt. Exits not yet recorded are recorded.
func (r *Runtime) List(ctx context.Context, podUID string) ([]Container, error) {
	ctx = r.ctx(ctx)
	filter := fmt.Sprintf("labels.%s==%s", quote(LabelManagedBy), quote(r.cfg.NodeName))
	if podUID != "" {
		filter += fmt.Sprintf(",labels.%s==%s", quote(LabelPodUID), quote(podUID))
	}
	cs, err := r.client.ContainerService().List(ctx, filter)
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	if len(cs) == 0 {
		return nil, nil
	}
	// Listing every task asks every shim for its state; one pod's few
	// containers are cheaper to ask for one by one.
	var procs map[string]*taskapi.Process
	if podUID != "" {
		procs, err = r.tasksOf(ctx, cs)
	} else {
		procs, err = r.tasks(ctx)
	}
	if err != nil {
		return nil, err
	}
	out := make([]Container, 0, len(cs))
	for _, c := range cs {
		ctr := fromLabels(c)
		if _, done := c.Labels[labelExitCode]; !done {
			p, ok := procs[c.ID]
			switch {
			case !ok:
				ctr.State = Created
			case p.Status == taskapi.Status_RUNNING || p.Status == taskapi.Status_PAUSED || p.Status == taskapi.Status_PAUSING:
				ctr.State, ctr.Pid = Running, p.Pid
			case p.Status == taskapi.Status_STOPPED:
				if err := r.finalize(ctx, c.ID); err != nil {
					r.log.Warn("record container exit", zap.String("container", c.ID), zap.Error(err))
					ctr.State = Unknown
					break
				}
				if c2, err := r.client.ContainerService().Get(ctx, c.ID); err == nil {
					ctr = fromLabels(c2)
				}
			case p.Status == taskapi.Status_CREATED:
				ctr.State = Created
			default:
				ctr.State = Unknown
			}
		}
		out = append(out, ctr)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.PodUID != b.PodUID {
			return a.PodUID < b.PodUID
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.Attempt < b.Attempt
	})
	return out, nil
}

// PodUIDs lists the pods that have containers on this node, without
// asking any shim for task state.
func (r *Runtime) PodUIDs(ctx context.Context) (map[string]bool, error) {
	cs, err := r.client.ContainerService().List(r.ctx(ctx), fmt.Sprintf("labels.%s==%s", quote(LabelManagedBy), quote(r.cfg.NodeName)))
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	out := map[string]bool{}
	for _, c := range cs {
		out[c.Labels[LabelPodUID]] = true
	}
	return out, nil
}

func (r *Runtime) tasks(ctx context.Context) (map[string]*taskapi.Process, error) {
	resp, err := r.client.TaskService().List(ctx, &tasksapi.ListTasksRequest{})
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	m := make(map[string]*taskapi.Process, len(resp.Tasks))
	for _, t := range resp.Tasks {
		m[t.ID] = t
	}
	return m, nil
}

func (r *Runtime) tasksOf(ctx context.Context, cs []containers.Container) (map[string]*taskapi.Process, error) {
	m := make(map[string]*taskapi.Process, len(cs))
	for _, c := range cs {
		if _, done := c.Labels[labelExitCode]; done {
			continue
		}
		resp, err := r.client.TaskService().Get(ctx, &tasksapi.GetRequest{ContainerID: c.ID})
		if err != nil {
			if errdefs.IsNotFound(errgrpc.ToNative(err)) {
				continue
			}
			return nil, fmt.Errorf("get task %s: %w", c.ID, err)
		}
		m[c.ID] = resp.Process
	}
	return m, nil
}

func parseTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

func fromLabels(c containers.Container) Container {
	l := c.Labels
	attempt, _ := strconv.Atoi(l[LabelAttempt])
	ctr := Container{
		ID: c.ID, PodUID: l[LabelPodUID], PodName: l[LabelPodName], PodNamespace: l[LabelPodNamespace],
		Name: l[LabelContainerName], Attempt: attempt, Init: l[labelInit] == "true",
		Image: l[labelImage], ImageID: l[labelImageID], LogPath: l[labelLogPath], Hash: l[labelHash],
		CreatedAt: c.CreatedAt, StartedAt: parseTime(l[labelStartedAt]),
	}
	if code, ok := l[labelExitCode]; ok {
		ctr.State = Exited
		ctr.ExitCode, _ = strconv.Atoi(code)
		ctr.FinishedAt = parseTime(l[labelFinishedAt])
		ctr.Reason, ctr.Message = l[labelReason], l[labelMessage]
	}
	return ctr
}

// ours loads a container and checks it is this node's.
func (r *Runtime) ours(ctx context.Context, id string) (containerd.Container, map[string]string, error) {
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	labels, err := c.Labels(ctx)
	if err != nil {
		return nil, nil, err
	}
	if labels[LabelManagedBy] != r.cfg.NodeName {
		return nil, nil, fmt.Errorf("container %s: %w", id, errNotOurs)
	}
	return c, labels, nil
}

var errNotOurs = errors.New("not managed by this kubelet")

// finalize records a stopped task's exit in the container's labels and
// deletes the task. It does nothing for a running task or one already
// recorded.
func (r *Runtime) finalize(ctx context.Context, id string) error {
	unlock := r.lock(id)
	defer unlock()
	c, labels, err := r.ours(ctx, id)
	if err != nil {
		if errdefs.IsNotFound(err) || errors.Is(err, errNotOurs) {
			return nil
		}
		return err
	}
	if _, done := labels[labelExitCode]; done {
		return nil
	}
	task, err := c.Task(ctx, nil)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return nil // never started
		}
		return err
	}
	st, err := task.Status(ctx)
	if err != nil {
		return err
	}
	if st.Status != containerd.Stopped {
		return nil
	}
	code := int(st.ExitStatus)
	finished := st.ExitTime
	if finished.IsZero() {
		finished = time.Now()
	}
	r.mu.Lock()
	oom := r.oom[id]
	r.mu.Unlock()
	if !oom && labels[labelCgroup] != "" {
		oom = oomKilled(labels[labelCgroup])
	}
	reason := "Completed"
	switch {
	case oom:
		reason = "OOMKilled"
	case code != 0:
		reason = "Error"
	}
	if _, err := c.SetLabels(ctx, map[string]string{
		labelExitCode:   strconv.Itoa(code),
		labelFinishedAt: finished.UTC().Format(time.RFC3339Nano),
		labelReason:     reason,
	}); err != nil {
		return fmt.Errorf("record exit of %s: %w", id, err)
	}
	if _, err := task.Delete(ctx); err != nil && !errdefs.IsNotFound(err) {
		r.log.Warn("delete task", zap.String("container", id), zap.Error(err))
	}
	return nil
}

// oomKilled reads the v1 memory cgroup's OOM kill counter (kernel >= 4.13).
func oomKilled(cgroup string) bool {
	b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup/memory", cgroup, "memory.oom_control"))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "oom_kill" && f[1] != "0" {
			return true
		}
	}
	return false
}

// Create makes a container (not started). Its image must be present.
func (r *Runtime) Create(ctx context.Context, s Spec) (Container, error) {
	ctx = r.ctx(ctx)
	id := ContainerID(s.PodUID, s.Name, s.Attempt)
	img, err := r.image(ctx, s.Image)
	if err != nil {
		return Container{}, err
	}
	imageID := imageIDOf(img)
	opts := []oci.SpecOpts{}
	switch {
	case len(s.Command) > 0:
		opts = append(opts, oci.WithImageConfig(img), oci.WithProcessArgs(append(append([]string{}, s.Command...), s.Args...)...))
	case len(s.Args) > 0:
		opts = append(opts, oci.WithImageConfigArgs(img, s.Args))
	default:
		opts = append(opts, oci.WithImageConfig(img))
	}
	if len(s.Env) > 0 {
		opts = append(opts, oci.WithEnv(s.Env))
	}
	if s.WorkingDir != "" {
		opts = append(opts, oci.WithProcessCwd(s.WorkingDir))
	}
	if s.Hostname != "" {
		opts = append(opts, oci.WithHostname(s.Hostname))
	}
	if s.NetNSPath != "" {
		opts = append(opts, oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: s.NetNSPath}))
	} else {
		opts = append(opts, oci.WithHostNamespace(specs.NetworkNamespace), oci.WithHostHostsFile, oci.WithHostResolvconf)
	}
	if s.RunAsUser != nil {
		opts = append(opts, oci.WithUserID(uint32(*s.RunAsUser)))
	}
	if s.RunAsGroup != nil {
		opts = append(opts, withGroup(uint32(*s.RunAsGroup)))
	}
	if len(s.Mounts) > 0 {
		opts = append(opts, oci.WithMounts(s.Mounts))
	}
	if s.CgroupsPath != "" {
		opts = append(opts, oci.WithCgroup(s.CgroupsPath))
	}
	if s.CPUShares > 0 {
		opts = append(opts, oci.WithCPUShares(s.CPUShares))
	}
	if s.CPUQuota > 0 {
		opts = append(opts, oci.WithCPUCFS(s.CPUQuota, s.CPUPeriod))
	}
	if s.MemoryLimit > 0 {
		opts = append(opts, oci.WithMemoryLimit(uint64(s.MemoryLimit)))
	}
	if s.OOMScoreAdj != nil {
		opts = append(opts, withOOMScoreAdj(*s.OOMScoreAdj))
	}
	if s.TTY {
		opts = append(opts, oci.WithTTY)
	}
	labels := map[string]string{
		LabelPodUID: s.PodUID, LabelPodName: s.PodName, LabelPodNamespace: s.PodNamespace,
		LabelContainerName: s.Name, LabelAttempt: strconv.Itoa(s.Attempt), LabelManagedBy: r.cfg.NodeName,
		labelImage: s.Image, labelImageID: imageID, labelLogPath: s.LogPath, labelCgroup: s.CgroupsPath,
	}
	if s.Hash != "" {
		labels[labelHash] = s.Hash
	}
	if s.Init {
		labels[labelInit] = "true"
	}
	c, err := r.client.NewContainer(ctx, id,
		containerd.WithContainerLabels(labels),
		containerd.WithImageName(img.Name()),
		containerd.WithSnapshotter(Snapshotter),
		containerd.WithNewSnapshot(id, img),
		containerd.WithNewSpec(opts...),
	)
	if err != nil {
		return Container{}, fmt.Errorf("create container %s: %w", id, err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		return Container{}, err
	}
	return fromLabels(info), nil
}

func withOOMScoreAdj(score int) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if own, err := ownOOMScoreAdj(); err == nil && score < own {
			score = own
		}
		if s.Process == nil {
			s.Process = &specs.Process{}
		}
		s.Process.OOMScoreAdj = &score
		return nil
	}
}

func withGroup(gid uint32) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if s.Process == nil {
			s.Process = &specs.Process{}
		}
		s.Process.User.GID = gid
		return nil
	}
}

func ownOOMScoreAdj() (int, error) {
	b, err := os.ReadFile("/proc/self/oom_score_adj")
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// Start starts a created container. A container that cannot start (bad
// command, missing binary) is recorded as exited with code 128 and reason
// StartError, the way upstream's runtime reports it.
func (r *Runtime) Start(ctx context.Context, id string) error {
	ctx = r.ctx(ctx)
	unlock := r.lock(id)
	defer unlock()
	c, labels, err := r.ours(ctx, id)
	if err != nil {
		return err
	}
	logPath := labels[labelLogPath]
	var ioc cio.Creator = cio.NullIO
	if logPath != "" {
		if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
			return err
		}
		if r.cfg.LogIO != nil {
			ioc = r.cfg.LogIO(logPath)
		} else {
			ioc = cio.LogFile(logPath)
		}
	}
	started := time.Now()
	task, err := c.NewTask(ctx, ioc)
	if err == nil {
		if err = task.Start(ctx); err != nil {
			_, _ = task.Delete(ctx, containerd.WithProcessKill)
		}
	}
	if err != nil {
		now := time.Now().UTC().Format(time.RFC3339Nano)
		_, lerr := c.SetLabels(ctx, map[string]string{
			labelStartedAt: now, labelFinishedAt: now, labelExitCode: "128",
			labelReason: "StartError", labelMessage: trimMessage(err.Error()),
		})
		if lerr != nil {
			r.log.Warn("record start error", zap.String("container", id), zap.Error(lerr))
		}
		return fmt.Errorf("start container %s: %w", id, err)
	}
	if _, err := c.SetLabels(ctx, map[string]string{labelStartedAt: started.UTC().Format(time.RFC3339Nano)}); err != nil {
		return fmt.Errorf("record start of %s: %w", id, err)
	}
	return nil
}

func trimMessage(s string) string {
	if len(s) > 1024 {
		s = s[:1024]
	}
	return s
}

// Stop sends SIGTERM (or signal), waits up to grace for the container to
// exit, then SIGKILLs it, and records the exit. A container that is not
// running is left as it is.
func (r *Runtime) Stop(ctx context.Context, id string, grace time.Duration, signal syscall.Signal) error {
	ctx = r.ctx(ctx)
	c, _, err := r.ours(ctx, id)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return nil
		}
		return err
	}
	task, err := c.Task(ctx, nil)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return nil
		}
		return err
	}
	exited, err := task.Wait(ctx)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("wait for %s: %w", id, err)
	}
	if signal == 0 {
		signal = syscall.SIGTERM
	}
	if grace > 0 {
		if err := task.Kill(ctx, signal); err != nil && !errdefs.IsNotFound(err) {
			r.log.Debug("signal container", zap.String("container", id), zap.Error(err))
		}
		t := time.NewTimer(grace)
		select {
		case <-exited:
			t.Stop()
			return r.finalize(ctx, id)
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
	if err := task.Kill(ctx, syscall.SIGKILL, containerd.WithKillAll); err != nil && !errdefs.IsNotFound(err) {
		r.log.Debug("kill container", zap.String("container", id), zap.Error(err))
	}
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		return fmt.Errorf("container %s did not exit after SIGKILL", id)
	case <-ctx.Done():
		return ctx.Err()
	}
	return r.finalize(ctx, id)
}

// Remove deletes a container (killing it if it still runs) and its
// snapshot. Removing a missing container is not an error.
func (r *Runtime) Remove(ctx context.Context, id string) error {
	ctx = r.ctx(ctx)
	unlock := r.lock(id)
	defer unlock()
	c, _, err := r.ours(ctx, id)
	if err != nil {
		if errdefs.IsNotFound(err) {
			r.forget(id)
			return nil
		}
		return err
	}
	if task, err := c.Task(ctx, nil); err == nil {
		if _, err := task.Delete(ctx, containerd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("delete task %s: %w", id, err)
		}
	}
	if err := c.Delete(ctx, containerd.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("delete container %s: %w", id, err)
	}
	r.forget(id)
	return nil
}
