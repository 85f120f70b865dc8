package server

import (
	"context"
	"errors"
	"strings"

	"google.golang.org/protobuf/proto"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	"flotilla.io/proto/kind"

	"flotilla.io/apiserver/internal/storage"
)

// TokenMountPath is where a pod's service account credentials appear.
const TokenMountPath = "/var/run/secrets/kubernetes.io/serviceaccount"

// admitServiceAccount is upstream's ServiceAccount admission: a pod runs as
// "default" unless it names an account, and unless automounting is turned
// off (by the pod or the account) it gets the kube-api-access volume
// (a token, the cluster CA and its namespace) mounted in every container.
func (s *Server) admitServiceAccount(ctx context.Context, pod *corev1.Pod) {
	spec := pod.Spec
	if spec == nil {
		return
	}
	if spec.ServiceAccountName == "" {
		spec.ServiceAccountName = spec.GetDeprecatedServiceAccount()
	}
	if spec.ServiceAccountName == "" {
		spec.ServiceAccountName = "default"
	}
	automount := true
	if spec.AutomountServiceAccountToken != nil {
		automount = *spec.AutomountServiceAccountToken
	} else if sa := s.serviceAccount(ctx, pod.GetMetadata().GetNamespace(), spec.ServiceAccountName); sa != nil && sa.AutomountServiceAccountToken != nil {
		automount = *sa.AutomountServiceAccountToken
	}
	if !automount {
		return
	}
	for _, c := range append(append([]*corev1.Container(nil), spec.InitContainers...), spec.Containers...) {
		for _, m := range c.VolumeMounts {
			if m.MountPath == TokenMountPath {
				return // the user mounts their own credentials there
			}
		}
	}
	for _, v := range spec.Volumes {
		if strings.HasPrefix(v.Name, "kube-api-access-") {
			return
		}
	}
	name := "kube-api-access-" + randomSuffix()
	spec.Volumes = append(spec.Volumes, &corev1.Volume{Name: name, Projected: &corev1.ProjectedVolumeSource{
		DefaultMode: proto.Int32(0o644),
		Sources: []*corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{ExpirationSeconds: proto.Int64(3607), Path: "token"}},
			{ConfigMap: &corev1.ConfigMapProjection{Name: "kube-root-ca.crt", Items: []*corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
			{DownwardApi: &corev1.DownwardAPIProjection{Items: []*corev1.DownwardAPIVolumeFile{{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{ApiVersion: "v1", FieldPath: "metadata.namespace"}}}}},
		},
	}})
	for _, c := range append(append([]*corev1.Container(nil), spec.InitContainers...), spec.Containers...) {
		c.VolumeMounts = append(c.VolumeMounts, &corev1.VolumeMount{Name: name, ReadOnly: true, MountPath: TokenMountPath})
	}
}

func (s *Server) serviceAccount(ctx context.Context, ns, name string) *corev1.ServiceAccount {
	info, _ := kind.ByKind("ServiceAccount")
	obj, err := s.store.Get(ctx, info, s.key(info, ns, name))
	if err != nil {
		if !errors.Is(err, storage.ErrNotFound) {
			s.log.Debug("reading service account for admission")
		}
		return nil
	}
	return obj.(*corev1.ServiceAccount)
}
