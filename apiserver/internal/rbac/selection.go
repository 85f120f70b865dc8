package rbac

import "k8s.io/apimachinery/pkg/selection"

func selectionOp(op string) selection.Operator {
	switch op {
	case "in":
		return selection.In
	case "notin":
		return selection.NotIn
	case "exists":
		return selection.Exists
	case "!":
		return selection.DoesNotExist
	}
	return selection.Operator(op)
}
