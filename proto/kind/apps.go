package kind

import (
	"google.golang.org/protobuf/proto"

	appsv1 "flotilla.io/proto/flotilla/apps/v1"
)

func init() {
	for _, i := range []Info{
		{Kind: "Deployment", Resource: "deployments", ShortNames: []string{"deploy"}, New: func() proto.Message { return &appsv1.Deployment{} }},
		{Kind: "ReplicaSet", Resource: "replicasets", ShortNames: []string{"rs"}, New: func() proto.Message { return &appsv1.ReplicaSet{} }},
		{Kind: "StatefulSet", Resource: "statefulsets", ShortNames: []string{"sts"}, New: func() proto.Message { return &appsv1.StatefulSet{} }},
		{Kind: "DaemonSet", Resource: "daemonsets", ShortNames: []string{"ds"}, New: func() proto.Message { return &appsv1.DaemonSet{} }},
	} {
		i.Group, i.Version = "apps", "v1"
		i.Namespaced, i.HasSpec, i.HasStatus = true, true, true
		Register(i)
	}
}
