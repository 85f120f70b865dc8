package garbagecollector

import (
	"slices"
	"sync"

	"google.golang.org/protobuf/proto"

	metav1 "flotilla.io/proto/flotilla/meta/v1"
	"flotilla.io/proto/kind"
	"flotilla.io/proto/object"
)

// Finalizers the apiserver adds for deletion propagation policies.
const (
	ForegroundFinalizer = "foregroundDeletion"
	OrphanFinalizer     = "orphan"
)

// node is what the collector remembers of one object: identity, owners
// and deletion state, never the whole object.
type node struct {
	kind       *kind.Info
	namespace  string
	name       string
	uid        string
	owners     []*metav1.OwnerReference
	deleting   bool
	finalizers []string
}

func (n *node) has(finalizer string) bool { return slices.Contains(n.finalizers, finalizer) }

// waiting reports an owner being deleted in the foreground.
func (n *node) waiting() bool { return n.deleting && n.has(ForegroundFinalizer) }

// graph is the owner -> dependents graph of every object. Owners are
// indexed by uid even when no object with that uid is known (it vanished,
// or was never there): those dependents are the ones to collect.
type graph struct {
	mu         sync.Mutex
	nodes      map[string]*node
	dependents map[string]map[string]bool // owner uid -> dependent uids
}

func newGraph() *graph {
	return &graph{nodes: map[string]*node{}, dependents: map[string]map[string]bool{}}
}

func newNode(info *kind.Info, obj proto.Message) *node {
	md := object.Meta(obj)
	return &node{
		kind: info, namespace: md.GetNamespace(), name: md.GetName(), uid: md.GetUid(),
		owners:   slices.Clone(md.GetOwnerReferences()),
		deleting: md.GetDeletionTimestamp() != nil, finalizers: slices.Clone(md.GetFinalizers()),
	}
}

// work is what a change asks the collector to look at.
type work struct {
	attemptToDelete []string // uids: dependents to verify, owners to finish foreground deletion of
	attemptToOrphan []string // uids: owners whose dependents to orphan
}

// upsert records n and returns the work it causes.
func (g *graph) upsert(n *node) work {
	g.mu.Lock()
	defer g.mu.Unlock()
	var w work
	old := g.nodes[n.uid]
	if old != nil {
		for _, o := range old.owners {
			g.unlink(o.GetUid(), n.uid)
		}
	}
	g.nodes[n.uid] = n
	for _, o := range n.owners {
		set := g.dependents[o.GetUid()]
		if set == nil {
			set = map[string]bool{}
			g.dependents[o.GetUid()] = set
		}
		set[n.uid] = true
		owner := g.nodes[o.GetUid()]
		switch {
		case owner == nil:
			// The owner is unknown: verify it with the apiserver.
			w.attemptToDelete = append(w.attemptToDelete, n.uid)
		case owner.waiting():
			// A dependent of an owner deleted in the foreground changed
			// (maybe unblocked it): let the owner check again, and the
			// dependent be deleted.
			w.attemptToDelete = append(w.attemptToDelete, owner.uid, n.uid)
		}
	}
	if old != nil {
		// Owners this object no longer names may be waiting on it.
		for _, o := range old.owners {
			if owner := g.nodes[o.GetUid()]; owner != nil && owner.waiting() {
				w.attemptToDelete = append(w.attemptToDelete, owner.uid)
			}
		}
	}
	if n.deleting && n.has(OrphanFinalizer) {
		w.attemptToOrphan = append(w.attemptToOrphan, n.uid)
	}
	if n.waiting() {
		w.attemptToDelete = append(w.attemptToDelete, n.uid)
		for dep := range g.dependents[n.uid] {
			w.attemptToDelete = append(w.attemptToDelete, dep)
		}
	}
	return w
}

// remove forgets a deleted object: its dependents lost an owner, and owners
// deleted in the foreground may now be free.
func (g *graph) remove(uid string) work {
	g.mu.Lock()
	defer g.mu.Unlock()
	var w work
	n := g.nodes[uid]
	if n == nil {
		return w
	}
	delete(g.nodes, uid)
	for dep := range g.dependents[uid] {
		w.attemptToDelete = append(w.attemptToDelete, dep)
	}
	for _, o := range n.owners {
		g.unlink(o.GetUid(), uid)
		if owner := g.nodes[o.GetUid()]; owner != nil && owner.waiting() {
			w.attemptToDelete = append(w.attemptToDelete, owner.uid)
		}
	}
	return w
}

func (g *graph) unlink(owner, dep string) {
	if set := g.dependents[owner]; set != nil {
		delete(set, dep)
		if len(set) == 0 {
			delete(g.dependents, owner)
		}
	}
}

// get returns a copy of the node with uid, or nil.
func (g *graph) get(uid string) *node {
	g.mu.Lock()
	defer g.mu.Unlock()
	if n := g.nodes[uid]; n != nil {
		c := *n
		return &c
	}
	return nil
}

// dependentsOf returns copies of the known dependents of uid.
func (g *graph) dependentsOf(uid string) []*node {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []*node
	for dep := range g.dependents[uid] {
		if n := g.nodes[dep]; n != nil {
			c := *n
			out = append(out, &c)
		}
	}
	return out
}

// uidsOfKind lists the uids of the known objects of one kind (for relists).
func (g *graph) uidsOfKind(k string) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for uid, n := range g.nodes {
		if n.kind.Kind == k {
			out = append(out, uid)
		}
	}
	return out
}

// ownerState classifies an owner reference of a dependent.
type ownerState int

const (
	solid    ownerState = iota // exists and is not being deleted in the foreground
	dangling                   // gone, or replaced by an object with another uid
	waiting                    // being deleted in the foreground
)

// decision is what to do with a dependent that is not being deleted.
type decision struct {
	// keep: some owner is solid; patch the refs (drop dangling ones,
	// unblock waiting ones) when any.
	keep bool
	// drop are the uids of dangling refs to remove; unblock are the uids of
	// waiting owners whose refs get blockOwnerDeletion=false.
	drop, unblock []string
	// policy to delete with, when !keep.
	policy string
}

// decide is upstream's attemptToDeleteItem classification: a dependent with
// a solid owner stays (its refs to gone owners removed); one whose owners
// are all gone is deleted; one whose owners are being deleted in the
// foreground is deleted in the foreground itself when it has dependents.
func decide(refs []*metav1.OwnerReference, states map[string]ownerState, hasDependents bool, finalizers []string) decision {
	var d decision
	var nSolid, nWaiting int
	for _, r := range refs {
		switch states[r.GetUid()] {
		case solid:
			nSolid++
		case dangling:
			d.drop = append(d.drop, r.GetUid())
		case waiting:
			nWaiting++
			if r.GetBlockOwnerDeletion() {
				d.unblock = append(d.unblock, r.GetUid())
			}
		}
	}
	if nSolid > 0 {
		d.keep = true
		return d
	}
	d.drop, d.unblock = nil, nil
	switch {
	case nWaiting > 0 && hasDependents:
		d.policy = "Foreground"
	case slices.Contains(finalizers, OrphanFinalizer):
		d.policy = "Orphan"
	case slices.Contains(finalizers, ForegroundFinalizer):
		d.policy = "Foreground"
	default:
		d.policy = "Background"
	}
	return d
}
