package controllerutil

import (
	"context"
	"time"

	corev1 "flotilla.io/proto/flotilla/core/v1"

	"flotilla.io/sdk/informer"
)

// WaitForPodCache waits (up to 10 s) until a pod lister shows the pods a
// sync just created (by namespace/name) and deleted (terminating or gone),
// so the next sync of the same key reads its own writes. It is the simple
// alternative to Expectations for a sync that both creates and deletes.
func WaitForPodCache(ctx context.Context, pods *informer.Lister[*corev1.Pod], namespace string, created []string, removed []*corev1.Pod) {
	seen := func() bool {
		for _, n := range created {
			if _, err := pods.Get(namespace, n); err != nil {
				return false
			}
		}
		for _, r := range removed {
			p, err := pods.Get(namespace, r.GetMetadata().GetName())
			if err == nil && p.GetMetadata().GetUid() == r.GetMetadata().GetUid() && p.GetMetadata().GetDeletionTimestamp() == nil {
				return false
			}
		}
		return true
	}
	for deadline := time.Now().Add(10 * time.Second); !seen() && time.Now().Before(deadline); {
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
}
