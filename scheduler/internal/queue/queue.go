// Package queue is the scheduling queue: pending pods ordered by priority
// then creation time (activeQ), pods waiting out their backoff after a
// failed attempt (backoffQ), and pods no node fits (the unschedulable pool)
// that cluster events re-activate. It also remembers nominated pods.
package queue

import (
	"context"
	"maps"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	corev1 "flotilla.io/proto/flotilla/core/v1"

	"flotilla.io/scheduler/internal/framework"
)

// QueuedPod is a pod in the queue with its scheduling history.
type QueuedPod struct {
	*framework.PodInfo
	// Attempts counts failed scheduling attempts (for backoff).
	Attempts int
	// FirstQueued is when the pod first entered the queue (e2e latency).
	FirstQueued time.Time
	// BackoffUntil is when the pod may be tried again.
	BackoffUntil time.Time
	// UnschedulableSince is when it entered the unschedulable pool.
	UnschedulableSince time.Time
	// RejectedBy names the plugins that rejected the pod last time: only
	// events those plugins care about re-activate it.
	RejectedBy map[string]bool
}

// Event is a cluster change that may make unschedulable pods fit. Plugins
// lists the plugins whose rejections it can undo; nil means any.
type Event struct {
	Name    string
	Plugins []string
}

// Options tune the queue.
type Options struct {
	// InitialBackoff doubles per attempt up to MaxBackoff (1s and 10s, as
	// upstream).
	InitialBackoff, MaxBackoff time.Duration
	// MaxUnschedulable flushes pods no event has re-activated for this long
	// back to the active queue (upstream's 5 minutes).
	MaxUnschedulable time.Duration
	Now              func() time.Time
}

// Queue is safe for concurrent use.
type Queue struct {
	opts Options

	mu            sync.Mutex
	cond          *sync.Cond
	active        *keyedHeap
	backoff       *keyedHeap
	unschedulable map[string]*QueuedPod
	// inFlight holds popped pods until Done; a pod updated or deleted
	// meanwhile is recorded there.
	inFlight  map[string]*inFlightPod
	cycle     int64
	moveCycle int64
	closed    bool
	wake      chan struct{}

	nominatedPods map[string]map[string]*framework.PodInfo // node -> key -> pod
	nominatedNode map[string]string                        // key -> node
}

type inFlightPod struct {
	qp      *QueuedPod
	deleted bool
}

// New makes a queue.
func New(opts Options) *Queue {
	if opts.InitialBackoff == 0 {
		opts.InitialBackoff = time.Second
	}
	if opts.MaxBackoff == 0 {
		opts.MaxBackoff = 10 * time.Second
	}
	if opts.MaxUnschedulable == 0 {
		opts.MaxUnschedulable = 5 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	q := &Queue{
		opts: opts,
		active: newHeap(func(a, b *QueuedPod) bool {
			if a.Priority != b.Priority {
				return a.Priority > b.Priority
			}
			if !a.Created.Equal(b.Created) {
				return a.Created.Before(b.Created)
			}
			return a.FirstQueued.Before(b.FirstQueued)
		}),
		backoff:       newHeap(func(a, b *QueuedPod) bool { return a.BackoffUntil.Before(b.BackoffUntil) }),
		unschedulable: map[string]*QueuedPod{},
		inFlight:      map[string]*inFlightPod{},
		wake:          make(chan struct{}, 1),
		nominatedPods: map[string]map[string]*framework.PodInfo{},
		nominatedNode: map[string]string{},
	}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// Add queues a new pending pod.
func (q *Queue) Add(pi *framework.PodInfo) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.has(pi.Key) {
		q.updateLocked(pi)
		return
	}
	q.active.upsert(&QueuedPod{PodInfo: pi, FirstQueued: q.opts.Now()})
	q.nominateFromStatus(pi)
	q.cond.Broadcast()
}

func (q *Queue) has(key string) bool {
	if inHeap(q.active, key) || inHeap(q.backoff, key) {
		return true
	}
	if _, ok := q.unschedulable[key]; ok {
		return true
	}
	_, ok := q.inFlight[key]
	return ok
}

// Update refreshes a queued pod. An unschedulable pod whose spec or labels
// changed (not merely its status) is tried again.
func (q *Queue) Update(pi *framework.PodInfo) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.has(pi.Key) {
		q.active.upsert(&QueuedPod{PodInfo: pi, FirstQueued: q.opts.Now()})
		q.cond.Broadcast()
		return
	}
	q.updateLocked(pi)
}

func (q *Queue) updateLocked(pi *framework.PodInfo) {
	q.nominateFromStatus(pi)
	if qp, ok := q.active.get(pi.Key); ok {
		qp.PodInfo = pi
		q.active.upsert(qp)
		return
	}
	if qp, ok := q.backoff.get(pi.Key); ok {
		qp.PodInfo = pi
		return
	}
	if f, ok := q.inFlight[pi.Key]; ok {
		f.qp.PodInfo = pi
		return
	}
	if qp, ok := q.unschedulable[pi.Key]; ok {
		changed := !sameSchedulingInput(qp.Pod, pi)
		qp.PodInfo = pi
		if changed {
			delete(q.unschedulable, pi.Key)
			q.requeueLocked(qp)
		}
	}
}

// sameSchedulingInput reports whether nothing the scheduler decides on
// changed: its own status and annotation writes must not wake the pod.
func sameSchedulingInput(old *corev1.Pod, pi *framework.PodInfo) bool {
	return proto.Equal(old.GetSpec(), pi.Pod.GetSpec()) &&
		maps.Equal(old.GetMetadata().GetLabels(), pi.Pod.GetMetadata().GetLabels())
}

// Delete drops a pod from the queue.
func (q *Queue) Delete(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.active.remove(key)
	q.backoff.remove(key)
	delete(q.unschedulable, key)
	if f, ok := q.inFlight[key]; ok {
		f.deleted = true
	}
	q.deleteNominatedLocked(key)
}

// Pop waits for the most important active pod; ok is false once ctx ends
// or the queue is closed. cycle numbers the attempt (see AddUnschedulable).
func (q *Queue) Pop(ctx context.Context) (qp *QueuedPod, cycle int64, ok bool) {
	stop := context.AfterFunc(ctx, func() {
		q.mu.Lock()
		q.closed = true
		q.cond.Broadcast()
		q.mu.Unlock()
	})
	defer stop()
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.active.Len() == 0 && !q.closed {
		q.cond.Wait()
	}
	if q.closed {
		return nil, 0, false
	}
	qp = q.active.pop()
	q.cycle++
	q.inFlight[qp.Key] = &inFlightPod{qp: qp}
	return qp, q.cycle, true
}

// Done ends an attempt started by Pop that did not requeue the pod.
func (q *Queue) Done(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.inFlight, key)
}

// Backoff is how long a pod with attempts failures waits.
func (q *Queue) Backoff(attempts int) time.Duration {
	d := q.opts.InitialBackoff
	for i := 1; i < attempts && d < q.opts.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, q.opts.MaxBackoff)
}

// AddUnschedulable returns a popped pod after a failed attempt. If a move
// event arrived during the attempt (cycle), the pod goes to the backoff
// queue at once, so that event is not lost; else it waits in the
// unschedulable pool for an event one of rejectedBy cares about. With
// rejectedBy nil (an error) it goes to backoff.
func (q *Queue) AddUnschedulable(qp *QueuedPod, cycle int64, rejectedBy []string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	f, ok := q.inFlight[qp.Key]
	delete(q.inFlight, qp.Key)
	if ok && f.deleted {
		return
	}
	if ok {
		qp = f.qp // carries updates made during the attempt
	}
	now := q.opts.Now()
	qp.Attempts++
	qp.BackoffUntil = now.Add(q.Backoff(qp.Attempts))
	qp.RejectedBy = map[string]bool{}
	for _, p := range rejectedBy {
		qp.RejectedBy[p] = true
	}
	if rejectedBy == nil || q.moveCycle >= cycle {
		q.backoff.upsert(qp)
		q.poke()
		return
	}
	qp.UnschedulableSince = now
	q.unschedulable[qp.Key] = qp
	q.poke()
}

// MoveAll re-activates the unschedulable pods the event may help: into
// the backoff queue if still backing off, else the active queue.
func (q *Queue) MoveAll(ev Event) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.moveCycle = q.cycle
	for key, qp := range q.unschedulable {
		if !helps(ev, qp) {
			continue
		}
		delete(q.unschedulable, key)
		q.requeueLocked(qp)
	}
}

func helps(ev Event, qp *QueuedPod) bool {
	if ev.Plugins == nil || len(qp.RejectedBy) == 0 {
		return true
	}
	for _, p := range ev.Plugins {
		if qp.RejectedBy[p] {
			return true
		}
	}
	return false
}

func (q *Queue) requeueLocked(qp *QueuedPod) {
	if q.opts.Now().Before(qp.BackoffUntil) {
		q.backoff.upsert(qp)
		q.poke()
		return
	}
	q.active.upsert(qp)
	q.cond.Broadcast()
}

func (q *Queue) poke() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Run moves pods whose backoff ended to the active queue, and flushes pods
// stuck unschedulable longer than MaxUnschedulable, until ctx ends. It
// sleeps until the next deadline; nothing polls.
func (q *Queue) Run(ctx context.Context) error {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		next := q.flush()
		t.Reset(next)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-q.wake:
		}
	}
}

// flush does the due moves and says how long until the next one.
func (q *Queue) flush() time.Duration {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.opts.Now()
	next := q.opts.MaxUnschedulable
	for qp := q.backoff.peek(); qp != nil; qp = q.backoff.peek() {
		if wait := qp.BackoffUntil.Sub(now); wait > 0 {
			next = min(next, wait)
			break
		}
		q.backoff.pop()
		q.active.upsert(qp)
		q.cond.Broadcast()
	}
	for key, qp := range q.unschedulable {
		wait := qp.UnschedulableSince.Add(q.opts.MaxUnschedulable).Sub(now)
		if wait > 0 {
			next = min(next, wait)
			continue
		}
		delete(q.unschedulable, key)
		q.requeueLocked(qp)
	}
	return max(next, time.Millisecond)
}

// Lengths counts pods in the active, backoff and unschedulable queues.
func (q *Queue) Lengths() (active, backoff, unschedulable int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.active.Len(), q.backoff.Len(), len(q.unschedulable)
}

// Contains reports where a pod is: "active", "backoff", "unschedulable",
// "inflight" or "".
func (q *Queue) Contains(key string) string {
	q.mu.Lock()
	defer q.mu.Unlock()
	switch {
	case inHeap(q.active, key):
		return "active"
	case inHeap(q.backoff, key):
		return "backoff"
	case q.unschedulable[key] != nil:
		return "unschedulable"
	case q.inFlight[key] != nil:
		return "inflight"
	}
	return ""
}

func inHeap(h *keyedHeap, key string) bool {
	_, ok := h.index[key]
	return ok
}

// Nominate records that a pod is nominated to a node ("" clears it).
func (q *Queue) Nominate(pi *framework.PodInfo, node string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.deleteNominatedLocked(pi.Key)
	if node == "" {
		return
	}
	if q.nominatedPods[node] == nil {
		q.nominatedPods[node] = map[string]*framework.PodInfo{}
	}
	q.nominatedPods[node][pi.Key] = pi
	q.nominatedNode[pi.Key] = node
}

func (q *Queue) nominateFromStatus(pi *framework.PodInfo) {
	node := pi.Pod.GetStatus().GetNominatedNodeName()
	if node == "" {
		return
	}
	q.deleteNominatedLocked(pi.Key)
	if q.nominatedPods[node] == nil {
		q.nominatedPods[node] = map[string]*framework.PodInfo{}
	}
	q.nominatedPods[node][pi.Key] = pi
	q.nominatedNode[pi.Key] = node
}

func (q *Queue) deleteNominatedLocked(key string) {
	node, ok := q.nominatedNode[key]
	if !ok {
		return
	}
	delete(q.nominatedNode, key)
	delete(q.nominatedPods[node], key)
	if len(q.nominatedPods[node]) == 0 {
		delete(q.nominatedPods, node)
	}
}

// ClearNominated forgets a pod's nomination (it was bound or deleted).
func (q *Queue) ClearNominated(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.deleteNominatedLocked(key)
}

// Nominated lists the pods nominated to a node.
func (q *Queue) Nominated(node string) []*framework.PodInfo {
	q.mu.Lock()
	defer q.mu.Unlock()
	m := q.nominatedPods[node]
	if len(m) == 0 {
		return nil
	}
	out := make([]*framework.PodInfo, 0, len(m))
	for _, pi := range m {
		out = append(out, pi)
	}
	return out
}
