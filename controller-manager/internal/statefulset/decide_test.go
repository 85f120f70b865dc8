package statefulset

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	appsv1 "flotilla.io/proto/flotilla/apps/v1"
	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
)

var now = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func sset(replicas int32, mut func(*appsv1.StatefulSetSpec)) *appsv1.StatefulSet {
	s := &appsv1.StatefulSet{
		Metadata: &metav1.ObjectMeta{Name: "s", Namespace: "ns", Uid: "u"},
		Spec: &appsv1.StatefulSetSpec{
			Replicas: proto.Int32(replicas), ServiceName: "svc", PodManagementPolicy: "OrderedReady",
			Template:                             &corev1.PodTemplateSpec{Spec: &corev1.PodSpec{Containers: []*corev1.Container{{Name: "c", Image: "v1"}}}},
			UpdateStrategy:                       &appsv1.StatefulSetUpdateStrategy{Type: "RollingUpdate", RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: proto.Int32(0)}},
			VolumeClaimTemplates:                 []*corev1.PersistentVolumeClaim{{Metadata: &metav1.ObjectMeta{Name: "data"}, Spec: &corev1.PersistentVolumeClaimSpec{}}},
			PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{WhenDeleted: "Retain", WhenScaled: "Retain"},
		},
	}
	if mut != nil {
		mut(s.Spec)
	}
	return s
}

// pods makes pods from "0:ok" style specs: ok (Running+Ready), pending,
// unready, failed, dying; "0:ok:old" has an old revision.
func pods(s *appsv1.StatefulSet, specs ...string) []*corev1.Pod {
	var out []*corev1.Pod
	for _, sp := range specs {
		var o int
		_, _ = fmt.Sscanf(sp, "%d", &o)
		parts := strings.Split(sp, ":")
		state := parts[1]
		hash := templateHash(s.Spec.Template)
		if len(parts) > 2 {
			hash = parts[2]
		}
		p := newPod(s, o)
		p.Metadata.Uid = p.Metadata.Name
		p.Metadata.Labels[revisionLabel] = hash
		p.Status = &corev1.PodStatus{Phase: "Running", Conditions: []*corev1.PodCondition{{Type: "Ready", Status: "True"}}}
		switch state {
		case "pending":
			p.Status = &corev1.PodStatus{Phase: "Pending"}
		case "unready":
			p.Status.Conditions[0].Status = "False"
		case "failed":
			p.Status.Phase = "Failed"
		case "dying":
			p.Metadata.DeletionTimestamp = timestamppb.New(now)
		}
		out = append(out, p)
	}
	return out
}

func partition(n int32) func(*appsv1.StatefulSetSpec) {
	return func(s *appsv1.StatefulSetSpec) { s.UpdateStrategy.RollingUpdate.Partition = proto.Int32(n) }
}

func TestDecide(t *testing.T) {
	parallel := func(s *appsv1.StatefulSetSpec) { s.PodManagementPolicy = "Parallel" }
	scaledDelete := func(s *appsv1.StatefulSetSpec) { s.PersistentVolumeClaimRetentionPolicy.WhenScaled = "Delete" }
	tests := []struct {
		name   string
		set    *appsv1.StatefulSet
		pods   []string
		claims []string
		want   string // claims create remove removeClaims
	}{
		{name: "first pod and its claim", set: sset(3, nil), want: "claims=data-s-0 create=0 remove= removeClaims="},
		{name: "next only after ready", set: sset(3, nil), pods: []string{"0:ok"}, claims: []string{"data-s-0"}, want: "claims=data-s-1 create=1 remove= removeClaims="},
		{name: "halt on pending predecessor", set: sset(3, nil), pods: []string{"0:pending"}, claims: []string{"data-s-0"}, want: "claims= create= remove= removeClaims="},
		{name: "halt on unready pod", set: sset(3, nil), pods: []string{"0:ok", "1:unready"}, want: "claims= create= remove= removeClaims="},
		{name: "parallel creates all", set: sset(3, parallel), pods: []string{"0:pending"}, claims: []string{"data-s-0", "data-s-1", "data-s-2"}, want: "claims= create=1,2 remove= removeClaims="},
		{name: "failed pod replaced", set: sset(2, nil), pods: []string{"0:failed", "1:ok"}, want: "claims= create= remove=s-0 removeClaims="},
		{name: "scale down highest first", set: sset(1, nil), pods: []string{"0:ok", "1:ok", "2:ok"}, want: "claims= create= remove=s-2 removeClaims="},
		{name: "scale down waits for the dying pod", set: sset(1, nil), pods: []string{"0:ok", "1:ok", "2:dying"}, want: "claims= create= remove= removeClaims="},
		{name: "parallel scale down", set: sset(1, parallel), pods: []string{"0:ok", "1:ok", "2:ok"}, want: "claims= create= remove=s-2,s-1 removeClaims="},
		{name: "whenScaled Delete removes claims of gone ordinals", set: sset(1, scaledDelete), pods: []string{"0:ok"}, claims: []string{"data-s-0", "data-s-1", "data-s-2", "other-s-3"},
			want: "claims= create= remove= removeClaims=data-s-1,data-s-2"},
		{name: "rolling update from the top", set: sset(3, nil), pods: []string{"0:ok:old", "1:ok:old", "2:ok:old"}, want: "claims= create= remove=s-2 removeClaims="},
		{name: "rolling update continues down", set: sset(3, nil), pods: []string{"0:ok:old", "1:ok:old", "2:ok"}, want: "claims= create= remove=s-1 removeClaims="},
		{name: "rolling update waits for health", set: sset(3, nil), pods: []string{"0:ok:old", "1:ok:old", "2:unready"}, want: "claims= create= remove= removeClaims="},
		{name: "partition stops the update", set: sset(3, partition(2)), pods: []string{"0:ok:old", "1:ok:old", "2:ok"}, want: "claims= create= remove= removeClaims="},
		{name: "on delete never deletes", set: sset(2, func(s *appsv1.StatefulSetSpec) {
			s.UpdateStrategy = &appsv1.StatefulSetUpdateStrategy{Type: "OnDelete"}
		}),
			pods: []string{"0:ok:old", "1:ok:old"}, want: "claims= create= remove= removeClaims="},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			claims := map[string]bool{}
			for _, c := range tc.claims {
				claims[c] = true
			}
			p := decide(tc.set, pods(tc.set, tc.pods...), claims, now)
			var cl, cr, rm []string
			for _, c := range p.claims {
				cl = append(cl, c.Metadata.Name)
			}
			for _, o := range p.create {
				cr = append(cr, fmt.Sprint(o))
			}
			for _, r := range p.remove {
				rm = append(rm, r.Metadata.Name)
			}
			got := fmt.Sprintf("claims=%s create=%s remove=%s removeClaims=%s", join(cl), join(cr), join(rm), join(p.removeClaims))
			if got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestStatusRevisions(t *testing.T) {
	s := sset(3, partition(1))
	s.Status = &appsv1.StatefulSetStatus{CurrentRevision: "old"}
	p := decide(s, pods(s, "0:ok:old", "1:ok", "2:ok"), map[string]bool{"data-s-0": true, "data-s-1": true, "data-s-2": true}, now)
	st := p.status
	if st.CurrentRevision != "old" || st.UpdateRevision != templateHash(s.Spec.Template) || st.Replicas != 3 || st.ReadyReplicas != 3 || st.CurrentReplicas != 1 || st.UpdatedReplicas != 2 {
		t.Errorf("status %v", st)
	}
	s.Spec.UpdateStrategy.RollingUpdate.Partition = proto.Int32(0)
	p = decide(s, pods(s, "0:ok", "1:ok", "2:ok"), nil, now)
	if p.status.CurrentRevision != p.status.UpdateRevision || p.status.CurrentReplicas != 3 {
		t.Errorf("after the update: %v", p.status)
	}
}

func TestNewPodAndClaim(t *testing.T) {
	s := sset(1, func(s *appsv1.StatefulSetSpec) { s.PersistentVolumeClaimRetentionPolicy.WhenDeleted = "Delete" })
	p := newPod(s, 4)
	if p.Metadata.Name != "s-4" || p.Spec.Hostname != "s-4" || p.Spec.Subdomain != "svc" || p.Metadata.Labels[podIndexLabel] != "4" ||
		p.Spec.Volumes[0].GetPersistentVolumeClaim().GetClaimName() != "data-s-4" {
		t.Errorf("pod %v", p)
	}
	c := newClaim(s, s.Spec.VolumeClaimTemplates[0], 4)
	if c.Metadata.Name != "data-s-4" || len(c.Metadata.OwnerReferences) != 1 || c.Metadata.OwnerReferences[0].Kind != "StatefulSet" {
		t.Errorf("claim %v", c)
	}
}
