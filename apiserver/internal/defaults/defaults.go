// Package defaults fills in the fields upstream Kubernetes defaults when a user
// leaves them out (restartPolicy Always, Deployment strategy 25%/25%, Job
// backoffLimit 6, ...), so stored objects read back complete. Each kind
// registers its function from a file of this package.
package defaults

import (
	"google.golang.org/protobuf/proto"

	"flotilla.io/proto/object"
)

// Func defaults one kind's object in place.
type Func func(obj proto.Message)

var byKind = map[string]Func{}

// Register sets the defaulting of a kind.
func Register(k string, f Func) { byKind[k] = f }

// Apply defaults obj in place according to its kind.
func Apply(obj proto.Message) {
	if f := byKind[object.Kind(obj)]; f != nil {
		f(obj)
	}
}
