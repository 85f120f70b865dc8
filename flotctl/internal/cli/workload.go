package cli

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/proto"

	appsv1 "flotilla.io/proto/flotilla/apps/v1"
	batchv1 "flotilla.io/proto/flotilla/batch/v1"
	corev1 "flotilla.io/proto/flotilla/core/v1"
	"flotilla.io/sdk/client"
)

// Helpers shared by scale, set and rollout: one object named KIND/NAME or
// KIND NAME, edited with a read-modify-write retried on conflicts.

// oneTarget resolves "KIND/NAME" or "KIND NAME" to one target.
func (e *env) oneTarget(args []string) (target, error) {
	p, err := e.parseResourceArgs(args)
	if err != nil {
		return target{}, err
	}
	if len(p.targets) != 1 {
		return target{}, fmt.Errorf("exactly one resource must be given as KIND/NAME or KIND NAME")
	}
	return p.targets[0], nil
}

// editObject re-reads t, lets edit change it, and writes it when edit
// reports a change; conflicts are retried. It returns the object as
// written (or as read, when nothing changed).
func (e *env) editObject(ctx context.Context, t target, edit func(obj proto.Message) (bool, error)) (proto.Message, bool, error) {
	api, err := e.api(ctx)
	if err != nil {
		return nil, false, err
	}
	for range maxConflictRetries {
		obj, err := api.Get(ctx, t.info.Kind, t.namespace, t.name)
		if err != nil {
			return nil, false, err
		}
		changed, err := edit(obj)
		if err != nil || !changed {
			return obj, false, err
		}
		out, err := api.Update(ctx, obj)
		if client.IsConflict(err) {
			continue
		}
		return out, err == nil, err
	}
	return nil, false, fmt.Errorf("%s: the object kept changing; gave up after %d conflicts", t, maxConflictRetries)
}

// podTemplate is the pod template of a workload, nil for other kinds.
func podTemplate(obj proto.Message) *corev1.PodTemplateSpec {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		return o.GetSpec().GetTemplate()
	case *appsv1.ReplicaSet:
		return o.GetSpec().GetTemplate()
	case *appsv1.StatefulSet:
		return o.GetSpec().GetTemplate()
	case *appsv1.DaemonSet:
		return o.GetSpec().GetTemplate()
	case *corev1.ReplicationController:
		return o.GetSpec().GetTemplate()
	case *batchv1.Job:
		return o.GetSpec().GetTemplate()
	case *batchv1.CronJob:
		return o.GetSpec().GetJobTemplate().GetSpec().GetTemplate()
	}
	return nil
}

// podSpec is the pod spec of a pod or a workload's template.
func podSpec(obj proto.Message) *corev1.PodSpec {
	if p, ok := obj.(*corev1.Pod); ok {
		return p.GetSpec()
	}
	return podTemplate(obj).GetSpec()
}
