package client

import (
	"context"
	"fmt"

	apiv1 "flotilla.io/proto/flotilla/api/v1"
	corev1 "flotilla.io/proto/flotilla/core/v1"
)

// Bind assigns a pending pod to a node (upstream's pods/binding). uid, when
// set, must match the pod's. A pod that is already bound answers IsConflict.
func (c *Client) Bind(ctx context.Context, namespace, name, uid, node string) (*corev1.Pod, error) {
	resp, err := c.api.Bind(ctx, &apiv1.BindRequest{Namespace: namespace, Name: name, Uid: uid, NodeName: node})
	if err != nil {
		return nil, fmt.Errorf("bind pod %s/%s to %s: %w", namespace, name, node, err)
	}
	m, err := decode(resp.GetObject())
	if err != nil {
		return nil, fmt.Errorf("bind pod %s/%s: %w", namespace, name, err)
	}
	pod, ok := m.(*corev1.Pod)
	if !ok {
		return nil, fmt.Errorf("bind pod %s/%s: server answered %T", namespace, name, m)
	}
	return pod, nil
}
