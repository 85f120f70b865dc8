package plugins

import (
	"fmt"

	corev1 "flotilla.io/proto/flotilla/core/v1"

	"flotilla.io/scheduler/internal/framework"
)

// VolumeBinding (lite) keeps a pod whose claims are bound to volumes with
// node affinity on the nodes those volumes can be reached from. An unbound
// claim of a delayed-binding class (WaitForFirstConsumer) puts no limit on
// the node: its provisioner makes the volume where the pod lands. Any other
// unbound claim makes the pod wait, as upstream does for Immediate binding.
type VolumeBinding struct{}

// WaitForFirstConsumerClasses are the storage classes whose claims are bound
// only once a pod using them has a node. Flotilla has no StorageClass kind;
// its one dynamic provisioner, the controller-manager's local-path, works
// this way.
var WaitForFirstConsumerClasses = map[string]bool{"local-path": true}

func (VolumeBinding) Name() string { return NameVolumeBinding }

type volumeState struct{ required []*corev1.NodeSelector }

func (s *volumeState) Clone() framework.StateData { return s }

func (VolumeBinding) PreFilter(state *framework.CycleState, pod *framework.PodInfo, snap *framework.Snapshot) *framework.Status {
	s := &volumeState{}
	claims := 0
	for _, v := range pod.Pod.GetSpec().GetVolumes() {
		src := v.GetPersistentVolumeClaim()
		if src == nil {
			continue
		}
		claims++
		ns := pod.Pod.GetMetadata().GetNamespace()
		var (
			pvc *corev1.PersistentVolumeClaim
			ok  bool
		)
		if snap.Volumes != nil {
			pvc, ok = snap.Volumes.Claim(ns, src.GetClaimName())
		}
		if !ok {
			return framework.NewStatus(framework.UnschedulableAndUnresolvable, fmt.Sprintf("persistentvolumeclaim %q not found", src.GetClaimName()))
		}
		if pvc.GetMetadata().GetDeletionTimestamp() != nil {
			return framework.NewStatus(framework.UnschedulableAndUnresolvable, fmt.Sprintf("persistentvolumeclaim %q is being deleted", src.GetClaimName()))
		}
		name := pvc.GetSpec().GetVolumeName()
		if name == "" {
			if WaitForFirstConsumerClasses[pvc.GetSpec().GetStorageClassName()] {
				continue
			}
			return framework.NewStatus(framework.UnschedulableAndUnresolvable, ReasonUnboundClaims)
		}
		pv, ok := snap.Volumes.Volume(name)
		if !ok {
			return framework.NewStatus(framework.UnschedulableAndUnresolvable, fmt.Sprintf("persistentvolume %q not found", name))
		}
		if req := pv.GetSpec().GetNodeAffinity().GetRequired(); req != nil {
			s.required = append(s.required, req)
		}
	}
	if claims == 0 || len(s.required) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	state.Write(NameVolumeBinding, s)
	return nil
}

func (VolumeBinding) Filter(state *framework.CycleState, _ *framework.PodInfo, node *framework.NodeInfo) *framework.Status {
	d, ok := state.Read(NameVolumeBinding)
	if !ok {
		return nil
	}
	for _, req := range d.(*volumeState).required {
		if !MatchNodeSelectorTerms(node.Node, req.GetNodeSelectorTerms()) {
			return framework.NewStatus(framework.UnschedulableAndUnresolvable, ReasonVolumeAffinity)
		}
	}
	return nil
}
