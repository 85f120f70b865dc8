package kind

import (
	"google.golang.org/protobuf/proto"

	rbacv1 "flotilla.io/proto/flotilla/rbac/v1"
)

func init() {
	for _, i := range []Info{
		{Kind: "Role", Resource: "roles", Namespaced: true, New: func() proto.Message { return &rbacv1.Role{} }},
		{Kind: "RoleBinding", Resource: "rolebindings", Namespaced: true, New: func() proto.Message { return &rbacv1.RoleBinding{} }},
		{Kind: "ClusterRole", Resource: "clusterroles", New: func() proto.Message { return &rbacv1.ClusterRole{} }},
		{Kind: "ClusterRoleBinding", Resource: "clusterrolebindings", New: func() proto.Message { return &rbacv1.ClusterRoleBinding{} }},
	} {
		i.Group, i.Version = "rbac.authorization.k8s.io", "v1"
		Register(i)
	}
}
