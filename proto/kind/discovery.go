package kind

import (
	"google.golang.org/protobuf/proto"

	discoveryv1 "flotilla.io/proto/flotilla/discovery/v1"
)

func init() {
	Register(Info{
		Kind:       "EndpointSlice",
		Group:      "discovery.k8s.io",
		Version:    "v1",
		Resource:   "endpointslices",
		Namespaced: true,
		New:        func() proto.Message { return &discoveryv1.EndpointSlice{} },
	})
}
