package informer

import (
	"fmt"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"

	metav1 "flotilla.io/proto/flotilla/meta/v1"
)

// Selector converts a workload's structured label selector (ReplicaSet,
// Deployment, ... spec.selector) into one Lister.List accepts. As upstream, a
// nil selector matches nothing and an empty one everything.
func Selector(ls *metav1.LabelSelector) (labels.Selector, error) {
	if ls == nil {
		return labels.Nothing(), nil
	}
	sel := labels.NewSelector()
	for k, v := range ls.GetMatchLabels() {
		r, err := labels.NewRequirement(k, selection.Equals, []string{v})
		if err != nil {
			return nil, fmt.Errorf("matchLabels: %w", err)
		}
		sel = sel.Add(*r)
	}
	for i, e := range ls.GetMatchExpressions() {
		var op selection.Operator
		switch e.GetOperator() {
		case "In":
			op = selection.In
		case "NotIn":
			op = selection.NotIn
		case "Exists":
			op = selection.Exists
		case "DoesNotExist":
			op = selection.DoesNotExist
		default:
			return nil, fmt.Errorf("matchExpressions[%d].operator: %q is not In, NotIn, Exists or DoesNotExist", i, e.GetOperator())
		}
		r, err := labels.NewRequirement(e.GetKey(), op, e.GetValues())
		if err != nil {
			return nil, fmt.Errorf("matchExpressions[%d]: %w", i, err)
		}
		sel = sel.Add(*r)
	}
	return sel, nil
}
