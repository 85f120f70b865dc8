package framework

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	"flotilla.io/sdk/informer"
)

// PodInfo is a pod with what the plugins need computed once: requests,
// priority and parsed affinity terms. The pod it holds is shared with the
// informer cache: never mutate it.
type PodInfo struct {
	Pod *corev1.Pod
	// Key is namespace/name.
	Key string
	// Requests is what the pod needs on a node (see PodRequests).
	Requests Resource
	// NonZeroCPU and NonZeroMemory are the requests used for scoring.
	NonZeroCPU, NonZeroMemory int64
	// Priority is the pod's priority (spec.priority or its class's value).
	Priority int32
	// Created orders pods of equal priority in the queue.
	Created time.Time

	RequiredAffinity      []AffinityTerm
	RequiredAntiAffinity  []AffinityTerm
	PreferredAffinity     []AffinityTerm
	PreferredAntiAffinity []AffinityTerm
	// ParseErr reports a selector that could not be parsed; the pod is then
	// unschedulable.
	ParseErr error
}

// AffinityTerm is a parsed PodAffinityTerm: which pods (selector, in which
// namespaces) within which topology domain.
type AffinityTerm struct {
	Selector          labels.Selector
	Namespaces        map[string]bool
	NamespaceSelector labels.Selector // nil: only Namespaces
	TopologyKey       string
	Weight            int32
}

// NamespaceLabels gives a namespace's labels (for namespaceSelector).
type NamespaceLabels func(namespace string) labels.Set

// Matches reports whether pod p falls under the term.
func (t *AffinityTerm) Matches(p *PodInfo, nsLabels NamespaceLabels) bool {
	ns := p.Pod.GetMetadata().GetNamespace()
	if !t.Namespaces[ns] {
		if t.NamespaceSelector == nil || nsLabels == nil || !t.NamespaceSelector.Matches(nsLabels(ns)) {
			return false
		}
	}
	return t.Selector.Matches(labels.Set(p.Pod.GetMetadata().GetLabels()))
}

// NewPodInfo precomputes a pod's scheduling view.
func NewPodInfo(pod *corev1.Pod) *PodInfo {
	md := pod.GetMetadata()
	pi := &PodInfo{
		Pod:      pod,
		Key:      md.GetNamespace() + "/" + md.GetName(),
		Requests: PodRequests(pod.GetSpec(), false),
		Priority: pod.GetSpec().GetPriority(),
		Created:  md.GetCreationTimestamp().AsTime(),
	}
	nz := PodRequests(pod.GetSpec(), true)
	pi.NonZeroCPU, pi.NonZeroMemory = nz.MilliCPU, nz.Memory
	aff := pod.GetSpec().GetAffinity()
	var err error
	add := func(dst *[]AffinityTerm, t *corev1.PodAffinityTerm, w int32) {
		if err != nil || t == nil {
			return
		}
		var at AffinityTerm
		at, err = newAffinityTerm(pod, t, w)
		*dst = append(*dst, at)
	}
	for _, t := range aff.GetPodAffinity().GetRequiredDuringSchedulingIgnoredDuringExecution() {
		add(&pi.RequiredAffinity, t, 0)
	}
	for _, t := range aff.GetPodAntiAffinity().GetRequiredDuringSchedulingIgnoredDuringExecution() {
		add(&pi.RequiredAntiAffinity, t, 0)
	}
	for _, t := range aff.GetPodAffinity().GetPreferredDuringSchedulingIgnoredDuringExecution() {
		add(&pi.PreferredAffinity, t.GetPodAffinityTerm(), t.GetWeight())
	}
	for _, t := range aff.GetPodAntiAffinity().GetPreferredDuringSchedulingIgnoredDuringExecution() {
		add(&pi.PreferredAntiAffinity, t.GetPodAffinityTerm(), t.GetWeight())
	}
	pi.ParseErr = err
	return pi
}

// HasAffinity reports whether the pod has any pod (anti-)affinity term.
func (p *PodInfo) HasAffinity() bool {
	return len(p.RequiredAffinity)+len(p.RequiredAntiAffinity)+len(p.PreferredAffinity)+len(p.PreferredAntiAffinity) > 0
}

// Terminating reports whether the pod is being deleted.
func (p *PodInfo) Terminating() bool { return p.Pod.GetMetadata().GetDeletionTimestamp() != nil }

func newAffinityTerm(pod *corev1.Pod, t *corev1.PodAffinityTerm, weight int32) (AffinityTerm, error) {
	sel, err := informer.Selector(t.GetLabelSelector())
	if err != nil {
		return AffinityTerm{}, fmt.Errorf("pod affinity term: %w", err)
	}
	// matchLabelKeys and mismatchLabelKeys narrow the selector with the
	// declaring pod's own label values, as upstream.
	podLabels := pod.GetMetadata().GetLabels()
	for _, k := range t.GetMatchLabelKeys() {
		if v, ok := podLabels[k]; ok {
			r, err := labels.NewRequirement(k, selection.In, []string{v})
			if err != nil {
				return AffinityTerm{}, err
			}
			sel = sel.Add(*r)
		}
	}
	for _, k := range t.GetMismatchLabelKeys() {
		if v, ok := podLabels[k]; ok {
			r, err := labels.NewRequirement(k, selection.NotIn, []string{v})
			if err != nil {
				return AffinityTerm{}, err
			}
			sel = sel.Add(*r)
		}
	}
	at := AffinityTerm{Selector: sel, TopologyKey: t.GetTopologyKey(), Weight: weight, Namespaces: map[string]bool{}}
	for _, ns := range t.GetNamespaces() {
		at.Namespaces[ns] = true
	}
	if t.GetNamespaceSelector() != nil {
		if at.NamespaceSelector, err = informer.Selector(t.GetNamespaceSelector()); err != nil {
			return AffinityTerm{}, fmt.Errorf("namespaceSelector: %w", err)
		}
	} else if len(at.Namespaces) == 0 {
		at.Namespaces[pod.GetMetadata().GetNamespace()] = true
	}
	return at, nil
}
