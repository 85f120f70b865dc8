package daemonset

import (
	"hash/fnv"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	appsv1 "flotilla.io/proto/flotilla/apps/v1"
	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"

	"flotilla.io/controller-manager/internal/controllerutil"
)

// revisionLabel carries the hash of the pod template a pod was made from;
// there is no ControllerRevision kind, so the hash is the revision.
const revisionLabel = "controller-revision-hash"

// templateHash is the revision of a pod template: a hash of its
// deterministic encoding.
func templateHash(t *corev1.PodTemplateSpec) string {
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(t)
	h := fnv.New32a()
	h.Write(b)
	return strconv.FormatUint(uint64(h.Sum32()), 36)
}

// defaultTolerations are the tolerations upstream adds to every daemon pod,
// so daemons keep running on nodes that are unready, unreachable, under
// pressure or cordoned.
func defaultTolerations(hostNetwork bool) []*corev1.Toleration {
	t := []*corev1.Toleration{
		{Key: "node.kubernetes.io/not-ready", Operator: "Exists", Effect: "NoExecute"},
		{Key: "node.kubernetes.io/unreachable", Operator: "Exists", Effect: "NoExecute"},
		{Key: "node.kubernetes.io/disk-pressure", Operator: "Exists", Effect: "NoSchedule"},
		{Key: "node.kubernetes.io/memory-pressure", Operator: "Exists", Effect: "NoSchedule"},
		{Key: "node.kubernetes.io/pid-pressure", Operator: "Exists", Effect: "NoSchedule"},
		{Key: "node.kubernetes.io/unschedulable", Operator: "Exists", Effect: "NoSchedule"},
	}
	if hostNetwork {
		t = append(t, &corev1.Toleration{Key: "node.kubernetes.io/network-unavailable", Operator: "Exists", Effect: "NoSchedule"})
	}
	return t
}

// podTolerations is the template's tolerations plus the defaults it lacks.
func podTolerations(spec *corev1.PodSpec) []*corev1.Toleration {
	out := slices.Clone(spec.GetTolerations())
	for _, d := range defaultTolerations(spec.GetHostNetwork()) {
		if !slices.ContainsFunc(out, func(t *corev1.Toleration) bool { return t.Key == d.Key && t.Effect == d.Effect }) {
			out = append(out, d)
		}
	}
	return out
}

func tolerates(t *corev1.Toleration, taint *corev1.Taint) bool {
	if t.Effect != "" && t.Effect != taint.Effect {
		return false
	}
	if t.Key == "" {
		return t.Operator == "Exists"
	}
	if t.Key != taint.Key {
		return false
	}
	switch t.Operator {
	case "Exists":
		return true
	case "", "Equal":
		return t.Value == taint.Value
	}
	return false
}

// shouldRun reports whether a daemon pod belongs on node: the template's
// nodeSelector and required node affinity match, and every NoSchedule and
// NoExecute taint is tolerated (with the default daemon tolerations).
func shouldRun(spec *corev1.PodSpec, node *corev1.Node) bool {
	labels := node.GetMetadata().GetLabels()
	for k, v := range spec.GetNodeSelector() {
		if labels[k] != v {
			return false
		}
	}
	if req := spec.GetAffinity().GetNodeAffinity().GetRequiredDuringSchedulingIgnoredDuringExecution(); req != nil && !matchesNodeSelector(req, node) {
		return false
	}
	tols := podTolerations(spec)
	for _, taint := range node.GetSpec().GetTaints() {
		if taint.Effect != "NoSchedule" && taint.Effect != "NoExecute" {
			continue
		}
		if !slices.ContainsFunc(tols, func(t *corev1.Toleration) bool { return tolerates(t, taint) }) {
			return false
		}
	}
	return true
}

// matchesNodeSelector: the terms are ORed, requirements in a term ANDed.
func matchesNodeSelector(sel *corev1.NodeSelector, node *corev1.Node) bool {
	for _, term := range sel.GetNodeSelectorTerms() {
		if len(term.MatchExpressions)+len(term.MatchFields) == 0 {
			continue
		}
		ok := true
		for _, r := range term.MatchExpressions {
			v, has := node.GetMetadata().GetLabels()[r.Key]
			ok = ok && requirementMatches(r, v, has)
		}
		for _, r := range term.MatchFields {
			ok = ok && r.Key == "metadata.name" && requirementMatches(r, node.GetMetadata().GetName(), true)
		}
		if ok {
			return true
		}
	}
	return false
}

func requirementMatches(r *corev1.NodeSelectorRequirement, v string, has bool) bool {
	switch r.Operator {
	case "In":
		return has && slices.Contains(r.Values, v)
	case "NotIn":
		return !has || !slices.Contains(r.Values, v)
	case "Exists":
		return has
	case "DoesNotExist":
		return !has
	case "Gt", "Lt":
		if !has || len(r.Values) != 1 {
			return false
		}
		a, err1 := strconv.ParseInt(v, 10, 64)
		b, err2 := strconv.ParseInt(r.Values[0], 10, 64)
		if err1 != nil || err2 != nil {
			return false
		}
		return (r.Operator == "Gt" && a > b) || (r.Operator == "Lt" && a < b)
	}
	return false
}

// scaledValue resolves an int-or-percent against total, rounding a percent
// up when roundUp (maxSurge, maxUnavailable do as upstream).
func scaledValue(v *metav1.IntOrString, total int, roundUp bool) int {
	if v == nil {
		return 0
	}
	if v.Type == 0 {
		return int(v.IntVal)
	}
	pct, err := strconv.Atoi(strings.TrimSuffix(v.StrVal, "%"))
	if err != nil {
		return 0
	}
	f := float64(pct*total) / 100
	if roundUp {
		return int(math.Ceil(f))
	}
	return int(math.Floor(f))
}

// plan is what one sync of a DaemonSet does.
type plan struct {
	create  []string      // node names
	remove  []*corev1.Pod // pods to delete
	status  *appsv1.DaemonSetStatus
	requeue time.Duration
}

// decide computes the pods to create and delete and the status, given every
// node and the DaemonSet's pods grouped by node.
func decide(ds *appsv1.DaemonSet, nodes []*corev1.Node, pods []*corev1.Pod, now time.Time) plan {
	spec := ds.GetSpec()
	hash := templateHash(spec.GetTemplate())
	byNode := map[string][]*corev1.Pod{}
	for _, p := range pods {
		byNode[p.GetSpec().GetNodeName()] = append(byNode[p.GetSpec().GetNodeName()], p)
	}
	var p plan
	st := &appsv1.DaemonSetStatus{ObservedGeneration: ds.GetMetadata().GetGeneration(), CollisionCount: nil, Conditions: ds.GetStatus().GetConditions()}
	if cc := ds.GetStatus(); cc != nil {
		st.CollisionCount = cc.CollisionCount
	}
	p.status = st
	minReady := spec.GetMinReadySeconds()
	available := func(pod *corev1.Pod) bool { return controllerutil.IsPodAvailable(pod, minReady, now) }
	isNew := func(pod *corev1.Pod) bool { return pod.GetMetadata().GetLabels()[revisionLabel] == hash }

	rolling := spec.GetUpdateStrategy().GetType() != "OnDelete"
	type wanted struct {
		node     string
		old, new []*corev1.Pod // active pods on the node
	}
	var want []wanted
	seen := map[string]bool{}
	nodes = slices.Clone(nodes)
	sort.Slice(nodes, func(a, b int) bool { return nodes[a].Metadata.Name < nodes[b].Metadata.Name })
	for _, n := range nodes {
		name := n.Metadata.Name
		seen[name] = true
		var active []*corev1.Pod
		for _, pod := range byNode[name] {
			switch {
			case pod.GetStatus().GetPhase() == "Failed" && pod.Metadata.DeletionTimestamp == nil:
				p.remove = append(p.remove, pod) // replaced on the next sync
			case controllerutil.IsPodActive(pod):
				active = append(active, pod)
			}
		}
		if !shouldRun(spec.GetTemplate().GetSpec(), n) {
			if len(active) > 0 {
				st.NumberMisscheduled++
				p.remove = append(p.remove, active...)
			}
			continue
		}
		st.DesiredNumberScheduled++
		w := wanted{node: name}
		for _, pod := range active {
			if isNew(pod) {
				w.new = append(w.new, pod)
			} else {
				w.old = append(w.old, pod)
			}
		}
		want = append(want, w)
	}
	// Pods on nodes that no longer exist.
	for node, ps := range byNode {
		if !seen[node] {
			for _, pod := range ps {
				if pod.Metadata.DeletionTimestamp == nil {
					p.remove = append(p.remove, pod)
				}
			}
		}
	}

	desired := int(st.DesiredNumberScheduled)
	ru := spec.GetUpdateStrategy().GetRollingUpdate()
	maxSurge := scaledValue(ru.GetMaxSurge(), desired, true)
	maxUnavailable := scaledValue(ru.GetMaxUnavailable(), desired, true)
	if maxSurge == 0 && maxUnavailable == 0 {
		maxUnavailable = 1
	}
	if !rolling {
		maxSurge, maxUnavailable = 0, 0
	}

	// Count what is unavailable now, then spend the budget.
	unavailable := 0
	for _, w := range want {
		all := append(slices.Clone(w.new), w.old...)
		if !slices.ContainsFunc(all, available) {
			unavailable++
		}
	}
	surging := 0
	for _, w := range want {
		if len(w.new) > 0 && len(w.old) > 0 {
			surging++
		}
	}
	for _, w := range want {
		switch {
		case len(w.new)+len(w.old) == 0:
			p.create = append(p.create, w.node)
		case len(w.new) > 1:
			p.remove = append(p.remove, keepOldest(w.new)...)
		}
		if len(w.old) > 1 && len(w.new) == 0 {
			p.remove = append(p.remove, keepOldest(w.old)...)
			w.old = w.old[:1]
		}
		if !rolling || len(w.old) == 0 {
			continue
		}
		switch {
		case len(w.new) > 0:
			// Surge in progress: the old pod goes once the new one is available.
			if slices.ContainsFunc(w.new, available) {
				p.remove = append(p.remove, w.old...)
			}
		case !slices.ContainsFunc(w.old, available):
			// Already unavailable: replacing it costs nothing.
			p.remove = append(p.remove, w.old...)
		case maxSurge > 0:
			if surging < maxSurge {
				surging++
				p.create = append(p.create, w.node)
			}
		case unavailable < maxUnavailable:
			unavailable++
			p.remove = append(p.remove, w.old...)
		}
	}

	for _, w := range want {
		all := append(slices.Clone(w.new), w.old...)
		if len(all) == 0 {
			continue
		}
		st.CurrentNumberScheduled++
		if slices.ContainsFunc(all, controllerutil.IsPodReady) {
			st.NumberReady++
		}
		if slices.ContainsFunc(all, available) {
			st.NumberAvailable++
		}
		if len(w.new) > 0 {
			st.UpdatedNumberScheduled++
		}
	}
	st.NumberUnavailable = st.DesiredNumberScheduled - st.NumberAvailable
	p.requeue = controllerutil.NextAvailableCheck(pods, minReady, now)
	return p
}

// keepOldest returns all but the oldest pod (the extras to delete).
func keepOldest(pods []*corev1.Pod) []*corev1.Pod {
	s := slices.Clone(pods)
	sort.Slice(s, func(a, b int) bool {
		return s[a].Metadata.GetCreationTimestamp().AsTime().Before(s[b].Metadata.GetCreationTimestamp().AsTime())
	})
	return s[1:]
}

// newPod is the daemon pod for node: the template, pinned to the node both by
// spec.nodeName (so it runs without a scheduler) and, as upstream does, by a
// required node affinity on metadata.name, with the default tolerations.
func newPod(ds *appsv1.DaemonSet, node string) *corev1.Pod {
	pod := controllerutil.PodFromTemplate(ds.GetSpec().GetTemplate(), ds.Metadata.Namespace, ds.Metadata.Name,
		controllerutil.ControllerRef(ds.Metadata, "apps/v1", "DaemonSet"))
	if pod.Metadata.Labels == nil {
		pod.Metadata.Labels = map[string]string{}
	}
	pod.Metadata.Labels[revisionLabel] = templateHash(ds.GetSpec().GetTemplate())
	spec := pod.Spec
	spec.NodeName = node
	spec.Tolerations = podTolerations(spec)
	if spec.Affinity == nil {
		spec.Affinity = &corev1.Affinity{}
	}
	if spec.Affinity.NodeAffinity == nil {
		spec.Affinity.NodeAffinity = &corev1.NodeAffinity{}
	}
	spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution = &corev1.NodeSelector{
		NodeSelectorTerms: []*corev1.NodeSelectorTerm{{MatchFields: []*corev1.NodeSelectorRequirement{{
			Key: "metadata.name", Operator: "In", Values: []string{node},
		}}}},
	}
	return pod
}
