package server

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	apiv1 "flotilla.io/proto/flotilla/api/v1"

	"flotilla.io/apiserver/internal/auth"
)

// Access serves AuthService from the server's authorizer.
type Access struct {
	apiv1.UnimplementedAuthServiceServer
	Authorizer auth.Authorizer
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
