package encryption

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
)

func key(name string, b byte) Key {
	return Key{Name: name, Secret: base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, 32))}
}

func build(t *testing.T, providers ...ProviderConfig) Transformer {
	t.Helper()
	ts, err := Build(Config{Kind: "EncryptionConfiguration", Resources: []ResourceConfig{{Resources: []string{"secrets"}, Providers: providers}}})
	if err != nil {
		t.Fatal(err)
	}
	return ts["secrets"]
}

func TestRoundTripAndRotation(t *testing.T) {
	gcm := func(keys ...Key) ProviderConfig { return ProviderConfig{AESGCM: &KeysConfig{Keys: keys}} }
	id := ProviderConfig{Identity: &struct{}{}}
	plain := []byte("top secret password")

	v1 := build(t, gcm(key("k1", 1)), id)
	stored, err := v1.ToStorage(plain)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(stored, plain) || !bytes.HasPrefix(stored, []byte("k8s:enc:aesgcm:v1:k1:")) {
		t.Fatalf("stored form: %q", stored)
	}
	if got, stale, err := v1.FromStorage(stored); err != nil || stale || !bytes.Equal(got, plain) {
		t.Fatalf("read back: %q %v %v", got, stale, err)
	}
	// Old plaintext values stay readable, and are stale.
	if got, stale, err := v1.FromStorage(plain); err != nil || !stale || !bytes.Equal(got, plain) {
		t.Fatalf("plaintext: %q %v %v", got, stale, err)
	}
	// Rotation: k2 first, k1 still readable and stale.
	v2 := build(t, gcm(key("k2", 2), key("k1", 1)), id)
	if got, stale, err := v2.FromStorage(stored); err != nil || !stale || !bytes.Equal(got, plain) {
		t.Fatalf("after rotation: %q %v %v", got, stale, err)
	}
	re, _ := v2.ToStorage(plain)
	if !bytes.HasPrefix(re, []byte("k8s:enc:aesgcm:v1:k2:")) {
		t.Fatalf("rewrite uses %q", re[:24])
	}
	// With k1 gone, its values are refused clearly.
	v3 := build(t, gcm(key("k2", 2)))
	if _, _, err := v3.FromStorage(stored); err == nil || !strings.Contains(err.Error(), "not configured") {
		t.Fatalf("dropped key: %v", err)
	}
	// Tampering is detected.
	bad := append([]byte(nil), re...)
	bad[len(bad)-1] ^= 1
	if _, _, err := v2.FromStorage(bad); err == nil {
		t.Fatal("tampered value decrypted")
	}
}

func TestBuildErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Kind: "Other"}, "kind"},
		{Config{Kind: "EncryptionConfiguration", Resources: []ResourceConfig{{Resources: []string{"secrets"}}}}, "providers: Required"},
		{Config{Kind: "EncryptionConfiguration", Resources: []ResourceConfig{{Resources: []string{"secrets"}, Providers: []ProviderConfig{{AESGCM: &KeysConfig{Keys: []Key{{Name: "k", Secret: "c2hvcnQ="}}}}}}}}, "keys[0]"},
	} {
		if _, err := Build(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v", tc.cfg, err)
		}
	}
}
