package test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	apiv1 "flotilla.io/proto/flotilla/api/v1"
	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
	rbacv1 "flotilla.io/proto/flotilla/rbac/v1"
	"flotilla.io/sdk/client"
	"flotilla.io/sdk/pki"

	"flotilla.io/apiserver/testserver"
)

// A client certificate signed by the cluster CA authenticates as its CN in
// the groups of its O.
func TestClientCertificateAuthentication(t *testing.T) {
	s := testserver.Start(t)
	ctx := ctxFor(t, 30*time.Second)
	ca, err := pki.Read(s.CADir(), "ca")
	if err != nil {
		t.Fatal(err)
	}
	certFor := func(cn string, groups ...string) *client.Config {
		p, err := pki.Sign(ca, pki.Request{CommonName: cn, Organization: groups, Client: true})
		if err != nil {
			t.Fatal(err)
		}
		return &client.Config{Server: s.Addr, CAData: s.Config.CAData, CertData: p.CertPEM, KeyData: p.KeyPEM}
	}
	root := s.Client(certFor("root", "system:masters"))
	if _, err := client.For[*corev1.Namespace](root).List(ctx, client.ListOptions{}); err != nil {
		t.Fatalf("masters by certificate: %v", err)
	}
	bob := s.Client(certFor("bob", "team"))
	_, err = client.For[*corev1.Pod](bob).List(ctx, client.ListOptions{Namespace: "default"})
	if !client.IsForbidden(err) || !strings.Contains(err.Error(), `User "bob"`) {
		t.Fatalf("bob by certificate: %v", err)
	}
	// A certificate from another CA is refused.
	other, _ := pki.NewCA("other")
	p, _ := pki.Sign(other, pki.Request{CommonName: "mallory", Organization: []string{"system:masters"}, Client: true})
	c, err := client.New(ctx, &client.Config{Server: s.Addr, CAData: s.Config.CAData, CertData: p.CertPEM, KeyData: p.KeyPEM})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := client.For[*corev1.Namespace](c).List(ctx, client.ListOptions{}); err == nil {
		t.Fatal("a certificate from a foreign CA was accepted")
	}
}

// Bound service account tokens: issued with an expiry, good for exactly what
// the account's RBAC allows, refused when tampered, expired or when the pod
// they are bound to is gone.
func TestServiceAccountTokens(t *testing.T) {
	s := testserver.Start(t)
	admin := s.Client(s.Config)
	ctx := ctxFor(t, 60*time.Second)
	if _, err := client.For[*corev1.ServiceAccount](admin).Create(ctx, &corev1.ServiceAccount{Metadata: &metav1.ObjectMeta{Name: "builder", Namespace: "default"}}); err != nil {
		t.Fatal(err)
	}
	rb := roleBinding("default", "builder-view", "ClusterRole", "view", "")
	rb.Subjects = []*rbacv1.Subject{{Kind: "ServiceAccount", Name: "builder", Namespace: "default"}}
	if _, err := client.For[*rbacv1.RoleBinding](admin).Create(ctx, rb); err != nil {
		t.Fatal(err)
	}
	p := pod("default", "worker", nil)
	p.Spec.ServiceAccountName = "builder"
	if _, err := client.For[*corev1.Pod](admin).Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	authz := apiv1.NewAuthServiceClient(admin.Conn())
	tok, err := authz.CreateToken(ctx, &apiv1.CreateTokenRequest{Namespace: "default", ServiceAccount: "builder", BoundPodName: "worker", ExpirationSeconds: 1200})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(tok.ExpirationTimestamp.AsTime()); d < 19*time.Minute || d > 21*time.Minute {
		t.Fatalf("expiry in %v", d)
	}
	as := func(token string) *client.Client {
		cfg := *s.Config
		cfg.Token = token
		return s.Client(&cfg)
	}
	sa := as(tok.Token)
	eventually(t, "the token reads pods", func() bool {
		_, err := client.For[*corev1.Pod](sa).List(ctx, client.ListOptions{Namespace: "default"})
		return err == nil
	})
	if _, err := client.For[*corev1.Pod](sa).Create(ctx, pod("default", "x", nil)); !client.IsForbidden(err) {
		t.Fatalf("view token creating a pod: %v", err)
	}
	if _, err := client.For[*corev1.Secret](sa).List(ctx, client.ListOptions{Namespace: "default"}); !client.IsForbidden(err) {
		t.Fatalf("view token reading secrets: %v", err)
	}
	tampered := tok.Token[:len(tok.Token)-4] + "AAAA"
	if _, err := client.For[*corev1.Pod](as(tampered)).List(ctx, client.ListOptions{Namespace: "default"}); !client.IsUnauthorized(err) {
		t.Fatalf("tampered token: %v", err)
	}
	// Deleting the pod kills the token bound to it.
	if err := client.For[*corev1.Pod](admin).Delete(ctx, "default", "worker", client.DeleteOptions{GracePeriodSeconds: proto.Int64(0)}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.For[*corev1.Pod](sa).List(ctx, client.ListOptions{Namespace: "default"}); !client.IsUnauthorized(err) || !strings.Contains(err.Error(), "no longer exists") {
		t.Fatalf("token of a deleted pod: %v", err)
	}
	// A user without serviceaccounts/token cannot mint tokens.
	cfg := *s.Config
	cfg.Token = testserver.UserToken
	_, err = apiv1.NewAuthServiceClient(s.Client(&cfg).Conn()).CreateToken(context.Background(), &apiv1.CreateTokenRequest{Namespace: "default", ServiceAccount: "builder"})
	if !client.IsForbidden(err) {
		t.Fatalf("alice minting a token: %v", err)
	}
}
