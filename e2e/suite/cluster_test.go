package suite

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Cluster disrupts the cluster under test the way its kind allows: a local
// `make up` cluster through the pids in its state dir, a compose cluster
// through docker.
type Cluster interface {
	Kind() string
	// StopNode makes a node stop answering (its kubelet frozen, or its
	// container stopped) until the returned function brings it back.
	StopNode(node string) (resume func() error, err error)
	RestartAPIServer() error
	// EtcdMembers names the members RestartEtcdMember takes.
	EtcdMembers() []string
	RestartEtcdMember(member string) error
	// NodeGrace is the controller-manager's --node-monitor-grace-period.
	NodeGrace() time.Duration
	// Heal starts again the control-plane daemons that exited (a daemon
	// losing its leader lease ends, expecting a supervisor to restart it)
	// and names them; compose and Kubernetes restart them on their own.
	Heal() ([]string, error)
}

const defaultNodeGrace = 50 * time.Second

func newCluster() (Cluster, error) {
	kind := os.Getenv("FLOTILLA_E2E_CLUSTER")
	state := os.Getenv("FLOTILLA_E2E_STATE")
	if kind == "" && state != "" {
		kind = "local"
	}
	switch kind {
	case "":
		return nil, nil
	case "local":
		if state == "" {
			return nil, errors.New("FLOTILLA_E2E_CLUSTER=local needs FLOTILLA_E2E_STATE, the state dir of `make up` (STATE)")
		}
		if !fileExists(filepath.Join(state, "pids")) {
			return nil, fmt.Errorf("FLOTILLA_E2E_STATE=%s has no pids/: is it the STATE of `make up`?", state)
		}
		return newLocalCluster(state)
	case "compose":
		return &composeCluster{project: os.Getenv("FLOTILLA_E2E_COMPOSE_PROJECT")}, nil
	}
	return nil, fmt.Errorf("FLOTILLA_E2E_CLUSTER=%s: want local or compose", kind)
}

// graceFlag finds --node-monitor-grace-period in a command line.
func graceFlag(args []string) (time.Duration, bool) {
	const flag = "-node-monitor-grace-period"
	for i, a := range args {
		a = strings.TrimPrefix(a, "-")
		if v, ok := strings.CutPrefix(a, flag+"="); ok {
			d, err := time.ParseDuration(v)
			return d, err == nil
		}
		if a == flag && i+1 < len(args) {
			d, err := time.ParseDuration(args[i+1])
			return d, err == nil
		}
	}
	return 0, false
}

func envGrace() (time.Duration, bool) {
	if v := os.Getenv("FLOTILLA_E2E_NODE_GRACE"); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			return d, true
		}
	}
	return 0, false
}

// localCluster is `make up`: daemons are processes with pid files in
// $STATE/pids and logs in $STATE/logs; node-<i> is kubelet-<i>. Their
// command lines are recorded at the start so an exited daemon can be
// started again.
type localCluster struct {
	state   string
	daemons map[string]daemon
}

type daemon struct {
	args, env []string
	dir       string
}

func newLocalCluster(state string) (*localCluster, error) {
	l := &localCluster{state: state, daemons: map[string]daemon{}}
	files, err := filepath.Glob(filepath.Join(state, "pids", "*.pid"))
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".pid")
		pid, err := l.pid(name)
		if err != nil {
			continue
		}
		if d, err := describeProcess(pid); err == nil {
			l.daemons[name] = d
		}
	}
	return l, nil
}

func describeProcess(pid int) (daemon, error) {
	args, err := cmdline(pid)
	if err != nil {
		return daemon{}, err
	}
	environ, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	dir, _ := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
	return daemon{args: args, env: strings.Split(strings.TrimRight(string(environ), "\x00"), "\x00"), dir: dir}, nil
}

func (l *localCluster) Heal() ([]string, error) {
	var healed []string
	for _, name := range []string{"etcd", "apiserver", "scheduler", "controller-manager", "cloud-controller-manager", "proxy", "dns"} {
		d, ok := l.daemons[name]
		if !ok {
			continue
		}
		if _, err := l.pid(name); err == nil {
			continue
		}
		if err := l.launch(name, d); err != nil {
			return healed, err
		}
		healed = append(healed, name)
	}
	return healed, nil
}

func (l *localCluster) Kind() string { return "local" }

func (l *localCluster) pid(name string) (int, error) {
	b, err := os.ReadFile(filepath.Join(l.state, "pids", name+".pid"))
	if err != nil {
		return 0, fmt.Errorf("%s pid: %w", name, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("%s pid: %w", name, err)
	}
	if syscall.Kill(pid, 0) != nil {
		return 0, fmt.Errorf("%s (pid %d) is not running", name, pid)
	}
	return pid, nil
}

func (l *localCluster) StopNode(node string) (func() error, error) {
	i, ok := strings.CutPrefix(node, "node-")
	if !ok {
		return nil, fmt.Errorf("local cluster nodes are node-<i>, not %s", node)
	}
	pid, err := l.pid("kubelet-" + i)
	if err != nil {
		return nil, err
	}
	// A frozen kubelet is a node that stopped answering: its pods keep
	// running, as behind a network partition.
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		return nil, fmt.Errorf("SIGSTOP kubelet-%s: %w", i, err)
	}
	return func() error { return syscall.Kill(pid, syscall.SIGCONT) }, nil
}

func (l *localCluster) RestartAPIServer() error { return l.restart("apiserver") }

func (l *localCluster) EtcdMembers() []string { return []string{"etcd"} }

func (l *localCluster) RestartEtcdMember(member string) error { return l.restart(member) }

func (l *localCluster) NodeGrace() time.Duration {
	if d, ok := envGrace(); ok {
		return d
	}
	if pid, err := l.pid("controller-manager"); err == nil {
		if args, err := cmdline(pid); err == nil {
			if d, ok := graceFlag(args); ok {
				return d
			}
		}
	}
	return defaultNodeGrace
}

func cmdline(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return nil, err
	}
	return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00"), nil
}

// restart stops a daemon (SIGTERM, SIGKILL after 10 s) and starts it again
// with the same command line, environment and directory, logging to the
// same file and recording the new pid, as hack/up.sh would.
func (l *localCluster) restart(name string) error {
	pid, err := l.pid(name)
	if err != nil {
		return err
	}
	d, err := describeProcess(pid)
	if err != nil {
		return fmt.Errorf("%s command line: %w", name, err)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return fmt.Errorf("stop %s: %w", name, err)
	}
	for deadline := time.Now().Add(10 * time.Second); syscall.Kill(pid, 0) == nil; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	return l.launch(name, d)
}

// launch starts a daemon in the background as hack/up.sh does: appending to
// its log, its pid in the pid file.
func (l *localCluster) launch(name string, d daemon) error {
	logf, err := os.OpenFile(filepath.Join(l.state, "logs", name+".log"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(d.args[0], d.args[1:]...)
	cmd.Env, cmd.Dir = d.env, d.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own session, so it outlives the test binary like a nohup'd daemon.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	if err := os.WriteFile(filepath.Join(l.state, "pids", name+".pid"), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		return err
	}
	l.daemons[name] = d
	go func() { _ = cmd.Wait() }() // reap it if it exits while the suite runs
	return nil
}

// composeCluster is the docker-compose dev cluster: node containers are
// named after their Node; other daemons are found by their compose service
// label (in FLOTILLA_E2E_COMPOSE_PROJECT when set).
type composeCluster struct{ project string }

func (c *composeCluster) Kind() string { return "compose" }

func docker(args ...string) (string, error) {
	cmd := exec.Command("docker", args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

func (c *composeCluster) container(service string) (string, error) {
	args := []string{"ps", "-q", "--filter", "label=com.docker.compose.service=" + service}
	if c.project != "" {
		args = append(args, "--filter", "label=com.docker.compose.project="+c.project)
	}
	out, err := docker(args...)
	if err != nil {
		return "", err
	}
	ids := strings.Fields(out)
	if len(ids) != 1 {
		return "", fmt.Errorf("compose service %s: %d running containers (set FLOTILLA_E2E_COMPOSE_PROJECT?)", service, len(ids))
	}
	return ids[0], nil
}

func (c *composeCluster) StopNode(node string) (func() error, error) {
	if _, err := docker("stop", node); err != nil {
		return nil, err
	}
	return func() error { _, err := docker("start", node); return err }, nil
}

func (c *composeCluster) RestartAPIServer() error { return c.restart("apiserver") }

func (c *composeCluster) EtcdMembers() []string { return []string{"etcd-1", "etcd-2", "etcd-3"} }

func (c *composeCluster) RestartEtcdMember(member string) error { return c.restart(member) }

func (c *composeCluster) restart(service string) error {
	id, err := c.container(service)
	if err != nil {
		return err
	}
	_, err = docker("restart", id)
	return err
}

func (c *composeCluster) Heal() ([]string, error) { return nil, nil }

func (c *composeCluster) NodeGrace() time.Duration {
	if d, ok := envGrace(); ok {
		return d
	}
	for _, svc := range []string{"controller-manager-1", "controller-manager"} {
		id, err := c.container(svc)
		if err != nil {
			continue
		}
		out, err := docker("inspect", "--format", "{{range .Args}}{{.}}\n{{end}}", id)
		if err != nil {
			continue
		}
		if d, ok := graceFlag(strings.Fields(out)); ok {
			return d
		}
	}
	return defaultNodeGrace
}
