// Package garbagecollector deletes objects whose owners are gone, as
// upstream's pkg/controller/garbagecollector: it watches every kind in the
// registry (metadata only, through the dynamic client), keeps the
// owner -> dependents graph of ownerReferences, and
//   - background: deletes dependents whose every owner has vanished;
//   - foreground: for an owner being deleted with the "foregroundDeletion"
//     finalizer, deletes its dependents and removes the finalizer once no
//     dependent with blockOwnerDeletion is left;
//   - orphan: for an owner being deleted with the "orphan" finalizer,
//     removes its ownerReference from every dependent, then the finalizer.
package garbagecollector

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	metav1 "flotilla.io/proto/flotilla/meta/v1"
	"flotilla.io/proto/kind"
	"flotilla.io/proto/object"
	"flotilla.io/sdk/client"
	"flotilla.io/sdk/workqueue"

	"flotilla.io/controller-manager/internal/controller"
)

// ignored kinds are never owners or dependents worth collecting (upstream
// ignores events too).
var ignored = map[string]bool{"Event": true}

func init() { controller.Register("garbagecollector", New) }

// Collector is the garbage collector loop.
type Collector struct {
	c        *controller.Context
	log      *zap.Logger
	d        *client.Dynamic
	g        *graph
	toDelete workqueue.Queue[string]
	toOrphan workqueue.Queue[string]
}

// New builds the loop.
func New(c *controller.Context) (controller.Loop, error) {
	m := workqueue.NewMetrics(c.Registry)
	return &Collector{
		c: c, log: c.Log.Named("garbagecollector"), d: c.Client.Dynamic(), g: newGraph(),
		toDelete: workqueue.New("garbagecollector_attempt_to_delete", workqueue.Options[string]{Metrics: m}),
		toOrphan: workqueue.New("garbagecollector_attempt_to_orphan", workqueue.Options[string]{Metrics: m}),
	}, nil
}

// Start watches every kind, waits until each has been listed, then runs the
// workers until ctx ends.
func (gc *Collector) Start(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	var synced []*atomic.Bool
	for _, info := range kind.All() {
		if ignored[info.Kind] {
			continue
		}
		s := &atomic.Bool{}
		synced = append(synced, s)
		wg.Go(func() { gc.watch(ctx, info, s) })
	}
	for !allTrue(synced) {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(20 * time.Millisecond):
		}
	}
	gc.log.Info("graph synced")
	wg.Go(func() { workqueue.Run(ctx, gc.toOrphan, gc.c.Workers, gc.log, gc.orphan) })
	workqueue.Run(ctx, gc.toDelete, gc.c.Workers, gc.log, gc.attemptToDelete)
	return nil
}

func allTrue(bs []*atomic.Bool) bool {
	for _, b := range bs {
		if !b.Load() {
			return false
		}
	}
	return true
}

func (gc *Collector) apply(w work) {
	for _, uid := range w.attemptToDelete {
		gc.toDelete.Add(uid)
	}
	for _, uid := range w.attemptToOrphan {
		gc.toOrphan.Add(uid)
	}
}

// watch keeps the graph in step with one kind: list, then watch from the
// list's revision; a compacted revision or a failure relists.
func (gc *Collector) watch(ctx context.Context, info *kind.Info, synced *atomic.Bool) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		l, err := gc.d.ListAll(ctx, info.Kind, client.ListOptions{PageSize: 500})
		if err != nil {
			if ctx.Err() == nil {
				gc.log.Warn("list failed", zap.String("kind", info.Kind), zap.Error(err))
			}
			sleep(ctx, backoff)
			backoff = min(2*backoff, 30*time.Second)
			continue
		}
		seen := map[string]bool{}
		for _, obj := range l.Items {
			n := newNode(info, obj)
			seen[n.uid] = true
			gc.apply(gc.g.upsert(n))
		}
		for _, uid := range gc.g.uidsOfKind(info.Kind) {
			if !seen[uid] {
				gc.apply(gc.g.remove(uid))
			}
		}
		synced.Store(true)
		rv := l.ResourceVersion
		for ctx.Err() == nil {
			err := gc.follow(ctx, info, &rv)
			if errors.Is(err, client.ErrWatchClosed) {
				continue
			}
			if ctx.Err() == nil && !client.IsExpired(err) {
				gc.log.Info("watch ended, relisting", zap.String("kind", info.Kind), zap.Error(err))
				sleep(ctx, backoff)
			}
			break
		}
		backoff = 100 * time.Millisecond
	}
}

func (gc *Collector) follow(ctx context.Context, info *kind.Info, rv *string) error {
	w, err := gc.d.Watch(ctx, info.Kind, client.WatchOptions{ResourceVersion: *rv, AllowBookmarks: true})
	if err != nil {
		return err
	}
	defer w.Stop()
	for {
		ev, err := w.Next()
		if err != nil {
			return err
		}
		switch ev.Type {
		case client.Added, client.Modified:
			gc.apply(gc.g.upsert(newNode(info, ev.Object)))
		case client.Deleted:
			gc.apply(gc.g.remove(object.Meta(ev.Object).GetUid()))
		}
		if ev.ResourceVersion != "" {
			*rv = ev.ResourceVersion
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// live reads n from the apiserver; nil when it is gone or was replaced.
func (gc *Collector) live(ctx context.Context, n *node) (proto.Message, error) {
	obj, err := gc.d.Get(ctx, n.kind.Kind, n.namespace, n.name)
	if client.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if object.Meta(obj).GetUid() != n.uid {
		return nil, nil
	}
	return obj, nil
}

func (gc *Collector) attemptToDelete(ctx context.Context, uid string) (workqueue.Result, error) {
	n := gc.g.get(uid)
	if n == nil {
		return workqueue.Result{}, nil
	}
	obj, err := gc.live(ctx, n)
	if obj == nil || err != nil {
		return workqueue.Result{}, err
	}
	md := object.Meta(obj)
	if md.DeletionTimestamp != nil {
		if slices.Contains(md.Finalizers, ForegroundFinalizer) {
			return workqueue.Result{}, gc.finishForeground(ctx, n)
		}
		return workqueue.Result{}, nil
	}
	if len(md.OwnerReferences) == 0 {
		return workqueue.Result{}, nil
	}
	states := map[string]ownerState{}
	for _, ref := range md.OwnerReferences {
		s, err := gc.ownerState(ctx, ref, n.namespace)
		if err != nil {
			return workqueue.Result{}, err
		}
		states[ref.GetUid()] = s
	}
	d := decide(md.OwnerReferences, states, len(gc.g.dependentsOf(uid)) > 0, md.Finalizers)
	if d.keep {
		if len(d.drop) == 0 && len(d.unblock) == 0 {
			return workqueue.Result{}, nil
		}
		return workqueue.Result{}, gc.editOwners(ctx, n, func(refs []*metav1.OwnerReference) []*metav1.OwnerReference {
			refs = slices.DeleteFunc(refs, func(r *metav1.OwnerReference) bool { return slices.Contains(d.drop, r.GetUid()) })
			for _, r := range refs {
				if slices.Contains(d.unblock, r.GetUid()) {
					r.BlockOwnerDeletion = proto.Bool(false)
				}
			}
			return refs
		})
	}
	gc.log.Info("deleting object whose owners are gone", zap.String("kind", n.kind.Kind), zap.String("namespace", n.namespace), zap.String("name", n.name), zap.String("policy", d.policy))
	_, _, err = gc.d.Delete(ctx, n.kind.Kind, n.namespace, n.name, client.DeleteOptions{
		PropagationPolicy: client.PropagationPolicy(d.policy), Preconditions: &client.Preconditions{UID: uid},
	})
	if client.IsNotFound(err) || client.IsPreconditionFailed(err) {
		return workqueue.Result{}, nil
	}
	return workqueue.Result{}, err
}

// ownerState looks an owner up in the graph, or, when the graph does not
// know it (yet), in the apiserver.
func (gc *Collector) ownerState(ctx context.Context, ref *metav1.OwnerReference, namespace string) (ownerState, error) {
	if o := gc.g.get(ref.GetUid()); o != nil {
		if o.waiting() {
			return waiting, nil
		}
		return solid, nil
	}
	info, ok := kind.ByKind(ref.GetKind())
	if !ok || info.APIVersion() != ref.GetApiVersion() {
		return dangling, nil // no such kind: it can never exist
	}
	if !info.Namespaced {
		namespace = ""
	}
	obj, err := gc.d.Get(ctx, info.Kind, namespace, ref.GetName())
	if client.IsNotFound(err) {
		return dangling, nil
	}
	if err != nil {
		return solid, fmt.Errorf("owner %s %s: %w", ref.GetKind(), ref.GetName(), err)
	}
	md := object.Meta(obj)
	switch {
	case md.GetUid() != ref.GetUid():
		return dangling, nil
	case md.DeletionTimestamp != nil && slices.Contains(md.Finalizers, ForegroundFinalizer):
		return waiting, nil
	}
	return solid, nil
}

// finishForeground deletes the dependents of an owner being deleted in the
// foreground, and removes its finalizer once none blocks it.
func (gc *Collector) finishForeground(ctx context.Context, owner *node) error {
	blocking := 0
	for _, dep := range gc.g.dependentsOf(owner.uid) {
		for _, r := range dep.owners {
			if r.GetUid() == owner.uid && r.GetBlockOwnerDeletion() {
				blocking++
			}
		}
		if !dep.deleting {
			gc.toDelete.Add(dep.uid)
		}
	}
	if blocking > 0 {
		return nil // the dependents' deletions bring the owner back here
	}
	return gc.removeFinalizer(ctx, owner, ForegroundFinalizer)
}

func (gc *Collector) orphan(ctx context.Context, uid string) (workqueue.Result, error) {
	owner := gc.g.get(uid)
	if owner == nil {
		return workqueue.Result{}, nil
	}
	obj, err := gc.live(ctx, owner)
	if obj == nil || err != nil {
		return workqueue.Result{}, err
	}
	if md := object.Meta(obj); md.DeletionTimestamp == nil || !slices.Contains(md.Finalizers, OrphanFinalizer) {
		return workqueue.Result{}, nil
	}
	var errs []error
	for _, dep := range gc.g.dependentsOf(uid) {
		errs = append(errs, gc.editOwners(ctx, dep, func(refs []*metav1.OwnerReference) []*metav1.OwnerReference {
			return slices.DeleteFunc(refs, func(r *metav1.OwnerReference) bool { return r.GetUid() == uid })
		}))
	}
	if err := errors.Join(errs...); err != nil {
		return workqueue.Result{}, err
	}
	return workqueue.Result{}, gc.removeFinalizer(ctx, owner, OrphanFinalizer)
}

// editOwners rewrites an object's ownerReferences, retrying conflicts.
func (gc *Collector) editOwners(ctx context.Context, n *node, edit func([]*metav1.OwnerReference) []*metav1.OwnerReference) error {
	return gc.update(ctx, n, func(md *metav1.ObjectMeta) bool {
		before := len(md.OwnerReferences)
		orig := proto.Clone(md).(*metav1.ObjectMeta)
		md.OwnerReferences = edit(md.OwnerReferences)
		return len(md.OwnerReferences) != before || !proto.Equal(orig, md)
	})
}

func (gc *Collector) removeFinalizer(ctx context.Context, n *node, finalizer string) error {
	return gc.update(ctx, n, func(md *metav1.ObjectMeta) bool {
		before := len(md.Finalizers)
		md.Finalizers = slices.DeleteFunc(md.Finalizers, func(f string) bool { return f == finalizer })
		return len(md.Finalizers) != before
	})
}

// update is a read-modify-write of n's metadata, retried on conflict.
func (gc *Collector) update(ctx context.Context, n *node, mutate func(*metav1.ObjectMeta) bool) error {
	for range 10 {
		obj, err := gc.live(ctx, n)
		if obj == nil || err != nil {
			return err
		}
		if !mutate(object.Meta(obj)) {
			return nil
		}
		_, err = gc.d.Update(ctx, obj)
		if client.IsConflict(err) {
			continue
		}
		if client.IsNotFound(err) {
			return nil
		}
		return err
	}
	return fmt.Errorf("%s %s/%s kept changing", n.kind.Kind, n.namespace, n.name)
}
