package auth

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// Authenticator finds the caller of a request. It answers (nil, nil) when the
// request carries no credentials of its kind, so the next one may try.
type Authenticator interface {
	Authenticate(ctx context.Context) (*User, error)
}

// Chain tries authenticators in order; a request none recognizes is refused.
type Chain []Authenticator

// Authenticate returns the first user an authenticator finds.
func (c Chain) Authenticate(ctx context.Context) (*User, error) {
	for _, a := range c {
		u, err := a.Authenticate(ctx)
		if err != nil || u != nil {
			return u, err
		}
	}
	if tok, _ := bearerToken(ctx); tok != "" {
		return nil, status.Error(codes.Unauthenticated, "invalid bearer token")
	}
	return nil, status.Error(codes.Unauthenticated, "no credentials: present a client certificate signed by the cluster CA or send \"authorization: Bearer <token>\"")
}

// ClientCert authenticates TLS client certificates that the server verified
// against its client CA: the common name is the user, the organizations
// are the groups (upstream's x509 authenticator).
type ClientCert struct{}

// Authenticate reads the verified peer certificate.
func (ClientCert) Authenticate(ctx context.Context) (*User, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil, nil
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(ti.State.VerifiedChains) == 0 || len(ti.State.VerifiedChains[0]) == 0 {
		return nil, nil
	}
	cert := ti.State.VerifiedChains[0][0]
	if cert.Subject.CommonName == "" {
		return nil, status.Error(codes.Unauthenticated, "client certificate has no common name")
	}
	return &User{Name: cert.Subject.CommonName, Groups: append([]string(nil), cert.Subject.Organization...)}, nil
}

// bearerToken returns the request's bearer token, or "" when it has none.
func bearerToken(ctx context.Context) (string, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	if len(vals) == 0 {
		return "", nil
	}
	const prefix = "Bearer "
	if len(vals[0]) <= len(prefix) || vals[0][:len(prefix)] != prefix {
		return "", status.Error(codes.Unauthenticated, "authorization must be \"Bearer <token>\"")
	}
	return vals[0][len(prefix):], nil
}
