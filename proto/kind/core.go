package kind

import (
	"google.golang.org/protobuf/proto"

	corev1 "flotilla.io/proto/flotilla/core/v1"
)

// The core ("") group, served as apiVersion "v1".
func init() {
	for _, i := range []Info{
		{Kind: "Namespace", Resource: "namespaces", ShortNames: []string{"ns"}, Namespaced: false, HasSpec: true, HasStatus: true, New: func() proto.Message { return &corev1.Namespace{} }},
		{Kind: "Node", Resource: "nodes", ShortNames: []string{"no"}, Namespaced: false, HasSpec: true, HasStatus: true, New: func() proto.Message { return &corev1.Node{} }},
		{Kind: "Pod", Resource: "pods", ShortNames: []string{"po"}, Namespaced: true, HasSpec: true, HasStatus: true, New: func() proto.Message { return &corev1.Pod{} }},
		{Kind: "PodTemplate", Resource: "podtemplates", Namespaced: true, New: func() proto.Message { return &corev1.PodTemplate{} }},
		{Kind: "Service", Resource: "services", ShortNames: []string{"svc"}, Namespaced: true, HasSpec: true, HasStatus: true, New: func() proto.Message { return &corev1.Service{} }},
		{Kind: "Endpoints", Resource: "endpoints", ShortNames: []string{"ep"}, Namespaced: true, New: func() proto.Message { return &corev1.Endpoints{} }},
		{Kind: "Secret", Resource: "secrets", Namespaced: true, New: func() proto.Message { return &corev1.Secret{} }},
		{Kind: "ConfigMap", Resource: "configmaps", ShortNames: []string{"cm"}, Namespaced: true, New: func() proto.Message { return &corev1.ConfigMap{} }},
		{Kind: "ServiceAccount", Resource: "serviceaccounts", ShortNames: []string{"sa"}, Namespaced: true, New: func() proto.Message { return &corev1.ServiceAccount{} }},
		{Kind: "Event", Resource: "events", ShortNames: []string{"ev"}, Namespaced: true, New: func() proto.Message { return &corev1.Event{} }},
		{Kind: "PersistentVolume", Resource: "persistentvolumes", ShortNames: []string{"pv"}, Namespaced: false, HasSpec: true, HasStatus: true, New: func() proto.Message { return &corev1.PersistentVolume{} }},
		{Kind: "PersistentVolumeClaim", Resource: "persistentvolumeclaims", ShortNames: []string{"pvc"}, Namespaced: true, HasSpec: true, HasStatus: true, New: func() proto.Message { return &corev1.PersistentVolumeClaim{} }},
		{Kind: "ReplicationController", Resource: "replicationcontrollers", ShortNames: []string{"rc"}, Namespaced: true, HasSpec: true, HasStatus: true, New: func() proto.Message { return &corev1.ReplicationController{} }},
	} {
		i.Group, i.Version = "", "v1"
		Register(i)
	}
}
