package client

import (
	"context"
	"fmt"
	"reflect"

	"google.golang.org/protobuf/proto"

	"flotilla.io/proto/kind"
)

// Resource is typed access to one kind, e.g. For[*corev1.Pod](c).
type Resource[T proto.Message] struct {
	d    *Dynamic
	info *kind.Info
	err  error
}

// For resolves T's kind in the registry. An unregistered T does not panic:
// every call returns the error, also available from Err.
func For[T proto.Message](c *Client) *Resource[T] {
	r := &Resource[T]{d: c.Dynamic()}
	r.info, r.err = KindOf[T]()
	return r
}

// KindOf finds the registered kind of the message type T.
func KindOf[T proto.Message]() (*kind.Info, error) {
	var zero T
	// A nil pointer of a generated type still describes itself; an
	// interface type (proto.Message) has nothing to describe.
	if reflect.TypeFor[T]().Kind() != reflect.Pointer {
		return nil, fmt.Errorf("%v is not a concrete message type; use Dynamic", reflect.TypeFor[T]())
	}
	info, ok := kind.ForMessage(zero)
	if !ok {
		return nil, fmt.Errorf("%s is not a registered kind", zero.ProtoReflect().Descriptor().FullName())
	}
	return info, nil
}

// Err reports whether T is a registered kind.
func (r *Resource[T]) Err() error { return r.err }

// Kind describes T's kind; nil when Err is set.
func (r *Resource[T]) Kind() *kind.Info { return r.info }

// New returns an empty T.
func (r *Resource[T]) New() T {
	var zero T
	if r.err != nil {
		return zero
	}
	return r.info.New().(T)
}

func (r *Resource[T]) cast(m proto.Message) (T, error) {
	t, ok := m.(T)
	if !ok {
		var zero T
		return zero, fmt.Errorf("server returned %T, want %s", m, r.info.Kind)
	}
	return t, nil
}

// one converts a Dynamic result.
func one[T proto.Message](r *Resource[T], m proto.Message, err error) (T, error) {
	if err != nil {
		var zero T
		return zero, err
	}
	return r.cast(m)
}

// Create creates obj and returns it as stored (name, uid, resourceVersion set).
func (r *Resource[T]) Create(ctx context.Context, obj T, opts ...WriteOption) (T, error) {
	if r.err != nil {
		return obj, r.err
	}
	m, err := r.d.Create(ctx, obj, opts...)
	return one(r, m, err)
}

// Get reads one object; namespace is "" for cluster-scoped kinds.
func (r *Resource[T]) Get(ctx context.Context, namespace, name string) (T, error) {
	if r.err != nil {
		var zero T
		return zero, r.err
	}
	m, err := r.d.Get(ctx, r.info.Kind, namespace, name)
	return one(r, m, err)
}

// List reads one page.
func (r *Resource[T]) List(ctx context.Context, opts ListOptions) (*List[T], error) {
	if r.err != nil {
		return nil, r.err
	}
	return typedList(r, r.d.List, ctx, opts)
}

// ListAll follows every page (see Dynamic.ListAll).
func (r *Resource[T]) ListAll(ctx context.Context, opts ListOptions) (*List[T], error) {
	if r.err != nil {
		return nil, r.err
	}
	return typedList(r, r.d.ListAll, ctx, opts)
}

func typedList[T proto.Message](r *Resource[T], list func(context.Context, string, ListOptions) (*List[proto.Message], error), ctx context.Context, opts ListOptions) (*List[T], error) {
	l, err := list(ctx, r.info.Kind, opts)
	if err != nil {
		return nil, err
	}
	out := &List[T]{
		Items:              make([]T, len(l.Items)),
		ResourceVersion:    l.ResourceVersion,
		NextPageToken:      l.NextPageToken,
		RemainingItemCount: l.RemainingItemCount,
	}
	for i, m := range l.Items {
		if out.Items[i], err = r.cast(m); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Update replaces metadata and spec; a stale resourceVersion fails with
// IsConflict.
func (r *Resource[T]) Update(ctx context.Context, obj T, opts ...WriteOption) (T, error) {
	if r.err != nil {
		return obj, r.err
	}
	m, err := r.d.Update(ctx, obj, opts...)
	return one(r, m, err)
}

// UpdateStatus replaces status only.
func (r *Resource[T]) UpdateStatus(ctx context.Context, obj T, opts ...WriteOption) (T, error) {
	if r.err != nil {
		return obj, r.err
	}
	m, err := r.d.UpdateStatus(ctx, obj, opts...)
	return one(r, m, err)
}

// Delete deletes an object (or marks it for deletion when finalizers or a
// grace period keep it around).
func (r *Resource[T]) Delete(ctx context.Context, namespace, name string, opts DeleteOptions) error {
	if r.err != nil {
		return r.err
	}
	_, _, err := r.d.Delete(ctx, r.info.Kind, namespace, name, opts)
	return err
}

// Watch streams typed changes until ctx ends or Stop is called.
func (r *Resource[T]) Watch(ctx context.Context, opts WatchOptions) (*Watcher[T], error) {
	if r.err != nil {
		return nil, r.err
	}
	return watch(ctx, r.d.c, r.info.Kind, opts, r.cast)
}
