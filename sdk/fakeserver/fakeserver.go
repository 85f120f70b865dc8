// Package fakeserver is an in-memory ResourceService for unit tests of code
// built on the SDK. It keeps objects per kind with etcd-like revisions,
// optimistic concurrency, label and field selectors, paging, and ordered
// watches with bookmarks and compaction. It does no validation, defaulting,
// authentication, grace periods or garbage collection: the apiserver's own
// tests cover those.
package fakeserver

import (
	"context"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"

	apiv1 "flotilla.io/proto/flotilla/api/v1"
	corev1 "flotilla.io/proto/flotilla/core/v1"
	"flotilla.io/proto/kind"
	"flotilla.io/proto/object"

	"flotilla.io/sdk/client"
	"flotilla.io/sdk/internal/fieldpath"
)

// Server is the fake. Its zero value is not usable; call New.
type Server struct {
	apiv1.UnimplementedResourceServiceServer

	mu        sync.Mutex
	rev       int64
	uids      int64
	objects   map[string]map[string]proto.Message // kind -> key -> object
	history   []event
	compacted int64
	watchers  map[*watcher]struct{}
	intercept func(method string, req proto.Message) error
}

type event struct {
	typ apiv1.EventType
	obj proto.Message
	old proto.Message // previous state for MODIFIED, to see objects leave a selector
	rev int64
}

// New makes an empty server.
func New() *Server {
	return &Server{objects: map[string]map[string]proto.Message{}, watchers: map[*watcher]struct{}{}}
}

// Start serves a new fake over an in-memory listener and returns it with a
// client; both are torn down when the test ends.
func Start(tb testing.TB) (*Server, *client.Client) {
	tb.Helper()
	s := New()
	lis := bufconn.Listen(1 << 20)
	gs := grpc.NewServer()
	apiv1.RegisterResourceServiceServer(gs, s)
	go func() { _ = gs.Serve(lis) }()
	conn, err := grpc.NewClient("passthrough:///fake",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = conn.Close()
		gs.Stop()
	})
	return s, client.NewFromConn(conn)
}

// Intercept makes every call first run fn (method is "Create", "Get", ...);
// a non-nil error is returned instead of serving the call. nil removes it.
func (s *Server) Intercept(fn func(method string, req proto.Message) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.intercept = fn
}

// Revision is the latest revision.
func (s *Server) Revision() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rev
}

// Compact drops the change history: watches from an older revision fail
// with OutOfRange, as after an etcd compaction.
func (s *Server) Compact() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.compacted = s.rev
	s.history = nil
}

// Bookmark sends a BOOKMARK at the current revision to every watch that
// asked for them.
func (s *Server) Bookmark() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for w := range s.watchers {
		if w.bookmarks {
			w.send(&apiv1.WatchEvent{Type: apiv1.EventType_EVENT_TYPE_BOOKMARK, ResourceVersion: rv(s.rev)})
		}
	}
}

// EndWatches ends every open watch stream with err (nil ends them cleanly).
func (s *Server) EndWatches(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for w := range s.watchers {
		w.end(err)
	}
}

// Watches counts open watch streams.
func (s *Server) Watches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.watchers)
}

func rv(r int64) string { return strconv.FormatInt(r, 10) }

func (s *Server) check(method string, req proto.Message) error {
	s.mu.Lock()
	fn := s.intercept
	s.mu.Unlock()
	if fn != nil {
		return fn(method, req)
	}
	return nil
}

func unpack(a *anypb.Any) (proto.Message, *kind.Info, error) {
	if a == nil {
		return nil, nil, status.Error(codes.InvalidArgument, "object: required")
	}
	m, err := a.UnmarshalNew()
	if err != nil {
		return nil, nil, status.Errorf(codes.InvalidArgument, "object: %v", err)
	}
	info, ok := kind.ForMessage(m)
	if !ok {
		return nil, nil, status.Errorf(codes.InvalidArgument, "object: %s is not a kind", a.GetTypeUrl())
	}
	return m, info, nil
}

func pack(m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		panic(err) // registered kinds always marshal
	}
	return a
}

func lookupKind(k string) (*kind.Info, error) {
	info, ok := kind.ByKind(k)
	if !ok {
		return nil, status.Errorf(codes.InvalidArgument, "kind: %q is not supported", k)
	}
	return info, nil
}

// commit records a change at a new revision and tells the watchers. s.mu is held.
func (s *Server) commit(info *kind.Info, typ apiv1.EventType, obj, old proto.Message) {
	s.rev++
	object.Meta(obj).ResourceVersion = rv(s.rev)
	objs := s.objects[info.Kind]
	if objs == nil {
		objs = map[string]proto.Message{}
		s.objects[info.Kind] = objs
	}
	if typ == apiv1.EventType_EVENT_TYPE_DELETED {
		delete(objs, object.Key(obj))
	} else {
		objs[object.Key(obj)] = obj
	}
	ev := event{typ: typ, obj: obj, old: old, rev: s.rev}
	s.history = append(s.history, ev)
	for w := range s.watchers {
		if w.kind == info.Kind {
			if we := w.filter(ev); we != nil {
				w.send(we)
			}
		}
	}
}

func (s *Server) Create(_ context.Context, req *apiv1.CreateRequest) (*apiv1.CreateResponse, error) {
	if err := s.check("Create", req); err != nil {
		return nil, err
	}
	obj, info, err := unpack(req.GetObject())
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	md := object.Meta(obj)
	if md.GetName() == "" && md.GetGenerateName() != "" {
		s.uids++
		md.Name = md.GetGenerateName() + strconv.FormatInt(s.uids, 36)
	}
	if md.GetName() == "" {
		return nil, status.Error(codes.InvalidArgument, "metadata.name: required")
	}
	if info.Namespaced != (md.GetNamespace() != "") {
		return nil, status.Errorf(codes.InvalidArgument, "metadata.namespace: %s is namespaced=%v", info.Kind, info.Namespaced)
	}
	if _, ok := s.objects[info.Kind][object.Key(obj)]; ok {
		return nil, status.Errorf(codes.AlreadyExists, "%s %q already exists", info.Kind, object.Key(obj))
	}
	if req.GetDryRun() {
		return &apiv1.CreateResponse{Object: pack(obj)}, nil
	}
	s.uids++
	md.Uid = fmt.Sprintf("uid-%d", s.uids)
	md.CreationTimestamp = timestamppb.Now()
	md.Generation = 1
	s.commit(info, apiv1.EventType_EVENT_TYPE_ADDED, obj, nil)
	return &apiv1.CreateResponse{Object: pack(obj)}, nil
}

func (s *Server) Get(_ context.Context, req *apiv1.GetRequest) (*apiv1.GetResponse, error) {
	if err := s.check("Get", req); err != nil {
		return nil, err
	}
	info, err := lookupKind(req.GetKind())
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	obj, ok := s.objects[info.Kind][key(req.GetNamespace(), req.GetName())]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "%s %q not found", info.Kind, key(req.GetNamespace(), req.GetName()))
	}
	return &apiv1.GetResponse{Object: pack(obj)}, nil
}

func key(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}

type selector struct {
	ns     string
	labels labels.Selector
	fields fields.Selector
}

func newSelector(ns, ls, fs string) (*selector, error) {
	l, err := labels.Parse(ls)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "labelSelector: %v", err)
	}
	f, err := fields.ParseSelector(fs)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "fieldSelector: %v", err)
	}
	return &selector{ns: ns, labels: l, fields: f}, nil
}

func (sel *selector) matches(obj proto.Message) bool {
	md := object.Meta(proto.Clone(obj)) // Meta may create metadata; keep stored objects untouched
	if sel.ns != "" && md.GetNamespace() != sel.ns {
		return false
	}
	if !sel.labels.Matches(labels.Set(md.GetLabels())) {
		return false
	}
	for _, r := range sel.fields.Requirements() {
		v, _ := fieldpath.Lookup(obj, r.Field)
		if (v == r.Value) != (r.Operator != "!=") {
			return false
		}
	}
	return true
}

func (s *Server) List(_ context.Context, req *apiv1.ListRequest) (*apiv1.ListResponse, error) {
	if err := s.check("List", req); err != nil {
		return nil, err
	}
	info, err := lookupKind(req.GetKind())
	if err != nil {
		return nil, err
	}
	sel, err := newSelector(req.GetNamespace(), req.GetLabelSelector(), req.GetFieldSelector())
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	objs := s.objects[info.Kind]
	keys := make([]string, 0, len(objs))
	for k, o := range objs {
		if k > req.GetPageToken() && sel.matches(o) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	resp := &apiv1.ListResponse{ResourceVersion: rv(s.rev)}
	if n := int(req.GetPageSize()); n > 0 && len(keys) > n {
		resp.NextPageToken = keys[n-1]
		resp.RemainingItemCount = int64(len(keys) - n)
		keys = keys[:n]
	}
	for _, k := range keys {
		resp.Items = append(resp.Items, pack(objs[k]))
	}
	return resp, nil
}

// current finds the stored object a write names and checks its
// resourceVersion precondition. s.mu is held.
func (s *Server) current(info *kind.Info, obj proto.Message) (proto.Message, error) {
	old, ok := s.objects[info.Kind][object.Key(obj)]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "%s %q not found", info.Kind, object.Key(obj))
	}
	if want := object.Meta(obj).GetResourceVersion(); want != "" && want != object.Meta(old).GetResourceVersion() {
		return nil, status.Errorf(codes.Aborted, "%s %q: resourceVersion %s is stale", info.Kind, object.Key(obj), want)
	}
	return old, nil
}

func (s *Server) Update(_ context.Context, req *apiv1.UpdateRequest) (*apiv1.UpdateResponse, error) {
	if err := s.check("Update", req); err != nil {
		return nil, err
	}
	obj, info, err := unpack(req.GetObject())
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, err := s.current(info, obj)
	if err != nil {
		return nil, err
	}
	md, oldMD := object.Meta(obj), object.Meta(old)
	md.Uid, md.CreationTimestamp, md.Generation = oldMD.GetUid(), oldMD.GetCreationTimestamp(), oldMD.GetGeneration()
	if info.HasStatus {
		object.CopyField(obj, old, "status")
	}
	if !proto.Equal(object.Field(obj, "spec"), object.Field(old, "spec")) {
		md.Generation++
	}
	if req.GetDryRun() {
		return &apiv1.UpdateResponse{Object: pack(obj)}, nil
	}
	s.commit(info, apiv1.EventType_EVENT_TYPE_MODIFIED, obj, old)
	return &apiv1.UpdateResponse{Object: pack(obj)}, nil
}

func (s *Server) UpdateStatus(_ context.Context, req *apiv1.UpdateStatusRequest) (*apiv1.UpdateStatusResponse, error) {
	if err := s.check("UpdateStatus", req); err != nil {
		return nil, err
	}
	in, info, err := unpack(req.GetObject())
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, err := s.current(info, in)
	if err != nil {
		return nil, err
	}
	obj := proto.Clone(old)
	object.CopyField(obj, in, "status")
	if req.GetDryRun() {
		return &apiv1.UpdateStatusResponse{Object: pack(obj)}, nil
	}
	s.commit(info, apiv1.EventType_EVENT_TYPE_MODIFIED, obj, old)
	return &apiv1.UpdateStatusResponse{Object: pack(obj)}, nil
}

func (s *Server) Delete(_ context.Context, req *apiv1.DeleteRequest) (*apiv1.DeleteResponse, error) {
	if err := s.check("Delete", req); err != nil {
		return nil, err
	}
	info, err := lookupKind(req.GetKind())
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := key(req.GetNamespace(), req.GetName())
	old, ok := s.objects[info.Kind][k]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "%s %q not found", info.Kind, k)
	}
	md := object.Meta(proto.Clone(old))
	if p := req.GetPreconditions(); p != nil {
		if (p.GetUid() != "" && p.GetUid() != md.GetUid()) || (p.GetResourceVersion() != "" && p.GetResourceVersion() != md.GetResourceVersion()) {
			return nil, status.Errorf(codes.FailedPrecondition, "%s %q: precondition failed", info.Kind, k)
		}
	}
	obj := proto.Clone(old)
	if req.GetDryRun() {
		return &apiv1.DeleteResponse{Object: pack(obj)}, nil
	}
	if len(md.GetFinalizers()) > 0 {
		if object.Meta(obj).DeletionTimestamp == nil {
			object.Meta(obj).DeletionTimestamp = timestamppb.Now()
			s.commit(info, apiv1.EventType_EVENT_TYPE_MODIFIED, obj, old)
		}
		return &apiv1.DeleteResponse{Object: pack(obj), Pending: true}, nil
	}
	s.commit(info, apiv1.EventType_EVENT_TYPE_DELETED, obj, old)
	return &apiv1.DeleteResponse{Object: pack(obj)}, nil
}

type watcher struct {
	kind      string
	sel       *selector
	bookmarks bool
	ch        chan *apiv1.WatchEvent
	done      chan struct{}
	err       error // why done was closed
}

// send queues an event; a watcher too slow to keep up is ended, as the
// apiserver does, and must relist. s.mu is held.
func (w *watcher) send(ev *apiv1.WatchEvent) {
	select {
	case w.ch <- ev:
	default:
		w.end(status.Error(codes.Unavailable, "watcher too slow"))
	}
}

// end stops the stream with err. s.mu is held.
func (w *watcher) end(err error) {
	select {
	case <-w.done:
	default:
		w.err = err
		close(w.done)
	}
}

// filter turns a change into the event this watcher sees: objects entering
// its selector are ADDED, leaving it DELETED.
func (w *watcher) filter(ev event) *apiv1.WatchEvent {
	now := w.sel.matches(ev.obj)
	was := ev.old != nil && w.sel.matches(ev.old)
	typ := ev.typ
	switch {
	case ev.typ == apiv1.EventType_EVENT_TYPE_DELETED && !now:
		return nil
	case ev.typ == apiv1.EventType_EVENT_TYPE_MODIFIED && now && !was:
		typ = apiv1.EventType_EVENT_TYPE_ADDED
	case ev.typ == apiv1.EventType_EVENT_TYPE_MODIFIED && !now && was:
		typ = apiv1.EventType_EVENT_TYPE_DELETED
	case !now:
		return nil
	}
	return &apiv1.WatchEvent{Type: typ, Object: pack(ev.obj), ResourceVersion: rv(ev.rev)}
}

func (s *Server) Watch(req *apiv1.WatchRequest, stream grpc.ServerStreamingServer[apiv1.WatchResponse]) error {
	if err := s.check("Watch", req); err != nil {
		return err
	}
	info, err := lookupKind(req.GetKind())
	if err != nil {
		return err
	}
	sel, err := newSelector(req.GetNamespace(), req.GetLabelSelector(), req.GetFieldSelector())
	if err != nil {
		return err
	}
	from := int64(0)
	if req.GetResourceVersion() != "" {
		if from, err = strconv.ParseInt(req.GetResourceVersion(), 10, 64); err != nil {
			return status.Errorf(codes.InvalidArgument, "resourceVersion: %v", err)
		}
	}
	w := &watcher{kind: info.Kind, sel: sel, bookmarks: req.GetAllowBookmarks(), ch: make(chan *apiv1.WatchEvent, 1024), done: make(chan struct{})}
	var initial []*apiv1.WatchEvent
	s.mu.Lock()
	switch {
	case from == 0:
		objs := s.objects[info.Kind]
		for _, k := range slices.Sorted(maps.Keys(objs)) {
			if sel.matches(objs[k]) {
				initial = append(initial, &apiv1.WatchEvent{Type: apiv1.EventType_EVENT_TYPE_ADDED, Object: pack(objs[k]), ResourceVersion: object.Meta(objs[k]).GetResourceVersion()})
			}
		}
	case from < s.compacted:
		s.mu.Unlock()
		return status.Errorf(codes.OutOfRange, "resourceVersion %d is compacted (oldest %d)", from, s.compacted)
	default:
		for _, ev := range s.history {
			if ev.rev > from && object.Kind(ev.obj) == info.Kind {
				if we := w.filter(ev); we != nil {
					initial = append(initial, we)
				}
			}
		}
	}
	s.watchers[w] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.watchers, w)
		s.mu.Unlock()
	}()
	if len(initial) > 0 {
		if err := stream.Send(&apiv1.WatchResponse{Events: initial}); err != nil {
			return err
		}
	}
	for {
		select {
		case ev := <-w.ch:
			if err := stream.Send(&apiv1.WatchResponse{Events: []*apiv1.WatchEvent{ev}}); err != nil {
				return err
			}
		case <-w.done:
			s.mu.Lock()
			err := w.err
			s.mu.Unlock()
			return err
		case <-stream.Context().Done():
			return stream.Context().Err()
		}
	}
}

// Bind sets a pending pod's node as the apiserver does.
func (s *Server) Bind(_ context.Context, req *apiv1.BindRequest) (*apiv1.BindResponse, error) {
	if err := s.check("Bind", req); err != nil {
		return nil, err
	}
	info, _ := kind.ByKind("Pod")
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.objects[info.Kind][req.GetNamespace()+"/"+req.GetName()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "pods %q not found", req.GetName())
	}
	pod := proto.Clone(old).(*corev1.Pod)
	if req.GetUid() != "" && req.GetUid() != pod.GetMetadata().GetUid() {
		return nil, status.Errorf(codes.FailedPrecondition, "pod %s: uid mismatch", req.GetName())
	}
	if pod.GetSpec().GetNodeName() != "" {
		return nil, status.Errorf(codes.Aborted, "pod %s is already assigned to node %q", req.GetName(), pod.GetSpec().GetNodeName())
	}
	if pod.Spec == nil {
		pod.Spec = &corev1.PodSpec{}
	}
	pod.Spec.NodeName = req.GetNodeName()
	if pod.Status == nil {
		pod.Status = &corev1.PodStatus{}
	}
	pod.Status.Conditions = append(pod.Status.Conditions, &corev1.PodCondition{Type: "PodScheduled", Status: "True"})
	if req.GetDryRun() {
		return &apiv1.BindResponse{Object: pack(pod)}, nil
	}
	s.commit(info, apiv1.EventType_EVENT_TYPE_MODIFIED, pod, old)
	return &apiv1.BindResponse{Object: pack(pod)}, nil
}
