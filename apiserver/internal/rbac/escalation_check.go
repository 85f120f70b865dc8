package rbac

import (
	"context"
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	rbacv1 "flotilla.io/proto/flotilla/rbac/v1"

	"flotilla.io/apiserver/internal/auth"
)

// CheckEscalation refuses a write of an RBAC object that would grant more
// than the writer holds, unless the writer may "escalate" (roles) or "bind"
// (bindings) as upstream allows.
func (a *Authorizer) CheckEscalation(ctx context.Context, obj proto.Message) error {
	u := auth.UserFrom(ctx)
	if u == nil {
		return status.Error(codes.PermissionDenied, "no user")
	}
	for _, g := range u.Groups {
		if g == Masters {
			return nil
		}
	}
	p := a.Policy()
	allowed := func(verb, resource, ns, name string) bool {
		ok, _ := p.Allows(auth.Attributes{User: u, Verb: verb, APIGroup: "rbac.authorization.k8s.io", Resource: resource, Namespace: ns, Name: name})
		return ok
	}
	var (
		rules              []*rbacv1.PolicyRule
		ns, name, resource string
	)
	switch o := obj.(type) {
	case *rbacv1.Role:
		ns, name, resource, rules = o.GetMetadata().GetNamespace(), o.GetMetadata().GetName(), "roles", o.Rules
		if allowed("escalate", resource, ns, name) {
			return nil
		}
	case *rbacv1.ClusterRole:
		name, resource, rules = o.GetMetadata().GetName(), "clusterroles", o.Rules
		if allowed("escalate", resource, "", name) {
			return nil
		}
	case *rbacv1.RoleBinding:
		ns, name, resource = o.GetMetadata().GetNamespace(), o.GetMetadata().GetName(), "rolebindings"
		ref := o.GetRoleRef()
		refResource := "roles"
		if ref.GetKind() == "ClusterRole" {
			refResource = "clusterroles"
			rules, _ = p.ClusterRoleRules(ref.GetName())
		} else {
			rules, _ = p.RoleRules(ns, ref.GetName())
		}
		if allowed("bind", refResource, ns, ref.GetName()) {
			return nil
		}
	case *rbacv1.ClusterRoleBinding:
		name, resource = o.GetMetadata().GetName(), "clusterrolebindings"
		rules, _ = p.ClusterRoleRules(o.GetRoleRef().GetName())
		if allowed("bind", "clusterroles", "", o.GetRoleRef().GetName()) {
			return nil
		}
	default:
		return nil
	}
	if ok, missing := Covers(p.RulesFor(u, ns), rules); !ok {
		return status.Errorf(codes.PermissionDenied, "%s.rbac.authorization.k8s.io %q is forbidden: user %q (groups=[%s]) is attempting to grant RBAC permissions not currently held: %s",
			resource, name, u.Name, strings.Join(u.Groups, " "), describeRule(missing))
	}
	return nil
}

func describeRule(r *rbacv1.PolicyRule) string {
	if len(r.NonResourceUrls) > 0 {
		return fmt.Sprintf("{NonResourceURLs:%q, Verbs:%q}", r.NonResourceUrls, r.Verbs)
	}
	s := fmt.Sprintf("{APIGroups:%q, Resources:%q", r.ApiGroups, r.Resources)
	if len(r.ResourceNames) > 0 {
		s += fmt.Sprintf(", ResourceNames:%q", r.ResourceNames)
	}
	return s + fmt.Sprintf(", Verbs:%q}", r.Verbs)
}
