package kind

import (
	"google.golang.org/protobuf/proto"

	batchv1 "flotilla.io/proto/flotilla/batch/v1"
)

func init() {
	for _, i := range []Info{
		{Kind: "Job", Resource: "jobs", New: func() proto.Message { return &batchv1.Job{} }},
		{Kind: "CronJob", Resource: "cronjobs", ShortNames: []string{"cj"}, New: func() proto.Message { return &batchv1.CronJob{} }},
	} {
		i.Group, i.Version = "batch", "v1"
		i.Namespaced, i.HasSpec, i.HasStatus = true, true, true
		Register(i)
	}
}
