// Package plugins holds the scheduler's filter and score plugins, each a
// pure function of a pod and a snapshot, after upstream kube-scheduler's
// in-tree plugins of the same names.
package plugins

import (
	"slices"
	"strconv"

	corev1 "flotilla.io/proto/flotilla/core/v1"
)

// Taint keys the scheduler itself understands.
const (
	TaintNodeUnschedulable = "node.kubernetes.io/unschedulable"
	TaintNodeNotReady      = "node.kubernetes.io/not-ready"
	TaintNodeUnreachable   = "node.kubernetes.io/unreachable"
)

// Tolerates reports whether toleration t tolerates taint, as upstream's
// Toleration.ToleratesTaint (Gt and Lt compare integer values).
func Tolerates(t *corev1.Toleration, taint *corev1.Taint) bool {
	if t.GetEffect() != "" && t.GetEffect() != taint.GetEffect() {
		return false
	}
	if t.GetKey() != "" && t.GetKey() != taint.GetKey() {
		return false
	}
	switch t.GetOperator() {
	case "", "Equal":
		return t.GetValue() == taint.GetValue()
	case "Exists":
		return true
	case "Gt", "Lt":
		tv, err1 := strconv.ParseInt(t.GetValue(), 10, 64)
		nv, err2 := strconv.ParseInt(taint.GetValue(), 10, 64)
		if err1 != nil || err2 != nil {
			return false
		}
		if t.GetOperator() == "Gt" {
			return nv > tv
		}
		return nv < tv
	}
	return false
}

// TaintTolerated reports whether any toleration tolerates the taint.
func TaintTolerated(ts []*corev1.Toleration, taint *corev1.Taint) bool {
	return slices.ContainsFunc(ts, func(t *corev1.Toleration) bool { return Tolerates(t, taint) })
}

// FirstUntolerated returns the first taint with one of effects that no
// toleration tolerates.
func FirstUntolerated(taints []*corev1.Taint, ts []*corev1.Toleration, effects ...string) *corev1.Taint {
	for _, taint := range taints {
		if slices.Contains(effects, taint.GetEffect()) && !TaintTolerated(ts, taint) {
			return taint
		}
	}
	return nil
}

// MatchNodeSelectorTerms reports whether the node matches any term (terms
// are ORed; an empty term matches nothing).
func MatchNodeSelectorTerms(node *corev1.Node, terms []*corev1.NodeSelectorTerm) bool {
	for _, t := range terms {
		if MatchNodeSelectorTerm(node, t) {
			return true
		}
	}
	return false
}

// MatchNodeSelectorTerm reports whether the node meets every requirement of
// the term; match_fields only know metadata.name.
func MatchNodeSelectorTerm(node *corev1.Node, t *corev1.NodeSelectorTerm) bool {
	if len(t.GetMatchExpressions()) == 0 && len(t.GetMatchFields()) == 0 {
		return false
	}
	lbls := node.GetMetadata().GetLabels()
	for _, r := range t.GetMatchExpressions() {
		v, ok := lbls[r.GetKey()]
		if !matchRequirement(r, v, ok) {
			return false
		}
	}
	for _, r := range t.GetMatchFields() {
		if r.GetKey() != "metadata.name" || !matchRequirement(r, node.GetMetadata().GetName(), true) {
			return false
		}
	}
	return true
}

func matchRequirement(r *corev1.NodeSelectorRequirement, v string, has bool) bool {
	switch r.GetOperator() {
	case "In":
		return has && slices.Contains(r.GetValues(), v)
	case "NotIn":
		return !has || !slices.Contains(r.GetValues(), v)
	case "Exists":
		return has
	case "DoesNotExist":
		return !has
	case "Gt", "Lt":
		if !has || len(r.GetValues()) != 1 {
			return false
		}
		nv, err1 := strconv.ParseInt(v, 10, 64)
		rv, err2 := strconv.ParseInt(r.GetValues()[0], 10, 64)
		if err1 != nil || err2 != nil {
			return false
		}
		if r.GetOperator() == "Gt" {
			return nv > rv
		}
		return nv < rv
	}
	return false
}

// MatchesNodeSelectorAndAffinity reports whether the node satisfies the
// pod's nodeSelector and required node affinity.
func MatchesNodeSelectorAndAffinity(pod *corev1.Pod, node *corev1.Node) bool {
	lbls := node.GetMetadata().GetLabels()
	for k, v := range pod.GetSpec().GetNodeSelector() {
		if lv, ok := lbls[k]; !ok || lv != v {
			return false
		}
	}
	req := pod.GetSpec().GetAffinity().GetNodeAffinity().GetRequiredDuringSchedulingIgnoredDuringExecution()
	if req == nil {
		return true
	}
	return MatchNodeSelectorTerms(node, req.GetNodeSelectorTerms())
}

func taintOf(key, effect string) *corev1.Taint { return &corev1.Taint{Key: key, Effect: effect} }
