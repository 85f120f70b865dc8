package client

import (
	"context"
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	apiv1 "flotilla.io/proto/flotilla/api/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
	"flotilla.io/proto/object"
)

// Dynamic works on any registered kind without compile-time types: objects
// are proto.Message values of the kind's Go type and kinds are named by
// string ("Pod"). flotctl uses it; daemons prefer For[T].
type Dynamic struct{ c *Client }

// Dynamic returns the untyped API.
func (c *Client) Dynamic() *Dynamic { return &Dynamic{c: c} }

// Create creates obj and returns it as stored.
func (d *Dynamic) Create(ctx context.Context, obj proto.Message, opts ...WriteOption) (proto.Message, error) {
	a, err := anypb.New(obj)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", describe(obj), err)
	}
	resp, err := d.c.api.Create(ctx, &apiv1.CreateRequest{Object: a, DryRun: applyWrite(opts).dryRun})
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", describe(obj), err)
	}
	return decode(resp.GetObject())
}

// Get reads one object; namespace is "" for cluster-scoped kinds.
func (d *Dynamic) Get(ctx context.Context, kind, namespace, name string) (proto.Message, error) {
	resp, err := d.c.api.Get(ctx, &apiv1.GetRequest{Kind: kind, Namespace: namespace, Name: name})
	if err != nil {
		return nil, fmt.Errorf("get %s %s: %w", kind, join(namespace, name), err)
	}
	return decode(resp.GetObject())
}

// List reads one page of objects.
func (d *Dynamic) List(ctx context.Context, kind string, opts ListOptions) (*List[proto.Message], error) {
	resp, err := d.c.api.List(ctx, &apiv1.ListRequest{
		Kind:          kind,
		Namespace:     opts.Namespace,
		LabelSelector: opts.LabelSelector,
		FieldSelector: opts.FieldSelector,
		PageSize:      opts.PageSize,
		PageToken:     opts.PageToken,
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", kind, err)
	}
	l := &List[proto.Message]{
		Items:              make([]proto.Message, 0, len(resp.GetItems())),
		ResourceVersion:    resp.GetResourceVersion(),
		NextPageToken:      resp.GetNextPageToken(),
		RemainingItemCount: resp.GetRemainingItemCount(),
	}
	for _, a := range resp.GetItems() {
		m, err := decode(a)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", kind, err)
		}
		l.Items = append(l.Items, m)
	}
	return l, nil
}

// ListAll follows every page. Its ResourceVersion is the first page's: a
// watch from there may replay changes made while paging but misses none.
func (d *Dynamic) ListAll(ctx context.Context, kind string, opts ListOptions) (*List[proto.Message], error) {
	all, err := d.List(ctx, kind, opts)
	if err != nil {
		return nil, err
	}
	for all.NextPageToken != "" {
		opts.PageToken = all.NextPageToken
		page, err := d.List(ctx, kind, opts)
		if err != nil {
			return nil, err
		}
		all.Items = append(all.Items, page.Items...)
		all.NextPageToken = page.NextPageToken
	}
	all.RemainingItemCount = 0
	return all, nil
}

// Update replaces metadata and spec. obj's resourceVersion makes it a
// compare-and-swap: a stale one fails with IsConflict.
func (d *Dynamic) Update(ctx context.Context, obj proto.Message, opts ...WriteOption) (proto.Message, error) {
	a, err := anypb.New(obj)
	if err != nil {
		return nil, fmt.Errorf("update %s: %w", describe(obj), err)
	}
	resp, err := d.c.api.Update(ctx, &apiv1.UpdateRequest{Object: a, DryRun: applyWrite(opts).dryRun})
	if err != nil {
		return nil, fmt.Errorf("update %s: %w", describe(obj), err)
	}
	return decode(resp.GetObject())
}

// UpdateStatus replaces status only.
func (d *Dynamic) UpdateStatus(ctx context.Context, obj proto.Message, opts ...WriteOption) (proto.Message, error) {
	a, err := anypb.New(obj)
	if err != nil {
		return nil, fmt.Errorf("update status %s: %w", describe(obj), err)
	}
	resp, err := d.c.api.UpdateStatus(ctx, &apiv1.UpdateStatusRequest{Object: a, DryRun: applyWrite(opts).dryRun})
	if err != nil {
		return nil, fmt.Errorf("update status %s: %w", describe(obj), err)
	}
	return decode(resp.GetObject())
}

// Delete deletes an object. It returns the object as deleted, and pending
// when finalizers or a grace period keep it around, marked for deletion.
func (d *Dynamic) Delete(ctx context.Context, kind, namespace, name string, opts DeleteOptions) (obj proto.Message, pending bool, err error) {
	req := &apiv1.DeleteRequest{
		Kind:               kind,
		Namespace:          namespace,
		Name:               name,
		GracePeriodSeconds: opts.GracePeriodSeconds,
		PropagationPolicy:  string(opts.PropagationPolicy),
		DryRun:             opts.DryRun,
	}
	if p := opts.Preconditions; p != nil {
		req.Preconditions = &apiv1.Preconditions{Uid: p.UID, ResourceVersion: p.ResourceVersion}
	}
	resp, err := d.c.api.Delete(ctx, req)
	if err != nil {
		return nil, false, fmt.Errorf("delete %s %s: %w", kind, join(namespace, name), err)
	}
	if resp.GetObject() == nil {
		return nil, resp.GetPending(), nil
	}
	obj, err = decode(resp.GetObject())
	return obj, resp.GetPending(), err
}

// Watch streams changes until ctx ends or Stop is called.
func (d *Dynamic) Watch(ctx context.Context, kind string, opts WatchOptions) (*Watcher[proto.Message], error) {
	return watch(ctx, d.c, kind, opts, func(m proto.Message) (proto.Message, error) { return m, nil })
}

// EventType is the kind of change a watch event reports.
type EventType string

const (
	Added    EventType = "ADDED"
	Modified EventType = "MODIFIED"
	Deleted  EventType = "DELETED"
	// Bookmark carries no object, only the revision the watch has reached.
	Bookmark EventType = "BOOKMARK"
)

var eventTypes = map[apiv1.EventType]EventType{
	apiv1.EventType_EVENT_TYPE_ADDED:    Added,
	apiv1.EventType_EVENT_TYPE_MODIFIED: Modified,
	apiv1.EventType_EVENT_TYPE_DELETED:  Deleted,
	apiv1.EventType_EVENT_TYPE_BOOKMARK: Bookmark,
}

// Event is one change. For DELETED, Object is the object's last state.
type Event[T proto.Message] struct {
	Type            EventType
	Object          T
	ResourceVersion string
}

// Watcher yields the events of one watch stream in order.
type Watcher[T proto.Message] struct {
	ctx     context.Context
	cancel  context.CancelFunc
	stream  grpc.ServerStreamingClient[apiv1.WatchResponse]
	pending []*apiv1.WatchEvent
	cast    func(proto.Message) (T, error)
}

func watch[T proto.Message](ctx context.Context, c *Client, kind string, opts WatchOptions, cast func(proto.Message) (T, error)) (*Watcher[T], error) {
	ctx, cancel := context.WithCancel(ctx)
	stream, err := c.api.Watch(ctx, &apiv1.WatchRequest{
		Kind:            kind,
		Namespace:       opts.Namespace,
		LabelSelector:   opts.LabelSelector,
		FieldSelector:   opts.FieldSelector,
		ResourceVersion: opts.ResourceVersion,
		AllowBookmarks:  opts.AllowBookmarks,
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("watch %s: %w", kind, err)
	}
	return &Watcher[T]{ctx: ctx, cancel: cancel, stream: stream, cast: cast}, nil
}

// Next blocks for the next event. It returns ctx's error once the watch's
// context ends or Stop was called, ErrWatchClosed when the server ended the
// stream, and an IsExpired error when the start revision was compacted.
func (w *Watcher[T]) Next() (Event[T], error) {
	for len(w.pending) == 0 {
		resp, err := w.stream.Recv()
		if err != nil {
			// Read ctx's state before cancel, which sets it.
			cerr := w.ctx.Err()
			w.cancel()
			if cerr != nil {
				return Event[T]{}, cerr
			}
			if errors.Is(err, io.EOF) {
				return Event[T]{}, ErrWatchClosed
			}
			return Event[T]{}, fmt.Errorf("watch: %w", err)
		}
		w.pending = resp.GetEvents()
	}
	ev := w.pending[0]
	w.pending = w.pending[1:]
	out := Event[T]{Type: eventTypes[ev.GetType()], ResourceVersion: ev.GetResourceVersion()}
	if out.Type == "" {
		return Event[T]{}, fmt.Errorf("watch: unknown event type %v", ev.GetType())
	}
	if ev.GetObject() != nil {
		m, err := decode(ev.GetObject())
		if err == nil {
			out.Object, err = w.cast(m)
		}
		if err != nil {
			return Event[T]{}, fmt.Errorf("watch: %w", err)
		}
		if out.ResourceVersion == "" {
			out.ResourceVersion = object.Meta(m).GetResourceVersion()
		}
	}
	return out, nil
}

// Stop ends the watch; a blocked Next returns.
func (w *Watcher[T]) Stop() { w.cancel() }

func decode(a *anypb.Any) (proto.Message, error) {
	if a == nil {
		return nil, fmt.Errorf("decode: response has no object")
	}
	m, err := a.UnmarshalNew()
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", a.GetTypeUrl(), err)
	}
	return m, nil
}

func describe(obj proto.Message) string {
	k := object.Kind(obj)
	if k == "" {
		k = string(obj.ProtoReflect().Descriptor().FullName())
	}
	md := peekMeta(obj)
	return k + " " + join(md.GetNamespace(), md.GetName())
}

// peekMeta reads metadata without object.Meta's side effect of creating it.
func peekMeta(obj proto.Message) *metav1.ObjectMeta {
	r := obj.ProtoReflect()
	fd := r.Descriptor().Fields().ByName("metadata")
	if fd == nil || fd.Message() == nil {
		return nil
	}
	md, _ := r.Get(fd).Message().Interface().(*metav1.ObjectMeta)
	return md
}

func join(namespace, name string) string {
	if namespace == "" {
		return name
	}
	return namespace + "/" + name
}
