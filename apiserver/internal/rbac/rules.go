// Package rbac authorizes requests with Role, ClusterRole, RoleBinding and
// ClusterRoleBinding objects, as upstream's RBAC authorizer does, and keeps
// users from granting permissions they do not hold themselves.
package rbac

import (
	"strings"

	rbacv1 "flotilla.io/proto/flotilla/rbac/v1"

	"flotilla.io/apiserver/internal/auth"
)

// Masters is the group that is always allowed everything.
const Masters = "system:masters"

// RuleAllows reports whether one policy rule covers a request.
func RuleAllows(r *rbacv1.PolicyRule, a auth.Attributes) bool {
	return has(r.Verbs, a.Verb) &&
		has(r.ApiGroups, a.APIGroup) &&
		resourceMatches(r.Resources, a.Resource, a.Subresource) &&
		(len(r.ResourceNames) == 0 || (a.Name != "" && has(r.ResourceNames, a.Name)))
}

// RulesAllow reports whether any rule covers a request.
func RulesAllow(rules []*rbacv1.PolicyRule, a auth.Attributes) bool {
	for _, r := range rules {
		if RuleAllows(r, a) {
			return true
		}
	}
	return false
}

func has(list []string, want string) bool {
	for _, x := range list {
		if x == "*" || x == want {
			return true
		}
	}
	return false
}

// resourceMatches follows upstream: "pods" covers pods only, "pods/log" the
// subresource, "*" everything, "*/scale" one subresource of every resource.
func resourceMatches(list []string, resource, sub string) bool {
	full := resource
	if sub != "" {
		full = resource + "/" + sub
	}
	for _, x := range list {
		switch {
		case x == "*", x == full:
			return true
		case sub != "" && x == "*/"+sub:
			return true
		case sub != "" && x == resource+"/*":
			return true
		}
	}
	return false
}

// AppliesTo reports whether a binding subject names the user.
func AppliesTo(s *rbacv1.Subject, u *auth.User, bindingNamespace string) bool {
	switch s.Kind {
	case "User":
		return s.Name == u.Name
	case "Group":
		for _, g := range u.Groups {
			if g == s.Name {
				return true
			}
		}
	case "ServiceAccount":
		ns := s.Namespace
		if ns == "" {
			ns = bindingNamespace
		}
		return u.Name == ServiceAccountUser(ns, s.Name)
	}
	return false
}

// ServiceAccountUser is the user name of a service account.
func ServiceAccountUser(namespace, name string) string {
	return "system:serviceaccount:" + namespace + ":" + name
}

// ParseServiceAccountUser splits a service account user name.
func ParseServiceAccountUser(user string) (namespace, name string, ok bool) {
	rest, ok := strings.CutPrefix(user, "system:serviceaccount:")
	if !ok {
		return "", "", false
	}
	namespace, name, ok = strings.Cut(rest, ":")
	return namespace, name, ok && namespace != "" && name != ""
}
