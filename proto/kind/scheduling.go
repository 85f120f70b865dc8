package kind

import (
	"google.golang.org/protobuf/proto"

	schedulingv1 "flotilla.io/proto/flotilla/scheduling/v1"
)

func init() {
	Register(Info{
		Kind:       "PriorityClass",
		Group:      "scheduling.k8s.io",
		Version:    "v1",
		Resource:   "priorityclasses",
		ShortNames: []string{"pc"},
		New:        func() proto.Message { return &schedulingv1.PriorityClass{} },
	})
}
