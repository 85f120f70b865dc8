package server

import (
	"context"
	"errors"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	"flotilla.io/proto/kind"
	"flotilla.io/proto/object"

	"flotilla.io/apiserver/internal/storage"
)

// Objects answers the token authenticator's existence checks from etcd.
type Objects struct{ Store *storage.Store }

func (o Objects) uid(ctx context.Context, k, ns, name string) (string, error) {
	info, _ := kind.ByKind(k)
	obj, err := o.Store.Get(ctx, info, o.Store.Key(info, ns, name))
	if errors.Is(err, storage.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return object.Meta(obj).GetUid(), nil
}

// ServiceAccountUID implements auth.ObjectChecker.
func (o Objects) ServiceAccountUID(ctx context.Context, ns, name string) (string, error) {
	return o.uid(ctx, "ServiceAccount", ns, name)
}

// PodUID implements auth.ObjectChecker; a terminated pod counts as gone.
func (o Objects) PodUID(ctx context.Context, ns, name string) (string, error) {
	info, _ := kind.ByKind("Pod")
	obj, err := o.Store.Get(ctx, info, o.Store.Key(info, ns, name))
	if errors.Is(err, storage.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if p := obj.(*corev1.Pod); p.GetMetadata().GetDeletionTimestamp() != nil {
		return "", nil
	}
	return object.Meta(obj).GetUid(), nil
}

// SecretExists implements auth.ObjectChecker.
func (o Objects) SecretExists(ctx context.Context, ns, name string) (bool, error) {
	uid, err := o.uid(ctx, "Secret", ns, name)
	return uid != "", err
}
