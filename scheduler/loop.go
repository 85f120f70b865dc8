package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"

	"flotilla.io/sdk/client"
	"flotilla.io/sdk/events"

	"flotilla.io/scheduler/internal/core"
	"flotilla.io/scheduler/internal/framework"
	"flotilla.io/scheduler/internal/queue"
)

// DiagnosisAnnotation holds, on a pod no node fits, a JSON object mapping
// each rejecting node to "Plugin: reason" (at most DiagnosisMaxNodes; the
// key "_truncated" then says how many were left out). flotctl describe
// pod shows it.
const (
	DiagnosisAnnotation = "scheduler.flotilla.io/diagnosis"
	DiagnosisMaxNodes   = 100
)

// loop schedules one pod at a time until ctx ends.
func (s *Scheduler) loop(ctx context.Context) {
	for {
		qp, cycle, ok := s.queue.Pop(ctx)
		if !ok {
			return
		}
		s.scheduleOne(ctx, qp, cycle)
	}
}

// skip reports pods that no longer need scheduling: deleted, bound or
// being bound. The informer cache has the latest word.
func (s *Scheduler) skip(pi *framework.PodInfo) bool {
	cur, err := s.podLister.Get(pi.Pod.GetMetadata().GetNamespace(), pi.Pod.GetMetadata().GetName())
	if err != nil || cur.GetMetadata().GetUid() != pi.Pod.GetMetadata().GetUid() {
		return true
	}
	return assigned(cur) || cur.GetMetadata().GetDeletionTimestamp() != nil || s.cache.IsAssumed(pi.Key)
}

func (s *Scheduler) scheduleOne(ctx context.Context, qp *queue.QueuedPod, cycle int64) {
	pi := qp.PodInfo
	if s.skip(pi) {
		s.queue.Done(pi.Key)
		return
	}
	s.cache.UpdateSnapshot(s.snapshot)
	snap := &s.snapshot.Snapshot
	start := time.Now()
	res, err := s.algo.Schedule(ctx, pi, snap, s.queue.Nominated)
	s.metrics.algorithmLatency.Observe(time.Since(start).Seconds())
	if err != nil {
		if ctx.Err() != nil {
			s.queue.Done(pi.Key)
			return
		}
		s.handleFailure(ctx, qp, cycle, snap, err)
		return
	}
	if err := s.cache.AssumePod(pi, res.Node); err != nil {
		s.log.Error("assume", zap.String("pod", pi.Key), zap.Error(err))
		s.metrics.attempts.WithLabelValues("error").Inc()
		s.queue.AddUnschedulable(qp, cycle, nil)
		return
	}
	s.queue.Done(pi.Key)
	s.queue.ClearNominated(pi.Key)
	select {
	case s.bindSlots <- struct{}{}:
	case <-ctx.Done():
		s.cache.ForgetPod(pi.Key)
		return
	}
	go func() {
		defer func() { <-s.bindSlots }()
		s.bind(ctx, qp, cycle, res.Node)
	}()
}

// bind binds asynchronously; a failed bind un-assumes the pod and sends it
// back to the queue with backoff.
func (s *Scheduler) bind(ctx context.Context, qp *queue.QueuedPod, cycle int64, node string) {
	pi := qp.PodInfo
	md := pi.Pod.GetMetadata()
	bctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, err := s.client.Bind(bctx, md.GetNamespace(), md.GetName(), md.GetUid(), node)
	if err != nil {
		s.cache.ForgetPod(pi.Key)
		s.metrics.attempts.WithLabelValues("error").Inc()
		if client.IsConflict(err) || client.IsNotFound(err) || client.IsPreconditionFailed(err) || ctx.Err() != nil {
			return // bound by someone else, gone, or being deleted
		}
		s.log.Warn("bind failed", zap.String("pod", pi.Key), zap.String("node", node), zap.Error(err))
		if !s.skip(pi) {
			s.queue.AddUnschedulable(qp, cycle, nil)
		}
		return
	}
	s.cache.FinishBinding(pi.Key)
	s.metrics.attempts.WithLabelValues("scheduled").Inc()
	s.metrics.e2eLatency.Observe(time.Since(qp.FirstQueued).Seconds())
	// No "Scheduled" event per pod: at 1,000 binds a second it would double
	// the apiserver writes, and the SDK broadcaster keeps every event it
	// wrote for aggregation (memory). The PodScheduled condition says it.
}

func (s *Scheduler) handleFailure(ctx context.Context, qp *queue.QueuedPod, cycle int64, snap *framework.Snapshot, err error) {
	pi := qp.PodInfo
	var fe *core.FitError
	if !errors.As(err, &fe) {
		s.metrics.attempts.WithLabelValues("error").Inc()
		s.log.Error("scheduling failed", zap.String("pod", pi.Key), zap.Error(err))
		s.queue.AddUnschedulable(qp, cycle, nil)
		return
	}
	s.metrics.attempts.WithLabelValues("unschedulable").Inc()
	var cand *core.Candidate
	if s.preemptionPolicy(pi.Pod) == "Never" {
		fe.PostFilterMsg = "preemption: not eligible due to preemptionPolicy=Never."
	} else if len(snap.Nodes) > 0 {
		cand = s.algo.Preempt(pi, snap, fe, s.queue.Nominated)
	}
	if cand != nil {
		s.queue.Nominate(pi, cand.Node)
	}
	s.queue.AddUnschedulable(qp, cycle, fe.RejectedBy())
	msg := fe.Error()
	diag := diagnosis(fe)
	s.log.Debug("unschedulable", zap.String("pod", pi.Key), zap.String("message", msg))
	select {
	case s.writeSlots <- struct{}{}:
	case <-ctx.Done():
		return
	}
	go func() {
		defer func() { <-s.writeSlots }()
		if cand != nil {
			s.preempt(ctx, pi, cand)
		}
		s.recordFailure(ctx, pi, msg, diag, cand)
	}()
}

// diagnosis is the annotation value: node -> "Plugin: reasons".
func diagnosis(fe *core.FitError) string {
	d := fe.Diagnosis()
	if len(d) > DiagnosisMaxNodes {
		names := make([]string, 0, len(d))
		for n := range d {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names[DiagnosisMaxNodes:] {
			delete(d, n)
		}
		d["_truncated"] = fmt.Sprintf("%d of %d nodes shown", DiagnosisMaxNodes, len(names))
	}
	b, _ := json.Marshal(d) // map keys come out sorted
	return string(b)
}

// preempt evicts the victims gracefully and nominates the node.
func (s *Scheduler) preempt(ctx context.Context, pi *framework.PodInfo, cand *core.Candidate) {
	s.metrics.preemptionAttempts.Inc()
	s.metrics.preemptionVictims.Observe(float64(len(cand.Victims)))
	s.log.Info("preempting", zap.String("pod", pi.Key), zap.String("node", cand.Node), zap.Int("victims", len(cand.Victims)))
	for _, v := range cand.Victims {
		md := v.Pod.GetMetadata()
		s.recorder.Eventf(v.Pod, events.Normal, "Preempted", "Preempted by pod %s on node %s", pi.Pod.GetMetadata().GetUid(), cand.Node)
		err := s.pods.Delete(ctx, md.GetNamespace(), md.GetName(), client.DeleteOptions{Preconditions: &client.Preconditions{UID: md.GetUid()}})
		if err != nil && !client.IsNotFound(err) {
			s.log.Warn("preemption: delete victim", zap.String("pod", v.Key), zap.Error(err))
		}
	}
}

// recordFailure sets PodScheduled=False (and nominatedNodeName), the
// diagnosis annotation and a FailedScheduling event, writing only what
// changed. The cached pod is only its schedulingView: it tells whether
// anything would change, but a write starts from the whole pod.
func (s *Scheduler) recordFailure(ctx context.Context, pi *framework.PodInfo, msg, diag string, cand *core.Candidate) {
	ns, name := pi.Pod.GetMetadata().GetNamespace(), pi.Pod.GetMetadata().GetName()
	s.recorder.Eventf(pi.Pod, events.Warning, "FailedScheduling", "%s", msg)
	if cur, err := s.podLister.Get(ns, name); err == nil && !failureChanges(cur, msg, diag, cand) {
		return
	}
	for attempt := 0; attempt < 3; attempt++ {
		cur, err := s.pods.Get(ctx, ns, name)
		if err != nil || assigned(cur) || cur.GetMetadata().GetUid() != pi.Pod.GetMetadata().GetUid() {
			return
		}
		err = s.writeFailure(ctx, cur, msg, diag, cand)
		if !client.IsConflict(err) {
			if err != nil && ctx.Err() == nil {
				s.log.Warn("record unschedulable", zap.String("pod", pi.Key), zap.Error(err))
			}
			return
		}
	}
}

// failureChanges reports whether recording the failure would change pod p.
func failureChanges(p *corev1.Pod, msg, diag string, cand *core.Candidate) bool {
	if p.GetMetadata().GetAnnotations()[DiagnosisAnnotation] != diag {
		return true
	}
	if cand != nil && p.GetStatus().GetNominatedNodeName() != cand.Node {
		return true
	}
	for _, c := range p.GetStatus().GetConditions() {
		if c.GetType() == podScheduled {
			return c.GetStatus() != "False" || c.GetReason() != "Unschedulable" || c.GetMessage() != msg
		}
	}
	return true
}

func (s *Scheduler) writeFailure(ctx context.Context, cur *corev1.Pod, msg, diag string, cand *core.Candidate) error {
	next := proto.Clone(cur).(*corev1.Pod)
	if next.Status == nil {
		next.Status = &corev1.PodStatus{}
	}
	changed := setCondition(next.Status, &corev1.PodCondition{Type: podScheduled, Status: "False", Reason: "Unschedulable", Message: msg})
	if cand != nil && next.Status.NominatedNodeName != cand.Node {
		next.Status.NominatedNodeName, changed = cand.Node, true
	}
	if changed {
		out, err := s.pods.UpdateStatus(ctx, next)
		if err != nil {
			return err
		}
		next = proto.Clone(out).(*corev1.Pod)
	}
	if next.GetMetadata().GetAnnotations()[DiagnosisAnnotation] == diag {
		return nil
	}
	if next.Metadata == nil {
		next.Metadata = &metav1.ObjectMeta{}
	}
	if next.Metadata.Annotations == nil {
		next.Metadata.Annotations = map[string]string{}
	}
	next.Metadata.Annotations[DiagnosisAnnotation] = diag
	_, err := s.pods.Update(ctx, next)
	return err
}

// setCondition replaces the condition of c's type; false if nothing changed.
func setCondition(st *corev1.PodStatus, c *corev1.PodCondition) bool {
	now := timestamppb.New(time.Now().Truncate(time.Second))
	for i, old := range st.Conditions {
		if old.GetType() != c.Type {
			continue
		}
		if old.GetStatus() == c.Status && old.GetReason() == c.Reason && old.GetMessage() == c.Message {
			return false
		}
		c.LastTransitionTime = old.GetLastTransitionTime()
		if old.GetStatus() != c.Status {
			c.LastTransitionTime = now
		}
		c.LastProbeTime = nil
		st.Conditions[i] = c
		return true
	}
	c.LastTransitionTime = now
	st.Conditions = append(st.Conditions, c)
	return true
}
