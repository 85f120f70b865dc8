package replicaset

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/labels"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
	"flotilla.io/proto/object"

	"flotilla.io/sdk/client"
	"flotilla.io/sdk/events"
	"flotilla.io/sdk/informer"
	"flotilla.io/sdk/workqueue"

	"flotilla.io/controller-manager/internal/controller"
	"flotilla.io/controller-manager/internal/controllerutil"
)

// eventsPerSync caps the per-pod events of one sync; the rest are summed up
// in one event. Upstream's event spam filter (25 per object, then one per 5
// minutes) has the same effect: a 3,000-pod scale-up is not 3,000 Events.
const eventsPerSync = 25

// Adapter is how the replica manager reads and writes one workload kind:
// ReplicaSet here, ReplicationController in its own package.
type Adapter[T proto.Message] struct {
	// Kind and APIVersion go into the pods' owner references.
	Kind, APIVersion string
	// Spec reads the workload; an error (a bad selector) is terminal.
	Spec func(T) (Spec, error)
	// Status reads the current status.
	Status func(T) Status
	// SetStatus writes st into obj (a clone the manager owns).
	SetStatus func(obj T, st Status)
}

// Manager keeps the pods of one workload kind at their replicas, as
// upstream's ReplicaSetController.
type Manager[T proto.Message] struct {
	name     string
	adapter  Adapter[T]
	owners   *client.Resource[T]
	pods     *client.Resource[*corev1.Pod]
	ownerInf *informer.Informer[T]
	podInf   *informer.Informer[*corev1.Pod]
	recorder events.Recorder
	log      *zap.Logger
	workers  int
	queue    workqueue.Queue[string]
	exp      *controllerutil.Expectations
	// Burst caps the creates or deletes of one sync.
	Burst int
	now   func() time.Time
}

// NewManager builds the manager of one kind from the shared informers.
func NewManager[T proto.Message](c *controller.Context, name string, a Adapter[T]) *Manager[T] {
	m := &Manager[T]{
		name: name, adapter: a,
		owners:   client.For[T](c.Client),
		pods:     client.For[*corev1.Pod](c.Client),
		ownerInf: informer.For[T](c.Informers),
		podInf:   informer.For[*corev1.Pod](c.Informers),
		recorder: c.Recorder, log: c.Log.Named(name), workers: c.Workers,
		exp:   controllerutil.NewExpectations(),
		Burst: BurstReplicas,
		now:   time.Now,
	}
	var metrics *workqueue.Metrics
	if c.Registry != nil {
		metrics = workqueue.NewMetrics(c.Registry)
	}
	m.queue = workqueue.New[string](name, workqueue.Options[string]{Metrics: metrics})
	m.ownerInf.AddHandler(informer.Handler[T]{
		OnAdd:    func(o T) { m.enqueue(o) },
		OnUpdate: func(_, o T) { m.enqueue(o) },
		OnDelete: func(o T) {
			m.exp.Delete(informer.KeyOf(o))
			m.enqueue(o)
		},
	})
	m.podInf.AddHandler(informer.Handler[*corev1.Pod]{OnAdd: m.addPod, OnUpdate: m.updatePod, OnDelete: m.deletePod})
	return m
}

func (m *Manager[T]) enqueue(o T) { m.queue.Add(informer.KeyOf(o)) }

// Start runs the workers until ctx ends.
func (m *Manager[T]) Start(ctx context.Context) error {
	workqueue.Run(ctx, m.queue, m.workers, m.log, m.sync)
	return nil
}

// resolve returns the key of the workload that ref names, if it is ours
// and exists with that uid.
func (m *Manager[T]) resolve(namespace string, ref *metav1.OwnerReference) (string, bool) {
	if ref == nil || ref.Kind != m.adapter.Kind {
		return "", false
	}
	o, err := m.ownerInf.Lister().Get(namespace, ref.Name)
	if err != nil || object.Meta(o).GetUid() != ref.Uid {
		return "", false
	}
	return informer.Key(namespace, ref.Name), true
}

// matching lists the keys of workloads whose selector matches an orphan.
func (m *Manager[T]) matching(p *corev1.Pod) []string {
	var keys []string
	set := labels.Set(p.GetMetadata().GetLabels())
	for _, o := range m.ownerInf.Lister().ListNamespace(p.GetMetadata().GetNamespace(), nil) {
		spec, err := m.adapter.Spec(o)
		if err == nil && spec.Selector.Matches(set) {
			keys = append(keys, informer.KeyOf(o))
		}
	}
	return keys
}

func (m *Manager[T]) addPod(p *corev1.Pod) {
	if p.GetMetadata().GetDeletionTimestamp() != nil {
		m.deletePod(p) // seen already terminating, e.g. after a restart
		return
	}
	if key, ok := m.resolve(p.Metadata.Namespace, controllerutil.ControllerOf(p.Metadata)); ok {
		m.exp.CreationObserved(key)
		m.queue.Add(key)
		return
	}
	if controllerutil.ControllerOf(p.Metadata) == nil {
		for _, k := range m.matching(p) {
			m.queue.Add(k)
		}
	}
}

func (m *Manager[T]) updatePod(old, cur *corev1.Pod) {
	if old.GetMetadata().GetResourceVersion() == cur.GetMetadata().GetResourceVersion() {
		return
	}
	labelsChanged := !labels.Equals(old.GetMetadata().GetLabels(), cur.GetMetadata().GetLabels())
	if cur.GetMetadata().GetDeletionTimestamp() != nil {
		m.deletePod(cur)
		if labelsChanged {
			m.deletePod(old)
		}
		return
	}
	oldRef, curRef := controllerutil.ControllerOf(old.Metadata), controllerutil.ControllerOf(cur.Metadata)
	if oldRef != nil && (curRef == nil || oldRef.Uid != curRef.Uid) {
		if key, ok := m.resolve(old.Metadata.Namespace, oldRef); ok {
			m.queue.Add(key)
		}
	}
	if key, ok := m.resolve(cur.Metadata.Namespace, curRef); ok {
		m.queue.Add(key)
		return
	}
	if curRef == nil && (labelsChanged || oldRef != nil) {
		for _, k := range m.matching(cur) {
			m.queue.Add(k)
		}
	}
}

func (m *Manager[T]) deletePod(p *corev1.Pod) {
	key, ok := m.resolve(p.GetMetadata().GetNamespace(), controllerutil.ControllerOf(p.GetMetadata()))
	if !ok {
		return
	}
	m.exp.DeletionObserved(key, informer.KeyOf(p))
	m.queue.Add(key)
}

// sync reconciles one workload.
func (m *Manager[T]) sync(ctx context.Context, key string) (workqueue.Result, error) {
	ns, name := informer.SplitKey(key)
	cached, err := m.ownerInf.Lister().Get(ns, name)
	if client.IsNotFound(err) {
		m.exp.Delete(key)
		return workqueue.Result{}, nil
	}
	if err != nil {
		return workqueue.Result{}, err
	}
	spec, err := m.adapter.Spec(cached)
	if err != nil {
		return workqueue.Result{}, workqueue.Terminal(fmt.Errorf("%s %s: %w", m.adapter.Kind, key, err))
	}
	// Read the expectations before the pods: a pod seen after this point is
	// in the list, and one created after it cannot be missed.
	satisfied := m.exp.Satisfied(key)
	active, err := m.claimPods(ctx, cached, spec)
	if err != nil {
		return workqueue.Result{}, err
	}
	now := m.now()
	var plan Plan
	var manageErr error
	if satisfied && !spec.Deleting {
		plan = Decide(spec.Replicas, active, m.Burst, now)
		manageErr = m.manage(ctx, cached, key, spec, plan)
	}
	st := CalculateStatus(spec, active, m.adapter.Status(cached), plan, manageErr, now)
	if err := m.writeStatus(ctx, cached, st); err != nil {
		return workqueue.Result{}, errors.Join(manageErr, err)
	}
	if manageErr != nil {
		return workqueue.Result{}, manageErr
	}
	return workqueue.Result{RequeueAfter: controllerutil.NextAvailableCheck(active, spec.MinReadySeconds, now)}, nil
}

// claimPods returns the active pods the workload owns after adopting
// matching orphans and releasing its pods that stopped matching.
func (m *Manager[T]) claimPods(ctx context.Context, owner T, spec Spec) ([]*corev1.Pod, error) {
	md := object.Meta(owner)
	var active []*corev1.Pod
	var errs []error
	var checkedOwner, canAdopt bool
	for _, p := range m.podInf.Lister().ListNamespace(md.GetNamespace(), nil) {
		if !controllerutil.IsPodActive(p) {
			continue
		}
		matches := spec.Selector.Matches(labels.Set(p.GetMetadata().GetLabels()))
		switch controllerutil.Claim(p.Metadata, md.GetUid(), matches, spec.Deleting) {
		case controllerutil.Keep:
			active = append(active, p)
		case controllerutil.Adopt:
			if !checkedOwner {
				checkedOwner, canAdopt = true, m.canAdopt(ctx, md)
			}
			if !canAdopt {
				continue
			}
			adopted, err := m.setOwner(ctx, p, controllerutil.SetControllerRef(p.Metadata, controllerutil.ControllerRef(md, m.adapter.APIVersion, m.adapter.Kind)))
			if err != nil {
				errs = append(errs, fmt.Errorf("adopt pod %s: %w", p.Metadata.Name, err))
				continue
			}
			if adopted != nil {
				active = append(active, adopted)
			}
		case controllerutil.Release:
			if _, err := m.setOwner(ctx, p, controllerutil.RemoveOwnerRef(p.Metadata, md.GetUid())); err != nil {
				errs = append(errs, fmt.Errorf("release pod %s: %w", p.Metadata.Name, err))
			}
		}
	}
	return active, errors.Join(errs...)
}

// canAdopt re-reads the owner from the apiserver, as upstream: a cached
// owner may already be deleted, and must not adopt then.
func (m *Manager[T]) canAdopt(ctx context.Context, md *metav1.ObjectMeta) bool {
	fresh, err := m.owners.Get(ctx, md.GetNamespace(), md.GetName())
	if err != nil {
		return false
	}
	f := object.Meta(fresh)
	return f.GetUid() == md.GetUid() && f.GetDeletionTimestamp() == nil
}

// setOwner writes a pod's owner references; a pod that is gone is nil.
func (m *Manager[T]) setOwner(ctx context.Context, p *corev1.Pod, refs []*metav1.OwnerReference) (*corev1.Pod, error) {
	c := proto.Clone(p).(*corev1.Pod)
	c.Metadata.OwnerReferences = refs
	out, err := m.pods.Update(ctx, c)
	if client.IsNotFound(err) {
		return nil, nil
	}
	return out, err
}

// manage carries out a plan: creates in slow-start batches, deletes in
// parallel, each announced to the expectations first.
func (m *Manager[T]) manage(ctx context.Context, owner T, key string, spec Spec, plan Plan) error {
	md := object.Meta(owner)
	if plan.Create > 0 {
		m.exp.ExpectCreations(key, plan.Create)
		ref := controllerutil.ControllerRef(md, m.adapter.APIVersion, m.adapter.Kind)
		var attempts, createdN atomic.Int32
		ok, err := controllerutil.SlowStartBatch(ctx, plan.Create, controllerutil.SlowStartInitialBatchSize, func(ctx context.Context) error {
			attempts.Add(1)
			pod := controllerutil.PodFromTemplate(spec.Template, md.GetNamespace(), md.GetName(), ref)
			created, err := m.pods.Create(ctx, pod)
			if err != nil {
				m.exp.CreationObserved(key) // it will never be seen
				m.recorder.Eventf(owner, events.Warning, "FailedCreate", "Error creating: %v", err)
				return err
			}
			if n := createdN.Add(1); n <= eventsPerSync {
				m.recorder.Eventf(owner, events.Normal, "SuccessfulCreate", "Created pod: %s", created.Metadata.Name)
			}
			return nil
		})
		if n := createdN.Load(); n > eventsPerSync {
			m.recorder.Eventf(owner, events.Normal, "SuccessfulCreate", "Created %d more pods", n-eventsPerSync)
		}
		for range plan.Create - int(attempts.Load()) {
			m.exp.CreationObserved(key) // skipped after a failed batch
		}
		if err != nil {
			m.log.Debug("creates stopped", zap.String("key", key), zap.Int("created", ok), zap.Error(err))
			return fmt.Errorf("create pods: %w", err)
		}
		return nil
	}
	if len(plan.Delete) == 0 {
		return nil
	}
	keys := make([]string, len(plan.Delete))
	for i, p := range plan.Delete {
		keys[i] = informer.KeyOf(p)
	}
	m.exp.ExpectDeletions(key, keys)
	var wg sync.WaitGroup
	var deleted atomic.Int32
	errs := make([]error, len(plan.Delete))
	for i, p := range plan.Delete {
		wg.Go(func() {
			err := m.pods.Delete(ctx, p.Metadata.Namespace, p.Metadata.Name, client.DeleteOptions{Preconditions: &client.Preconditions{UID: p.Metadata.Uid}})
			if err != nil && !client.IsNotFound(err) {
				m.exp.DeletionObserved(key, keys[i])
				m.recorder.Eventf(owner, events.Warning, "FailedDelete", "Error deleting: %v", err)
				errs[i] = fmt.Errorf("delete pod %s: %w", p.Metadata.Name, err)
				return
			}
			if err != nil {
				m.exp.DeletionObserved(key, keys[i])
				return
			}
			if deleted.Add(1) <= eventsPerSync {
				m.recorder.Eventf(owner, events.Normal, "SuccessfulDelete", "Deleted pod: %s", p.Metadata.Name)
			}
		})
	}
	wg.Wait()
	if n := deleted.Load(); n > eventsPerSync {
		m.recorder.Eventf(owner, events.Normal, "SuccessfulDelete", "Deleted %d more pods", n-eventsPerSync)
	}
	return errors.Join(errs...)
}

// writeStatus updates the status when it changed.
func (m *Manager[T]) writeStatus(ctx context.Context, cached T, st Status) error {
	if m.adapter.Status(cached).Equal(st) {
		return nil
	}
	obj := proto.Clone(cached).(T)
	m.adapter.SetStatus(obj, st)
	_, err := m.owners.UpdateStatus(ctx, obj)
	if client.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("update status: %w", err)
	}
	return nil
}
