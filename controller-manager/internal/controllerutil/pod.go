package controllerutil

import (
	"maps"
	"time"

	"google.golang.org/protobuf/proto"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
)

// IsPodActive reports whether a pod counts towards a workload's replicas:
// not finished and not being deleted.
func IsPodActive(p *corev1.Pod) bool {
	phase := p.GetStatus().GetPhase()
	return phase != "Succeeded" && phase != "Failed" && p.GetMetadata().GetDeletionTimestamp() == nil
}

// IsPodTerminating reports a pod being deleted that has not finished.
func IsPodTerminating(p *corev1.Pod) bool {
	phase := p.GetStatus().GetPhase()
	return p.GetMetadata().GetDeletionTimestamp() != nil && phase != "Succeeded" && phase != "Failed"
}

// readyCondition returns the pod's Ready condition, or nil.
func readyCondition(p *corev1.Pod) *corev1.PodCondition {
	for _, c := range p.GetStatus().GetConditions() {
		if c.GetType() == "Ready" {
			return c
		}
	}
	return nil
}

// IsPodReady reports the pod's Ready condition is True.
func IsPodReady(p *corev1.Pod) bool {
	c := readyCondition(p)
	return c != nil && c.GetStatus() == "True"
}

// IsPodAvailable reports a pod has been Ready for at least minReadySeconds
// at now, as upstream's podutil.IsPodAvailable.
func IsPodAvailable(p *corev1.Pod, minReadySeconds int32, now time.Time) bool {
	c := readyCondition(p)
	if c == nil || c.GetStatus() != "True" {
		return false
	}
	if minReadySeconds == 0 {
		return true
	}
	since := c.GetLastTransitionTime()
	if since == nil {
		return false
	}
	return !since.AsTime().Add(time.Duration(minReadySeconds) * time.Second).After(now)
}

// NextAvailableCheck is how long until a Ready but not yet available pod
// becomes available (0 when none is waiting): controllers requeue then.
func NextAvailableCheck(pods []*corev1.Pod, minReadySeconds int32, now time.Time) time.Duration {
	if minReadySeconds == 0 {
		return 0
	}
	var next time.Duration
	for _, p := range pods {
		c := readyCondition(p)
		if c == nil || c.GetStatus() != "True" || c.GetLastTransitionTime() == nil {
			continue
		}
		d := c.GetLastTransitionTime().AsTime().Add(time.Duration(minReadySeconds) * time.Second).Sub(now)
		if d > 0 && (next == 0 || d < next) {
			next = d
		}
	}
	if next > 0 {
		next += 100 * time.Millisecond // be sure it has passed when we look
	}
	return next
}

// PodFromTemplate builds a pod for a workload: the template's labels,
// annotations, finalizers and spec, a generateName of "<owner>-" and the
// owner's controller reference.
func PodFromTemplate(t *corev1.PodTemplateSpec, namespace, ownerName string, ref *metav1.OwnerReference) *corev1.Pod {
	md := t.GetMetadata()
	pod := &corev1.Pod{
		Metadata: &metav1.ObjectMeta{
			GenerateName: PodNamePrefix(ownerName),
			Namespace:    namespace,
			Labels:       maps.Clone(md.GetLabels()),
			Annotations:  maps.Clone(md.GetAnnotations()),
			Finalizers:   append([]string(nil), md.GetFinalizers()...),
		},
		Spec: proto.Clone(t.GetSpec()).(*corev1.PodSpec),
	}
	if pod.Spec == nil {
		pod.Spec = &corev1.PodSpec{}
	}
	if ref != nil {
		pod.Metadata.OwnerReferences = []*metav1.OwnerReference{ref}
	}
	return pod
}

// PodNamePrefix is upstream's getPodsPrefix: "<owner>-", shortened so the
// generated name stays a valid DNS subdomain.
func PodNamePrefix(owner string) string {
	const maxGeneratedNameLength = 63 - 5
	prefix := owner + "-"
	if len(prefix) > maxGeneratedNameLength {
		prefix = prefix[:maxGeneratedNameLength]
	}
	return prefix
}
