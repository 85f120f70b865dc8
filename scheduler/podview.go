package scheduler

import (
	"google.golang.org/protobuf/proto"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
)

// podScheduled is the pod condition the scheduler owns.
const podScheduled = "PodScheduled"

// schedulingView keeps only the fields of a pod that scheduling reads, so
// the cache of every pod in the cluster holds a fraction of each (no
// command, env, probes, mounts, projected token volumes, container
// statuses, ...). Upstream strips managedFields the same
// way; we go further because the scheduler is the one component that caches
// every pod.
//
// Whatever a plugin, the queue or the handlers read must be kept here. The
// view is never written back: recordFailure reads the whole pod from the
// apiserver before it updates one.
func schedulingView(p *corev1.Pod) *corev1.Pod {
	if p == nil {
		return nil
	}
	out := &corev1.Pod{}
	if md := p.GetMetadata(); md != nil {
		out.Metadata = &metav1.ObjectMeta{
			Name: md.Name, Namespace: md.Namespace, Uid: md.Uid, ResourceVersion: md.ResourceVersion,
			CreationTimestamp: md.CreationTimestamp, DeletionTimestamp: md.DeletionTimestamp,
			Labels: md.Labels, OwnerReferences: md.OwnerReferences,
		}
		// Only our own annotation: recordFailure skips writing an unchanged one.
		if d, ok := md.Annotations[DiagnosisAnnotation]; ok {
			out.Metadata.Annotations = map[string]string{DiagnosisAnnotation: d}
		}
	}
	if sp := p.GetSpec(); sp != nil {
		out.Spec = &corev1.PodSpec{
			NodeName: sp.NodeName, SchedulerName: sp.SchedulerName,
			Priority: sp.Priority, PriorityClassName: sp.PriorityClassName, PreemptionPolicy: sp.PreemptionPolicy,
			NodeSelector: sp.NodeSelector, Affinity: sp.Affinity, Tolerations: sp.Tolerations,
			TopologySpreadConstraints: sp.TopologySpreadConstraints,
			Overhead:                  sp.Overhead, Resources: requestsOnly(sp.Resources),
			Containers:     containerViews(sp.Containers),
			InitContainers: containerViews(sp.InitContainers),
		}
		for _, v := range sp.Volumes {
			if v.GetPersistentVolumeClaim() != nil {
				out.Spec.Volumes = append(out.Spec.Volumes, &corev1.Volume{Name: v.Name, PersistentVolumeClaim: v.PersistentVolumeClaim})
			}
		}
	}
	// A bound pod's status matters only once it has ended (it then stops
	// counting on its node); nominatedNodeName and PodScheduled concern
	// pending pods. Leaving it out of the 10,000s of bound pods saves a
	// large struct each.
	st := p.GetStatus()
	switch {
	case st == nil:
	case assigned(p):
		if terminal(p) {
			out.Status = &corev1.PodStatus{Phase: st.Phase}
		}
	default:
		out.Status = &corev1.PodStatus{Phase: st.Phase, NominatedNodeName: st.NominatedNodeName}
		for _, c := range st.Conditions {
			if c.GetType() == podScheduled {
				out.Status.Conditions = []*corev1.PodCondition{c}
			}
		}
	}
	return out
}

// podViewer makes schedulingViews whose parts equal among pods are shared
// (see interner): the replicas of one template then cost little more than
// their names, labels and node.
type podViewer struct {
	containers  *interner[corev1.Container, *corev1.Container]
	tolerations *interner[corev1.Toleration, *corev1.Toleration]
	owners      *interner[metav1.OwnerReference, *metav1.OwnerReference]
	affinities  *interner[corev1.Affinity, *corev1.Affinity]
	spreads     *interner[corev1.TopologySpreadConstraint, *corev1.TopologySpreadConstraint]
}

func newPodViewer() *podViewer {
	return &podViewer{
		containers:  newInterner[corev1.Container](),
		tolerations: newInterner[corev1.Toleration](),
		owners:      newInterner[metav1.OwnerReference](),
		affinities:  newInterner[corev1.Affinity](),
		spreads:     newInterner[corev1.TopologySpreadConstraint](),
	}
}

// view is the pod informer's transform: p's schedulingView with shared
// parts. It owns p (freshly decoded), so it replaces parts in p's slices.
func (v *podViewer) view(p *corev1.Pod) *corev1.Pod {
	out := schedulingView(p)
	if md := out.GetMetadata(); md != nil {
		internAll(v.owners, md.OwnerReferences)
	}
	if sp := out.GetSpec(); sp != nil {
		internAll(v.containers, sp.Containers)
		internAll(v.containers, sp.InitContainers)
		internAll(v.tolerations, sp.Tolerations)
		internAll(v.spreads, sp.TopologySpreadConstraints)
		sp.Affinity = v.affinities.intern(sp.Affinity)
	}
	return out
}

func internAll[T any, PT interface {
	*T
	proto.Message
}](in *interner[T, PT], s []*T) {
	for i, x := range s {
		s[i] = in.intern(x)
	}
}

// containerViews keeps what resource fit (requests, sidecar restartPolicy)
// and image locality (image) read.
func containerViews(cs []*corev1.Container) []*corev1.Container {
	if len(cs) == 0 {
		return nil
	}
	out := make([]*corev1.Container, len(cs))
	for i, c := range cs {
		out[i] = &corev1.Container{Name: c.Name, Image: c.Image, RestartPolicy: c.RestartPolicy, Resources: requestsOnly(c.Resources)}
	}
	return out
}

func requestsOnly(r *corev1.ResourceRequirements) *corev1.ResourceRequirements {
	if len(r.GetRequests()) == 0 {
		return nil
	}
	return &corev1.ResourceRequirements{Requests: r.Requests}
}
