package server

import (
	"context"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	"flotilla.io/proto/kind"
	"flotilla.io/proto/object"

	"flotilla.io/apiserver/internal/storage"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	apiv1 "flotilla.io/proto/flotilla/api/v1"

	"flotilla.io/apiserver/internal/auth"
)

// Access serves AuthService from the server's authorizer and token issuer.
type Access struct {
	apiv1.UnimplementedAuthServiceServer
	Authorizer auth.Authorizer
	Tokens     *auth.ServiceAccountTokens
	Store      *storage.Store
}

// CreateToken issues a bound service account token.
func (a *Access) CreateToken(ctx context.Context, req *apiv1.CreateTokenRequest) (*apiv1.CreateTokenResponse, error) {
	if req.Namespace == "" || req.ServiceAccount == "" {
		return nil, badRequest("namespace and serviceAccount: Required value")
	}
	ok, _, err := a.Authorizer.Authorize(ctx, auth.Attributes{User: auth.UserFrom(ctx), Verb: "create", Resource: "serviceaccounts", Subresource: "token", Namespace: req.Namespace, Name: req.ServiceAccount})
	if err != nil {
		return nil, status.Errorf(codes.Internal, "authorize: %v", err)
	}
	if !ok {
		return nil, forbidden(ctx, "", "serviceaccounts", "token", "create", req.Namespace, req.ServiceAccount)
	}
	if a.Tokens == nil {
		return nil, status.Error(codes.FailedPrecondition, "the apiserver issues no service account tokens (no --service-account-signing-key-file)")
	}
	saInfo, _ := kind.ByKind("ServiceAccount")
	obj, err := a.Store.Get(ctx, saInfo, a.Store.Key(saInfo, req.Namespace, req.ServiceAccount))
	if err != nil {
		return nil, storeError(saInfo, req.ServiceAccount, err)
	}
	tr := auth.TokenRequest{Namespace: req.Namespace, ServiceAccount: req.ServiceAccount, ServiceAccountUID: object.Meta(obj).GetUid(),
		Audiences: req.Audiences, Expiration: time.Duration(req.ExpirationSeconds) * time.Second}
	if req.BoundPodName != "" {
		podInfo, _ := kind.ByKind("Pod")
		po, err := a.Store.Get(ctx, podInfo, a.Store.Key(podInfo, req.Namespace, req.BoundPodName))
		if err != nil {
			return nil, storeError(podInfo, req.BoundPodName, err)
		}
		pod := po.(*corev1.Pod)
		if sa := pod.GetSpec().GetServiceAccountName(); sa != req.ServiceAccount && !(sa == "" && req.ServiceAccount == "default") {
			return nil, badRequest("pod %s uses service account %q, not %q", req.BoundPodName, sa, req.ServiceAccount)
		}
		tr.PodName, tr.PodUID = req.BoundPodName, pod.GetMetadata().GetUid()
	}
	tok, exp, err := a.Tokens.Issue(tr)
	if err != nil {
		return nil, err
	}
	return &apiv1.CreateTokenResponse{Token: tok, ExpirationTimestamp: timestamppb.New(exp)}, nil
}

// CheckAccess answers whether the caller, or the named user, may act.
func (a *Access) CheckAccess(ctx context.Context, req *apiv1.CheckAccessRequest) (*apiv1.CheckAccessResponse, error) {
	caller := auth.UserFrom(ctx)
	subject := caller
	if req.User != "" && (caller == nil || req.User != caller.Name) {
		ok, _, err := a.Authorizer.Authorize(ctx, auth.Attributes{User: caller, Verb: "create", APIGroup: "authorization.k8s.io", Resource: "subjectaccessreviews"})
		if err != nil {
			return nil, status.Errorf(codes.Internal, "authorize: %v", err)
		}
		if !ok {
			return nil, forbidden(ctx, "authorization.k8s.io", "subjectaccessreviews", "", "create", "", "")
		}
		subject = &auth.User{Name: req.User, Groups: req.Groups}
	}
	if req.Verb == "" || req.Resource == "" {
		return nil, badRequest("verb and resource: Required value")
	}
	ok, reason, err := a.Authorizer.Authorize(ctx, auth.Attributes{
		User: subject, Verb: req.Verb, APIGroup: req.Group, Resource: req.Resource,
		Subresource: req.Subresource, Namespace: req.Namespace, Name: req.Name,
	})
	if err != nil {
		return nil, status.Errorf(codes.Internal, "authorize: %v", err)
	}
	return &apiv1.CheckAccessResponse{Allowed: ok, Reason: reason}, nil
}
