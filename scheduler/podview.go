package scheduler

import (
	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
)

// podScheduled is the pod condition the scheduler owns.
const podScheduled = "PodScheduled"

// schedulingView is the pod informer's transform: it keeps only the fields
// scheduling reads, so the cache of every pod in the cluster holds a
// fraction of each (no command, env, probes, mounts, projected token
// volumes, container statuses, ...). Upstream strips managedFields the same
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
	if st := p.GetStatus(); st != nil {
		out.Status = &corev1.PodStatus{Phase: st.Phase, NominatedNodeName: st.NominatedNodeName}
		for _, c := range st.Conditions {
			if c.GetType() == podScheduled {
				out.Status.Conditions = []*corev1.PodCondition{c}
			}
		}
	}
	return out
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
