package statefulset

import (
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strconv"
	"time"

	"google.golang.org/protobuf/proto"

	appsv1 "flotilla.io/proto/flotilla/apps/v1"
	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"

	"flotilla.io/controller-manager/internal/controllerutil"
)

// Labels a StatefulSet's pods carry. There is no ControllerRevision kind: a
// revision is the hash of the pod template, in controller-revision-hash.
const (
	revisionLabel = "controller-revision-hash"
	podNameLabel  = "statefulset.kubernetes.io/pod-name"
	podIndexLabel = "apps.kubernetes.io/pod-index"
)

func templateHash(t *corev1.PodTemplateSpec) string {
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(t)
	h := fnv.New32a()
	h.Write(b)
	return strconv.FormatUint(uint64(h.Sum32()), 36)
}

func podName(sts *appsv1.StatefulSet, ordinal int) string {
	return fmt.Sprintf("%s-%d", sts.Metadata.Name, ordinal)
}

func claimName(claim string, sts *appsv1.StatefulSet, ordinal int) string {
	return fmt.Sprintf("%s-%s-%d", claim, sts.Metadata.Name, ordinal)
}

// ordinalOf is the ordinal in a pod's name <sts>-<n>, or -1.
func ordinalOf(sts *appsv1.StatefulSet, name string) int {
	prefix := sts.Metadata.Name + "-"
	if len(name) <= len(prefix) || name[:len(prefix)] != prefix {
		return -1
	}
	n, err := strconv.Atoi(name[len(prefix):])
	if err != nil || n < 0 {
		return -1
	}
	return n
}

// healthy is upstream's isRunningAndReady.
func healthy(p *corev1.Pod) bool {
	return p.GetStatus().GetPhase() == "Running" && controllerutil.IsPodReady(p) && p.Metadata.DeletionTimestamp == nil
}

// plan is what one sync of a StatefulSet does.
type plan struct {
	claims []*corev1.PersistentVolumeClaim // to create
	create []int                           // ordinals of pods to create
	remove []*corev1.Pod
	// removeClaims names claims to delete (whenScaled: Delete).
	removeClaims []string
	status       *appsv1.StatefulSetStatus
}

// decide computes the next step for a StatefulSet from its pods and the names
// of the claims that exist.
func decide(sts *appsv1.StatefulSet, pods []*corev1.Pod, claims map[string]bool, now time.Time) plan {
	spec := sts.GetSpec()
	replicas := int(spec.GetReplicas())
	start := int(spec.GetOrdinals().GetStart())
	ordered := spec.GetPodManagementPolicy() != "Parallel"
	update := templateHash(spec.GetTemplate())
	current := sts.GetStatus().GetCurrentRevision()
	if current == "" {
		current = update
	}
	st := &appsv1.StatefulSetStatus{
		ObservedGeneration: sts.GetMetadata().GetGeneration(), CurrentRevision: current, UpdateRevision: update,
		Conditions: sts.GetStatus().GetConditions(),
	}
	if s := sts.GetStatus(); s != nil {
		st.CollisionCount = s.CollisionCount
	}
	p := plan{status: st}

	replicaPods := make([]*corev1.Pod, replicas) // by ordinal - start
	var condemned []*corev1.Pod
	for _, pod := range pods {
		o := ordinalOf(sts, pod.Metadata.Name)
		switch {
		case o < 0:
		case o >= start && o < start+replicas:
			replicaPods[o-start] = pod
		default:
			condemned = append(condemned, pod)
		}
	}
	slices.SortFunc(condemned, func(a, b *corev1.Pod) int {
		return ordinalOf(sts, b.Metadata.Name) - ordinalOf(sts, a.Metadata.Name)
	})

	// Status from what exists.
	for _, pod := range append(slices.Clone(replicaPods), condemned...) {
		if pod == nil {
			continue
		}
		st.Replicas++
		if controllerutil.IsPodReady(pod) {
			st.ReadyReplicas++
		}
		if controllerutil.IsPodAvailable(pod, spec.GetMinReadySeconds(), now) {
			st.AvailableReplicas++
		}
		if pod.Metadata.GetLabels()[revisionLabel] == current {
			st.CurrentReplicas++
		}
		if pod.Metadata.GetLabels()[revisionLabel] == update {
			st.UpdatedReplicas++
		}
	}

	// Claims of pods about to exist.
	needClaims := func(o int) {
		for _, t := range spec.GetVolumeClaimTemplates() {
			name := claimName(t.GetMetadata().GetName(), sts, o)
			if !claims[name] {
				p.claims = append(p.claims, newClaim(sts, t, o))
				claims[name] = true
			}
		}
	}

	// Create missing pods, replace failed ones; in order, one at a time and
	// only past healthy predecessors with OrderedReady.
	for i, pod := range replicaPods {
		o := start + i
		switch {
		case pod == nil:
			needClaims(o)
			p.create = append(p.create, o)
			if ordered {
				return p
			}
			continue
		case pod.Status.GetPhase() == "Failed" && pod.Metadata.DeletionTimestamp == nil:
			p.remove = append(p.remove, pod)
			if ordered {
				return p
			}
			continue
		}
		if ordered && !healthy(pod) {
			return p // halt until it is Running and Ready
		}
	}

	// Scale down from the highest ordinal.
	for _, pod := range condemned {
		if pod.Metadata.DeletionTimestamp != nil {
			if ordered {
				return p // wait for it to go
			}
			continue
		}
		if ordered && slices.ContainsFunc(replicaPods, func(q *corev1.Pod) bool { return !healthy(q) }) {
			return p
		}
		p.remove = append(p.remove, pod)
		if ordered {
			return p
		}
	}
	if spec.GetPersistentVolumeClaimRetentionPolicy().GetWhenScaled() == "Delete" && len(condemned) == 0 {
		for _, t := range spec.GetVolumeClaimTemplates() {
			for name := range claims {
				if o := claimOrdinal(t.GetMetadata().GetName(), sts, name); o >= 0 && (o < start || o >= start+replicas) {
					p.removeClaims = append(p.removeClaims, name)
				}
			}
		}
		slices.Sort(p.removeClaims)
	}

	// Rolling update: highest ordinal first, down to the partition, one pod
	// at a time, and only when all pods are healthy.
	if spec.GetUpdateStrategy().GetType() == "OnDelete" {
		if st.UpdatedReplicas == st.Replicas && int(st.Replicas) == replicas {
			st.CurrentRevision, st.CurrentReplicas = update, st.UpdatedReplicas
		}
		return p
	}
	partition := int(spec.GetUpdateStrategy().GetRollingUpdate().GetPartition())
	for i := len(replicaPods) - 1; i >= 0; i-- {
		pod := replicaPods[i]
		if !healthy(pod) {
			return p
		}
		if start+i >= partition && pod.Metadata.GetLabels()[revisionLabel] != update {
			p.remove = append(p.remove, pod)
			return p
		}
	}
	if int(st.UpdatedReplicas) == replicas && int(st.Replicas) == replicas {
		st.CurrentRevision, st.CurrentReplicas = update, st.UpdatedReplicas
	}
	return p
}

// claimOrdinal is the ordinal of a claim named <claim>-<sts>-<n>, or -1.
func claimOrdinal(claim string, sts *appsv1.StatefulSet, name string) int {
	prefix := claim + "-"
	if len(name) <= len(prefix) || name[:len(prefix)] != prefix {
		return -1
	}
	return ordinalOf(sts, name[len(prefix):])
}

// newClaim is the claim of template t for ordinal o. With whenDeleted:
// Delete it is owned by the StatefulSet, so it goes with it.
func newClaim(sts *appsv1.StatefulSet, t *corev1.PersistentVolumeClaim, o int) *corev1.PersistentVolumeClaim {
	c := &corev1.PersistentVolumeClaim{
		Metadata: &metav1.ObjectMeta{
			Name: claimName(t.GetMetadata().GetName(), sts, o), Namespace: sts.Metadata.Namespace,
			Labels: maps.Clone(sts.GetSpec().GetSelector().GetMatchLabels()), Annotations: maps.Clone(t.GetMetadata().GetAnnotations()),
		},
		Spec: proto.Clone(t.GetSpec()).(*corev1.PersistentVolumeClaimSpec),
	}
	maps.Copy(c.Metadata.Labels, t.GetMetadata().GetLabels())
	if c.Metadata.Labels == nil {
		c.Metadata.Labels = map[string]string{}
	}
	if sts.GetSpec().GetPersistentVolumeClaimRetentionPolicy().GetWhenDeleted() == "Delete" {
		ref := controllerutil.ControllerRef(sts.Metadata, "apps/v1", "StatefulSet")
		ref.Controller = proto.Bool(false)
		c.Metadata.OwnerReferences = []*metav1.OwnerReference{ref}
	}
	return c
}

// newPod is the pod with ordinal o: stable name, hostname and subdomain, the
// claims mounted by the template's volume names.
func newPod(sts *appsv1.StatefulSet, o int) *corev1.Pod {
	t := sts.GetSpec().GetTemplate()
	pod := controllerutil.PodFromTemplate(t, sts.Metadata.Namespace, sts.Metadata.Name,
		controllerutil.ControllerRef(sts.Metadata, "apps/v1", "StatefulSet"))
	name := podName(sts, o)
	pod.Metadata.Name, pod.Metadata.GenerateName = name, ""
	if pod.Metadata.Labels == nil {
		pod.Metadata.Labels = map[string]string{}
	}
	pod.Metadata.Labels[revisionLabel] = templateHash(t)
	pod.Metadata.Labels[podNameLabel] = name
	pod.Metadata.Labels[podIndexLabel] = strconv.Itoa(o)
	pod.Spec.Hostname, pod.Spec.Subdomain = name, sts.GetSpec().GetServiceName()
	for _, ct := range sts.GetSpec().GetVolumeClaimTemplates() {
		v := &corev1.Volume{Name: ct.GetMetadata().GetName(), PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{
			ClaimName: claimName(ct.GetMetadata().GetName(), sts, o),
		}}
		if i := slices.IndexFunc(pod.Spec.Volumes, func(x *corev1.Volume) bool { return x.Name == v.Name }); i >= 0 {
			pod.Spec.Volumes[i] = v
		} else {
			pod.Spec.Volumes = append(pod.Spec.Volumes, v)
		}
	}
	return pod
}
