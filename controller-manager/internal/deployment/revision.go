package deployment

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"maps"
	"sort"
	"strconv"

	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/util/rand"

	appsv1 "flotilla.io/proto/flotilla/apps/v1"
	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
)

// Annotations and labels upstream's Deployment controller writes.
const (
	HashLabel             = "pod-template-hash"
	RevisionAnnotation    = "deployment.kubernetes.io/revision"
	DesiredAnnotation     = "deployment.kubernetes.io/desired-replicas"
	MaxReplicasAnnotation = "deployment.kubernetes.io/max-replicas"
	RestartedAtAnnotation = "kubectl.kubernetes.io/restartedAt"
	ChangeCauseAnnotation = "kubernetes.io/change-cause"
	lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"
	revisionHistoryAnn    = "deployment.kubernetes.io/revision-history"
	rollbackToAnnotation  = "deprecated.deployment.rollback.to"
)

// ComputeHash is the pod-template-hash of a template: a stable hash of its
// content and the deployment's collision count, encoded as upstream's.
func ComputeHash(t *corev1.PodTemplateSpec, collisionCount *int32) string {
	h := fnv.New32a()
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(withoutHash(t))
	h.Write(b)
	if collisionCount != nil {
		var c [4]byte
		binary.LittleEndian.PutUint32(c[:], uint32(*collisionCount))
		h.Write(c[:])
	}
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}

// withoutHash is a copy of t without the pod-template-hash label.
func withoutHash(t *corev1.PodTemplateSpec) *corev1.PodTemplateSpec {
	c := proto.Clone(t).(*corev1.PodTemplateSpec)
	if c.Metadata == nil {
		c.Metadata = &metav1.ObjectMeta{}
	}
	delete(c.Metadata.Labels, HashLabel)
	if len(c.Metadata.Labels) == 0 {
		c.Metadata.Labels = nil
	}
	return c
}

// EqualIgnoreHash compares templates, ignoring pod-template-hash.
func EqualIgnoreHash(a, b *corev1.PodTemplateSpec) bool {
	return proto.Equal(withoutHash(a), withoutHash(b))
}

// Revision reads an object's revision annotation (0 when absent or bad).
func Revision(md *metav1.ObjectMeta) int64 {
	v, err := strconv.ParseInt(md.GetAnnotations()[RevisionAnnotation], 10, 64)
	if err != nil {
		return 0
	}
	return v
}

// MaxRevision is the highest revision among rss.
func MaxRevision(rss []*appsv1.ReplicaSet) int64 {
	var m int64
	for _, rs := range rss {
		m = max(m, Revision(rs.Metadata))
	}
	return m
}

// byCreation sorts oldest first, ties by name.
func byCreation(rss []*appsv1.ReplicaSet) {
	sort.SliceStable(rss, func(i, j int) bool {
		a, b := rss[i].GetMetadata().GetCreationTimestamp().AsTime(), rss[j].GetMetadata().GetCreationTimestamp().AsTime()
		if a.Equal(b) {
			return rss[i].Metadata.Name < rss[j].Metadata.Name
		}
		return a.Before(b)
	})
}

// FindNewReplicaSet returns the oldest ReplicaSet whose template equals the
// deployment's (ignoring the hash label), and the others.
func FindNewReplicaSet(d *appsv1.Deployment, rss []*appsv1.ReplicaSet) (*appsv1.ReplicaSet, []*appsv1.ReplicaSet) {
	sorted := append([]*appsv1.ReplicaSet(nil), rss...)
	byCreation(sorted)
	var newRS *appsv1.ReplicaSet
	var old []*appsv1.ReplicaSet
	for _, rs := range sorted {
		if newRS == nil && EqualIgnoreHash(rs.GetSpec().GetTemplate(), d.GetSpec().GetTemplate()) {
			newRS = rs
			continue
		}
		old = append(old, rs)
	}
	return newRS, old
}

// NewReplicaSet builds the ReplicaSet for the deployment's current template:
// named <deployment>-<hash>, its template and selector carrying the hash.
func NewReplicaSet(d *appsv1.Deployment, ref *metav1.OwnerReference) *appsv1.ReplicaSet {
	hash := ComputeHash(d.Spec.Template, collisionCount(d))
	tmpl := proto.Clone(d.Spec.Template).(*corev1.PodTemplateSpec)
	if tmpl.Metadata == nil {
		tmpl.Metadata = &metav1.ObjectMeta{}
	}
	tmpl.Metadata.Labels = maps.Clone(tmpl.Metadata.Labels)
	if tmpl.Metadata.Labels == nil {
		tmpl.Metadata.Labels = map[string]string{}
	}
	tmpl.Metadata.Labels[HashLabel] = hash
	sel := proto.Clone(d.Spec.Selector).(*metav1.LabelSelector)
	if sel.MatchLabels == nil {
		sel.MatchLabels = map[string]string{}
	}
	sel.MatchLabels[HashLabel] = hash
	return &appsv1.ReplicaSet{
		Metadata: &metav1.ObjectMeta{
			Name: d.Metadata.Name + "-" + hash, Namespace: d.Metadata.Namespace,
			Labels:          maps.Clone(tmpl.Metadata.Labels),
			OwnerReferences: []*metav1.OwnerReference{ref},
		},
		Spec: &appsv1.ReplicaSetSpec{
			Replicas: proto.Int32(0), MinReadySeconds: d.Spec.MinReadySeconds, Selector: sel, Template: tmpl,
		},
	}
}

// SetNewReplicaSetAnnotations copies the deployment's annotations onto rs
// (a copy the caller owns) and raises its revision to revision; a freshly
// built rs also gets the replica annotations. It reports a change.
func SetNewReplicaSetAnnotations(d *appsv1.Deployment, rs *appsv1.ReplicaSet, revision int64, exists bool) bool {
	changed := copyAnnotations(d, rs)
	if rs.Metadata.Annotations == nil {
		rs.Metadata.Annotations = map[string]string{}
	}
	if Revision(rs.Metadata) < revision {
		rs.Metadata.Annotations[RevisionAnnotation] = strconv.FormatInt(revision, 10)
		changed = true
	}
	if !exists && SetReplicasAnnotations(rs, d.GetSpec().GetReplicas(), d.GetSpec().GetReplicas()+MaxSurge(d)) {
		changed = true
	}
	return changed
}

func skipAnnotation(k string) bool {
	switch k {
	case lastAppliedAnnotation, RevisionAnnotation, revisionHistoryAnn, DesiredAnnotation, MaxReplicasAnnotation, rollbackToAnnotation:
		return true
	}
	return false
}

func copyAnnotations(d *appsv1.Deployment, rs *appsv1.ReplicaSet) bool {
	changed := false
	for k, v := range d.GetMetadata().GetAnnotations() {
		if skipAnnotation(k) {
			continue
		}
		if cur, ok := rs.Metadata.Annotations[k]; ok && cur == v {
			continue
		}
		if rs.Metadata.Annotations == nil {
			rs.Metadata.Annotations = map[string]string{}
		}
		rs.Metadata.Annotations[k] = v
		changed = true
	}
	return changed
}

// SetReplicasAnnotations records the deployment's size on rs (a copy the
// caller owns), for proportional scaling; it reports a change.
func SetReplicasAnnotations(rs *appsv1.ReplicaSet, desired, maxReplicas int32) bool {
	if rs.Metadata.Annotations == nil {
		rs.Metadata.Annotations = map[string]string{}
	}
	d, m := strconv.Itoa(int(desired)), strconv.Itoa(int(maxReplicas))
	if rs.Metadata.Annotations[DesiredAnnotation] == d && rs.Metadata.Annotations[MaxReplicasAnnotation] == m {
		return false
	}
	rs.Metadata.Annotations[DesiredAnnotation] = d
	rs.Metadata.Annotations[MaxReplicasAnnotation] = m
	return true
}

func intAnnotation(rs *appsv1.ReplicaSet, key string) (int32, bool) {
	v, ok := rs.GetMetadata().GetAnnotations()[key]
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 32)
	return int32(n), err == nil
}

// HistoryToDelete picks the old ReplicaSets beyond revisionHistoryLimit that
// may go: lowest revisions first, only those with no pods, fully observed
// and not already being deleted.
func HistoryToDelete(d *appsv1.Deployment, old []*appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	if d.GetSpec().RevisionHistoryLimit == nil {
		return nil
	}
	var alive []*appsv1.ReplicaSet
	for _, rs := range old {
		if rs.GetMetadata().GetDeletionTimestamp() == nil {
			alive = append(alive, rs)
		}
	}
	diff := len(alive) - int(d.Spec.GetRevisionHistoryLimit())
	if diff <= 0 {
		return nil
	}
	byCreation(alive)
	sort.SliceStable(alive, func(i, j int) bool { return Revision(alive[i].Metadata) < Revision(alive[j].Metadata) })
	var out []*appsv1.ReplicaSet
	for _, rs := range alive[:diff] {
		if rs.GetStatus().GetReplicas() != 0 || rs.GetSpec().GetReplicas() != 0 || rs.GetMetadata().GetGeneration() > rs.GetStatus().GetObservedGeneration() {
			continue
		}
		out = append(out, rs)
	}
	return out
}

// collisionCount is status.collisionCount, nil when unset.
func collisionCount(d *appsv1.Deployment) *int32 {
	if d.GetStatus() == nil {
		return nil
	}
	return d.Status.CollisionCount
}
