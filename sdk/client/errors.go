package client

import (
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The apiserver reports errors as gRPC status codes (see api.proto). These
// helpers see through %w wrapping.

// IsNotFound reports whether the object does not exist.
func IsNotFound(err error) bool { return status.Code(err) == codes.NotFound }

// IsAlreadyExists reports whether a create hit an existing name.
func IsAlreadyExists(err error) bool { return status.Code(err) == codes.AlreadyExists }

// IsConflict reports a write based on a stale resourceVersion: re-read and retry.
func IsConflict(err error) bool { return status.Code(err) == codes.Aborted }

// IsExpired reports a watch or page from a compacted resourceVersion: relist.
func IsExpired(err error) bool { return status.Code(err) == codes.OutOfRange }

// IsInvalid reports a validation error; the message names the field.
func IsInvalid(err error) bool { return status.Code(err) == codes.InvalidArgument }

// IsPreconditionFailed reports a failed delete precondition.
func IsPreconditionFailed(err error) bool { return status.Code(err) == codes.FailedPrecondition }

// IsUnauthorized reports a missing or bad token.
func IsUnauthorized(err error) bool { return status.Code(err) == codes.Unauthenticated }

// IsForbidden reports an authenticated caller lacking permission.
func IsForbidden(err error) bool { return status.Code(err) == codes.PermissionDenied }

// ErrWatchClosed ends a watch the server closed cleanly; watch again from the
// last resourceVersion seen.
var ErrWatchClosed = errors.New("watch closed by server")
