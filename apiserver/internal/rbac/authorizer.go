package rbac

import (
	"context"
	"sync"

	rbacv1 "flotilla.io/proto/flotilla/rbac/v1"

	"flotilla.io/apiserver/internal/auth"
	"flotilla.io/apiserver/internal/watchcache"
)

// Authorizer answers from the RBAC objects in the watch caches. The indexed
// policy is rebuilt only when one of those objects changed.
type Authorizer struct {
	caches *watchcache.Caches

	mu      sync.Mutex
	policy  *Policy
	changes [4]int64
}

// NewAuthorizer reads RBAC objects from caches.
func NewAuthorizer(caches *watchcache.Caches) *Authorizer {
	return &Authorizer{caches: caches}
}

var rbacKinds = [4]string{"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}

// Policy is the current policy snapshot.
func (a *Authorizer) Policy() *Policy {
	a.mu.Lock()
	defer a.mu.Unlock()
	var now [4]int64
	for n, k := range rbacKinds {
		now[n] = a.caches.For(k).Changes()
	}
	if a.policy != nil && now == a.changes {
		return a.policy
	}
	var roles []*rbacv1.Role
	var crs []*rbacv1.ClusterRole
	var rbs []*rbacv1.RoleBinding
	var crbs []*rbacv1.ClusterRoleBinding
	for n, k := range rbacKinds {
		objs, ch := a.caches.For(k).Snapshot()
		now[n] = ch
		for _, o := range objs {
			switch v := o.(type) {
			case *rbacv1.Role:
				roles = append(roles, v)
			case *rbacv1.ClusterRole:
				crs = append(crs, v)
			case *rbacv1.RoleBinding:
				rbs = append(rbs, v)
			case *rbacv1.ClusterRoleBinding:
				crbs = append(crbs, v)
			}
		}
	}
	a.policy, a.changes = NewPolicy(roles, crs, rbs, crbs), now
	return a.policy
}

// Authorize implements auth.Authorizer.
func (a *Authorizer) Authorize(_ context.Context, attrs auth.Attributes) (bool, string, error) {
	ok, reason := a.Policy().Allows(attrs)
	return ok, reason, nil
}
