package controllerutil

import (
	"google.golang.org/protobuf/proto"

	metav1 "flotilla.io/proto/flotilla/meta/v1"
)

// ControllerRef is the controller owner reference a workload puts on what it
// owns: controller and blockOwnerDeletion set, as upstream's
// metav1.NewControllerRef.
func ControllerRef(owner *metav1.ObjectMeta, apiVersion, kind string) *metav1.OwnerReference {
	return &metav1.OwnerReference{
		ApiVersion: apiVersion, Kind: kind, Name: owner.GetName(), Uid: owner.GetUid(),
		Controller: proto.Bool(true), BlockOwnerDeletion: proto.Bool(true),
	}
}

// ControllerOf returns the owner reference with controller=true, or nil.
func ControllerOf(md *metav1.ObjectMeta) *metav1.OwnerReference {
	for _, r := range md.GetOwnerReferences() {
		if r.GetController() {
			return r
		}
	}
	return nil
}

// IsControlledBy reports whether md's controller is the object with uid.
func IsControlledBy(md *metav1.ObjectMeta, uid string) bool {
	ref := ControllerOf(md)
	return ref != nil && ref.Uid == uid
}

// SetControllerRef returns md's owner references with ref added as the
// controller (md is not changed). Adopting needs md to have no controller.
func SetControllerRef(md *metav1.ObjectMeta, ref *metav1.OwnerReference) []*metav1.OwnerReference {
	out := make([]*metav1.OwnerReference, 0, len(md.GetOwnerReferences())+1)
	for _, r := range md.GetOwnerReferences() {
		if r.Uid != ref.Uid {
			out = append(out, r)
		}
	}
	return append(out, ref)
}

// RemoveOwnerRef returns md's owner references without the one to uid.
func RemoveOwnerRef(md *metav1.ObjectMeta, uid string) []*metav1.OwnerReference {
	var out []*metav1.OwnerReference
	for _, r := range md.GetOwnerReferences() {
		if r.Uid != uid {
			out = append(out, r)
		}
	}
	return out
}

// ClaimDecision is what a controller does with one candidate it may own.
type ClaimDecision int

const (
	// Ignore: owned by another controller, or an orphan not matching.
	Ignore ClaimDecision = iota
	// Keep: ours and matching.
	Keep
	// Adopt: an orphan that matches; set our controller reference.
	Adopt
	// Release: ours but no longer matching; drop our reference.
	Release
)

// Claim decides, as upstream's ControllerRefManager.ClaimObject, what the
// owner with uid does with an object: keep it, adopt it (a matching orphan,
// unless the object or the owner is being deleted), release it (ours but no
// longer matching, unless it is being deleted) or ignore it.
func Claim(md *metav1.ObjectMeta, uid string, matches, ownerDeleting bool) ClaimDecision {
	ref := ControllerOf(md)
	switch {
	case ref != nil && ref.Uid != uid:
		return Ignore
	case ref != nil && matches:
		return Keep
	case ref != nil:
		if ownerDeleting || md.GetDeletionTimestamp() != nil {
			return Keep
		}
		return Release
	case !matches || ownerDeleting || md.GetDeletionTimestamp() != nil:
		return Ignore
	default:
		return Adopt
	}
}
