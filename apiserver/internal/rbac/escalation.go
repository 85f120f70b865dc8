package rbac

import (
	rbacv1 "flotilla.io/proto/flotilla/rbac/v1"
)

// Covers reports whether owner's rules grant everything servant's rules do,
// comparing atomic (verb, group, resource, name) grants as upstream does: a
// "*" in the servant must be matched by a "*" in the owner. It returns the
// first atomic grant that is not covered.
func Covers(owner, servant []*rbacv1.PolicyRule) (bool, *rbacv1.PolicyRule) {
	for _, r := range servant {
		names := r.ResourceNames
		if len(names) == 0 {
			names = []string{""}
		}
		for _, v := range r.Verbs {
			for _, g := range r.ApiGroups {
				for _, res := range r.Resources {
					for _, n := range names {
						if !atomicCovered(owner, v, g, res, n) {
							missing := &rbacv1.PolicyRule{Verbs: []string{v}, ApiGroups: []string{g}, Resources: []string{res}}
							if n != "" {
								missing.ResourceNames = []string{n}
							}
							return false, missing
						}
					}
				}
			}
		}
		for _, u := range r.NonResourceUrls {
			for _, v := range r.Verbs {
				if !nonResourceCovered(owner, v, u) {
					return false, &rbacv1.PolicyRule{Verbs: []string{v}, NonResourceUrls: []string{u}}
				}
			}
		}
	}
	return true, nil
}

func atomicCovered(owner []*rbacv1.PolicyRule, verb, group, resource, name string) bool {
	for _, o := range owner {
		if !has(o.Verbs, verb) || !has(o.ApiGroups, group) || !resourceCovers(o.Resources, resource) {
			continue
		}
		if len(o.ResourceNames) == 0 || (name != "" && has(o.ResourceNames, name)) {
			return true
		}
	}
	return false
}

func resourceCovers(owner []string, resource string) bool {
	for _, x := range owner {
		if x == "*" || x == resource {
			return true
		}
	}
	base, sub, ok := cut(resource)
	return ok && resourceMatches(owner, base, sub)
}

func cut(resource string) (string, string, bool) {
	for i := 0; i < len(resource); i++ {
		if resource[i] == '/' {
			return resource[:i], resource[i+1:], true
		}
	}
	return resource, "", false
}

func nonResourceCovered(owner []*rbacv1.PolicyRule, verb, url string) bool {
	for _, o := range owner {
		if !has(o.Verbs, verb) {
			continue
		}
		for _, u := range o.NonResourceUrls {
			if u == "*" || u == url || (len(u) > 0 && u[len(u)-1] == '*' && len(url) >= len(u)-1 && url[:len(u)-1] == u[:len(u)-1]) {
				return true
			}
		}
	}
	return false
}
