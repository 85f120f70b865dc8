// Package server implements the ResourceService gRPC API: authorization,
// defaulting, validation and the object lifecycle (generation, finalizers,
// graceful deletion) over the etcd store and the watch cache.
package server

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"k8s.io/apimachinery/pkg/util/validation/field"

	apiv1 "flotilla.io/proto/flotilla/api/v1"
	corev1 "flotilla.io/proto/flotilla/core/v1"
	"flotilla.io/proto/kind"
	"flotilla.io/proto/object"

	"flotilla.io/apiserver/internal/admission"
	"flotilla.io/apiserver/internal/alloc"
	"flotilla.io/apiserver/internal/auth"
	"flotilla.io/apiserver/internal/defaults"
	"flotilla.io/apiserver/internal/filter"
	"flotilla.io/apiserver/internal/storage"
	"flotilla.io/apiserver/internal/validation"
	"flotilla.io/apiserver/internal/watchcache"
)

// Config wires a Server.
type Config struct {
	Store      *storage.Store
	Caches     *watchcache.Caches
	Authorizer auth.Authorizer
	Log        *zap.Logger
	Registry   prometheus.Registerer
	// BookmarkInterval is how often an idle watch gets a BOOKMARK.
	BookmarkInterval time.Duration
	// Services allocates cluster IPs and node ports (nil: none allocated).
	Services *alloc.Services
	// Escalation, when set, refuses RBAC writes that grant more than the
	// writer holds.
	Escalation interface {
		CheckEscalation(ctx context.Context, obj proto.Message) error
	}
	// Admission tunes the create-time admission plugins.
	Admission admission.Options
}

// Server is the ResourceService.
type Server struct {
	apiv1.UnimplementedResourceServiceServer
	store    *storage.Store
	caches   *watchcache.Caches
	authz    auth.Authorizer
	log      *zap.Logger
	bookmark time.Duration
	services *alloc.Services
	admit    admission.Options
	escalate interface {
		CheckEscalation(ctx context.Context, obj proto.Message) error
	}
	now      func() time.Time
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// New builds the service.
func New(cfg Config) *Server {
	s := &Server{
		store:    cfg.Store,
		caches:   cfg.Caches,
		authz:    cfg.Authorizer,
		log:      cfg.Log,
		bookmark: cfg.BookmarkInterval,
		services: cfg.Services,
		escalate: cfg.Escalation,
		admit:    cfg.Admission,
		now:      time.Now,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flotilla_apiserver_requests_total", Help: "API requests by kind, verb and gRPC code.",
		}, []string{"kind", "verb", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "flotilla_apiserver_request_duration_seconds",
			Help:    "API request latency by kind and verb (watch: time to establish).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"kind", "verb"}),
	}
	if s.bookmark == 0 {
		s.bookmark = 5 * time.Second
	}
	if cfg.Registry != nil {
		cfg.Registry.MustRegister(s.requests, s.latency)
	}
	return s
}

func (s *Server) observe(k, verb string, start time.Time, err *error) {
	s.latency.WithLabelValues(k, verb).Observe(time.Since(start).Seconds())
	s.requests.WithLabelValues(k, verb, status.Code(*err).String()).Inc()
}

func lookupKind(k string) (*kind.Info, error) {
	info, ok := kind.ByKind(k)
	if !ok {
		return nil, badRequest("kind %q is not served (known kinds: %v)", k, kind.Kinds())
	}
	return info, nil
}

func decodeAny(a *anypb.Any) (proto.Message, *kind.Info, error) {
	if a == nil {
		return nil, nil, badRequest("object: Required value")
	}
	obj, err := a.UnmarshalNew()
	if err != nil {
		return nil, nil, badRequest("object: cannot decode %s: %v", a.GetTypeUrl(), err)
	}
	info, ok := kind.ForMessage(obj)
	if !ok {
		return nil, nil, badRequest("object: %s is not an API kind", a.GetTypeUrl())
	}
	return obj, info, nil
}

func toAny(obj proto.Message) (*anypb.Any, error) {
	a, err := anypb.New(obj)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "encode response: %v", err)
	}
	return a, nil
}

func (s *Server) authorize(ctx context.Context, info *kind.Info, verb, sub, ns, name string) error {
	if s.authz == nil {
		return nil
	}
	ok, _, err := s.authz.Authorize(ctx, auth.Attributes{
		User: auth.UserFrom(ctx), Verb: verb, APIGroup: info.Group, Resource: info.Resource,
		Subresource: sub, Namespace: ns, Name: name,
	})
	if err != nil {
		return status.Errorf(codes.Internal, "authorize: %v", err)
	}
	if !ok {
		return forbidden(ctx, info.Group, info.Resource, sub, verb, ns, name)
	}
	return nil
}

func (s *Server) key(info *kind.Info, ns, name string) string { return s.store.Key(info, ns, name) }

// checkNamespace refuses objects in a namespace that does not exist or is
// being deleted.
func (s *Server) checkNamespace(ctx context.Context, info *kind.Info, ns string) error {
	if !info.Namespaced {
		return nil
	}
	nsInfo, _ := kind.ByKind("Namespace")
	key := s.key(nsInfo, "", ns)
	obj := s.caches.For("Namespace").Get(key)
	if obj == nil { // the cache may lag a namespace created a moment ago
		var err error
		if obj, err = s.store.Get(ctx, nsInfo, key); err != nil {
			if status.Code(storeError(nsInfo, ns, err)) == codes.NotFound {
				return status.Errorf(codes.NotFound, "namespaces %q not found", ns)
			}
			return storeError(nsInfo, ns, err)
		}
	}
	if object.Meta(obj).DeletionTimestamp != nil {
		return status.Errorf(codes.FailedPrecondition, "%s cannot be created in namespace %q because it is being terminated", info.Kind, ns)
	}
	return nil
}

// Create stores a new object.
func (s *Server) Create(ctx context.Context, req *apiv1.CreateRequest) (resp *apiv1.CreateResponse, err error) {
	obj, info, err := decodeAny(req.Object)
	if err != nil {
		return nil, err
	}
	if err := checkSize(obj); err != nil {
		return nil, err
	}
	defer s.observe(info.Kind, "create", time.Now(), &err)
	md := object.Meta(obj)
	if err := s.authorize(ctx, info, "create", "", md.Namespace, md.Name); err != nil {
		return nil, err
	}
	if md.ResourceVersion != "" {
		return nil, badRequest("metadata.resourceVersion: Invalid value: %q: must be empty when creating an object", md.ResourceVersion)
	}
	now := s.now()
	md.Uid = uuid.NewString()
	md.CreationTimestamp = timestamppb.New(now.Truncate(time.Second))
	md.DeletionTimestamp, md.DeletionGracePeriodSeconds = nil, nil
	md.Generation = 1
	if info.HasStatus {
		object.CopyField(obj, info.New(), "status") // status starts empty; controllers fill it
	}
	defaults.Apply(obj)
	if md.Name == "" && md.GenerateName != "" {
		md.Name = md.GenerateName + randomSuffix()
	}
	s.admit.Admit(obj)
	if pod, ok := obj.(*corev1.Pod); ok {
		if err := s.admitPriority(ctx, pod); err != nil {
			return nil, err
		}
		s.admitServiceAccount(ctx, pod)
	}
	orig := proto.Clone(obj)
	asg, err := s.assign(info, obj, nil, nil)
	if err != nil {
		return nil, err
	}
	if errs := validation.Validate(obj, nil); len(errs) > 0 {
		return nil, invalid(info, md.Name, errs)
	}
	if s.escalate != nil {
		if err := s.escalate.CheckEscalation(ctx, obj); err != nil {
			return nil, err
		}
	}
	if err := s.checkNamespace(ctx, info, md.Namespace); err != nil {
		return nil, err
	}
	if req.DryRun {
		a, err := toAny(obj)
		return &apiv1.CreateResponse{Object: a}, err
	}
	for attempt := 0; ; attempt++ {
		key := s.key(info, md.Namespace, md.Name)
		rv, err := s.store.CreateClaiming(ctx, key, obj, storage.Claims{Take: s.claimsOf(obj), Holder: key})
		var claimed *storage.ClaimedError
		switch {
		case err == storage.ErrExists && md.GenerateName != "" && attempt < 5:
			md.Name = md.GenerateName + randomSuffix() // a generated name collided: pick another
			continue
		case errors.As(err, &claimed) && asg.Random[claimed.Key] && attempt < 20:
			obj = proto.Clone(orig) // a random IP or port was taken meanwhile: choose again, avoiding what etcd holds
			md = object.Meta(obj)
			if asg, err = s.assign(info, obj, nil, s.heldClaims(ctx)); err != nil {
				return nil, err
			}
			continue
		case errors.As(err, &claimed):
			return nil, invalid(info, md.Name, field.ErrorList{field.Invalid(asg.Field[claimed.Key], claimedValue(claimed.Key), "provided value is already allocated")})
		case err != nil:
			return nil, storeError(info, md.Name, err)
		}
		md.ResourceVersion = strconv.FormatInt(rv, 10)
		break
	}
	a, err := toAny(obj)
	return &apiv1.CreateResponse{Object: a}, err
}

// Get reads one object from etcd (always current).
func (s *Server) Get(ctx context.Context, req *apiv1.GetRequest) (resp *apiv1.GetResponse, err error) {
	info, err := lookupKind(req.Kind)
	if err != nil {
		return nil, err
	}
	defer s.observe(info.Kind, "get", time.Now(), &err)
	if err := s.authorize(ctx, info, "get", "", req.Namespace, req.Name); err != nil {
		return nil, err
	}
	if req.Name == "" {
		return nil, badRequest("name: Required value")
	}
	obj, err := s.store.Get(ctx, info, s.key(info, req.Namespace, req.Name))
	if err != nil {
		return nil, storeError(info, req.Name, err)
	}
	a, err := toAny(obj)
	return &apiv1.GetResponse{Object: a}, err
}

// pageToken is the decoded continue token of a paginated list.
type pageToken struct {
	Revision int64  `json:"rv"`
	Start    string `json:"start"`
}

// List returns the objects matching the request, consistent at one revision.
// Unpaginated lists are served from the watch cache once it has caught up with
// etcd's current revision; paginated lists read etcd at a fixed revision.
func (s *Server) List(ctx context.Context, req *apiv1.ListRequest) (resp *apiv1.ListResponse, err error) {
	info, err := lookupKind(req.Kind)
	if err != nil {
		return nil, err
	}
	defer s.observe(info.Kind, "list", time.Now(), &err)
	if err := s.authorize(ctx, info, "list", "", req.Namespace, ""); err != nil {
		return nil, err
	}
	f, err := filter.New(info, req.Namespace, req.LabelSelector, req.FieldSelector)
	if err != nil {
		return nil, badRequest("%v", err)
	}
	if req.PageSize < 0 {
		return nil, badRequest("pageSize: Invalid value: %d: must be 0 or more", req.PageSize)
	}
	if req.PageSize == 0 && req.PageToken == "" {
		if rev, err := s.store.Revision(ctx); err == nil {
			items, rv, err := s.caches.For(info.Kind).List(ctx, f, rev)
			if err == nil {
				return listResponse(items, rv, "", 0)
			}
			s.log.Debug("list served from etcd", zap.String("kind", info.Kind), zap.Error(err))
		}
	}
	prefix := s.store.KindPrefix(info, req.Namespace)
	var tok pageToken
	if req.PageToken != "" {
		raw, err := base64.RawURLEncoding.DecodeString(req.PageToken)
		if err != nil || json.Unmarshal(raw, &tok) != nil || tok.Start < prefix {
			return nil, badRequest("pageToken: Invalid value: not a token from this list")
		}
	}
	var keep func(proto.Message) bool
	if !f.Everything() {
		keep = f.Match
	}
	page, err := s.store.List(ctx, info, prefix, tok.Start, tok.Revision, int64(req.PageSize), keep)
	if err != nil {
		return nil, storeError(info, "", err)
	}
	next := ""
	if page.NextKey != "" {
		raw, _ := json.Marshal(pageToken{Revision: page.Revision, Start: page.NextKey})
		next = base64.RawURLEncoding.EncodeToString(raw)
	}
	return listResponse(page.Items, page.Revision, next, page.Remaining)
}

func listResponse(items []proto.Message, rv int64, next string, remaining int64) (*apiv1.ListResponse, error) {
	resp := &apiv1.ListResponse{Items: make([]*anypb.Any, len(items)), ResourceVersion: strconv.FormatInt(rv, 10), NextPageToken: next, RemainingItemCount: remaining}
	for n, obj := range items {
		a, err := toAny(obj)
		if err != nil {
			return nil, err
		}
		resp.Items[n] = a
	}
	return resp, nil
}

// specChanged reports whether anything but metadata and status differs.
func specChanged(a, b proto.Message) bool {
	return !object.FieldsExcept(a, b, "metadata", "status")
}

// Update writes spec and metadata, keeping status and server-owned metadata.
func (s *Server) Update(ctx context.Context, req *apiv1.UpdateRequest) (resp *apiv1.UpdateResponse, err error) {
	obj, info, err := decodeAny(req.Object)
	if err != nil {
		return nil, err
	}
	if err := checkSize(obj); err != nil {
		return nil, err
	}
	defer s.observe(info.Kind, "update", time.Now(), &err)
	md := object.Meta(obj)
	if err := s.authorize(ctx, info, "update", "", md.Namespace, md.Name); err != nil {
		return nil, err
	}
	var asg alloc.Assignment
	var taken map[string]bool
	mutate := func(cur proto.Message) (proto.Message, error) {
		next := proto.Clone(obj)
		nmd, cmd := object.Meta(next), object.Meta(cur)
		if nmd.Uid != "" && nmd.Uid != cmd.Uid {
			return nil, invalid(info, nmd.Name, field.ErrorList{field.Invalid(field.NewPath("metadata", "uid"), nmd.Uid, "field is immutable")})
		}
		nmd.Uid, nmd.CreationTimestamp, nmd.Generation = cmd.Uid, cmd.CreationTimestamp, cmd.Generation
		nmd.DeletionTimestamp, nmd.DeletionGracePeriodSeconds = cmd.DeletionTimestamp, cmd.DeletionGracePeriodSeconds
		if info.HasStatus {
			object.CopyField(next, cur, "status")
		}
		defaults.Apply(next)
		if n, ok := next.(*corev1.Node); ok {
			admission.StampTaints(n, s.now())
		}
		var err error
		if asg, err = s.assign(info, next, cur, taken); err != nil {
			return nil, err
		}
		if specChanged(next, cur) {
			nmd.Generation++
		}
		if errs := validation.Validate(next, cur); len(errs) > 0 {
			return nil, invalid(info, nmd.Name, errs)
		}
		if s.escalate != nil {
			if err := s.escalate.CheckEscalation(ctx, next); err != nil {
				return nil, err
			}
		}
		return next, nil
	}
	var out proto.Message
	for attempt := 0; ; attempt++ {
		out, err = s.update(ctx, info, md.Namespace, md.Name, md.ResourceVersion, req.DryRun, mutate)
		var claimed *storage.ClaimedError
		if errors.As(err, &claimed) {
			if asg.Random[claimed.Key] && attempt < 20 {
				taken = s.heldClaims(ctx)
				continue
			}
			return nil, invalid(info, md.Name, field.ErrorList{field.Invalid(asg.Field[claimed.Key], claimedValue(claimed.Key), "provided value is already allocated")})
		}
		break
	}
	if err != nil {
		return nil, err
	}
	a, err := toAny(out)
	return &apiv1.UpdateResponse{Object: a}, err
}

// UpdateStatus writes only status.
func (s *Server) UpdateStatus(ctx context.Context, req *apiv1.UpdateStatusRequest) (resp *apiv1.UpdateStatusResponse, err error) {
	obj, info, err := decodeAny(req.Object)
	if err != nil {
		return nil, err
	}
	if err := checkSize(obj); err != nil {
		return nil, err
	}
	defer s.observe(info.Kind, "updatestatus", time.Now(), &err)
	md := object.Meta(obj)
	if err := s.authorize(ctx, info, "update", "status", md.Namespace, md.Name); err != nil {
		return nil, err
	}
	if !info.HasStatus {
		return nil, status.Errorf(codes.InvalidArgument, "%s has no status subresource", info.Kind)
	}
	out, err := s.update(ctx, info, md.Namespace, md.Name, md.ResourceVersion, req.DryRun, func(cur proto.Message) (proto.Message, error) {
		next := proto.Clone(cur)
		object.CopyField(next, obj, "status")
		if errs := validation.ValidateStatus(next, cur); len(errs) > 0 {
			return nil, invalid(info, md.Name, errs)
		}
		return next, nil
	})
	if err != nil {
		return nil, err
	}
	a, err := toAny(out)
	return &apiv1.UpdateStatusResponse{Object: a}, err
}

// update is the read-modify-write loop shared by writes to existing objects.
// With a resourceVersion from the client a stale read is a conflict; without
// one the write is retried against the newest object.
func (s *Server) update(ctx context.Context, info *kind.Info, ns, name, rv string, dryRun bool, mutate func(cur proto.Message) (proto.Message, error)) (proto.Message, error) {
	if name == "" {
		return nil, badRequest("metadata.name: Required value")
	}
	key := s.key(info, ns, name)
	for {
		cur, stale, err := s.store.GetForUpdate(ctx, info, key)
		if err != nil {
			return nil, storeError(info, name, err)
		}
		curRV := object.Meta(cur).ResourceVersion
		if rv != "" && rv != curRV {
			return nil, storeError(info, name, storage.ErrConflict)
		}
		next, err := mutate(cur)
		if err != nil {
			return nil, err
		}
		object.Meta(next).ResourceVersion = curRV
		if (proto.Equal(next, cur) && !stale) || dryRun {
			return next, nil // nothing changed: no write, no new revision
		}
		expect, _ := strconv.ParseInt(curRV, 10, 64)
		nmd := object.Meta(next)
		var newRV int64
		if removable(next) {
			newRV, err = s.store.DeleteReleasing(ctx, key, expect, s.claimsOf(cur)) // the last finalizer is gone
		} else {
			take, release := alloc.Diff(s.claimsOf(next), s.claimsOf(cur))
			newRV, err = s.store.UpdateClaiming(ctx, key, next, expect, storage.Claims{Take: take, Release: release, Holder: key})
		}
		if err == storage.ErrConflict && rv == "" {
			continue
		}
		var claimed *storage.ClaimedError
		if errors.As(err, &claimed) {
			return nil, err // the caller decides: choose again or refuse
		}
		if err != nil {
			return nil, storeError(info, name, err)
		}
		nmd.ResourceVersion = strconv.FormatInt(newRV, 10)
		return next, nil
	}
}

// gracePeriod is how long a deleted object lingers before it is removed: for a
// pod bound to a node, the time the kubelet has to stop it; otherwise 0.
func gracePeriod(obj proto.Message, requested *int64) int64 {
	pod, ok := obj.(*corev1.Pod)
	if !ok || pod.GetSpec().GetNodeName() == "" {
		return 0
	}
	if requested != nil {
		return max(*requested, 0)
	}
	if g := pod.GetSpec().TerminationGracePeriodSeconds; g != nil {
		return max(*g, 0)
	}
	return 30
}

// removable reports whether an object marked for deletion may now be
// removed: no finalizers are left, a pod's kubelet has confirmed it stopped
// (grace 0), and a namespace's controller has emptied it (spec.finalizers).
func removable(obj proto.Message) bool {
	md := object.Meta(obj)
	if md.DeletionTimestamp == nil || len(md.Finalizers) > 0 {
		return false
	}
	switch o := obj.(type) {
	case *corev1.Pod:
		return md.GetDeletionGracePeriodSeconds() == 0
	case *corev1.Namespace:
		return len(o.GetSpec().GetFinalizers()) == 0
	}
	return true
}

// Delete removes an object, or marks it for deletion when finalizers or a
// grace period keep it around.
func (s *Server) Delete(ctx context.Context, req *apiv1.DeleteRequest) (resp *apiv1.DeleteResponse, err error) {
	info, err := lookupKind(req.Kind)
	if err != nil {
		return nil, err
	}
	defer s.observe(info.Kind, "delete", time.Now(), &err)
	if err := s.authorize(ctx, info, "delete", "", req.Namespace, req.Name); err != nil {
		return nil, err
	}
	switch req.PropagationPolicy {
	case "", "Background", "Foreground", "Orphan":
	default:
		return nil, badRequest("propagationPolicy: Unsupported value: %q: supported values: \"Background\", \"Foreground\", \"Orphan\"", req.PropagationPolicy)
	}
	key := s.key(info, req.Namespace, req.Name)
	for {
		cur, err := s.store.Get(ctx, info, key)
		if err != nil {
			return nil, storeError(info, req.Name, err)
		}
		cmd := object.Meta(cur)
		if p := req.Preconditions; p != nil {
			if p.Uid != "" && p.Uid != cmd.Uid {
				return nil, status.Errorf(codes.FailedPrecondition, "Precondition failed: UID in precondition: %s, UID in object meta: %s", p.Uid, cmd.Uid)
			}
			if p.ResourceVersion != "" && p.ResourceVersion != cmd.ResourceVersion {
				return nil, status.Errorf(codes.Aborted, "Precondition failed: ResourceVersion in precondition: %s, ResourceVersion in object meta: %s", p.ResourceVersion, cmd.ResourceVersion)
			}
		}
		next := proto.Clone(cur)
		nmd := object.Meta(next)
		switch req.PropagationPolicy {
		case "Foreground":
			nmd.Finalizers = appendMissing(nmd.Finalizers, "foregroundDeletion")
		case "Orphan":
			nmd.Finalizers = appendMissing(nmd.Finalizers, "orphan")
		}
		grace := gracePeriod(cur, req.GracePeriodSeconds)
		if cmd.DeletionTimestamp == nil || grace < cmd.GetDeletionGracePeriodSeconds() {
			// A deletion can be hurried, never delayed.
			nmd.DeletionTimestamp = timestamppb.New(s.now().Add(time.Duration(grace) * time.Second).Truncate(time.Second))
			nmd.DeletionGracePeriodSeconds = proto.Int64(grace)
		}
		if ns, ok := next.(*corev1.Namespace); ok {
			if ns.Status == nil {
				ns.Status = &corev1.NamespaceStatus{}
			}
			ns.Status.Phase = "Terminating" // the namespace controller empties it, then finalizes
		}
		expect, _ := strconv.ParseInt(cmd.ResourceVersion, 10, 64)
		if !removable(next) {
			if req.DryRun || proto.Equal(next, cur) {
				a, err := toAny(next)
				return &apiv1.DeleteResponse{Object: a, Pending: true}, err
			}
			rv, err := s.store.Update(ctx, key, next, expect)
			if err == storage.ErrConflict {
				continue
			}
			if err != nil {
				return nil, storeError(info, req.Name, err)
			}
			nmd.ResourceVersion = strconv.FormatInt(rv, 10)
			a, err := toAny(next)
			return &apiv1.DeleteResponse{Object: a, Pending: true}, err
		}
		if !req.DryRun {
			rv, err := s.store.DeleteReleasing(ctx, key, expect, s.claimsOf(cur))
			if err == storage.ErrConflict {
				continue
			}
			if err != nil {
				return nil, storeError(info, req.Name, err)
			}
			nmd.ResourceVersion = strconv.FormatInt(rv, 10)
		}
		a, err := toAny(next)
		return &apiv1.DeleteResponse{Object: a}, err
	}
}

func appendMissing(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// randomSuffix is upstream's generateName suffix: five characters from an
// alphabet without vowels or look-alike characters.
func randomSuffix() string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	var b [5]byte
	_, _ = rand.Read(b[:])
	for n := range b {
		b[n] = alphabet[int(b[n])%len(alphabet)]
	}
	return string(b[:])
}

// Ensure creates an object unless one of its name exists (start-up
// defaults: namespaces, the bootstrap RBAC policy). ctx must carry a user
// allowed to create it.
func (s *Server) Ensure(ctx context.Context, obj proto.Message) error {
	a, err := anypb.New(obj)
	if err != nil {
		return err
	}
	_, err = s.Create(ctx, &apiv1.CreateRequest{Object: a})
	if status.Code(err) == codes.AlreadyExists {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create %s %s: %w", object.Kind(obj), object.Key(obj), err)
	}
	return nil
}

// assign allocates what a Service needs (cluster IP, node ports), carrying
// over what old holds.
func (s *Server) assign(info *kind.Info, obj, old proto.Message, taken map[string]bool) (alloc.Assignment, error) {
	svc, ok := obj.(*corev1.Service)
	if !ok || s.services == nil {
		return alloc.Assignment{}, nil
	}
	var prev *corev1.Service
	if old != nil {
		prev = old.(*corev1.Service)
	}
	asg, errs := s.services.Assign(svc, prev, taken)
	if len(errs) > 0 {
		return asg, invalid(info, object.Meta(obj).GetName(), errs)
	}
	return asg, nil
}

// claimsOf lists the allocation keys an object holds.
func (s *Server) claimsOf(obj proto.Message) []string {
	if svc, ok := obj.(*corev1.Service); ok && s.services != nil {
		return s.services.Claims(svc)
	}
	return nil
}

// claimedValue is the value part of an allocation key, for messages.
func claimedValue(key string) string {
	if i := strings.LastIndex(key, "/"); i >= 0 {
		return key[i+1:]
	}
	return key
}

// forbidden is upstream's authorization error: `pods "web" is forbidden: User
// "alice" cannot delete resource "pods" in API group "" in the namespace "a"`.
func forbidden(ctx context.Context, group, resource, sub, verb, ns, name string) error {
	u := "system:anonymous"
	if usr := auth.UserFrom(ctx); usr != nil {
		u = usr.Name
	}
	res := resource
	if sub != "" {
		res += "/" + sub
	}
	what := resource
	if group != "" {
		what += "." + group
	}
	if name != "" {
		what += fmt.Sprintf(" %q", name)
	}
	scope := "at the cluster scope"
	if ns != "" {
		scope = fmt.Sprintf("in the namespace %q", ns)
	}
	return status.Errorf(codes.PermissionDenied, "%s is forbidden: User %q cannot %s resource %q in API group %q %s", what, u, verb, res, group, scope)
}

// heldClaims reads every allocation key etcd holds, so a retry after a
// collision chooses among the free values only.
func (s *Server) heldClaims(ctx context.Context) map[string]bool {
	held := map[string]bool{}
	for _, what := range []string{"serviceips", "nodeports"} {
		keys, err := s.store.ClaimKeys(ctx, what)
		if err != nil {
			s.log.Warn("reading allocations", zap.Error(err))
			continue
		}
		for _, k := range keys {
			held[k] = true
		}
	}
	return held
}

// MaxObjectBytes is the largest object stored: etcd's default request limit
// is 1.5 MiB, and upstream refuses larger objects the same way.
const MaxObjectBytes = 3 << 19

func checkSize(obj proto.Message) error {
	if n := proto.Size(obj); n > MaxObjectBytes {
		return status.Errorf(codes.InvalidArgument, "Request entity too large: %s %q is %d bytes, the limit is %d", object.Kind(obj), object.Meta(obj).GetName(), n, MaxObjectBytes)
	}
	return nil
}
