package kind

import (
	"google.golang.org/protobuf/proto"

	coordinationv1 "flotilla.io/proto/flotilla/coordination/v1"
)

func init() {
	Register(Info{
		Kind:       "Lease",
		Group:      "coordination.k8s.io",
		Version:    "v1",
		Resource:   "leases",
		Namespaced: true,
		HasSpec:    true,
		New:        func() proto.Message { return &coordinationv1.Lease{} },
	})
}
