package namespace_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	appsv1 "flotilla.io/proto/flotilla/apps/v1"
	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
	"flotilla.io/proto/kind"

	"flotilla.io/apiserver/testserver"
	"flotilla.io/sdk/client"

	controllermanager "flotilla.io/controller-manager"
	"flotilla.io/controller-manager/internal/testkubelet"
)

func TestDeleteEmptiesAndRemovesNamespace(t *testing.T) {
	s := testserver.Start(t)
	c := s.Client(s.Config)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	if _, err := testkubelet.Start(ctx, c, "n1"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- controllermanager.Run(ctx, controllermanager.Config{Client: s.Config, Controllers: []string{"namespace", "serviceaccount"}})
	}()
	defer func() { cancel(); <-done }()

	d := c.Dynamic()
	if _, err := d.Create(ctx, &corev1.Namespace{Metadata: &metav1.ObjectMeta{Name: "shop"}}); err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"app": "web"}
	tmpl := &corev1.PodTemplateSpec{Metadata: &metav1.ObjectMeta{Labels: labels}, Spec: &corev1.PodSpec{Containers: []*corev1.Container{{Name: "c", Image: "busybox"}}}}
	meta := func(name string) *metav1.ObjectMeta { return &metav1.ObjectMeta{Namespace: "shop", Name: name} }
	for _, obj := range []proto.Message{
		&appsv1.Deployment{Metadata: meta("web"), Spec: &appsv1.DeploymentSpec{Replicas: proto.Int32(2), Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl}},
		&appsv1.ReplicaSet{Metadata: meta("web-1"), Spec: &appsv1.ReplicaSetSpec{Replicas: proto.Int32(2), Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl}},
		&corev1.Pod{Metadata: &metav1.ObjectMeta{Namespace: "shop", Name: "web-1-a", Labels: labels}, Spec: tmpl.Spec},
		&corev1.Pod{Metadata: &metav1.ObjectMeta{Namespace: "shop", Name: "web-1-b", Labels: labels}, Spec: tmpl.Spec},
		&corev1.Service{Metadata: meta("web"), Spec: &corev1.ServiceSpec{Selector: labels, Ports: []*corev1.ServicePort{{Port: 80}}}},
		&corev1.ConfigMap{Metadata: meta("cfg"), Data: map[string]string{"a": "b"}},
		&corev1.Secret{Metadata: meta("db"), StringData: map[string]string{"password": "x"}},
	} {
		if _, err := d.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	pods := client.For[*corev1.Pod](c)
	for _, name := range []string{"web-1-a", "web-1-b"} {
		for {
			p, err := pods.Get(ctx, "shop", name)
			if err != nil {
				t.Fatal(err)
			}
			if p.Status.GetPhase() == "Running" {
				break // bound and running: deleting it waits for the kubelet
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	if _, _, err := d.Delete(ctx, "Namespace", "", "shop", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := d.Get(ctx, "Namespace", "", "shop")
		if client.IsNotFound(err) {
			break
		}
		if time.Now().After(deadline) {
			left := ""
			for _, info := range kind.All() {
				if l, err := d.List(ctx, info.Kind, client.ListOptions{Namespace: "shop"}); err == nil && info.Namespaced && len(l.Items) > 0 {
					left += fmt.Sprintf(" %s:%d", info.Kind, len(l.Items))
				}
			}
			t.Fatalf("namespace not removed (%v); left:%s", err, left)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Nothing of it is left behind.
	for _, info := range kind.All() {
		if !info.Namespaced {
			continue
		}
		l, err := d.List(ctx, info.Kind, client.ListOptions{Namespace: "shop"})
		if err != nil || len(l.Items) > 0 {
			t.Errorf("%s left in shop: %d, %v", info.Kind, len(l.Items), err)
		}
	}
	// The name can be used again.
	if _, err := d.Create(ctx, &corev1.Namespace{Metadata: &metav1.ObjectMeta{Name: "shop"}}); err != nil {
		t.Fatal(err)
	}
}
