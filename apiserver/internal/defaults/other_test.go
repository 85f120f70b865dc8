package defaults_test

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"flotilla.io/apiserver/internal/defaults"
	discoveryv1 "flotilla.io/proto/flotilla/discovery/v1"
	rbacv1 "flotilla.io/proto/flotilla/rbac/v1"
	schedulingv1 "flotilla.io/proto/flotilla/scheduling/v1"
)

func TestBindings(t *testing.T) {
	subjects := func() []*rbacv1.Subject {
		return []*rbacv1.Subject{
			{Kind: "User", Name: "jane"},
			{Kind: "Group", Name: "devs"},
			{Kind: "ServiceAccount", Name: "default", Namespace: "ns"},
			{Kind: "User", Name: "bob", ApiGroup: "example.com"},
		}
	}
	want := []*rbacv1.Subject{
		{Kind: "User", Name: "jane", ApiGroup: "rbac.authorization.k8s.io"},
		{Kind: "Group", Name: "devs", ApiGroup: "rbac.authorization.k8s.io"},
		{Kind: "ServiceAccount", Name: "default", Namespace: "ns"},
		{Kind: "User", Name: "bob", ApiGroup: "example.com"},
	}
	rb := &rbacv1.RoleBinding{RoleRef: &rbacv1.RoleRef{Kind: "Role", Name: "r"}, Subjects: subjects()}
	defaults.Apply(rb)
	equal(t, rb, &rbacv1.RoleBinding{RoleRef: &rbacv1.RoleRef{ApiGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "r"}, Subjects: want})

	crb := &rbacv1.ClusterRoleBinding{Subjects: subjects()}
	defaults.Apply(crb)
	equal(t, crb, &rbacv1.ClusterRoleBinding{RoleRef: &rbacv1.RoleRef{ApiGroup: "rbac.authorization.k8s.io"}, Subjects: want})
}

func TestPriorityClass(t *testing.T) {
	pc := &schedulingv1.PriorityClass{Value: 5}
	defaults.Apply(pc)
	equal(t, pc, &schedulingv1.PriorityClass{Value: 5, PreemptionPolicy: proto.String("PreemptLowerPriority")})
	pc = &schedulingv1.PriorityClass{PreemptionPolicy: proto.String("Never")}
	defaults.Apply(pc)
	if pc.GetPreemptionPolicy() != "Never" {
		t.Fatalf("got %v", pc)
	}
}

func TestEndpointSlice(t *testing.T) {
	s := &discoveryv1.EndpointSlice{AddressType: "IPv4", Ports: []*discoveryv1.EndpointPort{
		{Port: proto.Int32(80)},
		{Name: proto.String("dns"), Protocol: proto.String("UDP"), Port: proto.Int32(53)},
	}}
	defaults.Apply(s)
	equal(t, s, &discoveryv1.EndpointSlice{AddressType: "IPv4", Ports: []*discoveryv1.EndpointPort{
		{Name: proto.String(""), Protocol: proto.String("TCP"), Port: proto.Int32(80)},
		{Name: proto.String("dns"), Protocol: proto.String("UDP"), Port: proto.Int32(53)},
	}})
}
