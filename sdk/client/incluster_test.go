package client

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestInClusterConfigOutsideAPod(t *testing.T) {
	t.Setenv(ServiceHostEnv, "")
	if _, err := InClusterConfig(); !errors.Is(err, ErrNotInCluster) {
		t.Fatalf("got %v, want ErrNotInCluster", err)
	}
	t.Setenv(ServiceHostEnv, "10.96.0.1")
	t.Setenv(ServicePortEnv, "443")
	if _, err := os.Stat(filepath.Join(ServiceAccountDir, "token")); err == nil {
		t.Skip("this machine has a service account token mounted")
	}
	if _, err := InClusterConfig(); err == nil {
		t.Fatal("no token mounted: want an error")
	}
}

// A token file is re-read once its copy is older than tokenFileRefresh, so
// rotated tokens are used; a missing file fails up front.
func TestTokenFileRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	f := &tokenFile{path: path}
	if _, err := f.token(); err == nil {
		t.Fatal("missing file: want an error")
	}
	if err := os.WriteFile(path, []byte("one\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	md, err := f.GetRequestMetadata(context.Background())
	if err != nil || md["authorization"] != "Bearer one" {
		t.Fatalf("%v %v", md, err)
	}
	if err := os.WriteFile(path, []byte("two"), 0o600); err != nil {
		t.Fatal(err)
	}
	if tok, _ := f.token(); tok != "one" {
		t.Fatalf("re-read before the refresh interval: %q", tok)
	}
	f.read = time.Now().Add(-tokenFileRefresh - time.Second)
	if tok, _ := f.token(); tok != "two" {
		t.Fatalf("rotated token not picked up: %q", tok)
	}
	// A vanished file keeps the last good token.
	os.Remove(path)
	f.read = time.Time{}
	if tok, err := f.token(); tok != "two" || err != nil {
		t.Fatalf("after removal: %q %v", tok, err)
	}
}
