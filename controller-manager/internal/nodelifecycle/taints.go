package nodelifecycle

import (
	"slices"
	"strconv"
	"time"

	corev1 "flotilla.io/proto/flotilla/core/v1"
)

// Upstream's well-known node taints.
const (
	TaintNotReady           = "node.kubernetes.io/not-ready"
	TaintUnreachable        = "node.kubernetes.io/unreachable"
	TaintUnschedulable      = "node.kubernetes.io/unschedulable"
	TaintMemoryPressure     = "node.kubernetes.io/memory-pressure"
	TaintDiskPressure       = "node.kubernetes.io/disk-pressure"
	TaintPIDPressure        = "node.kubernetes.io/pid-pressure"
	TaintNetworkUnavailable = "node.kubernetes.io/network-unavailable"

	NoExecute  = "NoExecute"
	NoSchedule = "NoSchedule"
)

// readyStatus is the node's Ready condition status ("True", "False",
// "Unknown"), "" when it has none yet.
func readyStatus(n *corev1.Node) string {
	for _, c := range n.GetStatus().GetConditions() {
		if c.GetType() == "Ready" {
			return c.GetStatus()
		}
	}
	return ""
}

// noExecuteTaint is the NoExecute taint a Ready status calls for, "" for none.
func noExecuteTaint(ready string) string {
	switch ready {
	case "False":
		return TaintNotReady
	case "Unknown":
		return TaintUnreachable
	}
	return ""
}

// noScheduleTaints are upstream's TaintNodesByCondition taints.
func noScheduleTaints(n *corev1.Node) []string {
	var out []string
	for _, c := range n.GetStatus().GetConditions() {
		switch {
		case c.GetType() == "Ready" && c.GetStatus() == "False":
			out = append(out, TaintNotReady)
		case c.GetType() == "Ready" && c.GetStatus() == "Unknown":
			out = append(out, TaintUnreachable)
		case c.GetType() == "MemoryPressure" && c.GetStatus() == "True":
			out = append(out, TaintMemoryPressure)
		case c.GetType() == "DiskPressure" && c.GetStatus() == "True":
			out = append(out, TaintDiskPressure)
		case c.GetType() == "PIDPressure" && c.GetStatus() == "True":
			out = append(out, TaintPIDPressure)
		case c.GetType() == "NetworkUnavailable" && c.GetStatus() == "True":
			out = append(out, TaintNetworkUnavailable)
		}
	}
	if n.GetSpec().GetUnschedulable() {
		out = append(out, TaintUnschedulable)
	}
	slices.Sort(out)
	return out
}

// managed reports a taint this controller owns (key and effect).
func managed(t *corev1.Taint) bool {
	switch t.GetKey() {
	case TaintNotReady, TaintUnreachable:
		return t.GetEffect() == NoExecute || t.GetEffect() == NoSchedule
	case TaintUnschedulable, TaintMemoryPressure, TaintDiskPressure, TaintPIDPressure, TaintNetworkUnavailable:
		return t.GetEffect() == NoSchedule
	}
	return false
}

// Tolerates is upstream's Toleration.ToleratesTaint.
func Tolerates(tol *corev1.Toleration, taint *corev1.Taint) bool {
	if tol.GetEffect() != "" && tol.GetEffect() != taint.GetEffect() {
		return false
	}
	if tol.GetKey() != "" && tol.GetKey() != taint.GetKey() {
		return false
	}
	switch tol.GetOperator() {
	case "", "Equal":
		return tol.GetKey() != "" && tol.GetValue() == taint.GetValue()
	case "Exists":
		return true
	case "Gt", "Lt":
		tv, err1 := strconv.ParseInt(tol.GetValue(), 10, 64)
		nv, err2 := strconv.ParseInt(taint.GetValue(), 10, 64)
		if err1 != nil || err2 != nil {
			return false
		}
		if tol.GetOperator() == "Gt" {
			return nv > tv
		}
		return nv < tv
	}
	return false
}

// EvictAt decides the fate of a pod on a node with these NoExecute taints:
// evicted at once when a taint is not tolerated; otherwise when the
// shortest tolerationSeconds of the tolerations of some taint runs out,
// counted from when that taint was added; never (ok false) when every
// taint is tolerated forever.
func EvictAt(taints []*corev1.Taint, tolerations []*corev1.Toleration, now time.Time) (time.Time, bool) {
	var at time.Time
	found := false
	for _, taint := range taints {
		if taint.GetEffect() != NoExecute {
			continue
		}
		var limit *int64
		tolerated := false
		for _, tol := range tolerations {
			if !Tolerates(tol, taint) {
				continue
			}
			tolerated = true
			if s := tol.TolerationSeconds; s != nil && (limit == nil || *s < *limit) {
				limit = s
			}
		}
		if !tolerated {
			return now, true
		}
		if limit == nil {
			continue
		}
		added := now
		if ta := taint.GetTimeAdded(); ta != nil {
			added = ta.AsTime()
		}
		t := added.Add(time.Duration(max(*limit, 0)) * time.Second)
		if !found || t.Before(at) {
			at, found = t, true
		}
	}
	return at, found
}
