package defaults

import (
	corev1 "flotilla.io/proto/flotilla/core/v1"
)

// PodSpec defaults a pod spec in place, as upstream's SetDefaults_PodSpec.
func PodSpec(spec *corev1.PodSpec) {
	if spec == nil {
		return
	}
	if spec.RestartPolicy == "" {
		spec.RestartPolicy = "Always"
	}
	if spec.DnsPolicy == "" {
		spec.DnsPolicy = "ClusterFirst"
	}
}

// PodTemplateSpec defaults a pod template's spec in place.
func PodTemplateSpec(t *corev1.PodTemplateSpec) {
	if t == nil {
		return
	}
	if t.Spec == nil {
		t.Spec = &corev1.PodSpec{}
	}
	PodSpec(t.Spec)
}
