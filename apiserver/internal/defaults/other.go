package defaults

// Defaulting of the rbac, scheduling and discovery kinds, as upstream's
// pkg/apis/{rbac,scheduling,discovery}/v1/defaults.go. Lease has no defaults.

import (
	"google.golang.org/protobuf/proto"

	discoveryv1 "flotilla.io/proto/flotilla/discovery/v1"
	rbacv1 "flotilla.io/proto/flotilla/rbac/v1"
	schedulingv1 "flotilla.io/proto/flotilla/scheduling/v1"
)

const rbacGroupName = "rbac.authorization.k8s.io"

func init() {
	Register("RoleBinding", func(obj proto.Message) {
		b := obj.(*rbacv1.RoleBinding)
		roleBinding(&b.RoleRef, b.Subjects)
	})
	Register("ClusterRoleBinding", func(obj proto.Message) {
		b := obj.(*rbacv1.ClusterRoleBinding)
		roleBinding(&b.RoleRef, b.Subjects)
	})
	Register("PriorityClass", func(obj proto.Message) { PriorityClass(obj.(*schedulingv1.PriorityClass)) })
	Register("EndpointSlice", func(obj proto.Message) { EndpointSlice(obj.(*discoveryv1.EndpointSlice)) })
}

// roleBinding defaults a binding's roleRef apiGroup to rbac.authorization.k8s.io
// and its subjects' apiGroups by kind: rbac.authorization.k8s.io for User and
// Group, "" for ServiceAccount.
func roleBinding(ref **rbacv1.RoleRef, subjects []*rbacv1.Subject) {
	if *ref == nil {
		*ref = &rbacv1.RoleRef{}
	}
	if (*ref).ApiGroup == "" {
		(*ref).ApiGroup = rbacGroupName
	}
	for _, s := range subjects {
		if s.ApiGroup == "" && (s.Kind == "User" || s.Kind == "Group") {
			s.ApiGroup = rbacGroupName
		}
	}
}

// PriorityClass defaults a PriorityClass in place: preemptionPolicy
// PreemptLowerPriority.
func PriorityClass(pc *schedulingv1.PriorityClass) {
	if pc.PreemptionPolicy == nil {
		pc.PreemptionPolicy = proto.String("PreemptLowerPriority")
	}
}

// EndpointSlice defaults an EndpointSlice in place: each port's name "" and
// protocol TCP.
func EndpointSlice(s *discoveryv1.EndpointSlice) {
	for _, p := range s.Ports {
		if p.Name == nil {
			p.Name = proto.String("")
		}
		if p.Protocol == nil {
			p.Protocol = proto.String("TCP")
		}
	}
}
