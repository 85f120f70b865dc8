package rbac

import (
	metav1 "flotilla.io/proto/flotilla/meta/v1"
	rbacv1 "flotilla.io/proto/flotilla/rbac/v1"
)

const aggregateLabel = "rbac.authorization.k8s.io/aggregate-to-"

func rule(verbs []string, groups []string, resources ...string) *rbacv1.PolicyRule {
	return &rbacv1.PolicyRule{Verbs: verbs, ApiGroups: groups, Resources: resources}
}

var (
	read  = []string{"get", "list", "watch"}
	write = []string{"create", "update", "patch", "delete", "deletecollection"}
	all   = []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}
	core  = []string{""}
)

func clusterRole(name string, labels map[string]string, rules ...*rbacv1.PolicyRule) *rbacv1.ClusterRole {
	return &rbacv1.ClusterRole{Metadata: &metav1.ObjectMeta{Name: name, Labels: withBootstrap(labels)}, Rules: rules}
}

func aggregated(name string, labels map[string]string, to string) *rbacv1.ClusterRole {
	cr := clusterRole(name, labels)
	cr.AggregationRule = &rbacv1.AggregationRule{ClusterRoleSelectors: []*metav1.LabelSelector{{MatchLabels: map[string]string{aggregateLabel + to: "true"}}}}
	return cr
}

func withBootstrap(l map[string]string) map[string]string {
	out := map[string]string{"kubernetes.io/bootstrapping": "rbac-defaults"}
	for k, v := range l {
		out[k] = v
	}
	return out
}

func bindTo(role, kind, name string) *rbacv1.ClusterRoleBinding {
	s := &rbacv1.Subject{Kind: kind, Name: name, ApiGroup: "rbac.authorization.k8s.io"}
	return &rbacv1.ClusterRoleBinding{
		Metadata: &metav1.ObjectMeta{Name: role, Labels: withBootstrap(nil)},
		Subjects: []*rbacv1.Subject{s},
		RoleRef:  &rbacv1.RoleRef{ApiGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role},
	}
}

// Bootstrap is the default policy the apiserver ensures at start: upstream's
// user-facing roles (cluster-admin, admin, edit, view, aggregated the same
// way) and one least-privilege role per Flotilla component, bound to that
// component's user.
func Bootstrap() ([]*rbacv1.ClusterRole, []*rbacv1.ClusterRoleBinding) {
	workloads := []string{"apps"}
	batch := []string{"batch"}
	roles := []*rbacv1.ClusterRole{
		clusterRole("cluster-admin", nil,
			rule([]string{"*"}, []string{"*"}, "*"),
			&rbacv1.PolicyRule{Verbs: []string{"*"}, NonResourceUrls: []string{"*"}}),
		aggregated("admin", nil, "admin"),
		aggregated("edit", map[string]string{aggregateLabel + "admin": "true"}, "edit"),
		aggregated("view", map[string]string{aggregateLabel + "edit": "true"}, "view"),
		clusterRole("system:aggregate-to-view", map[string]string{aggregateLabel + "view": "true"},
			rule(read, core, "pods", "pods/log", "pods/status", "services", "services/status", "endpoints", "configmaps",
				"persistentvolumeclaims", "persistentvolumeclaims/status", "replicationcontrollers", "replicationcontrollers/scale",
				"replicationcontrollers/status", "serviceaccounts", "events", "namespaces", "namespaces/status", "limitranges", "resourcequotas"),
			rule(read, workloads, "deployments", "deployments/scale", "deployments/status", "replicasets", "replicasets/scale",
				"replicasets/status", "statefulsets", "statefulsets/scale", "statefulsets/status", "daemonsets", "daemonsets/status", "controllerrevisions"),
			rule(read, batch, "jobs", "jobs/status", "cronjobs", "cronjobs/status"),
			rule(read, []string{"discovery.k8s.io"}, "endpointslices"),
		),
		clusterRole("system:aggregate-to-edit", map[string]string{aggregateLabel + "edit": "true"},
			rule(append(write, read...), core, "pods", "pods/exec", "pods/attach", "pods/portforward", "pods/eviction", "services",
				"endpoints", "configmaps", "secrets", "persistentvolumeclaims", "replicationcontrollers", "replicationcontrollers/scale",
				"serviceaccounts"),
			rule([]string{"create"}, core, "serviceaccounts/token"),
			rule(append(write, read...), workloads, "deployments", "deployments/scale", "deployments/rollback", "replicasets",
				"replicasets/scale", "statefulsets", "statefulsets/scale", "daemonsets"),
			rule(append(write, read...), batch, "jobs", "cronjobs"),
			rule(append(write, read...), []string{"discovery.k8s.io"}, "endpointslices"),
		),
		clusterRole("system:aggregate-to-admin", map[string]string{aggregateLabel + "admin": "true"},
			rule(append(write, read...), []string{"rbac.authorization.k8s.io"}, "roles", "rolebindings"),
		),
		clusterRole("system:kube-scheduler", nil,
			rule(read, core, "pods", "nodes", "namespaces", "persistentvolumes", "persistentvolumeclaims", "services", "replicationcontrollers"),
			rule(read, workloads, "replicasets", "statefulsets"),
			rule(read, []string{"scheduling.k8s.io"}, "priorityclasses"),
			rule([]string{"create"}, core, "pods/binding", "bindings"),
			rule([]string{"update", "patch"}, core, "pods/status"),
			// delete for preemption; update for the diagnosis annotation.
			rule([]string{"update", "patch", "delete"}, core, "pods"),
			rule([]string{"create", "update", "patch"}, core, "events"),
			rule([]string{"get", "create", "update"}, []string{"coordination.k8s.io"}, "leases"),
		),
		clusterRole("system:kube-controller-manager", nil,
			// The controllers between them manage every kind (garbage collection,
			// namespace deletion), but never RBAC escalation or impersonation.
			rule(all, []string{"*"}, "*"),
		),
		clusterRole("system:cloud-controller-manager", nil,
			rule(append(read, "update", "patch", "delete"), core, "nodes", "nodes/status", "services", "services/status"),
			rule([]string{"create", "update", "patch"}, core, "events"),
			rule([]string{"get", "create", "update"}, []string{"coordination.k8s.io"}, "leases"),
		),
		clusterRole("system:node", nil,
			rule(read, core, "pods", "nodes", "services", "endpoints", "secrets", "configmaps", "persistentvolumes", "persistentvolumeclaims", "namespaces", "serviceaccounts"),
			rule([]string{"create", "update", "patch", "delete"}, core, "nodes", "nodes/status"),
			rule([]string{"update", "patch"}, core, "pods/status"),
			rule([]string{"delete"}, core, "pods"),
			rule([]string{"create"}, core, "serviceaccounts/token"),
			rule([]string{"create", "update", "patch"}, core, "events"),
			rule(append(read, "create", "update", "patch", "delete"), []string{"coordination.k8s.io"}, "leases"),
		),
		clusterRole("system:node-proxier", nil,
			rule(read, core, "services", "endpoints", "nodes"),
			rule(read, []string{"discovery.k8s.io"}, "endpointslices"),
			rule([]string{"create", "update", "patch"}, core, "events"),
		),
		clusterRole("system:dns", nil,
			rule(read, core, "services", "endpoints", "pods", "namespaces"),
			rule(read, []string{"discovery.k8s.io"}, "endpointslices"),
		),
	}
	bindings := []*rbacv1.ClusterRoleBinding{
		bindTo("cluster-admin", "Group", Masters),
		bindTo("system:kube-scheduler", "User", "system:scheduler"),
		bindTo("system:kube-controller-manager", "User", "system:controller-manager"),
		bindTo("system:cloud-controller-manager", "User", "system:cloud-controller-manager"),
		bindTo("system:node", "Group", "system:nodes"),
		bindTo("system:node-proxier", "User", "system:proxy"),
		bindTo("system:dns", "User", "system:dns"),
	}
	return roles, bindings
}
