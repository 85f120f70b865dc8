package runtime

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/errdefs"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	kubeletv1 "flotilla.io/proto/flotilla/kubelet/v1"
)

// ErrNotFound: no such pod container on this node (os.ErrNotExist, which
// the kubelet API answers as NotFound). Errors wrapping it say which
// container and why; they match both ErrNotFound and os.ErrNotExist.
var ErrNotFound error = notFound("container not found")

type notFound string

func (e notFound) Error() string { return string(e) }

func (e notFound) Is(target error) bool { return target == os.ErrNotExist || target == ErrNotFound }

// waitingToStart is upstream's answer for a container not created yet.
func waitingToStart(container, namespace, pod string) error {
	return notFound(fmt.Sprintf("container %q in pod %s/%s is waiting to start (not created on this node yet)", container, namespace, pod))
}

// find returns the containers of one pod's container by its labels,
// oldest attempt first. An empty container name means the pod's only app
// container.
func (r *Runtime) find(ctx context.Context, byUID, namespace, pod, container string) ([]Container, error) {
	ctx = r.ctx(ctx)
	filter := fmt.Sprintf("labels.%s==%s", quote(LabelManagedBy), quote(r.cfg.NodeName))
	if container != "" {
		filter += fmt.Sprintf(",labels.%s==%s", quote(LabelContainerName), quote(container))
	}
	if byUID != "" {
		filter += fmt.Sprintf(",labels.%s==%s", quote(LabelPodUID), quote(byUID))
	} else {
		filter += fmt.Sprintf(",labels.%s==%s,labels.%s==%s", quote(LabelPodNamespace), quote(namespace), quote(LabelPodName), quote(pod))
	}
	cs, err := r.client.ContainerService().List(ctx, filter)
	if err != nil {
		return nil, err
	}
	out := make([]Container, 0, len(cs))
	names := map[string]bool{}
	for _, c := range cs {
		ctr := fromLabels(c)
		if container == "" && ctr.Init {
			continue
		}
		names[ctr.Name] = true
		out = append(out, ctr)
	}
	if container == "" && len(names) > 1 {
		var list []string
		for n := range names {
			list = append(list, n)
		}
		sort.Strings(list)
		return nil, fmt.Errorf("a container name must be specified for pod %s, choose one of: %v", pod, list)
	}
	// Several pods of the same name (a recreated pod) sort by creation.
	sortContainers(out)
	return out, nil
}

func sortContainers(cs []Container) {
	for i := 1; i < len(cs); i++ {
		for j := i; j > 0 && less(cs[j], cs[j-1]); j-- {
			cs[j], cs[j-1] = cs[j-1], cs[j]
		}
	}
}

func less(a, b Container) bool {
	if !a.CreatedAt.Equal(b.CreatedAt) {
		return a.CreatedAt.Before(b.CreatedAt)
	}
	return a.Attempt < b.Attempt
}

// LogPath is the log file of a pod's container: the current instance, or
// the one before it when previous is set (server.Runtime).
func (r *Runtime) LogPath(namespace, pod, container string, previous bool) (string, error) {
	cs, err := r.find(context.Background(), "", namespace, pod, container)
	if err != nil {
		return "", err
	}
	i := len(cs) - 1
	if previous {
		i--
	}
	if i < 0 || cs[i].LogPath == "" {
		if previous {
			return "", notFound(fmt.Sprintf("previous terminated container %q in pod %s/%s not found", container, namespace, pod))
		}
		return "", waitingToStart(container, namespace, pod)
	}
	return cs[i].LogPath, nil
}

func (r *Runtime) runningTask(ctx context.Context, byUID, namespace, pod, container string) (containerd.Task, *containerd.Container, error) {
	cs, err := r.find(ctx, byUID, namespace, pod, container)
	if err != nil {
		return nil, nil, err
	}
	if len(cs) == 0 {
		return nil, nil, waitingToStart(container, namespace, pod)
	}
	last := cs[len(cs)-1]
	c, err := r.client.LoadContainer(r.ctx(ctx), last.ID)
	if err != nil {
		return nil, nil, err
	}
	t, err := c.Task(r.ctx(ctx), nil)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return nil, nil, fmt.Errorf("container %q in pod %s/%s is not running", container, namespace, pod)
		}
		return nil, nil, err
	}
	return t, &c, nil
}

func execID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "exec-" + hex.EncodeToString(b)
}

// Exec runs cmd in a pod's running container with the given streams and
// returns its exit code (server.Runtime).
func (r *Runtime) Exec(ctx context.Context, namespace, pod, container string, cmd []string, tty bool,
	stdin io.Reader, stdout, stderr io.Writer, resize <-chan *kubeletv1.TerminalSize) (int, error) {
	task, c, err := r.runningTask(ctx, "", namespace, pod, container)
	if err != nil {
		return -1, err
	}
	return r.exec(ctx, task, *c, cmd, tty, stdin, stdout, stderr, resize, 0)
}

// ExecSync runs cmd in a pod's container and returns its exit code and
// combined output (prober.Execer). After timeout the process is killed and
// an error returned.
func (r *Runtime) ExecSync(ctx context.Context, pod *corev1.Pod, container string, cmd []string, timeout time.Duration) (int, []byte, error) {
	md := pod.GetMetadata()
	task, c, err := r.runningTask(ctx, md.GetUid(), md.GetNamespace(), md.GetName(), container)
	if err != nil {
		return -1, nil, err
	}
	var out limitedBuffer
	out.max = 64 << 10
	code, err := r.exec(ctx, task, *c, cmd, false, nil, &out, &out, nil, timeout)
	return code, out.Bytes(), err
}

type limitedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *limitedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]byte(nil), b.buf.Bytes()...)
}

// stdinCloser tells the process its stdin ended once the reader does.
type stdinCloser struct {
	r       io.Reader
	onClose func()
	once    sync.Once
}

func (s *stdinCloser) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err == io.EOF {
		s.once.Do(s.onClose)
	}
	return n, err
}

// ErrExecTimeout: an ExecSync ran past its timeout and was killed.
var ErrExecTimeout = errors.New("command timed out")

func (r *Runtime) exec(ctx context.Context, task containerd.Task, c containerd.Container, cmd []string, tty bool,
	stdin io.Reader, stdout, stderr io.Writer, resize <-chan *kubeletv1.TerminalSize, timeout time.Duration) (int, error) {
	ctx = r.ctx(ctx)
	if len(cmd) == 0 {
		return -1, errors.New("exec: no command")
	}
	spec, err := c.Spec(ctx)
	if err != nil {
		return -1, err
	}
	pspec := *spec.Process
	pspec.Args = cmd
	pspec.Terminal = tty
	pspec.ConsoleSize = nil
	var proc containerd.Process
	if stdin != nil {
		stdin = &stdinCloser{r: stdin, onClose: func() {
			if proc != nil {
				_ = proc.CloseIO(ctx, containerd.WithStdinCloser)
			}
		}}
	}
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	opts := []cio.Opt{cio.WithStreams(stdin, stdout, stderr)}
	if tty {
		opts = append(opts, cio.WithTerminal)
	}
	proc, err = task.Exec(ctx, execID(), &pspec, cio.NewCreator(opts...))
	if err != nil {
		return -1, fmt.Errorf("exec: %w", err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(r.ctx(context.Background()), 10*time.Second)
		defer cancel()
		_, _ = proc.Delete(dctx, containerd.WithProcessKill)
	}()
	exited, err := proc.Wait(ctx)
	if err != nil {
		return -1, err
	}
	if err := proc.Start(ctx); err != nil {
		return -1, fmt.Errorf("exec: %w", err)
	}
	if resize != nil {
		go func() {
			for sz := range resize {
				if sz != nil {
					_ = proc.Resize(ctx, sz.GetWidth(), sz.GetHeight())
				}
			}
		}()
	}
	var deadline <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		deadline = t.C
	}
	select {
	case st := <-exited:
		if io := proc.IO(); io != nil {
			io.Wait()
		}
		code, _, err := st.Result()
		return int(code), err
	case <-deadline:
		_ = proc.Kill(ctx, syscall.SIGKILL)
		return -1, ErrExecTimeout
	case <-ctx.Done():
		_ = proc.Kill(context.WithoutCancel(ctx), syscall.SIGKILL)
		return -1, ctx.Err()
	}
}
