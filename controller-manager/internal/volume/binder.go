// Package volume binds PersistentVolumeClaims to PersistentVolumes (the
// "persistentvolume-binder" loop, as upstream's
// pkg/controller/volume/persistentvolume) and provisions local host
// directory volumes for the "local-path" storage class (provisioner.go).
package volume

import (
	"context"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
	"k8s.io/apimachinery/pkg/labels"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	"flotilla.io/sdk/client"
	"flotilla.io/sdk/informer"
	"flotilla.io/sdk/workqueue"

	"flotilla.io/controller-manager/internal/controller"
)

func init() { controller.Register("persistentvolume-binder", NewBinder) }

// Binder is the PV/PVC binding loop. Its queue holds claim keys
// ("ns/name") and volume keys ("pv:name").
type Binder struct {
	c      *controller.Context
	pvs    *informer.Informer[*corev1.PersistentVolume]
	claims *informer.Informer[*corev1.PersistentVolumeClaim]
	pvAPI  *client.Resource[*corev1.PersistentVolume]
	pvcAPI *client.Resource[*corev1.PersistentVolumeClaim]
	queue  workqueue.Queue[string]
}

const pvPrefix = "pv:"

// NewBinder builds the loop.
func NewBinder(c *controller.Context) (controller.Loop, error) {
	b := &Binder{
		c: c, pvs: informer.For[*corev1.PersistentVolume](c.Informers), claims: informer.For[*corev1.PersistentVolumeClaim](c.Informers),
		pvAPI: client.For[*corev1.PersistentVolume](c.Client), pvcAPI: client.For[*corev1.PersistentVolumeClaim](c.Client),
		queue: workqueue.New("persistentvolume-binder", workqueue.Options[string]{Metrics: workqueue.NewMetrics(c.Registry)}),
	}
	addClaim := func(pvc *corev1.PersistentVolumeClaim) { b.queue.Add(informer.KeyOf(pvc)) }
	b.claims.AddHandler(informer.Handler[*corev1.PersistentVolumeClaim]{OnAdd: addClaim, OnUpdate: func(_, pvc *corev1.PersistentVolumeClaim) { addClaim(pvc) },
		OnDelete: func(pvc *corev1.PersistentVolumeClaim) {
			if v := pvc.GetSpec().GetVolumeName(); v != "" {
				b.queue.Add(pvPrefix + v)
			}
		}})
	addPV := func(pv *corev1.PersistentVolume) {
		b.queue.Add(pvPrefix + pv.Metadata.Name)
		if ref := pv.GetSpec().GetClaimRef(); ref != nil {
			b.queue.Add(informer.Key(ref.Namespace, ref.Name))
			return
		}
		// A volume became available: pending claims may fit it.
		for _, pvc := range b.claims.Lister().List(labels.Everything()) {
			if pvc.GetSpec().GetVolumeName() == "" {
				addClaim(pvc)
			}
		}
	}
	b.pvs.AddHandler(informer.Handler[*corev1.PersistentVolume]{OnAdd: addPV, OnUpdate: func(_, pv *corev1.PersistentVolume) { addPV(pv) }})
	return b, nil
}

// Start runs the workers until ctx ends.
func (b *Binder) Start(ctx context.Context) error {
	// One worker: two claims must never be bound to one volume at once.
	workqueue.Run(ctx, b.queue, 1, b.c.Log.Named("persistentvolume-binder"), b.sync)
	return nil
}

func (b *Binder) sync(ctx context.Context, key string) (workqueue.Result, error) {
	if name, ok := cutPrefix(key, pvPrefix); ok {
		return workqueue.Result{}, b.syncVolume(ctx, name)
	}
	ns, name := informer.SplitKey(key)
	pvc, err := b.claims.Lister().Get(ns, name)
	if client.IsNotFound(err) || pvc.GetMetadata().GetDeletionTimestamp() != nil {
		return workqueue.Result{}, nil
	}
	var pv *corev1.PersistentVolume
	if v := pvc.GetSpec().GetVolumeName(); v != "" {
		if pv, err = b.pvs.Lister().Get("", v); err != nil {
			return workqueue.Result{}, b.setClaimPhase(ctx, pvc, "Lost", nil)
		}
		if ref := pv.GetSpec().GetClaimRef(); ref != nil && ref.Uid != "" && ref.Uid != pvc.Metadata.Uid {
			return workqueue.Result{}, b.setClaimPhase(ctx, pvc, "Lost", nil)
		}
	} else {
		pvs := b.pvs.Lister().List(labels.Everything())
		for _, v := range pvs { // a volume pre-bound to this claim (e.g. provisioned for it)
			if ref := v.GetSpec().GetClaimRef(); ref != nil && ref.Namespace == ns && ref.Name == name && (ref.Uid == "" || ref.Uid == pvc.Metadata.Uid) {
				pv = v
			}
		}
		if pv == nil {
			if claimClass(pvc) == LocalPathClass {
				return workqueue.Result{}, nil // the provisioner makes its volume
			}
			if pv = BestMatch(pvs, pvc); pv == nil {
				return workqueue.Result{}, b.setClaimPhase(ctx, pvc, "Pending", nil)
			}
		}
	}
	return workqueue.Result{}, b.bind(ctx, pv, pvc)
}

// bind sets both sides: the volume's claimRef and phase, then the claim's
// volumeName and phase.
func (b *Binder) bind(ctx context.Context, pv *corev1.PersistentVolume, pvc *corev1.PersistentVolumeClaim) error {
	ref := pv.GetSpec().GetClaimRef()
	if ref == nil || ref.Uid != pvc.Metadata.Uid || ref.Name != pvc.Metadata.Name {
		next := proto.Clone(pv).(*corev1.PersistentVolume)
		next.Spec.ClaimRef = &corev1.ObjectReference{Kind: "PersistentVolumeClaim", ApiVersion: "v1", Namespace: pvc.Metadata.Namespace, Name: pvc.Metadata.Name, Uid: pvc.Metadata.Uid, ResourceVersion: pvc.Metadata.ResourceVersion}
		var err error
		if pv, err = b.pvAPI.Update(ctx, next); err != nil {
			return err
		}
	}
	if err := b.setVolumePhase(ctx, pv, "Bound"); err != nil {
		return err
	}
	if pvc.GetSpec().GetVolumeName() != pv.Metadata.Name {
		next := proto.Clone(pvc).(*corev1.PersistentVolumeClaim)
		next.Spec.VolumeName = pv.Metadata.Name
		var err error
		if pvc, err = b.pvcAPI.Update(ctx, next); err != nil {
			return err
		}
		b.c.Recorder.Eventf(pvc, "Normal", "Bound", "Bound to volume %s", pv.Metadata.Name)
	}
	return b.setClaimPhase(ctx, pvc, "Bound", pv)
}

func (b *Binder) setVolumePhase(ctx context.Context, pv *corev1.PersistentVolume, phase string) error {
	if pv.GetStatus().GetPhase() == phase {
		return nil
	}
	next := proto.Clone(pv).(*corev1.PersistentVolume)
	next.Status = &corev1.PersistentVolumeStatus{Phase: phase, LastPhaseTransitionTime: timestamppb.Now()}
	_, err := b.pvAPI.UpdateStatus(ctx, next)
	return err
}

func (b *Binder) setClaimPhase(ctx context.Context, pvc *corev1.PersistentVolumeClaim, phase string, pv *corev1.PersistentVolume) error {
	next := proto.Clone(pvc).(*corev1.PersistentVolumeClaim)
	st := &corev1.PersistentVolumeClaimStatus{Phase: phase}
	if pv != nil {
		st.AccessModes, st.Capacity = pv.GetSpec().GetAccessModes(), pv.GetSpec().GetCapacity()
	}
	if proto.Equal(st, pvc.GetStatus()) {
		return nil
	}
	next.Status = st
	_, err := b.pvcAPI.UpdateStatus(ctx, next)
	return err
}

// syncVolume makes an unclaimed volume Available and a volume whose claim
// is gone Released (Retain) or deleted (Delete, e.g. provisioned ones).
func (b *Binder) syncVolume(ctx context.Context, name string) error {
	pv, err := b.pvs.Lister().Get("", name)
	if client.IsNotFound(err) || pv.GetMetadata().GetDeletionTimestamp() != nil {
		return nil
	}
	ref := pv.GetSpec().GetClaimRef()
	if ref == nil {
		return b.setVolumePhase(ctx, pv, "Available")
	}
	if ref.Uid == "" {
		return nil // pre-bound by name: waits for its claim
	}
	claim, err := b.pvcAPI.Get(ctx, ref.Namespace, ref.Name) // live: the cache may lag a new claim
	if err != nil && !client.IsNotFound(err) {
		return err
	}
	if err == nil && claim.Metadata.Uid == ref.Uid {
		return nil
	}
	if pv.GetSpec().GetPersistentVolumeReclaimPolicy() == "Delete" {
		err := b.pvAPI.Delete(ctx, "", name, client.DeleteOptions{Preconditions: &client.Preconditions{UID: pv.Metadata.Uid}})
		if client.IsNotFound(err) || client.IsPreconditionFailed(err) {
			return nil
		}
		return err
	}
	return b.setVolumePhase(ctx, pv, "Released")
}

func cutPrefix(s, p string) (string, bool) {
	if len(s) >= len(p) && s[:len(p)] == p {
		return s[len(p):], true
	}
	return s, false
}
