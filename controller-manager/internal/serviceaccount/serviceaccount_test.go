package serviceaccount_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"

	"flotilla.io/apiserver/testserver"
	"flotilla.io/sdk/client"

	controllermanager "flotilla.io/controller-manager"
	"flotilla.io/controller-manager/internal/serviceaccount"
)

func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last state: %s", what, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestDefaultAccountAndSignedToken(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalECPrivateKey(key)
	keyFile := filepath.Join(t.TempDir(), "sa.key")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	serviceaccount.Flags = serviceaccount.Options{PrivateKeyFile: keyFile}

	s := testserver.Start(t)
	c := s.Client(s.Config)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- controllermanager.Run(ctx, controllermanager.Config{Client: s.Config, Controllers: []string{"serviceaccount", "serviceaccount-token"}})
	}()
	defer func() { cancel(); <-done }()

	if _, err := client.For[*corev1.Namespace](c).Create(ctx, &corev1.Namespace{Metadata: &metav1.ObjectMeta{Name: "shop"}}); err != nil {
		t.Fatal(err)
	}
	sas := client.For[*corev1.ServiceAccount](c)
	secrets := client.For[*corev1.Secret](c)
	// token waits for the account's token Secret and returns it.
	token := func(ns, name string) (*corev1.ServiceAccount, *corev1.Secret) {
		t.Helper()
		var sa *corev1.ServiceAccount
		var sec *corev1.Secret
		eventually(t, "token for "+ns+"/"+name, func() (bool, string) {
			var err error
			if sa, err = sas.Get(ctx, ns, name); err != nil {
				return false, err.Error()
			}
			if len(sa.Secrets) != 1 {
				return false, fmt.Sprint("secrets ", sa.Secrets)
			}
			if sec, err = secrets.Get(ctx, ns, sa.Secrets[0].Name); err != nil {
				return false, err.Error()
			}
			return len(sec.Data["token"]) > 0, "empty token"
		})
		return sa, sec
	}
	sa, sec := token("shop", "default")
	if sec.Type != serviceaccount.SecretType || sec.Metadata.Annotations[serviceaccount.UIDAnnotation] != sa.Metadata.Uid ||
		string(sec.Data["namespace"]) != "shop" || sec.Metadata.OwnerReferences[0].Uid != sa.Metadata.Uid {
		t.Fatalf("token secret %v", sec)
	}
	// The token verifies with the public key and names the account.
	parsed, err := jwt.Parse(string(sec.Data["token"]), func(*jwt.Token) (any, error) { return &key.PublicKey, nil },
		jwt.WithValidMethods([]string{"ES256"}), jwt.WithIssuer(serviceaccount.Issuer))
	if err != nil {
		t.Fatal(err)
	}
	if sub, _ := parsed.Claims.GetSubject(); sub != "system:serviceaccount:shop:default" {
		t.Errorf("sub = %q", sub)
	}

	// A deleted default account comes back, with a new token; the old one goes.
	if err := sas.Delete(ctx, "shop", "default", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "old token deleted", func() (bool, string) {
		_, err := secrets.Get(ctx, "shop", sec.Metadata.Name)
		return client.IsNotFound(err), fmt.Sprint(err)
	})
	sa2, sec2 := token("shop", "default")
	if sa2.Metadata.Uid == sa.Metadata.Uid || sec2.Metadata.Name == sec.Metadata.Name {
		t.Errorf("account or token not re-made: %s %s", sa2.Metadata.Uid, sec2.Metadata.Name)
	}
	// Every account gets one token, not more.
	if _, err := sas.Create(ctx, &corev1.ServiceAccount{Metadata: &metav1.ObjectMeta{Namespace: "shop", Name: "builder"}}); err != nil {
		t.Fatal(err)
	}
	token("shop", "builder")
	time.Sleep(time.Second)
	l, err := secrets.List(ctx, client.ListOptions{Namespace: "shop"})
	if err != nil || len(l.Items) != 2 {
		t.Fatalf("secrets in shop: %d, %v; want 2", len(l.Items), err)
	}
}
