package volume

import (
	"testing"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
)

func pv(name, size, class string, modes []string, labels map[string]string) *corev1.PersistentVolume {
	return &corev1.PersistentVolume{
		Metadata: &metav1.ObjectMeta{Name: name, Labels: labels},
		Spec:     &corev1.PersistentVolumeSpec{Capacity: map[string]*metav1.Quantity{"storage": {String_: size}}, StorageClassName: class, AccessModes: modes},
	}
}

func claim(size string, class *string, modes []string, sel *metav1.LabelSelector) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		Metadata: &metav1.ObjectMeta{Namespace: "ns", Name: "c"},
		Spec: &corev1.PersistentVolumeClaimSpec{AccessModes: modes, StorageClassName: class, Selector: sel,
			Resources: &corev1.VolumeResourceRequirements{Requests: map[string]*metav1.Quantity{"storage": {String_: size}}}},
	}
}

func TestBestMatch(t *testing.T) {
	rwo, rwx := []string{"ReadWriteOnce"}, []string{"ReadWriteOnce", "ReadWriteMany"}
	fast := "fast"
	pvs := []*corev1.PersistentVolume{
		pv("small", "1Gi", "", rwo, nil),
		pv("medium", "5Gi", "", rwx, map[string]string{"tier": "gold"}),
		pv("large", "10Gi", "", rwx, nil),
		pv("fast-10", "10Gi", "fast", rwo, nil),
		pv("bytes", "2000Mi", "", rwo, nil),
	}
	claimed := pv("claimed", "1Gi", "", rwo, nil)
	claimed.Spec.ClaimRef = &corev1.ObjectReference{Name: "other"}
	pvs = append(pvs, claimed)
	for _, tc := range []struct {
		name  string
		claim *corev1.PersistentVolumeClaim
		want  string
	}{
		{"smallest that fits", claim("1Gi", nil, rwo, nil), "small"},
		{"capacity in other units", claim("1500Mi", nil, rwo, nil), "bytes"},
		{"access modes", claim("1Gi", nil, []string{"ReadWriteMany"}, nil), "medium"},
		{"selector", claim("1Gi", nil, rwo, &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "gold"}}), "medium"},
		{"storage class", claim("1Gi", &fast, rwo, nil), "fast-10"},
		{"too big", claim("20Gi", nil, rwo, nil), ""},
		{"no class matches", claim("1Gi", &[]string{"slow"}[0], rwo, nil), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ""
			if pv := BestMatch(pvs, tc.claim); pv != nil {
				got = pv.Metadata.Name
			}
			if got != tc.want {
				t.Fatalf("BestMatch = %q, want %q", got, tc.want)
			}
		})
	}
}
