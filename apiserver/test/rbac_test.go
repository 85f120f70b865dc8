package test

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
	rbacv1 "flotilla.io/proto/flotilla/rbac/v1"
	"flotilla.io/sdk/client"

	"flotilla.io/apiserver/testserver"
)

func roleBinding(ns, name, roleKind, role, userName string) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{
		Metadata: &metav1.ObjectMeta{Name: name, Namespace: ns},
		Subjects: []*rbacv1.Subject{{Kind: "User", Name: userName, ApiGroup: "rbac.authorization.k8s.io"}},
		RoleRef:  &rbacv1.RoleRef{ApiGroup: "rbac.authorization.k8s.io", Kind: roleKind, Name: role},
	}
}

func TestRBAC(t *testing.T) {
	s := testserver.Start(t)
	admin := s.Client(s.Config)
	aliceCfg := *s.Config
	aliceCfg.Token = testserver.UserToken
	alice := s.Client(&aliceCfg)
	ctx := ctxFor(t, 60*time.Second)
	for _, ns := range []string{"team-a", "team-b"} {
		if _, err := client.For[*corev1.Namespace](admin).Create(ctx, &corev1.Namespace{Metadata: &metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	// The default roles exist.
	for _, name := range []string{"cluster-admin", "admin", "edit", "view", "system:kube-scheduler", "system:node"} {
		if _, err := client.For[*rbacv1.ClusterRole](admin).Get(ctx, "", name); err != nil {
			t.Errorf("default ClusterRole %s: %v", name, err)
		}
	}
	alicePods := client.For[*corev1.Pod](alice)
	// Nothing is granted by default.
	if _, err := alicePods.List(ctx, client.ListOptions{Namespace: "team-a"}); !client.IsForbidden(err) {
		t.Fatalf("alice without a role: %v", err)
	}
	// A Role in team-a lets her list pods there and nowhere else.
	role := &rbacv1.Role{Metadata: &metav1.ObjectMeta{Name: "pod-reader", Namespace: "team-a"},
		Rules: []*rbacv1.PolicyRule{{ApiGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch"}}}}
	if _, err := client.For[*rbacv1.Role](admin).Create(ctx, role); err != nil {
		t.Fatal(err)
	}
	if _, err := client.For[*rbacv1.RoleBinding](admin).Create(ctx, roleBinding("team-a", "alice-reads", "Role", "pod-reader", "alice")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "alice can list pods in team-a", func() bool {
		_, err := alicePods.List(ctx, client.ListOptions{Namespace: "team-a"})
		return err == nil
	})
	if _, err := alicePods.List(ctx, client.ListOptions{Namespace: "team-b"}); !client.IsForbidden(err) {
		t.Fatalf("alice in team-b: %v", err)
	}
	if _, err := alicePods.Create(ctx, pod("team-a", "p", nil)); !client.IsForbidden(err) || !strings.Contains(err.Error(), `cannot create resource "pods"`) {
		t.Fatalf("alice creating a pod with a read-only role: %v", err)
	}
	// Aggregation: a ClusterRole labelled aggregate-to-view extends view.
	extra := &rbacv1.ClusterRole{Metadata: &metav1.ObjectMeta{Name: "lease-viewer", Labels: map[string]string{"rbac.authorization.k8s.io/aggregate-to-view": "true"}},
		Rules: []*rbacv1.PolicyRule{{ApiGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"list"}}}}
	if _, err := client.For[*rbacv1.ClusterRole](admin).Create(ctx, extra); err != nil {
		t.Fatal(err)
	}
	// admin in team-b (which aggregates edit and view, so the lease rule too).
	if _, err := client.For[*rbacv1.RoleBinding](admin).Create(ctx, roleBinding("team-b", "alice-admin", "ClusterRole", "admin", "alice")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "alice can create pods in team-b", func() bool {
		_, err := alicePods.Create(ctx, pod("team-b", "p", nil))
		return err == nil
	})
	if _, err := c2leases(alice).List(ctx, client.ListOptions{Namespace: "team-b"}); err != nil {
		t.Fatalf("aggregated rule not granted: %v", err)
	}
	// Escalation: she may create a Role with permissions she holds...
	ok := &rbacv1.Role{Metadata: &metav1.ObjectMeta{Name: "ok", Namespace: "team-b"},
		Rules: []*rbacv1.PolicyRule{{ApiGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get"}}}}
	if _, err := client.For[*rbacv1.Role](alice).Create(ctx, ok); err != nil {
		t.Fatalf("role within her permissions: %v", err)
	}
	// ...but not one granting what she lacks, nor bind cluster-admin.
	bad := proto.Clone(ok).(*rbacv1.Role)
	bad.Metadata.Name = "bad"
	bad.Rules = []*rbacv1.PolicyRule{{ApiGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"delete"}}}
	_, err := client.For[*rbacv1.Role](alice).Create(ctx, bad)
	if !client.IsForbidden(err) || !strings.Contains(err.Error(), "attempting to grant RBAC permissions not currently held") {
		t.Fatalf("escalating role: %v", err)
	}
	_, err = client.For[*rbacv1.RoleBinding](alice).Create(ctx, roleBinding("team-b", "sneaky", "ClusterRole", "cluster-admin", "alice"))
	if !client.IsForbidden(err) {
		t.Fatalf("binding cluster-admin: %v", err)
	}
}

func c2leases(c *client.Client) *client.Resource[*coordinationLease] {
	return client.For[*coordinationLease](c)
}
