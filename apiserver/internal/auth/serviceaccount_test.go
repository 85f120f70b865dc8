package auth

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"

	"flotilla.io/sdk/pki"
)

type objects struct{ sa, pod string }

func (o objects) ServiceAccountUID(context.Context, string, string) (string, error) { return o.sa, nil }
func (o objects) PodUID(context.Context, string, string) (string, error)            { return o.pod, nil }
func (o objects) SecretExists(context.Context, string, string) (bool, error)        { return true, nil }

func bearer(tok string) context.Context {
	return metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer "+tok))
}

func TestServiceAccountTokenLifecycle(t *testing.T) {
	dir := t.TempDir()
	key, err := pki.EnsureKey(dir, "sa")
	if err != nil {
		t.Fatal(err)
	}
	otherKey, _ := pki.EnsureKey(filepath.Join(dir, "other"), "sa")
	live := objects{sa: "sa-uid", pod: "pod-uid"}
	ts, err := NewServiceAccountTokens("https://flotilla.test", nil, nil, key, live)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ts.now = func() time.Time { return now }
	tok, exp, err := ts.Issue(TokenRequest{Namespace: "ns", ServiceAccount: "app", ServiceAccountUID: "sa-uid", Expiration: time.Hour, PodName: "p", PodUID: "pod-uid"})
	if err != nil || exp.Sub(now) != time.Hour {
		t.Fatalf("issue: %v %v", exp, err)
	}
	u, err := ts.Authenticate(bearer(tok))
	if err != nil || u.Name != "system:serviceaccount:ns:app" || u.Groups[1] != "system:serviceaccounts:ns" {
		t.Fatalf("fresh token: %+v %v", u, err)
	}
	cases := []struct {
		name  string
		setup func() (string, *ServiceAccountTokens)
		want  string
	}{
		{"expired", func() (string, *ServiceAccountTokens) {
			later := *ts
			later.now = func() time.Time { return now.Add(2 * time.Hour) }
			return tok, &later
		}, "expired"},
		{"tampered", func() (string, *ServiceAccountTokens) { return tok[:len(tok)-3] + "abc", ts }, "invalid service account token"},
		{"signed by another key", func() (string, *ServiceAccountTokens) {
			other, _ := NewServiceAccountTokens("https://flotilla.test", nil, nil, otherKey, live)
			forged, _, _ := other.Issue(TokenRequest{Namespace: "ns", ServiceAccount: "app", ServiceAccountUID: "sa-uid", Expiration: time.Hour})
			return forged, ts
		}, "invalid service account token"},
		{"wrong audience", func() (string, *ServiceAccountTokens) {
			t2, _, _ := ts.Issue(TokenRequest{Namespace: "ns", ServiceAccount: "app", ServiceAccountUID: "sa-uid", Audiences: []string{"vault"}, Expiration: time.Hour})
			return t2, ts
		}, "wrong audience"},
		{"pod gone", func() (string, *ServiceAccountTokens) {
			gone := *ts
			gone.Objects = objects{sa: "sa-uid", pod: ""}
			return tok, &gone
		}, "no longer exists"},
		{"account re-created", func() (string, *ServiceAccountTokens) {
			again := *ts
			again.Objects = objects{sa: "new-uid", pod: "pod-uid"}
			return tok, &again
		}, "no longer exists"},
	}
	for _, tc := range cases {
		token, verifier := tc.setup()
		if _, err := verifier.Authenticate(bearer(token)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	// A bearer token that is not a JWT is someone else's to judge.
	if u, err := ts.Authenticate(bearer("static-token")); u != nil || err != nil {
		t.Errorf("non-JWT token: %v %v", u, err)
	}
}
