package test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
	"flotilla.io/sdk/client"

	"flotilla.io/apiserver/testserver"
)

func encryptionConfig(t *testing.T, keys ...string) string {
	t.Helper()
	y := "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n  - aesgcm:\n      keys:\n"
	for _, k := range keys {
		y += fmt.Sprintf("      - name: %s\n        secret: %s\n", k, base64.StdEncoding.EncodeToString(bytes.Repeat([]byte(k[:1]), 32)))
	}
	y += "  - identity: {}\n"
	p := filepath.Join(t.TempDir(), "enc.yaml")
	if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSecretsEncryptedAtRestWithRotation(t *testing.T) {
	s := testserver.StartWith(t, testserver.Options{EncryptionProviderConfig: encryptionConfig(t, "alpha")})
	ctx := ctxFor(t, 30*time.Second)
	secrets := client.For[*corev1.Secret](s.Client(s.Config))
	if _, err := secrets.Create(ctx, &corev1.Secret{Metadata: &metav1.ObjectMeta{Name: "db", Namespace: "default"}, Data: map[string][]byte{"password": []byte("hunter2-plaintext")}}); err != nil {
		t.Fatal(err)
	}
	etcd := testserverEtcdClient(t, s.Etcd[0])
	raw := func() []byte {
		resp, err := etcd.Get(ctx, "/registry/secrets/default/db")
		if err != nil || len(resp.Kvs) != 1 {
			t.Fatalf("raw read: %v", err)
		}
		return resp.Kvs[0].Value
	}
	if v := raw(); bytes.Contains(v, []byte("hunter2-plaintext")) || !bytes.HasPrefix(v, []byte("k8s:enc:aesgcm:v1:alpha:")) {
		t.Fatalf("secret stored as %q", v)
	}
	// ConfigMaps are not listed: stored as protobuf, readable.
	// Rotate: beta first, alpha still readable; a rewrite re-encrypts.
	s.RestartWith(testserver.Options{EncryptionProviderConfig: encryptionConfig(t, "beta", "alpha")})
	secrets = client.For[*corev1.Secret](s.Client(s.Config))
	got, err := secrets.Get(ctx, "default", "db")
	if err != nil || string(got.Data["password"]) != "hunter2-plaintext" {
		t.Fatalf("read after rotation: %v %v", got, err)
	}
	if _, err := secrets.Update(ctx, got); err != nil { // unchanged, but stale: rewritten
		t.Fatal(err)
	}
	if v := raw(); !bytes.HasPrefix(v, []byte("k8s:enc:aesgcm:v1:beta:")) {
		t.Fatalf("after rewrite stored with %q", v[:24])
	}
	// Drop alpha: everything still reads.
	s.RestartWith(testserver.Options{EncryptionProviderConfig: encryptionConfig(t, "beta")})
	got, err = client.For[*corev1.Secret](s.Client(s.Config)).Get(ctx, "default", "db")
	if err != nil || string(got.Data["password"]) != "hunter2-plaintext" {
		t.Fatalf("read with only the new key: %v %v", got, err)
	}
}
