// Package storage keeps API objects in etcd: one key per object, the value the
// object's protobuf encoding, the object's resourceVersion the key's etcd
// modification revision. Every write is a transaction guarded by a revision
// comparison, so concurrent writers can never lose each other's updates.
package storage

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"

	"flotilla.io/proto/kind"
	"flotilla.io/proto/object"

	"flotilla.io/apiserver/internal/encryption"
)

// Errors the store reports; the server maps them to gRPC codes.
var (
	ErrNotFound  = errors.New("not found")
	ErrExists    = errors.New("already exists")
	ErrConflict  = errors.New("the object has been modified")
	ErrCompacted = errors.New("resource version has been compacted")
)

// Store reads and writes objects in etcd under a key prefix.
type Store struct {
	cli     *clientv3.Client
	prefix  string
	latency *prometheus.HistogramVec
	// transformers encrypt values at rest, by resource; absent: plaintext.
	transformers map[string]encryption.Transformer
}

// SetTransformers configures encryption at rest, by resource ("secrets").
func (s *Store) SetTransformers(t map[string]encryption.Transformer) { s.transformers = t }

// New returns a store over an etcd client. prefix is the root of every key
// ("/registry"). reg may be nil.
func New(cli *clientv3.Client, prefix string, reg prometheus.Registerer) *Store {
	s := &Store{
		cli:    cli,
		prefix: strings.TrimSuffix(prefix, "/"),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "flotilla_apiserver_etcd_request_duration_seconds",
			Help:    "Latency of etcd requests made by the apiserver, by operation.",
			Buckets: prometheus.ExponentialBuckets(0.0002, 2, 16),
		}, []string{"operation"}),
	}
	if reg != nil {
		reg.MustRegister(s.latency)
	}
	return s
}

// Client is the underlying etcd client.
func (s *Store) Client() *clientv3.Client { return s.cli }

// KindPrefix is the key prefix of every object of a kind, or of one namespace
// of it when ns is set. It always ends in "/".
func (s *Store) KindPrefix(info *kind.Info, ns string) string {
	p := s.prefix + "/" + info.Resource + "/"
	if ns != "" && info.Namespaced {
		p += ns + "/"
	}
	return p
}

// Key is the etcd key of one object.
func (s *Store) Key(info *kind.Info, ns, name string) string {
	return s.KindPrefix(info, ns) + name
}

func (s *Store) observe(op string, start time.Time) {
	s.latency.WithLabelValues(op).Observe(time.Since(start).Seconds())
}

// encode is the stored form of an object: its protobuf encoding without the
// resourceVersion, which etcd supplies, encrypted when configured.
func (s *Store) encode(obj proto.Message) ([]byte, error) {
	md := object.Meta(obj)
	rv := md.ResourceVersion
	md.ResourceVersion = ""
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(obj)
	md.ResourceVersion = rv
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", object.Kind(obj), err)
	}
	if info, ok := kind.ForMessage(obj); ok {
		if t := s.transformers[info.Resource]; t != nil {
			if b, err = t.ToStorage(b); err != nil {
				return nil, fmt.Errorf("encrypt %s: %w", info.Resource, err)
			}
		}
	}
	return b, nil
}

// Decode turns a stored value back into an object with its resourceVersion.
func (s *Store) Decode(info *kind.Info, value []byte, modRev int64) (proto.Message, error) {
	obj, _, err := s.decode(info, value, modRev)
	return obj, err
}

// decode also reports whether the value should be rewritten (encrypted with
// a key that is no longer the write key).
func (s *Store) decode(info *kind.Info, value []byte, modRev int64) (proto.Message, bool, error) {
	stale := false
	if t := s.transformers[info.Resource]; t != nil {
		var err error
		if value, stale, err = t.FromStorage(value); err != nil {
			return nil, false, fmt.Errorf("decrypt %s: %w", info.Resource, err)
		}
	}
	obj := info.New()
	if err := proto.Unmarshal(value, obj); err != nil {
		return nil, false, fmt.Errorf("decode %s: %w", info.Kind, err)
	}
	object.Meta(obj).ResourceVersion = strconv.FormatInt(modRev, 10)
	return obj, stale, nil
}

// Create stores obj at key if nothing is there and returns the new revision.
func (s *Store) Create(ctx context.Context, key string, obj proto.Message) (int64, error) {
	defer s.observe("create", time.Now())
	val, err := s.encode(obj)
	if err != nil {
		return 0, err
	}
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(val))).
		Commit()
	if err != nil {
		return 0, fmt.Errorf("etcd create %s: %w", key, err)
	}
	if !resp.Succeeded {
		return 0, ErrExists
	}
	return resp.Header.Revision, nil
}

// Get reads one object.
func (s *Store) Get(ctx context.Context, info *kind.Info, key string) (proto.Message, error) {
	defer s.observe("get", time.Now())
	resp, err := s.cli.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("etcd get %s: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, ErrNotFound
	}
	kv := resp.Kvs[0]
	return s.Decode(info, kv.Value, kv.ModRevision)
}

// GetForUpdate is Get that also says whether the stored value is stale
// (written with an old encryption key) and should be rewritten even when
// nothing else changes.
func (s *Store) GetForUpdate(ctx context.Context, info *kind.Info, key string) (proto.Message, bool, error) {
	defer s.observe("get", time.Now())
	resp, err := s.cli.Get(ctx, key)
	if err != nil {
		return nil, false, fmt.Errorf("etcd get %s: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, false, ErrNotFound
	}
	kv := resp.Kvs[0]
	return s.decode(info, kv.Value, kv.ModRevision)
}

// Update replaces the object at key if its revision is still expectRev, and
// returns the new revision. It answers ErrNotFound when the key is gone and
// ErrConflict when someone else wrote it first.
func (s *Store) Update(ctx context.Context, key string, obj proto.Message, expectRev int64) (int64, error) {
	defer s.observe("update", time.Now())
	val, err := s.encode(obj)
	if err != nil {
		return 0, err
	}
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", expectRev)).
		Then(clientv3.OpPut(key, string(val))).
		Else(clientv3.OpGet(key, clientv3.WithCountOnly())).
		Commit()
	if err != nil {
		return 0, fmt.Errorf("etcd update %s: %w", key, err)
	}
	if !resp.Succeeded {
		return 0, missingOrConflict(resp)
	}
	return resp.Header.Revision, nil
}

// Delete removes the object at key if its revision is still expectRev and
// returns the revision of the deletion.
func (s *Store) Delete(ctx context.Context, key string, expectRev int64) (int64, error) {
	defer s.observe("delete", time.Now())
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", expectRev)).
		Then(clientv3.OpDelete(key)).
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

func missingOrConflict(resp *clientv3.TxnResponse) error {
	if len(resp.Responses) == 1 {
		if r := resp.Responses[0].GetResponseRange(); r != nil && r.Count == 0 {
			return ErrNotFound
		}
	}
	return ErrConflict
}

// Page is one chunk of a list read straight from etcd.
type Page struct {
	Items []proto.Message
	// Revision is the etcd revision the page was read at.
	Revision int64
	// NextKey is where the next page starts, or "" when the list is complete.
	NextKey string
	// Remaining counts the keys after this page.
	Remaining int64
}

// List reads up to limit objects (0: all) with keys in [startKey, end of
// prefix) at revision rev (0: now). keep filters objects; filtered objects do
// not count towards limit, and the read continues until the page is full.
func (s *Store) List(ctx context.Context, info *kind.Info, prefix, startKey string, rev, limit int64, keep func(proto.Message) bool) (*Page, error) {
	defer s.observe("list", time.Now())
	if startKey == "" {
		startKey = prefix
	}
	end := clientv3.GetPrefixRangeEnd(prefix)
	page := &Page{Revision: rev}
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end)}
		if page.Revision > 0 {
			opts = append(opts, clientv3.WithRev(page.Revision))
		}
		if limit > 0 {
			opts = append(opts, clientv3.WithLimit(limit-int64(len(page.Items))+1))
		}
		resp, err := s.cli.Get(ctx, startKey, opts...)
		if err != nil {
			if errors.Is(err, rpctypes.ErrCompacted) {
				return nil, ErrCompacted
			}
			return nil, fmt.Errorf("etcd list %s: %w", prefix, err)
		}
		if page.Revision == 0 {
			page.Revision = resp.Header.Revision // later chunks read at this same revision
		}
		kvs := resp.Kvs
		for n, kv := range kvs {
			if limit > 0 && int64(len(page.Items)) == limit {
				page.NextKey = string(kv.Key)
				page.Remaining = resp.Count - int64(n)
				return page, nil
			}
			obj, err := s.Decode(info, kv.Value, kv.ModRevision)
			if err != nil {
				return nil, err
			}
			if keep == nil || keep(obj) {
				page.Items = append(page.Items, obj)
			}
		}
		if !resp.More || len(kvs) == 0 {
			return page, nil
		}
		startKey = string(kvs[len(kvs)-1].Key) + "\x00"
	}
}

// Revision is etcd's current revision, read with a linearizable request.
func (s *Store) Revision(ctx context.Context) (int64, error) {
	defer s.observe("revision", time.Now())
	resp, err := s.cli.Get(ctx, s.prefix+"/", clientv3.WithCountOnly(), clientv3.WithLimit(1))
	if err != nil {
		return 0, fmt.Errorf("etcd revision: %w", err)
	}
	return resp.Header.Revision, nil
}
