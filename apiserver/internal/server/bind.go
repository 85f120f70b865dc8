package server

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	apiv1 "flotilla.io/proto/flotilla/api/v1"
	corev1 "flotilla.io/proto/flotilla/core/v1"
	"flotilla.io/proto/kind"
)

// Bind assigns a pod to a node: the one write to spec.nodeName a pod allows,
// made atomically so two schedulers can never both bind it.
func (s *Server) Bind(ctx context.Context, req *apiv1.BindRequest) (resp *apiv1.BindResponse, err error) {
	info, _ := kind.ByKind("Pod")
	defer s.observe(info.Kind, "bind", time.Now(), &err)
	if err := s.authorize(ctx, info, "create", "binding", req.Namespace, req.Name); err != nil {
		return nil, err
	}
	if req.NodeName == "" {
		return nil, badRequest("nodeName: Required value")
	}
	out, err := s.update(ctx, info, req.Namespace, req.Name, "", req.DryRun, func(cur proto.Message) (proto.Message, error) {
		pod := proto.Clone(cur).(*corev1.Pod)
		switch {
		case req.Uid != "" && req.Uid != pod.GetMetadata().GetUid():
			return nil, status.Errorf(codes.FailedPrecondition, "Precondition failed: UID in precondition: %s, UID in object meta: %s", req.Uid, pod.GetMetadata().GetUid())
		case pod.GetMetadata().GetDeletionTimestamp() != nil:
			return nil, status.Errorf(codes.FailedPrecondition, "pod %s/%s is being deleted, cannot be assigned to a host", req.Namespace, req.Name)
		case pod.GetSpec().GetNodeName() != "":
			return nil, status.Errorf(codes.Aborted, "Operation cannot be fulfilled on pods/binding %q: pod %s is already assigned to node %q", req.Name, req.Name, pod.Spec.NodeName)
		}
		if pod.Spec == nil {
			pod.Spec = &corev1.PodSpec{}
		}
		pod.Spec.NodeName = req.NodeName
		if pod.Status == nil {
			pod.Status = &corev1.PodStatus{}
		}
		setPodCondition(pod.Status, &corev1.PodCondition{Type: "PodScheduled", Status: "True", LastTransitionTime: timestamppb.New(s.now().Truncate(time.Second))})
		return pod, nil
	})
	if err != nil {
		return nil, err
	}
	a, err := toAny(out)
	return &apiv1.BindResponse{Object: a}, err
}

// setPodCondition replaces the condition of the same type, keeping its
// transition time when the status did not change.
func setPodCondition(st *corev1.PodStatus, c *corev1.PodCondition) {
	for n, old := range st.Conditions {
		if old.Type == c.Type {
			if old.Status == c.Status {
				c.LastTransitionTime = old.LastTransitionTime
			}
			st.Conditions[n] = c
			return
		}
	}
	st.Conditions = append(st.Conditions, c)
}
