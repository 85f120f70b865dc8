// Package admission changes objects on create the way upstream's default
// admission plugins do, after defaulting and before validation.
package admission

import (
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	corev1 "flotilla.io/proto/flotilla/core/v1"
)

// DefaultTolerationSeconds is how long pods stay on a node that became
// not-ready or unreachable before they are evicted (upstream's 300 s).
const DefaultTolerationSeconds = 300

// Options tune the plugins (the apiserver's --default-*-toleration-seconds).
type Options struct {
	// NotReadyTolerationSeconds and UnreachableTolerationSeconds bound the
	// tolerations added for the not-ready and unreachable taints; 0 means
	// DefaultTolerationSeconds.
	NotReadyTolerationSeconds, UnreachableTolerationSeconds int64
}

// Admit applies the create-time admission plugins to obj with the default
// options.
func Admit(obj proto.Message) { Options{}.Admit(obj) }

// Admit applies the create-time admission plugins to obj.
func (o Options) Admit(obj proto.Message) {
	switch obj := obj.(type) {
	case *corev1.Pod:
		o.defaultTolerations(obj)
	case *corev1.Node:
		StampTaints(obj, time.Now())
	}
}

// StampTaints sets timeAdded on NoExecute taints that lack it, as upstream's
// apiserver does on node writes: evictions count from it.
func StampTaints(n *corev1.Node, now time.Time) {
	for _, t := range n.GetSpec().GetTaints() {
		if t.Effect == "NoExecute" && t.TimeAdded == nil {
			t.TimeAdded = timestamppb.New(now.Truncate(time.Second))
		}
	}
}

// defaultTolerations is upstream's DefaultTolerationSeconds plugin: a pod
// that does not tolerate the not-ready and unreachable NoExecute taints gets
// tolerations for them bounded to 300 s (by default), so the node lifecycle
// controller evicts it five minutes after its node is lost.
func (o Options) defaultTolerations(pod *corev1.Pod) {
	if pod.Spec == nil {
		return
	}
	for _, t := range []struct {
		key     string
		seconds int64
	}{
		{"node.kubernetes.io/not-ready", o.NotReadyTolerationSeconds},
		{"node.kubernetes.io/unreachable", o.UnreachableTolerationSeconds},
	} {
		if tolerates(pod.Spec.Tolerations, t.key) {
			continue
		}
		if t.seconds <= 0 {
			t.seconds = DefaultTolerationSeconds
		}
		pod.Spec.Tolerations = append(pod.Spec.Tolerations, &corev1.Toleration{
			Key: t.key, Operator: "Exists", Effect: "NoExecute", TolerationSeconds: proto.Int64(t.seconds),
		})
	}
}

// tolerates reports whether some toleration covers key:NoExecute.
func tolerates(ts []*corev1.Toleration, key string) bool {
	for _, t := range ts {
		keyOK := t.Key == key || (t.Key == "" && t.Operator == "Exists")
		effectOK := t.Effect == "" || t.Effect == "NoExecute"
		if keyOK && effectOK {
			return true
		}
	}
	return false
}
