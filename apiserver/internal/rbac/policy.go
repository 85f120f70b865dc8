package rbac

import (
	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/labels"

	metav1 "flotilla.io/proto/flotilla/meta/v1"
	rbacv1 "flotilla.io/proto/flotilla/rbac/v1"

	"flotilla.io/apiserver/internal/auth"
)

// Policy is an immutable snapshot of every RBAC object, indexed for
// authorization. It is rebuilt whenever one of them changes.
type Policy struct {
	clusterRoles map[string][]*rbacv1.PolicyRule // aggregation resolved
	roles        map[string][]*rbacv1.PolicyRule // namespace/name
	crbs         []*rbacv1.ClusterRoleBinding
	rbsByNS      map[string][]*rbacv1.RoleBinding
}

// NewPolicy indexes the RBAC objects.
func NewPolicy(roles []*rbacv1.Role, clusterRoles []*rbacv1.ClusterRole, rbs []*rbacv1.RoleBinding, crbs []*rbacv1.ClusterRoleBinding) *Policy {
	p := &Policy{clusterRoles: map[string][]*rbacv1.PolicyRule{}, roles: map[string][]*rbacv1.PolicyRule{}, crbs: crbs, rbsByNS: map[string][]*rbacv1.RoleBinding{}}
	for _, r := range roles {
		p.roles[r.GetMetadata().GetNamespace()+"/"+r.GetMetadata().GetName()] = r.Rules
	}
	p.clusterRoles = resolveAggregation(clusterRoles)
	for _, rb := range rbs {
		ns := rb.GetMetadata().GetNamespace()
		p.rbsByNS[ns] = append(p.rbsByNS[ns], rb)
	}
	return p
}

// resolveAggregation gives each ClusterRole its rules with aggregationRule
// resolved, as upstream's aggregation controller writes them: the rules of
// every ClusterRole its selectors match are added, repeatedly, so "admin"
// takes "edit", which takes "view".
func resolveAggregation(all []*rbacv1.ClusterRole) map[string][]*rbacv1.PolicyRule {
	resolved := make(map[string][]*rbacv1.PolicyRule, len(all))
	sels := map[string][]labels.Selector{}
	for _, cr := range all {
		name := cr.GetMetadata().GetName()
		resolved[name] = append([]*rbacv1.PolicyRule(nil), cr.Rules...)
		for _, ls := range cr.GetAggregationRule().GetClusterRoleSelectors() {
			if s, err := selector(ls); err == nil {
				sels[name] = append(sels[name], s)
			}
		}
	}
	for round := 0; round < 5; round++ { // aggregation chains are short; stop when settled
		changed := false
		for _, cr := range all {
			name := cr.GetMetadata().GetName()
			for _, s := range sels[name] {
				for _, other := range all {
					on := other.GetMetadata().GetName()
					if on == name || !s.Matches(labels.Set(other.GetMetadata().GetLabels())) {
						continue
					}
					for _, r := range resolved[on] {
						if !containsRule(resolved[name], r) {
							resolved[name] = append(resolved[name], r)
							changed = true
						}
					}
				}
			}
		}
		if !changed {
			break
		}
	}
	return resolved
}

func containsRule(rules []*rbacv1.PolicyRule, r *rbacv1.PolicyRule) bool {
	for _, x := range rules {
		if proto.Equal(x, r) {
			return true
		}
	}
	return false
}

func selector(ls *metav1.LabelSelector) (labels.Selector, error) {
	sel := labels.NewSelector()
	for k, v := range ls.GetMatchLabels() {
		req, err := labels.NewRequirement(k, "=", []string{v})
		if err != nil {
			return nil, err
		}
		sel = sel.Add(*req)
	}
	for _, e := range ls.GetMatchExpressions() {
		op := map[string]string{"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}[e.Operator]
		req, err := labels.NewRequirement(e.Key, selectionOp(op), e.Values)
		if err != nil {
			return nil, err
		}
		sel = sel.Add(*req)
	}
	return sel, nil
}

// roleRules resolves a binding's roleRef.
func (p *Policy) roleRules(ref *rbacv1.RoleRef, namespace string) []*rbacv1.PolicyRule {
	if ref.GetKind() == "ClusterRole" {
		return p.clusterRoles[ref.GetName()]
	}
	return p.roles[namespace+"/"+ref.GetName()]
}

// Allows decides a request and says which binding allowed it.
func (p *Policy) Allows(a auth.Attributes) (bool, string) {
	u := a.User
	if u == nil {
		return false, "no user"
	}
	for _, g := range u.Groups {
		if g == Masters {
			return true, "member of " + Masters
		}
	}
	for _, crb := range p.crbs {
		if subjectsApply(crb.Subjects, u, "") && RulesAllow(p.clusterRoles[crb.GetRoleRef().GetName()], a) {
			return true, "ClusterRoleBinding " + crb.GetMetadata().GetName()
		}
	}
	if a.Namespace != "" {
		for _, rb := range p.rbsByNS[a.Namespace] {
			if subjectsApply(rb.Subjects, u, a.Namespace) && RulesAllow(p.roleRules(rb.RoleRef, a.Namespace), a) {
				return true, "RoleBinding " + a.Namespace + "/" + rb.GetMetadata().GetName()
			}
		}
	}
	return false, "no RBAC policy matched"
}

// RulesFor lists every rule that applies to the user in a namespace ("" for
// cluster-wide only): what escalation checks compare against.
func (p *Policy) RulesFor(u *auth.User, namespace string) []*rbacv1.PolicyRule {
	var out []*rbacv1.PolicyRule
	for _, crb := range p.crbs {
		if subjectsApply(crb.Subjects, u, "") {
			out = append(out, p.clusterRoles[crb.GetRoleRef().GetName()]...)
		}
	}
	if namespace != "" {
		for _, rb := range p.rbsByNS[namespace] {
			if subjectsApply(rb.Subjects, u, namespace) {
				out = append(out, p.roleRules(rb.RoleRef, namespace)...)
			}
		}
	}
	return out
}

// ClusterRoleRules is a ClusterRole's resolved rules.
func (p *Policy) ClusterRoleRules(name string) ([]*rbacv1.PolicyRule, bool) {
	r, ok := p.clusterRoles[name]
	return r, ok
}

// RoleRules is a Role's rules.
func (p *Policy) RoleRules(namespace, name string) ([]*rbacv1.PolicyRule, bool) {
	r, ok := p.roles[namespace+"/"+name]
	return r, ok
}

func subjectsApply(subjects []*rbacv1.Subject, u *auth.User, ns string) bool {
	for _, s := range subjects {
		if AppliesTo(s, u, ns) {
			return true
		}
	}
	return false
}
