package framework

import (
	corev1 "flotilla.io/proto/flotilla/core/v1"
)

// VolumeLister finds the claims and volumes a pod's volumes name.
type VolumeLister interface {
	Claim(namespace, name string) (*corev1.PersistentVolumeClaim, bool)
	Volume(name string) (*corev1.PersistentVolume, bool)
}

// Snapshot is the cluster as one scheduling cycle sees it: every node with
// its pods, frozen for the cycle. Plugins read it; nothing writes it.
type Snapshot struct {
	// Nodes lists the nodes in a stable order.
	Nodes []*NodeInfo
	// ByName indexes Nodes.
	ByName map[string]*NodeInfo
	// HaveAffinity and HaveRequiredAntiAffinity list the nodes holding pods
	// with pod (anti-)affinity terms.
	HaveAffinity             []*NodeInfo
	HaveRequiredAntiAffinity []*NodeInfo
	// ImageNodes counts the nodes holding each normalized image.
	ImageNodes map[string]int
	// NamespaceLabels resolves namespaceSelectors; nil means no labels.
	NamespaceLabels NamespaceLabels
	// Volumes resolves persistent volume claims; nil means none exist.
	Volumes VolumeLister
}

// NewSnapshot builds a snapshot from node infos (tests and the cache).
func NewSnapshot(nodes []*NodeInfo) *Snapshot {
	s := &Snapshot{}
	s.SetNodes(nodes)
	return s
}

// SetNodes replaces the node list and recomputes the derived indexes.
func (s *Snapshot) SetNodes(nodes []*NodeInfo) {
	s.Nodes = nodes
	s.ByName = make(map[string]*NodeInfo, len(nodes))
	s.HaveAffinity, s.HaveRequiredAntiAffinity = s.HaveAffinity[:0], s.HaveRequiredAntiAffinity[:0]
	s.ImageNodes = map[string]int{}
	for _, n := range nodes {
		s.ByName[n.Name()] = n
		if len(n.PodsWithAffinity) > 0 {
			s.HaveAffinity = append(s.HaveAffinity, n)
		}
		if len(n.PodsWithRequiredAntiAffinity) > 0 {
			s.HaveRequiredAntiAffinity = append(s.HaveRequiredAntiAffinity, n)
		}
		for img := range n.Images {
			s.ImageNodes[img]++
		}
	}
}
