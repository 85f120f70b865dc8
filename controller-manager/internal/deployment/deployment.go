// Package deployment is the Deployment controller: it rolls a Deployment's
// pod template out through ReplicaSets (one per template, named by its
// pod-template-hash), RollingUpdate within maxSurge/maxUnavailable or
// Recreate, keeps revisionHistoryLimit old ones for rollback, spreads
// replica changes proportionally during a rollout, and reports progress
// against progressDeadlineSeconds. The decisions are pure functions
// (rollout.go, status.go, revision.go); this file reads the caches and
// writes their results.
package deployment

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/labels"

	appsv1 "flotilla.io/proto/flotilla/apps/v1"
	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"

	"flotilla.io/sdk/client"
	"flotilla.io/sdk/events"
	"flotilla.io/sdk/informer"
	"flotilla.io/sdk/workqueue"

	"flotilla.io/controller-manager/internal/controller"
	"flotilla.io/controller-manager/internal/controllerutil"
)

func init() {
	controller.Register("deployment", func(c *controller.Context) (controller.Loop, error) { return New(c), nil })
}

// Controller is the Deployment controller.
type Controller struct {
	deployments *client.Resource[*appsv1.Deployment]
	rss         *client.Resource[*appsv1.ReplicaSet]
	dInf        *informer.Informer[*appsv1.Deployment]
	rsInf       *informer.Informer[*appsv1.ReplicaSet]
	podInf      *informer.Informer[*corev1.Pod]
	recorder    events.Recorder
	log         *zap.Logger
	workers     int
	queue       workqueue.Queue[string]
	now         func() time.Time
}

// New builds the controller from the shared informers.
func New(c *controller.Context) *Controller {
	dc := &Controller{
		deployments: client.For[*appsv1.Deployment](c.Client),
		rss:         client.For[*appsv1.ReplicaSet](c.Client),
		dInf:        informer.For[*appsv1.Deployment](c.Informers),
		rsInf:       informer.For[*appsv1.ReplicaSet](c.Informers),
		podInf:      informer.For[*corev1.Pod](c.Informers),
		recorder:    c.Recorder, log: c.Log.Named("deployment"), workers: c.Workers,
		now: time.Now,
	}
	var metrics *workqueue.Metrics
	if c.Registry != nil {
		metrics = workqueue.NewMetrics(c.Registry)
	}
	dc.queue = workqueue.New[string]("deployment", workqueue.Options[string]{Metrics: metrics})
	enqueue := func(d *appsv1.Deployment) { dc.queue.Add(informer.KeyOf(d)) }
	dc.dInf.AddHandler(informer.Handler[*appsv1.Deployment]{
		OnAdd: enqueue, OnUpdate: func(_, d *appsv1.Deployment) { enqueue(d) }, OnDelete: enqueue,
	})
	dc.rsInf.AddHandler(informer.Handler[*appsv1.ReplicaSet]{
		OnAdd: dc.rsChanged,
		OnUpdate: func(old, cur *appsv1.ReplicaSet) {
			if old.GetMetadata().GetResourceVersion() == cur.GetMetadata().GetResourceVersion() {
				return
			}
			if o, c := controllerutil.ControllerOf(old.Metadata), controllerutil.ControllerOf(cur.Metadata); o != nil && (c == nil || o.Uid != c.Uid) {
				dc.rsChanged(old)
			}
			dc.rsChanged(cur)
		},
		OnDelete: dc.rsChanged,
	})
	dc.podInf.AddHandler(informer.Handler[*corev1.Pod]{OnDelete: dc.podDeleted})
	return dc
}

// owner returns the key of the Deployment controlling md, if it exists.
func (dc *Controller) owner(namespace string, ref *metav1.OwnerReference) (string, bool) {
	if ref == nil || ref.Kind != "Deployment" {
		return "", false
	}
	d, err := dc.dInf.Lister().Get(namespace, ref.Name)
	if err != nil || d.Metadata.Uid != ref.Uid {
		return "", false
	}
	return informer.KeyOf(d), true
}

func (dc *Controller) rsChanged(rs *appsv1.ReplicaSet) {
	if key, ok := dc.owner(rs.Metadata.Namespace, controllerutil.ControllerOf(rs.Metadata)); ok {
		dc.queue.Add(key)
		return
	}
	if controllerutil.ControllerOf(rs.Metadata) != nil {
		return
	}
	set := labels.Set(rs.Metadata.GetLabels())
	for _, d := range dc.dInf.Lister().ListNamespace(rs.Metadata.Namespace, nil) {
		if sel, err := informer.Selector(d.GetSpec().GetSelector()); err == nil && !sel.Empty() && sel.Matches(set) {
			dc.queue.Add(informer.KeyOf(d))
		}
	}
}

// podDeleted wakes a Recreate rollout waiting for its old pods to go.
func (dc *Controller) podDeleted(p *corev1.Pod) {
	ref := controllerutil.ControllerOf(p.GetMetadata())
	if ref == nil || ref.Kind != "ReplicaSet" {
		return
	}
	rs, err := dc.rsInf.Lister().Get(p.Metadata.Namespace, ref.Name)
	if err != nil {
		return
	}
	if key, ok := dc.owner(rs.Metadata.Namespace, controllerutil.ControllerOf(rs.Metadata)); ok {
		dc.queue.Add(key)
	}
}

// Start runs the workers until ctx ends.
func (dc *Controller) Start(ctx context.Context) error {
	workqueue.Run(ctx, dc.queue, dc.workers, dc.log, dc.sync)
	return nil
}

func (dc *Controller) sync(ctx context.Context, key string) (workqueue.Result, error) {
	ns, name := informer.SplitKey(key)
	cached, err := dc.dInf.Lister().Get(ns, name)
	if client.IsNotFound(err) {
		return workqueue.Result{}, nil
	}
	if err != nil {
		return workqueue.Result{}, err
	}
	d := proto.Clone(cached).(*appsv1.Deployment)
	sel, err := informer.Selector(d.GetSpec().GetSelector())
	if err != nil || sel.Empty() {
		dc.recorder.Eventf(d, events.Warning, "SelectingAll", "This deployment is selecting all pods. A non-empty selector is required.")
		return workqueue.Result{}, nil
	}
	rsList, err := dc.claimReplicaSets(ctx, d, sel)
	if err != nil {
		return workqueue.Result{}, err
	}
	newRS, old := FindNewReplicaSet(d, rsList)
	if d.Metadata.DeletionTimestamp != nil {
		return workqueue.Result{}, dc.writeStatus(ctx, d, CalculateStatus(d, newRS, rsList, dc.now()))
	}
	if done, err := dc.syncPausedCondition(ctx, d); done || err != nil {
		return workqueue.Result{}, err
	}
	if d.Spec.Paused || IsScalingEvent(d, newRS, old) {
		return workqueue.Result{}, dc.syncScale(ctx, d, newRS, old)
	}
	if d.Spec.GetStrategy().GetType() == "Recreate" {
		return dc.rolloutRecreate(ctx, d, sel, newRS, old)
	}
	return dc.rolloutRolling(ctx, d, newRS, old)
}

// claimReplicaSets adopts matching orphan ReplicaSets and releases ours
// that stopped matching; it returns the ReplicaSets the Deployment owns.
func (dc *Controller) claimReplicaSets(ctx context.Context, d *appsv1.Deployment, sel labels.Selector) ([]*appsv1.ReplicaSet, error) {
	var out []*appsv1.ReplicaSet
	var errs []error
	deleting := d.Metadata.DeletionTimestamp != nil
	for _, rs := range dc.rsInf.Lister().ListNamespace(d.Metadata.Namespace, nil) {
		matches := sel.Matches(labels.Set(rs.Metadata.GetLabels()))
		switch controllerutil.Claim(rs.Metadata, d.Metadata.Uid, matches, deleting) {
		case controllerutil.Keep:
			out = append(out, rs)
		case controllerutil.Adopt:
			fresh, err := dc.deployments.Get(ctx, d.Metadata.Namespace, d.Metadata.Name)
			if err != nil || fresh.Metadata.Uid != d.Metadata.Uid || fresh.Metadata.DeletionTimestamp != nil {
				continue
			}
			c := proto.Clone(rs).(*appsv1.ReplicaSet)
			c.Metadata.OwnerReferences = controllerutil.SetControllerRef(rs.Metadata, controllerutil.ControllerRef(d.Metadata, "apps/v1", "Deployment"))
			adopted, err := dc.rss.Update(ctx, c)
			if err != nil {
				errs = append(errs, fmt.Errorf("adopt replicaset %s: %w", rs.Metadata.Name, err))
				continue
			}
			out = append(out, adopted)
		case controllerutil.Release:
			c := proto.Clone(rs).(*appsv1.ReplicaSet)
			c.Metadata.OwnerReferences = controllerutil.RemoveOwnerRef(rs.Metadata, d.Metadata.Uid)
			if _, err := dc.rss.Update(ctx, c); err != nil && !client.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("release replicaset %s: %w", rs.Metadata.Name, err))
			}
		}
	}
	return out, errors.Join(errs...)
}

// syncPausedCondition records pausing and resuming in the Progressing
// condition; done means the status was written and the next sync goes on.
func (dc *Controller) syncPausedCondition(ctx context.Context, d *appsv1.Deployment) (bool, error) {
	if !hasProgressDeadline(d) {
		return false, nil
	}
	cur := GetCondition(d.GetStatus(), Progressing)
	pausedNow := cur != nil && cur.Reason == ReasonPaused
	var c *appsv1.DeploymentCondition
	switch {
	case d.Spec.Paused && !pausedNow:
		c = NewCondition(Progressing, "Unknown", ReasonPaused, "Deployment is paused", dc.now())
	case !d.Spec.Paused && pausedNow:
		c = NewCondition(Progressing, "Unknown", ReasonResumed, "Deployment is resumed", dc.now())
	default:
		return false, nil
	}
	st := proto.Clone(d.GetStatus()).(*appsv1.DeploymentStatus)
	if st == nil {
		st = &appsv1.DeploymentStatus{}
	}
	SetCondition(st, c)
	return true, dc.writeStatus(ctx, d, st)
}

// syncScale handles a replicas change or a paused deployment: resize the
// ReplicaSets that exist, clean up history when paused, update status.
func (dc *Controller) syncScale(ctx context.Context, d *appsv1.Deployment, newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) error {
	var err error
	if newRS != nil {
		if newRS, err = dc.syncNewRSRevision(ctx, d, newRS, old); err != nil {
			return err
		}
	}
	if err := dc.apply(ctx, d, PlanScale(d, newRS, old)); err != nil {
		return err
	}
	if d.Spec.Paused {
		if err := dc.cleanup(ctx, d, old); err != nil {
			return err
		}
	}
	return dc.writeStatus(ctx, d, CalculateStatus(d, newRS, withNew(newRS, old), dc.now()))
}

func (dc *Controller) rolloutRolling(ctx context.Context, d *appsv1.Deployment, newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) (workqueue.Result, error) {
	newRS, err := dc.ensureNewRS(ctx, d, newRS, old)
	if err != nil {
		return workqueue.Result{}, err
	}
	if err := dc.apply(ctx, d, PlanRolling(d, newRS, old)); err != nil {
		return workqueue.Result{}, err
	}
	return dc.syncRolloutStatus(ctx, d, newRS, old)
}

func (dc *Controller) rolloutRecreate(ctx context.Context, d *appsv1.Deployment, sel labels.Selector, newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) (workqueue.Result, error) {
	if down := PlanRecreateScaleDown(old); len(down) > 0 {
		if err := dc.apply(ctx, d, down); err != nil {
			return workqueue.Result{}, err
		}
		return dc.syncRolloutStatus(ctx, d, newRS, old)
	}
	if dc.oldPodsRunning(d, sel, newRS, old) {
		return dc.syncRolloutStatus(ctx, d, newRS, old)
	}
	newRS, err := dc.ensureNewRS(ctx, d, newRS, old)
	if err != nil {
		return workqueue.Result{}, err
	}
	if replicas(newRS) != d.Spec.GetReplicas() {
		if err := dc.apply(ctx, d, []Scale{{RS: newRS, From: replicas(newRS), To: d.Spec.GetReplicas()}}); err != nil {
			return workqueue.Result{}, err
		}
	}
	return dc.syncRolloutStatus(ctx, d, newRS, old)
}

// oldPodsRunning reports old ReplicaSets still counting pods, or pods of
// the deployment outside the new ReplicaSet that have not finished.
func (dc *Controller) oldPodsRunning(d *appsv1.Deployment, sel labels.Selector, newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) bool {
	if sumStatus(old, (*appsv1.ReplicaSetStatus).GetReplicas) > 0 {
		return true
	}
	owned := map[string]bool{}
	for _, rs := range old {
		owned[rs.Metadata.Uid] = true
	}
	for _, p := range dc.podInf.Lister().ListNamespace(d.Metadata.Namespace, sel) {
		ref := controllerutil.ControllerOf(p.Metadata)
		if ref == nil || !owned[ref.Uid] || (newRS != nil && ref.Uid == newRS.Metadata.Uid) {
			continue
		}
		if ph := p.GetStatus().GetPhase(); ph != "Succeeded" && ph != "Failed" {
			return true
		}
	}
	return false
}

// syncRolloutStatus writes the status with progress conditions, cleans up
// history once complete, and asks to look again at the deadline.
func (dc *Controller) syncRolloutStatus(ctx context.Context, d *appsv1.Deployment, newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) (workqueue.Result, error) {
	now := dc.now()
	st := RolloutStatus(d, newRS, withNew(newRS, old), now)
	if Complete(d, st) {
		if err := dc.cleanup(ctx, d, old); err != nil {
			return workqueue.Result{}, err
		}
	}
	if err := dc.writeStatus(ctx, d, st); err != nil {
		return workqueue.Result{}, err
	}
	return workqueue.Result{RequeueAfter: RequeueForDeadline(d, st, now)}, nil
}

// ensureNewRS returns the ReplicaSet of the current template, creating it
// (sized by NewRSReplicas) or bringing its revision and minReadySeconds up
// to date; it keeps the deployment's revision annotation in step.
func (dc *Controller) ensureNewRS(ctx context.Context, d *appsv1.Deployment, newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) (*appsv1.ReplicaSet, error) {
	if newRS != nil {
		return dc.syncNewRSRevision(ctx, d, newRS, old)
	}
	revision := MaxRevision(old) + 1
	rs := NewReplicaSet(d, controllerutil.ControllerRef(d.Metadata, "apps/v1", "Deployment"))
	rs.Spec.Replicas = proto.Int32(NewRSReplicas(d, withNew(rs, old), rs))
	SetNewReplicaSetAnnotations(d, rs, revision, false)
	created, err := dc.rss.Create(ctx, rs)
	alreadyExists := client.IsAlreadyExists(err)
	switch {
	case alreadyExists:
		// Ours, with our template, but not yet in the cache: use it. Else a
		// hash collision: bump collisionCount and try another name.
		existing, gerr := dc.rss.Get(ctx, rs.Metadata.Namespace, rs.Metadata.Name)
		if gerr != nil {
			return nil, gerr
		}
		if controllerutil.IsControlledBy(existing.Metadata, d.Metadata.Uid) && EqualIgnoreHash(existing.Spec.Template, d.Spec.Template) {
			created = existing
			break
		}
		st := proto.Clone(d.GetStatus()).(*appsv1.DeploymentStatus)
		if st == nil {
			st = &appsv1.DeploymentStatus{}
		}
		st.CollisionCount = proto.Int32(st.GetCollisionCount() + 1)
		if werr := dc.writeStatus(ctx, d, st); werr != nil {
			return nil, werr
		}
		return nil, fmt.Errorf("replicaset name %s collides; collisionCount now %d", rs.Metadata.Name, st.GetCollisionCount())
	case err != nil:
		if hasProgressDeadline(d) {
			st := proto.Clone(d.GetStatus()).(*appsv1.DeploymentStatus)
			if st == nil {
				st = &appsv1.DeploymentStatus{}
			}
			SetCondition(st, NewCondition(Progressing, "False", ReasonFailedCreate, fmt.Sprintf("Failed to create new replica set %q: %v", rs.Metadata.Name, err), dc.now()))
			_ = dc.writeStatus(ctx, d, st)
		}
		dc.recorder.Eventf(d, events.Warning, "FailedCreate", "Failed to create new replica set %q: %v", rs.Metadata.Name, err)
		return nil, fmt.Errorf("create replicaset: %w", err)
	default:
		if n := replicas(created); n > 0 {
			dc.recorder.Eventf(d, events.Normal, "ScalingReplicaSet", "Scaled up replica set %s from 0 to %d", created.Metadata.Name, n)
		}
	}
	if err := dc.setRevision(ctx, d, Revision(created.Metadata)); err != nil {
		return nil, err
	}
	if !alreadyExists && hasProgressDeadline(d) {
		st := proto.Clone(d.GetStatus()).(*appsv1.DeploymentStatus)
		if st == nil {
			st = &appsv1.DeploymentStatus{}
		}
		SetCondition(st, NewCondition(Progressing, "True", ReasonNewRSCreated, fmt.Sprintf("Created new replica set %q", created.Metadata.Name), dc.now()))
		if err := dc.writeStatus(ctx, d, st); err != nil {
			return nil, err
		}
	}
	return created, nil
}

// syncNewRSRevision brings an existing new ReplicaSet's annotations and
// minReadySeconds up to date.
func (dc *Controller) syncNewRSRevision(ctx context.Context, d *appsv1.Deployment, newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) (*appsv1.ReplicaSet, error) {
	c := proto.Clone(newRS).(*appsv1.ReplicaSet)
	changed := SetNewReplicaSetAnnotations(d, c, MaxRevision(old)+1, true)
	if c.Spec.MinReadySeconds != d.Spec.MinReadySeconds {
		c.Spec.MinReadySeconds, changed = d.Spec.MinReadySeconds, true
	}
	if changed {
		var err error
		if newRS, err = dc.rss.Update(ctx, c); err != nil {
			return nil, fmt.Errorf("update replicaset %s: %w", c.Metadata.Name, err)
		}
	}
	if err := dc.setRevision(ctx, d, Revision(newRS.Metadata)); err != nil {
		return nil, err
	}
	if hasProgressDeadline(d) && GetCondition(d.GetStatus(), Progressing) == nil {
		st := proto.Clone(d.GetStatus()).(*appsv1.DeploymentStatus)
		if st == nil {
			st = &appsv1.DeploymentStatus{}
		}
		SetCondition(st, NewCondition(Progressing, "True", ReasonFoundNewRS, fmt.Sprintf("Found new replica set %q", newRS.Metadata.Name), dc.now()))
		if err := dc.writeStatus(ctx, d, st); err != nil {
			return nil, err
		}
	}
	return newRS, nil
}

// setRevision writes the deployment's revision annotation when it differs.
// d is the caller's copy and is updated in place.
func (dc *Controller) setRevision(ctx context.Context, d *appsv1.Deployment, revision int64) error {
	want := strconv.FormatInt(revision, 10)
	if d.Metadata.Annotations[RevisionAnnotation] == want {
		return nil
	}
	c := proto.Clone(d).(*appsv1.Deployment)
	if c.Metadata.Annotations == nil {
		c.Metadata.Annotations = map[string]string{}
	}
	c.Metadata.Annotations[RevisionAnnotation] = want
	out, err := dc.deployments.Update(ctx, c)
	if err != nil {
		return fmt.Errorf("set revision: %w", err)
	}
	d.Metadata = out.Metadata
	return nil
}

// apply writes a plan's resizes (with the size annotations), in order.
func (dc *Controller) apply(ctx context.Context, d *appsv1.Deployment, plan []Scale) error {
	for _, s := range plan {
		c, changed := Resized(d, s.RS, s.To)
		if !changed {
			continue
		}
		if _, err := dc.rss.Update(ctx, c); err != nil {
			return fmt.Errorf("scale replicaset %s to %d: %w", s.RS.Metadata.Name, s.To, err)
		}
		switch {
		case s.To > s.From:
			dc.recorder.Eventf(d, events.Normal, "ScalingReplicaSet", "Scaled up replica set %s from %d to %d", s.RS.Metadata.Name, s.From, s.To)
		case s.To < s.From:
			dc.recorder.Eventf(d, events.Normal, "ScalingReplicaSet", "Scaled down replica set %s from %d to %d", s.RS.Metadata.Name, s.From, s.To)
		}
	}
	return nil
}

// cleanup deletes old ReplicaSets beyond revisionHistoryLimit.
func (dc *Controller) cleanup(ctx context.Context, d *appsv1.Deployment, old []*appsv1.ReplicaSet) error {
	for _, rs := range HistoryToDelete(d, old) {
		err := dc.rss.Delete(ctx, rs.Metadata.Namespace, rs.Metadata.Name, client.DeleteOptions{Preconditions: &client.Preconditions{UID: rs.Metadata.Uid}})
		if err != nil && !client.IsNotFound(err) {
			return fmt.Errorf("delete old replicaset %s: %w", rs.Metadata.Name, err)
		}
	}
	return nil
}

// writeStatus updates d's status when it changed; d is the caller's copy
// and takes the new status and resourceVersion.
func (dc *Controller) writeStatus(ctx context.Context, d *appsv1.Deployment, st *appsv1.DeploymentStatus) error {
	if proto.Equal(d.GetStatus(), st) {
		return nil
	}
	c := proto.Clone(d).(*appsv1.Deployment)
	c.Status = st
	out, err := dc.deployments.UpdateStatus(ctx, c)
	if client.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("update status: %w", err)
	}
	d.Metadata, d.Status = out.Metadata, out.Status
	return nil
}
