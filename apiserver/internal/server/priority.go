package server

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	schedulingv1 "flotilla.io/proto/flotilla/scheduling/v1"
	"flotilla.io/proto/kind"

	"flotilla.io/apiserver/internal/storage"
)

// admitPriority is upstream's Priority admission: a pod's priority comes
// from its PriorityClass (or the global default class), never from the user.
func (s *Server) admitPriority(ctx context.Context, pod *corev1.Pod) error {
	if pod.Spec == nil {
		return nil
	}
	var class *schedulingv1.PriorityClass
	if name := pod.Spec.PriorityClassName; name != "" {
		info, _ := kind.ByKind("PriorityClass")
		obj, err := s.store.Get(ctx, info, s.key(info, "", name))
		if errors.Is(err, storage.ErrNotFound) {
			return status.Errorf(codes.PermissionDenied, "pods %q is forbidden: no PriorityClass with name %s was found", pod.GetMetadata().GetName(), name)
		}
		if err != nil {
			return storeError(info, name, err)
		}
		class = obj.(*schedulingv1.PriorityClass)
	} else {
		objs, _ := s.caches.For("PriorityClass").Snapshot()
		for _, o := range objs {
			if pc := o.(*schedulingv1.PriorityClass); pc.GlobalDefault && (class == nil || pc.Value > class.Value) {
				class = pc
			}
		}
	}
	var value int32
	if class != nil {
		value = class.Value
	}
	if p := pod.Spec.Priority; p != nil && *p != 0 && *p != value {
		return status.Errorf(codes.PermissionDenied, "pods %q is forbidden: the integer value of priority (%d) must not be provided in pod spec; priority admission controller computed %d from the given PriorityClass name", pod.GetMetadata().GetName(), *p, value)
	}
	pod.Spec.Priority = proto.Int32(value)
	if class != nil && class.PreemptionPolicy != nil && pod.Spec.PreemptionPolicy == nil {
		pod.Spec.PreemptionPolicy = proto.String(*class.PreemptionPolicy)
	}
	return nil
}
