// Package auth answers who is calling (authentication) and whether they may do
// what they ask (authorization). Authentication is by bearer token; the
// authorizer is an interface so RBAC can replace the allow-all policy.
package auth

import (
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"strings"
)

// User is an authenticated identity.
type User struct {
	Name   string
	UID    string
	Groups []string
}

// Attributes describe one request for the authorizer.
type Attributes struct {
	User        *User
	Verb        string // get, list, watch, create, update, patch, delete
	APIGroup    string
	Resource    string // plural, e.g. "pods"
	Subresource string // e.g. "status"
	Namespace   string
	Name        string
}

// Authorizer decides whether a request may proceed.
type Authorizer interface {
	Authorize(ctx context.Context, a Attributes) (allowed bool, reason string, err error)
}

// AllowAll lets every authenticated request through. It is the policy until
// RBAC lands.
type AllowAll struct{}

// Authorize always allows.
func (AllowAll) Authorize(context.Context, Attributes) (bool, string, error) { return true, "", nil }

// TokenFile authenticates static bearer tokens from a CSV file in upstream's
// format: token,user,uid,"group1,group2".
type TokenFile struct {
	tokens map[string]*User
}

// LoadTokenFile reads a token file.
func LoadTokenFile(path string) (*TokenFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("token file: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	r.Comment = '#'
	records, err := r.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("token file %s: %w", path, err)
	}
	tf := &TokenFile{tokens: map[string]*User{}}
	for n, rec := range records {
		if len(rec) < 2 || rec[0] == "" || rec[1] == "" {
			return nil, fmt.Errorf("token file %s line %d: want token,user[,uid[,groups]]", path, n+1)
		}
		u := &User{Name: rec[1]}
		if len(rec) > 2 {
			u.UID = rec[2]
		}
		if len(rec) > 3 && rec[3] != "" {
			u.Groups = strings.Split(rec[3], ",")
		}
		tf.tokens[rec[0]] = u
	}
	return tf, nil
}

// Lookup returns the user of a token.
func (t *TokenFile) Lookup(token string) (*User, bool) {
	u, ok := t.tokens[token]
	return u, ok
}

type userKey struct{}

// WithUser stores the caller in a context.
func WithUser(ctx context.Context, u *User) context.Context {
	return context.WithValue(ctx, userKey{}, u)
}

// UserFrom returns the caller stored in a context.
func UserFrom(ctx context.Context) *User {
	u, _ := ctx.Value(userKey{}).(*User)
	return u
}

// Authenticate finds the caller from a static bearer token; requests with no
// bearer token are left to other authenticators.
func (t *TokenFile) Authenticate(ctx context.Context) (*User, error) {
	token, err := bearerToken(ctx)
	if err != nil || token == "" {
		return nil, err
	}
	u, ok := t.Lookup(strings.TrimSpace(token))
	if !ok {
		return nil, nil // perhaps a service account token
	}
	return u, nil
}
