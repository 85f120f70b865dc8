package volume

import (
	"slices"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/labels"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
	"flotilla.io/sdk/informer"
)

func quantity(m map[string]*metav1.Quantity, key string) resource.Quantity {
	if q, ok := m[key]; ok {
		if v, err := resource.ParseQuantity(q.GetString_()); err == nil {
			return v
		}
	}
	return resource.Quantity{}
}

func claimClass(c *corev1.PersistentVolumeClaim) string { return c.GetSpec().GetStorageClassName() }

// Matches reports whether an unclaimed volume can satisfy a claim: same
// storage class and volume mode, every requested access mode, enough
// capacity, and the claim's selector.
func Matches(pv *corev1.PersistentVolume, claim *corev1.PersistentVolumeClaim) bool {
	ps, cs := pv.GetSpec(), claim.GetSpec()
	if ps.GetStorageClassName() != claimClass(claim) {
		return false
	}
	if modeOf(ps.VolumeMode) != modeOf(cs.VolumeMode) {
		return false
	}
	for _, m := range cs.GetAccessModes() {
		if !slices.Contains(ps.GetAccessModes(), m) {
			return false
		}
	}
	want := quantity(cs.GetResources().GetRequests(), "storage")
	have := quantity(ps.GetCapacity(), "storage")
	if have.Cmp(want) < 0 {
		return false
	}
	if cs.Selector != nil {
		sel, err := informer.Selector(cs.Selector)
		if err != nil || !sel.Matches(labels.Set(pv.GetMetadata().GetLabels())) {
			return false
		}
	}
	return true
}

func modeOf(m *string) string {
	if m == nil || *m == "" {
		return "Filesystem"
	}
	return *m
}

// BestMatch is the smallest Available volume matching the claim (ties by
// name), or nil.
func BestMatch(pvs []*corev1.PersistentVolume, claim *corev1.PersistentVolumeClaim) *corev1.PersistentVolume {
	var best *corev1.PersistentVolume
	for _, pv := range pvs {
		if pv.GetSpec().GetClaimRef() != nil || pv.GetMetadata().GetDeletionTimestamp() != nil || !Matches(pv, claim) {
			continue
		}
		if best == nil {
			best = pv
			continue
		}
		a, b := quantity(pv.GetSpec().GetCapacity(), "storage"), quantity(best.GetSpec().GetCapacity(), "storage")
		if c := a.Cmp(b); c < 0 || (c == 0 && pv.Metadata.Name < best.Metadata.Name) {
			best = pv
		}
	}
	return best
}
