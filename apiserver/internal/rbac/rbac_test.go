package rbac

import (
	"testing"

	metav1 "flotilla.io/proto/flotilla/meta/v1"
	rbacv1 "flotilla.io/proto/flotilla/rbac/v1"

	"flotilla.io/apiserver/internal/auth"
)

func bootstrapPolicy(extraRoles []*rbacv1.Role, extraRBs []*rbacv1.RoleBinding, extraCRs ...*rbacv1.ClusterRole) *Policy {
	crs, crbs := Bootstrap()
	return NewPolicy(extraRoles, append(crs, extraCRs...), extraRBs, crbs)
}

func TestPolicyAllows(t *testing.T) {
	alice := &auth.User{Name: "alice", Groups: []string{"developers"}}
	sched := &auth.User{Name: "system:scheduler"}
	node := &auth.User{Name: "system:kubelet", Groups: []string{"system:nodes"}}
	sa := &auth.User{Name: ServiceAccountUser("team-a", "builder")}
	roles := []*rbacv1.Role{{Metadata: &metav1.ObjectMeta{Name: "logs", Namespace: "team-a"}, Rules: []*rbacv1.PolicyRule{
		{ApiGroups: []string{""}, Resources: []string{"pods/log"}, Verbs: []string{"get"}},
		{ApiGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{"settings"}, Verbs: []string{"get"}},
	}}}
	rbs := []*rbacv1.RoleBinding{
		{Metadata: &metav1.ObjectMeta{Name: "a", Namespace: "team-a"}, Subjects: []*rbacv1.Subject{{Kind: "User", Name: "alice"}}, RoleRef: &rbacv1.RoleRef{Kind: "Role", Name: "logs"}},
		{Metadata: &metav1.ObjectMeta{Name: "b", Namespace: "team-a"}, Subjects: []*rbacv1.Subject{{Kind: "ServiceAccount", Name: "builder"}}, RoleRef: &rbacv1.RoleRef{Kind: "ClusterRole", Name: "edit"}},
	}
	p := bootstrapPolicy(roles, rbs)
	cases := []struct {
		a    auth.Attributes
		want bool
	}{
		{auth.Attributes{User: alice, Verb: "get", Resource: "pods", Subresource: "log", Namespace: "team-a"}, true},
		{auth.Attributes{User: alice, Verb: "get", Resource: "pods", Namespace: "team-a"}, false},
		{auth.Attributes{User: alice, Verb: "get", Resource: "pods", Subresource: "log", Namespace: "team-b"}, false},
		{auth.Attributes{User: alice, Verb: "get", Resource: "configmaps", Name: "settings", Namespace: "team-a"}, true},
		{auth.Attributes{User: alice, Verb: "get", Resource: "configmaps", Name: "other", Namespace: "team-a"}, false},
		{auth.Attributes{User: alice, Verb: "list", Resource: "configmaps", Namespace: "team-a"}, false},
		{auth.Attributes{User: sched, Verb: "list", Resource: "pods", Namespace: "x"}, true},
		{auth.Attributes{User: sched, Verb: "create", Resource: "pods", Subresource: "binding", Namespace: "x"}, true},
		{auth.Attributes{User: sched, Verb: "get", APIGroup: "coordination.k8s.io", Resource: "leases", Namespace: "flotilla-system"}, true},
		{auth.Attributes{User: sched, Verb: "get", Resource: "secrets", Namespace: "x"}, false},
		{auth.Attributes{User: node, Verb: "update", Resource: "nodes", Subresource: "status", Name: "n1"}, true},
		{auth.Attributes{User: sa, Verb: "create", APIGroup: "apps", Resource: "deployments", Namespace: "team-a"}, true},
		{auth.Attributes{User: sa, Verb: "get", APIGroup: "apps", Resource: "deployments", Namespace: "team-a"}, true}, // edit aggregates view
		{auth.Attributes{User: sa, Verb: "create", APIGroup: "rbac.authorization.k8s.io", Resource: "roles", Namespace: "team-a"}, false},
		{auth.Attributes{User: &auth.User{Name: "root", Groups: []string{Masters}}, Verb: "delete", Resource: "nodes"}, true},
	}
	for _, tc := range cases {
		if got, why := p.Allows(tc.a); got != tc.want {
			t.Errorf("%s %s %s/%s %s in %q: %v (%s)", tc.a.User.Name, tc.a.Verb, tc.a.Resource, tc.a.Subresource, tc.a.Name, tc.a.Namespace, got, why)
		}
	}
}

func TestCovers(t *testing.T) {
	r := func(verbs, groups, resources, names []string) *rbacv1.PolicyRule {
		return &rbacv1.PolicyRule{Verbs: verbs, ApiGroups: groups, Resources: resources, ResourceNames: names}
	}
	s := func(x ...string) []string { return x }
	cases := []struct {
		owner, servant []*rbacv1.PolicyRule
		want           bool
	}{
		{[]*rbacv1.PolicyRule{r(s("*"), s("*"), s("*"), nil)}, []*rbacv1.PolicyRule{r(s("get"), s(""), s("pods"), nil)}, true},
		{[]*rbacv1.PolicyRule{r(s("get", "list"), s(""), s("pods"), nil)}, []*rbacv1.PolicyRule{r(s("get"), s(""), s("pods"), nil)}, true},
		{[]*rbacv1.PolicyRule{r(s("get"), s(""), s("pods"), nil)}, []*rbacv1.PolicyRule{r(s("*"), s(""), s("pods"), nil)}, false},
		{[]*rbacv1.PolicyRule{r(s("get"), s(""), s("pods"), s("a"))}, []*rbacv1.PolicyRule{r(s("get"), s(""), s("pods"), nil)}, false},
		{[]*rbacv1.PolicyRule{r(s("get"), s(""), s("pods"), nil)}, []*rbacv1.PolicyRule{r(s("get"), s(""), s("pods"), s("a", "b"))}, true},
		{[]*rbacv1.PolicyRule{r(s("get"), s(""), s("*/log"), nil)}, []*rbacv1.PolicyRule{r(s("get"), s(""), s("pods/log"), nil)}, true},
		{[]*rbacv1.PolicyRule{r(s("get"), s(""), s("pods"), nil)}, []*rbacv1.PolicyRule{r(s("get"), s(""), s("pods/log"), nil)}, false},
	}
	for n, tc := range cases {
		if got, _ := Covers(tc.owner, tc.servant); got != tc.want {
			t.Errorf("case %d: %v", n, got)
		}
	}
}
