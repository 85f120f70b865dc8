package volume_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"

	"flotilla.io/apiserver/testserver"
	"flotilla.io/sdk/client"

	controllermanager "flotilla.io/controller-manager"
	"flotilla.io/controller-manager/internal/testkubelet"
	"flotilla.io/controller-manager/internal/volume"
)

func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last state: %s", what, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func q(s string) map[string]*metav1.Quantity {
	return map[string]*metav1.Quantity{"storage": {String_: s}}
}

func TestBindingAndLocalPath(t *testing.T) {
	volume.Flags.BaseDir = "/srv/volumes"
	s := testserver.Start(t)
	c := s.Client(s.Config)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	if _, err := testkubelet.Start(ctx, c, "n1", "n2"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- controllermanager.Run(ctx, controllermanager.Config{Client: s.Config, Controllers: []string{"persistentvolume-binder", "local-path-provisioner"}})
	}()
	defer func() { cancel(); <-done }()
	pvs := client.For[*corev1.PersistentVolume](c)
	pvcs := client.For[*corev1.PersistentVolumeClaim](c)
	rwo := []string{"ReadWriteOnce"}
	for name, size := range map[string]string{"pv-1g": "1Gi", "pv-5g": "5Gi", "pv-10g": "10Gi"} {
		if _, err := pvs.Create(ctx, &corev1.PersistentVolume{Metadata: &metav1.ObjectMeta{Name: name},
			Spec: &corev1.PersistentVolumeSpec{Capacity: q(size), AccessModes: rwo, HostPath: &corev1.HostPathVolumeSource{Path: "/data/" + name}, PersistentVolumeReclaimPolicy: "Retain"}}); err != nil {
			t.Fatal(err)
		}
	}
	empty := ""
	if _, err := pvcs.Create(ctx, &corev1.PersistentVolumeClaim{Metadata: &metav1.ObjectMeta{Namespace: "default", Name: "data"},
		Spec: &corev1.PersistentVolumeClaimSpec{AccessModes: rwo, StorageClassName: &empty, Resources: &corev1.VolumeResourceRequirements{Requests: q("3Gi")}}}); err != nil {
		t.Fatal(err)
	}
	bound := func(claim, volume string) {
		t.Helper()
		eventually(t, claim+" bound to "+volume, func() (bool, string) {
			pvc, err := pvcs.Get(ctx, "default", claim)
			if err != nil {
				return false, err.Error()
			}
			pv, err := pvs.Get(ctx, "", pvc.Spec.VolumeName)
			if err != nil {
				return false, fmt.Sprint(pvc.Spec.VolumeName, err)
			}
			ok := pvc.Spec.VolumeName == volume && pvc.Status.GetPhase() == "Bound" && pv.Status.GetPhase() == "Bound" &&
				pv.Spec.ClaimRef.GetUid() == pvc.Metadata.Uid && pvc.Status.Capacity["storage"].GetString_() != ""
			return ok, fmt.Sprintf("claim %s %s, volume %s %v", pvc.Spec.VolumeName, pvc.Status.GetPhase(), pv.Status.GetPhase(), pv.Spec.ClaimRef)
		})
	}
	bound("data", "pv-5g") // the smallest that fits
	eventually(t, "unclaimed volumes Available", func() (bool, string) {
		pv, err := pvs.Get(ctx, "", "pv-1g")
		return err == nil && pv.Status.GetPhase() == "Available", fmt.Sprint(pv.GetStatus(), err)
	})

	// Releasing: the claim is deleted, the Retain volume is Released.
	if err := pvcs.Delete(ctx, "default", "data", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "volume released", func() (bool, string) {
		pv, err := pvs.Get(ctx, "", "pv-5g")
		return err == nil && pv.Status.GetPhase() == "Released", fmt.Sprint(pv.GetStatus(), err)
	})

	// local-path: nothing until a pod using the claim lands on a node.
	lp := volume.LocalPathClass
	pvc, err := pvcs.Create(ctx, &corev1.PersistentVolumeClaim{Metadata: &metav1.ObjectMeta{Namespace: "default", Name: "cache"},
		Spec: &corev1.PersistentVolumeClaimSpec{AccessModes: rwo, StorageClassName: &lp, Resources: &corev1.VolumeResourceRequirements{Requests: q("2Gi")}}})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if _, err := pvs.Get(ctx, "", "pvc-"+pvc.Metadata.Uid); !client.IsNotFound(err) {
		t.Fatalf("volume provisioned before any consumer: %v", err)
	}
	pod, err := client.For[*corev1.Pod](c).Create(ctx, &corev1.Pod{Metadata: &metav1.ObjectMeta{Namespace: "default", Name: "app"},
		Spec: &corev1.PodSpec{Containers: []*corev1.Container{{Name: "c", Image: "busybox"}},
			Volumes: []*corev1.Volume{{Name: "cache", PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "cache"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	name := "pvc-" + pvc.Metadata.Uid
	bound("cache", name)
	pod, _ = client.For[*corev1.Pod](c).Get(ctx, "default", pod.Metadata.Name)
	pv, err := pvs.Get(ctx, "", name)
	if err != nil {
		t.Fatal(err)
	}
	term := pv.Spec.NodeAffinity.GetRequired().GetNodeSelectorTerms()
	if len(term) != 1 || term[0].MatchExpressions[0].Values[0] != pod.Spec.NodeName || pod.Spec.NodeName == "" {
		t.Errorf("volume node affinity %v, pod on %q", term, pod.Spec.NodeName)
	}
	if !strings.HasPrefix(pv.Spec.HostPath.GetPath(), "/srv/volumes/"+name) || pv.Spec.StorageClassName != lp || pv.Spec.Capacity["storage"].GetString_() != "2Gi" {
		t.Errorf("provisioned volume %v", pv.Spec)
	}
	// The claim deleted, the provisioned volume goes too (reclaim Delete).
	if err := pvcs.Delete(ctx, "default", "cache", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "provisioned volume deleted", func() (bool, string) {
		_, err := pvs.Get(ctx, "", name)
		return client.IsNotFound(err), fmt.Sprint(err)
	})
}
