package pod

import (
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	corev1 "flotilla.io/proto/flotilla/core/v1"

	"flotilla.io/kubelet/internal/runtime"
)

// Phases and condition types (upstream's).
const (
	PhasePending   = "Pending"
	PhaseRunning   = "Running"
	PhaseSucceeded = "Succeeded"
	PhaseFailed    = "Failed"

	CondScheduled          = "PodScheduled"
	CondReadyToStart       = "PodReadyToStartContainers"
	CondInitialized        = "Initialized"
	CondContainersReady    = "ContainersReady"
	CondReady              = "Ready"
	ContainerIDPrefix      = "containerd://"
	ReasonDeadlineExceeded = "DeadlineExceeded"
)

// Waiting is why a container is not running, set by the worker
// (ImagePullBackOff, CrashLoopBackOff, CreateContainerConfigError...).
type Waiting struct{ Reason, Message string }

// ProbeResult is the prober's view of a running container.
type ProbeResult struct{ Started, Ready, Live bool }

// StatusInput is everything the status is computed from.
type StatusInput struct {
	// Containers are the pod's runtime containers, all attempts.
	Containers []runtime.Container
	Waiting    map[string]Waiting
	// Probe answers for running containers; nil means no prober.
	Probe         func(container string) ProbeResult
	PodIP, HostIP string
	SandboxReady  bool
	// Terminal, when set, forces a phase (Failed for DeadlineExceeded).
	Terminal *Terminal
	Now      time.Time
}

// Terminal is a phase the kubelet decided on, with reason and message.
type Terminal struct{ Phase, Reason, Message string }

// latest returns the newest and the one-before attempts of a container.
func latest(cs []runtime.Container, name string, init bool) (cur, prev *runtime.Container) {
	for i := range cs {
		c := &cs[i]
		if c.Name != name || c.Init != init {
			continue
		}
		switch {
		case cur == nil || c.Attempt > cur.Attempt:
			prev, cur = cur, c
		case prev == nil || c.Attempt > prev.Attempt:
			prev = c
		}
	}
	return cur, prev
}

// ts is a status time; upstream's API times have second precision.
func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t.Truncate(time.Second))
}

func terminated(c *runtime.Container) *corev1.ContainerState {
	return &corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode: int32(c.ExitCode), Reason: c.Reason, Message: c.Message,
		StartedAt: ts(c.StartedAt), FinishedAt: ts(c.FinishedAt), ContainerId: ContainerIDPrefix + c.ID,
	}}
}

func boolp(b bool) *bool { return &b }

// containerStatus is the status of one spec container.
func containerStatus(spec *corev1.Container, init bool, in StatusInput, defaultWaiting string) *corev1.ContainerStatus {
	cur, prev := latest(in.Containers, spec.GetName(), init)
	st := &corev1.ContainerStatus{Name: spec.GetName(), Image: spec.GetImage(), Started: boolp(false)}
	w, hasWaiting := in.Waiting[spec.GetName()]
	if cur == nil {
		if !hasWaiting {
			w = Waiting{Reason: defaultWaiting}
		}
		st.State = &corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: w.Reason, Message: w.Message}}
		return st
	}
	st.RestartCount = int32(cur.Attempt)
	st.ImageId = cur.ImageID
	st.ContainerId = ContainerIDPrefix + cur.ID
	if prev != nil && prev.State == runtime.Exited {
		st.LastTerminationState = terminated(prev)
	}
	switch cur.State {
	case runtime.Running:
		st.State = &corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: ts(cur.StartedAt)}}
		p := ProbeResult{Started: true, Ready: true, Live: true}
		if in.Probe != nil {
			p = in.Probe(spec.GetName())
		}
		st.Started = boolp(p.Started)
		st.Ready = p.Started && p.Ready && !init
	case runtime.Exited:
		if hasWaiting {
			st.State = &corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: w.Reason, Message: w.Message}}
			st.LastTerminationState = terminated(cur)
		} else {
			st.State = terminated(cur)
		}
		if init && cur.ExitCode == 0 {
			st.Ready = true // upstream marks completed init containers ready
		}
	default:
		reason := "ContainerCreating"
		if hasWaiting {
			reason = w.Reason
		}
		st.State = &corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: w.Message}}
	}
	return st
}

// InitDone reports whether every init container has succeeded.
func InitDone(pod *corev1.Pod, cs []runtime.Container) bool {
	for _, ic := range pod.GetSpec().GetInitContainers() {
		cur, _ := latest(cs, ic.GetName(), true)
		if cur == nil || cur.State != runtime.Exited || cur.ExitCode != 0 {
			return false
		}
	}
	return true
}

// InitFailed reports whether an init container failed for good (restart
// policy Never).
func InitFailed(pod *corev1.Pod, cs []runtime.Container) bool {
	if pod.GetSpec().GetRestartPolicy() != "Never" {
		return false
	}
	for _, ic := range pod.GetSpec().GetInitContainers() {
		cur, _ := latest(cs, ic.GetName(), true)
		if cur != nil && cur.State == runtime.Exited && cur.ExitCode != 0 {
			return true
		}
	}
	return false
}

// Phase is upstream's getPhase for the app containers' statuses.
func Phase(pod *corev1.Pod, initDone, initFailed bool, statuses []*corev1.ContainerStatus) string {
	if initFailed {
		return PhaseFailed
	}
	if !initDone {
		return PhasePending
	}
	var running, waiting, stopped, succeeded int
	for _, s := range statuses {
		switch {
		case s.GetState().GetRunning() != nil:
			running++
		case s.GetState().GetTerminated() != nil:
			stopped++
			if s.GetState().GetTerminated().GetExitCode() == 0 {
				succeeded++
			}
		case s.GetState().GetWaiting() != nil:
			if s.GetLastTerminationState().GetTerminated() != nil {
				stopped++
			} else {
				waiting++
			}
		}
	}
	policy := pod.GetSpec().GetRestartPolicy()
	switch {
	case waiting > 0:
		return PhasePending
	case running > 0:
		return PhaseRunning
	case stopped > 0:
		switch {
		case policy == "Always":
			return PhaseRunning
		case stopped == succeeded:
			return PhaseSucceeded
		case policy == "Never":
			return PhaseFailed
		default:
			return PhaseRunning // OnFailure: the failed ones restart
		}
	}
	return PhasePending
}

// Status computes the pod's status from the containers; old supplies the
// start time and the transition times of unchanged conditions.
func Status(pod *corev1.Pod, old *corev1.PodStatus, in StatusInput) *corev1.PodStatus {
	spec := pod.GetSpec()
	st := &corev1.PodStatus{
		QosClass: QOSClass(pod), HostIp: in.HostIP, PodIp: in.PodIP,
		StartTime: old.GetStartTime(), ObservedGeneration: pod.GetMetadata().GetGeneration(),
	}
	if st.StartTime == nil {
		st.StartTime = ts(in.Now)
	}
	if in.HostIP != "" {
		st.HostIps = []*corev1.HostIP{{Ip: in.HostIP}}
	}
	if in.PodIP != "" {
		st.PodIps = []*corev1.PodIP{{Ip: in.PodIP}}
	}
	initDone := InitDone(pod, in.Containers)
	initFailed := InitFailed(pod, in.Containers)
	var incomplete []string
	for _, ic := range spec.GetInitContainers() {
		s := containerStatus(ic, true, in, "PodInitializing")
		st.InitContainerStatuses = append(st.InitContainerStatuses, s)
		if t := s.GetState().GetTerminated(); t == nil || t.GetExitCode() != 0 {
			incomplete = append(incomplete, ic.GetName())
		}
	}
	appWaiting := "ContainerCreating"
	if !initDone {
		appWaiting = "PodInitializing"
	}
	var unready []string
	for _, c := range spec.GetContainers() {
		s := containerStatus(c, false, in, appWaiting)
		st.ContainerStatuses = append(st.ContainerStatuses, s)
		if !s.GetReady() {
			unready = append(unready, c.GetName())
		}
	}
	st.Phase = Phase(pod, initDone, initFailed, st.ContainerStatuses)
	if p := old.GetPhase(); p == PhaseSucceeded || p == PhaseFailed {
		st.Phase, st.Reason, st.Message = p, old.GetReason(), old.GetMessage() // terminal phases stay
	}
	if t := in.Terminal; t != nil && st.Phase != PhaseSucceeded && st.Phase != PhaseFailed {
		st.Phase, st.Reason, st.Message = t.Phase, t.Reason, t.Message
	}
	terminal := st.Phase == PhaseSucceeded || st.Phase == PhaseFailed

	conds := []*corev1.PodCondition{}
	add := func(typ string, ok bool, reason, message string) {
		status := "False"
		if ok {
			status = "True"
		}
		conds = append(conds, &corev1.PodCondition{Type: typ, Status: status, Reason: reason, Message: message})
	}
	add(CondReadyToStart, in.SandboxReady && !terminal, "", "")
	if len(incomplete) == 0 || initDone {
		add(CondInitialized, true, "", "")
	} else {
		add(CondInitialized, false, "ContainersNotInitialized", fmt.Sprintf("containers with incomplete status: [%s]", strings.Join(incomplete, " ")))
	}
	switch {
	case terminal:
		add(CondContainersReady, false, "PodCompleted", "")
		add(CondReady, false, "PodCompleted", "")
	case len(unready) > 0:
		msg := fmt.Sprintf("containers with unready status: [%s]", strings.Join(unready, " "))
		add(CondContainersReady, false, "ContainersNotReady", msg)
		add(CondReady, false, "ContainersNotReady", msg)
	default:
		ready, reason, msg := gatesReady(pod, pod.GetStatus())
		add(CondContainersReady, true, "", "")
		add(CondReady, ready, reason, msg)
	}
	// Conditions the kubelet does not own (PodScheduled, readiness gates,
	// DisruptionTarget) are kept as the apiserver has them.
	owned := map[string]bool{CondReadyToStart: true, CondInitialized: true, CondContainersReady: true, CondReady: true}
	var out []*corev1.PodCondition
	hasScheduled := false
	others := pod.GetStatus().GetConditions()
	if len(others) == 0 {
		others = old.GetConditions()
	}
	for _, c := range others {
		if !owned[c.GetType()] {
			out = append(out, c)
			hasScheduled = hasScheduled || c.GetType() == CondScheduled
		}
	}
	if !hasScheduled {
		out = append([]*corev1.PodCondition{{Type: CondScheduled, Status: "True", LastTransitionTime: ts(in.Now)}}, out...)
	}
	for _, c := range conds {
		c.LastTransitionTime = ts(in.Now)
		for _, o := range old.GetConditions() {
			if o.GetType() == c.GetType() && o.GetStatus() == c.GetStatus() && o.GetLastTransitionTime() != nil {
				c.LastTransitionTime = o.GetLastTransitionTime()
			}
		}
		out = append(out, c)
	}
	st.Conditions = out
	return st
}

// gatesReady checks spec.readinessGates against conditions set by others.
func gatesReady(pod *corev1.Pod, old *corev1.PodStatus) (bool, string, string) {
	var missing []string
	for _, g := range pod.GetSpec().GetReadinessGates() {
		ok := false
		for _, c := range old.GetConditions() {
			if c.GetType() == g.GetConditionType() && c.GetStatus() == "True" {
				ok = true
			}
		}
		if !ok {
			missing = append(missing, g.GetConditionType())
		}
	}
	if len(missing) > 0 {
		return false, "ReadinessGatesNotReady", fmt.Sprintf("the status of pod readiness gate %q is not \"True\", but False", missing[0])
	}
	return true, "", ""
}
