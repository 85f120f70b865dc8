package cli

import (
	"errors"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// reasons maps gRPC codes to the upstream status reasons kubectl prints in
// "Error from server (Reason): ...".
var reasons = map[codes.Code]string{
	codes.NotFound:           "NotFound",
	codes.AlreadyExists:      "AlreadyExists",
	codes.Aborted:            "Conflict",
	codes.InvalidArgument:    "BadRequest",
	codes.PermissionDenied:   "Forbidden",
	codes.Unauthenticated:    "Unauthorized",
	codes.OutOfRange:         "Expired",
	codes.FailedPrecondition: "Forbidden",
	codes.DeadlineExceeded:   "Timeout",
	codes.ResourceExhausted:  "TooManyRequests",
	codes.Internal:           "InternalError",
	codes.Unimplemented:      "MethodNotAllowed",
}

// contextError prefixes a server error with what was being done, as kubectl's
// `error when creating "web.yaml": ...`.
type contextError struct {
	context string
	err     error
}

func (c *contextError) Error() string { return c.context + ": " + c.err.Error() }
func (c *contextError) Unwrap() error { return c.err }

func withContext(context string, err error) error {
	if err == nil {
		return nil
	}
	return &contextError{context: context, err: err}
}

// grpcStatus finds a gRPC status in err's chain, with its own message (not
// the wrapping text).
func grpcStatus(err error) (*status.Status, bool) {
	var se interface{ GRPCStatus() *status.Status }
	if errors.As(err, &se) {
		return se.GRPCStatus(), true
	}
	return nil, false
}

// FormatError renders an error as kubectl does: server errors as
// "Error from server (Reason): message", validation errors as
// "The Pod "web" is invalid: ...", anything else as "error: ...".
func FormatError(err error) string {
	prefix := ""
	var ce *contextError
	if errors.As(err, &ce) {
		prefix = ce.context + ": "
	}
	st, ok := grpcStatus(err)
	if !ok {
		return "error: " + err.Error()
	}
	msg := st.Message()
	switch st.Code() {
	case codes.Unavailable:
		return "Unable to connect to the server: " + msg
	case codes.Unauthenticated:
		return "error: You must be logged in to the server (Unauthorized): " + prefix + msg
	case codes.InvalidArgument:
		if strings.Contains(msg, " is invalid: ") {
			return "The " + msg
		}
	case codes.FailedPrecondition, codes.Aborted:
		if strings.HasPrefix(msg, "Precondition failed") {
			return "Error from server (Conflict): " + prefix + msg
		}
	case codes.Canceled:
		return "error: " + prefix + msg
	}
	reason, ok := reasons[st.Code()]
	if !ok {
		reason = st.Code().String()
	}
	return "Error from server (" + reason + "): " + prefix + msg
}
