package informer

import (
	"fmt"
	"iter"
	"maps"
	"slices"
	"strings"
	"sync"

	"google.golang.org/protobuf/proto"

	"flotilla.io/proto/object"

	"flotilla.io/sdk/internal/fieldpath"
)

// IndexFunc returns the index values an object is filed under.
type IndexFunc[T proto.Message] func(obj T) []string

// ByNamespace is the built-in index of every store: objects by namespace.
const ByNamespace = "namespace"

// FieldIndex indexes objects by a scalar field named by its upstream path,
// e.g. informer.FieldIndex[*corev1.Pod]("spec.nodeName"). Objects whose
// field is empty are not indexed.
func FieldIndex[T proto.Message](path string) IndexFunc[T] {
	return func(obj T) []string {
		if v, ok := fieldpath.Lookup(obj, path); ok && v != "" {
			return []string{v}
		}
		return nil
	}
}

// Key is the store key of an object: namespace/name, or name when
// cluster-scoped. Controllers queue these keys.
func Key(namespace, name string) string {
	if namespace == "" {
		return name
	}
	return namespace + "/" + name
}

// KeyOf is the store key of obj.
func KeyOf(obj proto.Message) string { return object.Key(obj) }

// SplitKey undoes Key.
func SplitKey(key string) (namespace, name string) {
	if ns, n, ok := strings.Cut(key, "/"); ok {
		return ns, n
	}
	return "", key
}

// Store is a thread-safe cache of objects keyed namespace/name with
// secondary indexes. Objects in it are shared with every reader: clone
// (proto.Clone) before mutating one.
type Store[T proto.Message] struct {
	mu       sync.RWMutex
	items    map[string]T
	indexers map[string]IndexFunc[T]
	// indices: index name -> value -> set of keys
	indices map[string]map[string]map[string]struct{}
}

// NewStore makes an empty store with the ByNamespace index.
func NewStore[T proto.Message]() *Store[T] {
	s := &Store[T]{items: map[string]T{}, indexers: map[string]IndexFunc[T]{}, indices: map[string]map[string]map[string]struct{}{}}
	_ = s.AddIndex(ByNamespace, func(obj T) []string { return []string{object.Meta(obj).GetNamespace()} })
	return s
}

// AddIndex adds a named index and files every current object under it.
func (s *Store[T]) AddIndex(name string, fn IndexFunc[T]) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.indexers[name]; dup {
		return fmt.Errorf("index %q already exists", name)
	}
	s.indexers[name] = fn
	s.indices[name] = map[string]map[string]struct{}{}
	for k, obj := range s.items {
		s.file(name, fn, k, obj)
	}
	return nil
}

func (s *Store[T]) file(name string, fn IndexFunc[T], key string, obj T) {
	idx := s.indices[name]
	for _, v := range fn(obj) {
		set := idx[v]
		if set == nil {
			set = map[string]struct{}{}
			idx[v] = set
		}
		set[key] = struct{}{}
	}
}

func (s *Store[T]) unfile(key string, obj T) {
	for name, fn := range s.indexers {
		idx := s.indices[name]
		for _, v := range fn(obj) {
			delete(idx[v], key)
			if len(idx[v]) == 0 {
				delete(idx, v)
			}
		}
	}
}

// Upsert stores obj and returns what it replaced.
func (s *Store[T]) Upsert(obj T) (old T, existed bool) {
	key := object.Key(obj)
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, existed = s.items[key]; existed {
		s.unfile(key, old)
	}
	s.items[key] = obj
	for name, fn := range s.indexers {
		s.file(name, fn, key, obj)
	}
	return old, existed
}

// Delete removes the object stored under key and returns it.
func (s *Store[T]) Delete(key string) (old T, existed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, existed = s.items[key]; existed {
		s.unfile(key, old)
		delete(s.items, key)
	}
	return old, existed
}

// Get returns the object stored under key.
func (s *Store[T]) Get(key string) (T, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	obj, ok := s.items[key]
	return obj, ok
}

// Len counts the stored objects.
func (s *Store[T]) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.items)
}

// Keys lists every key, sorted.
func (s *Store[T]) Keys() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Sorted(maps.Keys(s.items))
}

// List returns every object, sorted by key so callers see a stable order.
func (s *Store[T]) List() []T {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.sorted(maps.Keys(s.items))
}

// ByIndex returns the objects filed under value in the named index, sorted
// by key.
func (s *Store[T]) ByIndex(name, value string) ([]T, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	idx, ok := s.indices[name]
	if !ok {
		return nil, fmt.Errorf("index %q does not exist", name)
	}
	return s.sorted(maps.Keys(idx[value])), nil
}

// IndexValues lists the values with objects in the named index.
func (s *Store[T]) IndexValues(name string) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Sorted(maps.Keys(s.indices[name]))
}

// sorted collects objects by key in key order. s.mu is held.
func (s *Store[T]) sorted(keys iter.Seq[string]) []T {
	ks := slices.Sorted(keys)
	out := make([]T, len(ks))
	for i, k := range ks {
		out[i] = s.items[k]
	}
	return out
}
