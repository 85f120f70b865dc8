package storage

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"
)

// ClaimedError says an allocation key (a service IP, a node port) is held by
// another object.
type ClaimedError struct{ Key string }

func (e *ClaimedError) Error() string { return fmt.Sprintf("%s is already allocated", e.Key) }

// Claims are allocation keys written, checked and released in the same
// transaction as the object that holds them, so two writers can never hold
// one value and nothing leaks when a write fails.
type Claims struct {
	// Take are keys that must be free and become held (value Holder).
	Take []string
	// Release are keys the object no longer holds.
	Release []string
	Holder  string
}

func (c Claims) ops() (cmps []clientv3.Cmp, puts []clientv3.Op, checks []clientv3.Op) {
	for _, k := range c.Take {
		cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(k), "=", 0))
		puts = append(puts, clientv3.OpPut(k, c.Holder))
		checks = append(checks, clientv3.OpGet(k, clientv3.WithCountOnly()))
	}
	for _, k := range c.Release {
		puts = append(puts, clientv3.OpDelete(k))
	}
	return cmps, puts, checks
}

// failedClaim finds which taken key was held, given the Else responses that
// follow the first skip ones.
func failedClaim(c Claims, resp *clientv3.TxnResponse, skip int) error {
	for n, k := range c.Take {
		if r := resp.Responses[skip+n].GetResponseRange(); r != nil && r.Count > 0 {
			return &ClaimedError{Key: k}
		}
	}
	return nil
}

// CreateClaiming is Create that also takes claims.
func (s *Store) CreateClaiming(ctx context.Context, key string, obj proto.Message, c Claims) (int64, error) {
	defer s.observe("create", time.Now())
	val, err := s.encode(obj)
	if err != nil {
		return 0, err
	}
	cmps, puts, checks := c.ops()
	resp, err := s.cli.Txn(ctx).
		If(append([]clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(key), "=", 0)}, cmps...)...).
		Then(append([]clientv3.Op{clientv3.OpPut(key, string(val))}, puts...)...).
		Else(append([]clientv3.Op{clientv3.OpGet(key, clientv3.WithCountOnly())}, checks...)...).
		Commit()
	if err != nil {
		return 0, fmt.Errorf("etcd create %s: %w", key, err)
	}
	if !resp.Succeeded {
		if r := resp.Responses[0].GetResponseRange(); r != nil && r.Count > 0 {
			return 0, ErrExists
		}
		if err := failedClaim(c, resp, 1); err != nil {
			return 0, err
		}
		return 0, ErrConflict
	}
	return resp.Header.Revision, nil
}

// UpdateClaiming is Update that also takes and releases claims.
func (s *Store) UpdateClaiming(ctx context.Context, key string, obj proto.Message, expectRev int64, c Claims) (int64, error) {
	defer s.observe("update", time.Now())
	val, err := s.encode(obj)
	if err != nil {
		return 0, err
	}
	cmps, puts, checks := c.ops()
	resp, err := s.cli.Txn(ctx).
		If(append([]clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(key), "=", expectRev)}, cmps...)...).
		Then(append([]clientv3.Op{clientv3.OpPut(key, string(val))}, puts...)...).
		Else(append([]clientv3.Op{clientv3.OpGet(key)}, checks...)...).
		Commit()
	if err != nil {
		return 0, fmt.Errorf("etcd update %s: %w", key, err)
	}
	if !resp.Succeeded {
		r := resp.Responses[0].GetResponseRange()
		switch {
		case r == nil || len(r.Kvs) == 0:
			return 0, ErrNotFound
		case r.Kvs[0].ModRevision != expectRev:
			return 0, ErrConflict
		}
		if err := failedClaim(c, resp, 1); err != nil {
			return 0, err
		}
		return 0, ErrConflict
	}
	return resp.Header.Revision, nil
}

// DeleteReleasing is Delete that also releases claims.
func (s *Store) DeleteReleasing(ctx context.Context, key string, expectRev int64, release []string) (int64, error) {
	if len(release) == 0 {
		return s.Delete(ctx, key, expectRev)
	}
	defer s.observe("delete", time.Now())
	_, puts, _ := Claims{Release: release}.ops()
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", expectRev)).
		Then(append([]clientv3.Op{clientv3.OpDelete(key)}, puts...)...).
		Else(clientv3.OpGet(key, clientv3.WithCountOnly())).
		Commit()
	if err != nil {
		return 0, fmt.Errorf("etcd delete %s: %w", key, err)
	}
	if !resp.Succeeded {
		return 0, missingOrConflict(resp)
	}
	return resp.Header.Revision, nil
}

// ClaimPrefix is where allocation keys of a kind of value live.
func (s *Store) ClaimPrefix(what string) string { return s.prefix + "/_allocations/" + what + "/" }

// InternalPrefix is where the apiserver keeps keys of its own that are not
// objects (e.g. the live apiservers' addresses).
func (s *Store) InternalPrefix(what string) string { return s.prefix + "/_" + what + "/" }

// ClaimKeys lists the allocation keys held for one kind of value.
func (s *Store) ClaimKeys(ctx context.Context, what string) ([]string, error) {
	prefix := s.ClaimPrefix(what)
	resp, err := s.cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, fmt.Errorf("etcd list %s: %w", prefix, err)
	}
	out := make([]string, len(resp.Kvs))
	for n, kv := range resp.Kvs {
		out[n] = string(kv.Key)
	}
	return out, nil
}
