package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Service account tokens, as upstream's: legacy tokens (issuer
// "kubernetes/serviceaccount", kept in Secrets by the token controller) and
// bound tokens (TokenRequest: audience, expiry, optionally bound to a pod).
const LegacyIssuer = "kubernetes/serviceaccount"

// ObjectChecker confirms that what a token names still exists; a token
// outlives nothing it is bound to.
type ObjectChecker interface {
	// ServiceAccountUID returns the uid of a service account, "" when absent.
	ServiceAccountUID(ctx context.Context, namespace, name string) (string, error)
	// PodUID returns the uid of a pod, "" when absent.
	PodUID(ctx context.Context, namespace, name string) (string, error)
	// SecretExists reports whether a secret exists.
	SecretExists(ctx context.Context, namespace, name string) (bool, error)
}

// ServiceAccountTokens verifies and issues service account JWTs.
type ServiceAccountTokens struct {
	Issuer    string
	Audiences []string
	verify    []crypto.PublicKey
	signer    crypto.Signer
	kid       string
	Objects   ObjectChecker
	now       func() time.Time
}

// NewServiceAccountTokens loads verification keys (PEM public or private
// keys, several files allowed) and the signing key (PEM private key, may be
// empty: then no tokens are issued).
func NewServiceAccountTokens(issuer string, audiences []string, keyFiles []string, signingKeyFile string, objects ObjectChecker) (*ServiceAccountTokens, error) {
	t := &ServiceAccountTokens{Issuer: issuer, Audiences: audiences, Objects: objects, now: time.Now}
	if len(t.Audiences) == 0 {
		t.Audiences = []string{issuer}
	}
	for _, f := range append(slices.Clone(keyFiles), signingKeyFile) {
		if f == "" {
			continue
		}
		keys, err := readKeys(f)
		if err != nil {
			return nil, err
		}
		t.verify = append(t.verify, keys...)
	}
	if signingKeyFile != "" {
		raw, err := os.ReadFile(signingKeyFile)
		if err != nil {
			return nil, fmt.Errorf("--service-account-signing-key-file: %w", err)
		}
		if t.signer, err = parsePrivate(raw); err != nil {
			return nil, fmt.Errorf("--service-account-signing-key-file %s: %w", signingKeyFile, err)
		}
		der, err := x509.MarshalPKIXPublicKey(t.signer.Public())
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(der)
		t.kid = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	return t, nil
}

func parsePrivate(raw []byte) (crypto.Signer, error) {
	if k, err := jwt.ParseECPrivateKeyFromPEM(raw); err == nil {
		return k, nil
	}
	if k, err := jwt.ParseRSAPrivateKeyFromPEM(raw); err == nil {
		return k, nil
	}
	return nil, errors.New("not a PEM ECDSA or RSA private key")
}

// readKeys reads every public key of a PEM file (public keys or the public
// halves of private keys).
func readKeys(path string) ([]crypto.PublicKey, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("service account key: %w", err)
	}
	var out []crypto.PublicKey
	for rest := raw; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		one := pem.EncodeToMemory(block)
		if k, err := parsePrivate(one); err == nil {
			out = append(out, k.Public())
		} else if k, err := jwt.ParseECPublicKeyFromPEM(one); err == nil {
			out = append(out, k)
		} else if k, err := jwt.ParseRSAPublicKeyFromPEM(one); err == nil {
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("service account key file %s: no PEM ECDSA or RSA keys", path)
	}
	return out, nil
}

// claims are the JWT claims we read and write.
type claims struct {
	jwt.RegisteredClaims
	Kubernetes *kubeClaims `json:"kubernetes.io,omitempty"`
	// Legacy token claims.
	LegacyNamespace string `json:"kubernetes.io/serviceaccount/namespace,omitempty"`
	LegacySecret    string `json:"kubernetes.io/serviceaccount/secret.name,omitempty"`
	LegacyName      string `json:"kubernetes.io/serviceaccount/service-account.name,omitempty"`
	LegacyUID       string `json:"kubernetes.io/serviceaccount/service-account.uid,omitempty"`
}

type kubeClaims struct {
	Namespace      string `json:"namespace"`
	ServiceAccount ref    `json:"serviceaccount"`
	Pod            *ref   `json:"pod,omitempty"`
}

type ref struct {
	Name string `json:"name"`
	UID  string `json:"uid"`
}

// Authenticate verifies a bearer token that is a service account JWT.
func (t *ServiceAccountTokens) Authenticate(ctx context.Context) (*User, error) {
	raw, err := bearerToken(ctx)
	if err != nil || raw == "" || len(t.verify) == 0 {
		return nil, err
	}
	var c claims
	tok, err := jwt.ParseWithClaims(raw, &c, func(tok *jwt.Token) (any, error) {
		return t.keyFor(tok)
	}, jwt.WithValidMethods([]string{"ES256", "RS256"}), jwt.WithTimeFunc(t.now), jwt.WithLeeway(30*time.Second))
	if err != nil || !tok.Valid {
		if errors.Is(err, jwt.ErrTokenMalformed) {
			return nil, nil // not a JWT: someone else's token
		}
		return nil, status.Errorf(codes.Unauthenticated, "invalid service account token: %v", err)
	}
	switch c.Issuer {
	case LegacyIssuer:
		return t.legacyUser(ctx, &c)
	case t.Issuer:
		return t.boundUser(ctx, &c)
	}
	return nil, status.Errorf(codes.Unauthenticated, "invalid service account token: unknown issuer %q", c.Issuer)
}

// keyFor tries every verification key of the token's algorithm; jwt calls
// it once, so it returns the keys as a VerificationKeySet.
func (t *ServiceAccountTokens) keyFor(tok *jwt.Token) (any, error) {
	var set jwt.VerificationKeySet
	for _, k := range t.verify {
		switch k.(type) {
		case *ecdsa.PublicKey:
			if tok.Method.Alg() == "ES256" {
				set.Keys = append(set.Keys, k)
			}
		case *rsa.PublicKey:
			if tok.Method.Alg() == "RS256" {
				set.Keys = append(set.Keys, k)
			}
		}
	}
	if len(set.Keys) == 0 {
		return nil, fmt.Errorf("no %s verification key", tok.Method.Alg())
	}
	return set, nil
}

func saUser(ns, name, uid string) *User {
	return &User{Name: "system:serviceaccount:" + ns + ":" + name, UID: uid,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}}
}

func (t *ServiceAccountTokens) legacyUser(ctx context.Context, c *claims) (*User, error) {
	if c.LegacyNamespace == "" || c.LegacyName == "" {
		return nil, status.Error(codes.Unauthenticated, "invalid service account token: missing claims")
	}
	if err := t.checkAccount(ctx, c.LegacyNamespace, c.LegacyName, c.LegacyUID); err != nil {
		return nil, err
	}
	if c.LegacySecret != "" && t.Objects != nil {
		ok, err := t.Objects.SecretExists(ctx, c.LegacyNamespace, c.LegacySecret)
		if err != nil {
			return nil, status.Errorf(codes.Unavailable, "check token secret: %v", err)
		}
		if !ok {
			return nil, status.Error(codes.Unauthenticated, "invalid service account token: its secret was deleted")
		}
	}
	return saUser(c.LegacyNamespace, c.LegacyName, c.LegacyUID), nil
}

func (t *ServiceAccountTokens) boundUser(ctx context.Context, c *claims) (*User, error) {
	k := c.Kubernetes
	if k == nil || k.Namespace == "" || k.ServiceAccount.Name == "" || c.ExpiresAt == nil {
		return nil, status.Error(codes.Unauthenticated, "invalid service account token: missing claims")
	}
	if !slices.ContainsFunc(c.Audience, func(a string) bool { return slices.Contains(t.Audiences, a) }) {
		return nil, status.Error(codes.Unauthenticated, "invalid service account token: wrong audience")
	}
	if err := t.checkAccount(ctx, k.Namespace, k.ServiceAccount.Name, k.ServiceAccount.UID); err != nil {
		return nil, err
	}
	if k.Pod != nil && t.Objects != nil {
		uid, err := t.Objects.PodUID(ctx, k.Namespace, k.Pod.Name)
		if err != nil {
			return nil, status.Errorf(codes.Unavailable, "check bound pod: %v", err)
		}
		if uid == "" || uid != k.Pod.UID {
			return nil, status.Errorf(codes.Unauthenticated, "invalid service account token: pod %s/%s it was bound to no longer exists", k.Namespace, k.Pod.Name)
		}
	}
	return saUser(k.Namespace, k.ServiceAccount.Name, k.ServiceAccount.UID), nil
}

func (t *ServiceAccountTokens) checkAccount(ctx context.Context, ns, name, uid string) error {
	if t.Objects == nil {
		return nil
	}
	got, err := t.Objects.ServiceAccountUID(ctx, ns, name)
	if err != nil {
		return status.Errorf(codes.Unavailable, "check service account: %v", err)
	}
	if got == "" || (uid != "" && got != uid) {
		return status.Errorf(codes.Unauthenticated, "invalid service account token: service account %s/%s no longer exists", ns, name)
	}
	return nil
}

// TokenRequest asks for a bound token.
type TokenRequest struct {
	Namespace, ServiceAccount, ServiceAccountUID string
	Audiences                                    []string
	Expiration                                   time.Duration
	PodName, PodUID                              string
}

// Issue signs a bound token and returns it with its expiry.
func (t *ServiceAccountTokens) Issue(r TokenRequest) (string, time.Time, error) {
	if t.signer == nil {
		return "", time.Time{}, status.Error(codes.FailedPrecondition, "the apiserver has no --service-account-signing-key-file: it cannot issue tokens")
	}
	if r.Expiration < 10*time.Minute {
		r.Expiration = time.Hour
	}
	aud := r.Audiences
	if len(aud) == 0 {
		aud = t.Audiences
	}
	now := t.now()
	exp := now.Add(r.Expiration)
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: t.Issuer, Subject: "system:serviceaccount:" + r.Namespace + ":" + r.ServiceAccount,
			Audience: aud, IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(exp),
		},
		Kubernetes: &kubeClaims{Namespace: r.Namespace, ServiceAccount: ref{Name: r.ServiceAccount, UID: r.ServiceAccountUID}},
	}
	if r.PodName != "" {
		c.Kubernetes.Pod = &ref{Name: r.PodName, UID: r.PodUID}
	}
	method := jwt.SigningMethod(jwt.SigningMethodES256)
	if _, ok := t.signer.(*rsa.PrivateKey); ok {
		method = jwt.SigningMethodRS256
	}
	tok := jwt.NewWithClaims(method, c)
	tok.Header["kid"] = t.kid
	s, err := tok.SignedString(t.signer)
	return s, exp, err
}
