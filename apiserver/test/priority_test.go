package test

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
	schedulingv1 "flotilla.io/proto/flotilla/scheduling/v1"
	"flotilla.io/sdk/client"
)

func TestPriorityAdmission(t *testing.T) {
	_, c := start(t)
	ctx := ctxFor(t, 30*time.Second)
	pcs := client.For[*schedulingv1.PriorityClass](c)
	if _, err := pcs.Create(ctx, &schedulingv1.PriorityClass{Metadata: &metav1.ObjectMeta{Name: "high"}, Value: 1000, PreemptionPolicy: proto.String("Never")}); err != nil {
		t.Fatal(err)
	}
	pods := client.For[*corev1.Pod](c)
	p := pod("default", "important", nil)
	p.Spec.PriorityClassName = "high"
	got, err := pods.Create(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.GetPriority() != 1000 || got.Spec.GetPreemptionPolicy() != "Never" {
		t.Fatalf("priority %d policy %q", got.Spec.GetPriority(), got.Spec.GetPreemptionPolicy())
	}
	crit := pod("default", "critical", nil)
	crit.Spec.PriorityClassName = "system-node-critical"
	if got, err := pods.Create(ctx, crit); err != nil || got.Spec.GetPriority() != 2000001000 {
		t.Fatalf("built-in class: %v %v", got, err)
	}
	missing := pod("default", "lost", nil)
	missing.Spec.PriorityClassName = "nope"
	if _, err := pods.Create(ctx, missing); !client.IsForbidden(err) || !strings.Contains(err.Error(), "no PriorityClass with name nope was found") {
		t.Fatalf("missing class: %v", err)
	}
	forged := pod("default", "forged", nil)
	forged.Spec.Priority = proto.Int32(999999)
	if _, err := pods.Create(ctx, forged); !client.IsForbidden(err) {
		t.Fatalf("self-assigned priority: %v", err)
	}
	// A global default applies to pods naming no class.
	if _, err := pcs.Create(ctx, &schedulingv1.PriorityClass{Metadata: &metav1.ObjectMeta{Name: "normal"}, Value: 10, GlobalDefault: true}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the global default applies", func() bool {
		_ = pods.Delete(ctx, "default", "plain", client.DeleteOptions{})
		got, err := pods.Create(ctx, pod("default", "plain", nil))
		return err == nil && got.Spec.GetPriority() == 10
	})
}

func TestServiceAccountAdmission(t *testing.T) {
	_, c := start(t)
	ctx := ctxFor(t, 30*time.Second)
	pods := client.For[*corev1.Pod](c)
	got, err := pods.Create(ctx, pod("default", "mounted", nil))
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.ServiceAccountName != "default" || len(got.Spec.Volumes) != 1 || !strings.HasPrefix(got.Spec.Volumes[0].Name, "kube-api-access-") {
		t.Fatalf("account %q volumes %v", got.Spec.ServiceAccountName, got.Spec.Volumes)
	}
	m := got.Spec.Containers[0].VolumeMounts
	if len(m) != 1 || m[0].MountPath != "/var/run/secrets/kubernetes.io/serviceaccount" || !m[0].ReadOnly {
		t.Fatalf("mounts %v", m)
	}
	// An account that opts out is honoured.
	if _, err := client.For[*corev1.ServiceAccount](c).Create(ctx, &corev1.ServiceAccount{Metadata: &metav1.ObjectMeta{Name: "quiet", Namespace: "default"}, AutomountServiceAccountToken: proto.Bool(false)}); err != nil {
		t.Fatal(err)
	}
	p := pod("default", "quiet", nil)
	p.Spec.ServiceAccountName = "quiet"
	if got, err := pods.Create(ctx, p); err != nil || len(got.Spec.Volumes) != 0 {
		t.Fatalf("opted-out pod: %v %v", got.GetSpec().GetVolumes(), err)
	}
}
