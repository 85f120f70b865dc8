package garbagecollector

import (
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	metav1 "flotilla.io/proto/flotilla/meta/v1"
	"flotilla.io/proto/kind"
)

func ref(uid string, block bool) *metav1.OwnerReference {
	return &metav1.OwnerReference{ApiVersion: "apps/v1", Kind: "ReplicaSet", Name: uid, Uid: uid, BlockOwnerDeletion: proto.Bool(block)}
}

func TestDecide(t *testing.T) {
	for _, tc := range []struct {
		name       string
		refs       []*metav1.OwnerReference
		states     map[string]ownerState
		deps       bool
		finalizers []string
		want       decision
	}{
		{"solid owner keeps", []*metav1.OwnerReference{ref("a", true)}, map[string]ownerState{"a": solid}, false, nil, decision{keep: true}},
		{"one solid, one gone: drop the dangling ref", []*metav1.OwnerReference{ref("a", true), ref("b", true)}, map[string]ownerState{"a": solid, "b": dangling}, false, nil,
			decision{keep: true, drop: []string{"b"}}},
		{"solid and foreground-deleted owner: unblock it", []*metav1.OwnerReference{ref("a", false), ref("b", true)}, map[string]ownerState{"a": solid, "b": waiting}, false, nil,
			decision{keep: true, unblock: []string{"b"}}},
		{"every owner gone: background", []*metav1.OwnerReference{ref("a", true), ref("b", false)}, map[string]ownerState{"a": dangling, "b": dangling}, true, nil,
			decision{policy: "Background"}},
		{"owner deleted in the foreground, dependent has dependents: foreground", []*metav1.OwnerReference{ref("a", true)}, map[string]ownerState{"a": waiting}, true, nil,
			decision{policy: "Foreground"}},
		{"owner deleted in the foreground, leaf dependent: background", []*metav1.OwnerReference{ref("a", true)}, map[string]ownerState{"a": waiting}, false, nil,
			decision{policy: "Background"}},
		{"dependent's own orphan finalizer is kept", []*metav1.OwnerReference{ref("a", true)}, map[string]ownerState{"a": dangling}, true, []string{OrphanFinalizer},
			decision{policy: "Orphan"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := decide(tc.refs, tc.states, tc.deps, tc.finalizers)
			if got.keep != tc.want.keep || got.policy != tc.want.policy || !slices.Equal(got.drop, tc.want.drop) || !slices.Equal(got.unblock, tc.want.unblock) {
				t.Fatalf("decide = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestGraphWork(t *testing.T) {
	rs, _ := kind.ByKind("ReplicaSet")
	pod, _ := kind.ByKind("Pod")
	g := newGraph()
	// A dependent seen before its owner is verified.
	w := g.upsert(&node{kind: pod, name: "p", uid: "p", owners: []*metav1.OwnerReference{ref("rs", true)}})
	if !slices.Equal(w.attemptToDelete, []string{"p"}) {
		t.Fatalf("orphaned dependent: %+v", w)
	}
	if w := g.upsert(&node{kind: rs, name: "rs", uid: "rs"}); len(w.attemptToDelete)+len(w.attemptToOrphan) != 0 {
		t.Fatalf("plain owner: %+v", w)
	}
	// Foreground deletion of the owner: the owner and its dependents are looked at.
	w = g.upsert(&node{kind: rs, name: "rs", uid: "rs", deleting: true, finalizers: []string{ForegroundFinalizer}})
	if !slices.Equal(w.attemptToDelete, []string{"rs", "p"}) {
		t.Fatalf("foreground: %+v", w)
	}
	// The dependent going away frees the owner.
	if w := g.remove("p"); !slices.Equal(w.attemptToDelete, []string{"rs"}) {
		t.Fatalf("dependent removed: %+v", w)
	}
	// An orphaning owner; removing it makes its dependents be checked.
	g.upsert(&node{kind: pod, name: "q", uid: "q", owners: []*metav1.OwnerReference{ref("rs", true)}})
	if w := g.upsert(&node{kind: rs, name: "rs", uid: "rs", deleting: true, finalizers: []string{OrphanFinalizer}}); !slices.Equal(w.attemptToOrphan, []string{"rs"}) {
		t.Fatalf("orphan: %+v", w)
	}
	if w := g.remove("rs"); !slices.Equal(w.attemptToDelete, []string{"q"}) {
		t.Fatalf("owner removed: %+v", w)
	}
	if deps := g.dependentsOf("rs"); len(deps) != 1 || deps[0].uid != "q" {
		t.Fatalf("dependents of a vanished owner: %v", deps)
	}
}
