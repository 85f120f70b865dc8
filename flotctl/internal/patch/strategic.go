package patch

import (
	"fmt"

	k8sappsv1 "k8s.io/api/apps/v1"
	k8sbatchv1 "k8s.io/api/batch/v1"
	k8scoordinationv1 "k8s.io/api/coordination/v1"
	k8scorev1 "k8s.io/api/core/v1"
	k8sdiscoveryv1 "k8s.io/api/discovery/v1"
	k8srbacv1 "k8s.io/api/rbac/v1"
	k8sschedulingv1 "k8s.io/api/scheduling/v1"
	"sigs.k8s.io/yaml"
)

// strategicSchema returns the upstream Go type of a kind: strategic merge
// patch reads its patchStrategy/patchMergeKey struct tags (e.g. containers
// merge by name). Our field names are upstream's, so the tags apply as is.
func strategicSchema(k string) (any, error) {
	switch k {
	case "Pod":
		return &k8scorev1.Pod{}, nil
	case "PodTemplate":
		return &k8scorev1.PodTemplate{}, nil
	case "Service":
		return &k8scorev1.Service{}, nil
	case "Endpoints":
		return &k8scorev1.Endpoints{}, nil
	case "Node":
		return &k8scorev1.Node{}, nil
	case "Namespace":
		return &k8scorev1.Namespace{}, nil
	case "ConfigMap":
		return &k8scorev1.ConfigMap{}, nil
	case "Secret":
		return &k8scorev1.Secret{}, nil
	case "ServiceAccount":
		return &k8scorev1.ServiceAccount{}, nil
	case "Event":
		return &k8scorev1.Event{}, nil
	case "PersistentVolume":
		return &k8scorev1.PersistentVolume{}, nil
	case "PersistentVolumeClaim":
		return &k8scorev1.PersistentVolumeClaim{}, nil
	case "ReplicationController":
		return &k8scorev1.ReplicationController{}, nil
	case "Deployment":
		return &k8sappsv1.Deployment{}, nil
	case "ReplicaSet":
		return &k8sappsv1.ReplicaSet{}, nil
	case "StatefulSet":
		return &k8sappsv1.StatefulSet{}, nil
	case "DaemonSet":
		return &k8sappsv1.DaemonSet{}, nil
	case "Job":
		return &k8sbatchv1.Job{}, nil
	case "CronJob":
		return &k8sbatchv1.CronJob{}, nil
	case "Role":
		return &k8srbacv1.Role{}, nil
	case "RoleBinding":
		return &k8srbacv1.RoleBinding{}, nil
	case "ClusterRole":
		return &k8srbacv1.ClusterRole{}, nil
	case "ClusterRoleBinding":
		return &k8srbacv1.ClusterRoleBinding{}, nil
	case "Lease":
		return &k8scoordinationv1.Lease{}, nil
	case "PriorityClass":
		return &k8sschedulingv1.PriorityClass{}, nil
	case "EndpointSlice":
		return &k8sdiscoveryv1.EndpointSlice{}, nil
	}
	return nil, fmt.Errorf("strategic merge patch is not supported for %s; use --type merge or --type json", k)
}

func yamlToJSON(b []byte) ([]byte, error) { return yaml.YAMLToJSON(b) }
