package server

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"flotilla.io/proto/kind"

	"flotilla.io/apiserver/internal/storage"
	"flotilla.io/apiserver/internal/watchcache"
)

// storeError turns a storage error into a gRPC status worded as upstream's.
func storeError(info *kind.Info, name string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, storage.ErrNotFound):
		return status.Errorf(codes.NotFound, "%s %q not found", resourceName(info), name)
	case errors.Is(err, storage.ErrExists):
		return status.Errorf(codes.AlreadyExists, "%s %q already exists", resourceName(info), name)
	case errors.Is(err, storage.ErrConflict):
		return status.Errorf(codes.Aborted, "Operation cannot be fulfilled on %s %q: the object has been modified; please apply your changes to the latest version and try again", resourceName(info), name)
	case errors.Is(err, storage.ErrCompacted), errors.Is(err, watchcache.ErrExpired):
		return status.Error(codes.OutOfRange, "Expired: "+err.Error())
	case errors.Is(err, watchcache.ErrTooNew):
		return status.Error(codes.Unavailable, "Too large resource version: "+err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Error(codes.Internal, err.Error())
}

func resourceName(info *kind.Info) string {
	if info.Group == "" {
		return info.Resource
	}
	return info.Resource + "." + info.Group
}

// invalid is upstream's validation error: `Pod "web" is invalid: [...]`.
func invalid(info *kind.Info, name string, errs field.ErrorList) error {
	if len(errs) == 0 {
		return nil
	}
	msgs := make([]string, len(errs))
	for n, e := range errs {
		msgs[n] = e.Error()
	}
	detail := msgs[0]
	if len(msgs) > 1 {
		detail = "[" + strings.Join(msgs, ", ") + "]"
	}
	return status.Error(codes.InvalidArgument, fmt.Sprintf("%s %q is invalid: %s", info.Kind, name, detail))
}

func badRequest(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}
