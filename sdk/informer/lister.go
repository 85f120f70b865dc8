package informer

import (
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/labels"

	"flotilla.io/proto/object"
)

// Lister reads an informer's cache. Objects are shared: clone before
// mutating.
type Lister[T proto.Message] struct{ store *Store[T] }

// NewLister reads store.
func NewLister[T proto.Message](store *Store[T]) *Lister[T] { return &Lister[T]{store: store} }

// Get returns one object; a missing one is a NotFound error, so
// client.IsNotFound works on it as on the server's.
func (l *Lister[T]) Get(namespace, name string) (T, error) {
	obj, ok := l.store.Get(Key(namespace, name))
	if !ok {
		return obj, status.Errorf(codes.NotFound, "%q not found in cache", Key(namespace, name))
	}
	return obj, nil
}

// List returns the objects in every namespace whose labels match sel; a nil
// selector matches everything.
func (l *Lister[T]) List(sel labels.Selector) []T {
	return filter(l.store.List(), sel)
}

// ListNamespace returns the objects in one namespace whose labels match sel.
func (l *Lister[T]) ListNamespace(namespace string, sel labels.Selector) []T {
	objs, _ := l.store.ByIndex(ByNamespace, namespace)
	return filter(objs, sel)
}

// ByIndex returns the objects filed under value in a named index.
func (l *Lister[T]) ByIndex(index, value string) ([]T, error) {
	return l.store.ByIndex(index, value)
}

func filter[T proto.Message](objs []T, sel labels.Selector) []T {
	if sel == nil || sel.Empty() {
		return objs
	}
	out := objs[:0]
	for _, o := range objs {
		if sel.Matches(labels.Set(object.Meta(o).GetLabels())) {
			out = append(out, o)
		}
	}
	return out
}
