// Package cache keeps the scheduler's view of nodes and of the pods on
// them, including pods it has assumed onto a node before the bind is
// confirmed, so a burst of decisions never overbooks a node. Snapshots are
// updated incrementally: only nodes changed since the last one are copied.
package cache

import (
	"fmt"
	"sort"
	"sync"
	"time"

	corev1 "flotilla.io/proto/flotilla/core/v1"

	"flotilla.io/scheduler/internal/framework"
)

type podState struct {
	pod     *framework.PodInfo
	node    string
	assumed bool
	// deadline is when an assumed pod whose bind finished is forgotten if
	// the informer never reported it bound.
	deadline time.Time
	bound    bool // binding finished
}

// Cache is safe for concurrent use.
type Cache struct {
	ttl time.Duration
	now func() time.Time

	mu    sync.Mutex
	nodes map[string]*framework.NodeInfo
	pods  map[string]*podState
	// dirty names nodes changed since the last snapshot; setChanged says
	// nodes were added or removed.
	dirty      map[string]bool
	setChanged bool
	imageNodes map[string]int
}

// New makes a cache; assumed pods whose bind finished are expired after ttl
// if never confirmed (upstream uses 30s... then waits on the informer).
func New(ttl time.Duration, now func() time.Time) *Cache {
	if now == nil {
		now = time.Now
	}
	return &Cache{ttl: ttl, now: now, nodes: map[string]*framework.NodeInfo{}, pods: map[string]*podState{}, dirty: map[string]bool{}, imageNodes: map[string]int{}}
}

func (c *Cache) nodeInfo(name string) *framework.NodeInfo {
	ni, ok := c.nodes[name]
	if !ok {
		ni = &framework.NodeInfo{Generation: framework.NextGeneration()}
		c.nodes[name] = ni
	}
	c.dirty[name] = true
	return ni
}

// AddNode adds or replaces a node.
func (c *Cache) AddNode(n *corev1.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	name := n.GetMetadata().GetName()
	ni := c.nodeInfo(name)
	if ni.Node == nil {
		c.setChanged = true
	}
	imagesBefore := len(ni.Images) > 0
	ni.SetNode(n)
	if imagesBefore || len(ni.Images) > 0 {
		c.recountImages()
	}
}

// RemoveNode removes a node; its pods stay accounted until they go.
func (c *Cache) RemoveNode(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ni, ok := c.nodes[name]
	if !ok {
		return
	}
	c.setChanged = true
	delete(c.dirty, name)
	if len(ni.Pods) == 0 {
		delete(c.nodes, name)
	} else {
		ni.Node = nil
		ni.Generation = framework.NextGeneration()
	}
	c.recountImages()
}

func (c *Cache) recountImages() {
	m := map[string]int{}
	for _, ni := range c.nodes {
		if ni.Node == nil {
			continue
		}
		for img := range ni.Images {
			m[img]++
		}
	}
	c.imageNodes = m // snapshots share the old map: replace, never mutate
}

// AssumePod places a pod on node before the bind is confirmed.
func (c *Cache) AssumePod(pi *framework.PodInfo, node string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.pods[pi.Key]; ok {
		return fmt.Errorf("pod %s is already in the cache", pi.Key)
	}
	c.nodeInfo(node).AddPod(pi)
	c.pods[pi.Key] = &podState{pod: pi, node: node, assumed: true}
	return nil
}

// FinishBinding starts the expiry clock of an assumed pod.
func (c *Cache) FinishBinding(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ps, ok := c.pods[key]; ok && ps.assumed {
		ps.bound = true
		ps.deadline = c.now().Add(c.ttl)
	}
}

// ForgetPod drops an assumed pod (its bind failed).
func (c *Cache) ForgetPod(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ps, ok := c.pods[key]; ok && ps.assumed {
		c.removeLocked(key, ps)
	}
}

// IsAssumed reports whether the pod is assumed and not yet confirmed.
func (c *Cache) IsAssumed(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	ps, ok := c.pods[key]
	return ok && ps.assumed
}

// AddPod records a pod bound to a node (from the informer); an assumed
// pod is confirmed.
func (c *Cache) AddPod(pi *framework.PodInfo) {
	c.mu.Lock()
	defer c.mu.Unlock()
	node := pi.Pod.GetSpec().GetNodeName()
	if ps, ok := c.pods[pi.Key]; ok {
		c.removeLocked(pi.Key, ps)
	}
	c.nodeInfo(node).AddPod(pi)
	c.pods[pi.Key] = &podState{pod: pi, node: node}
}

// RemovePod forgets a pod.
func (c *Cache) RemovePod(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ps, ok := c.pods[key]; ok {
		c.removeLocked(key, ps)
	}
}

func (c *Cache) removeLocked(key string, ps *podState) {
	delete(c.pods, key)
	ni, ok := c.nodes[ps.node]
	if !ok {
		return
	}
	ni.RemovePod(ps.pod)
	c.dirty[ps.node] = true
	if ni.Node == nil && len(ni.Pods) == 0 {
		delete(c.nodes, ps.node)
		delete(c.dirty, ps.node)
		c.setChanged = true
	}
}

// Cleanup expires assumed pods whose bind finished ttl ago without the
// informer confirming it.
func (c *Cache) Cleanup() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	n := 0
	for key, ps := range c.pods {
		if ps.assumed && ps.bound && now.After(ps.deadline) {
			c.removeLocked(key, ps)
			n++
		}
	}
	return n
}

// PodCount counts pods in the cache (bound and assumed).
func (c *Cache) PodCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pods)
}

// Snapshot is a Snapshot the cache keeps up to date. It belongs to the
// one scheduling loop: UpdateSnapshot changes it in place between cycles.
type Snapshot struct {
	framework.Snapshot
	pos map[string]int
}

// NewSnapshot makes an empty snapshot for UpdateSnapshot.
func NewSnapshot() *Snapshot {
	return &Snapshot{Snapshot: framework.Snapshot{ByName: map[string]*framework.NodeInfo{}}, pos: map[string]int{}}
}

// UpdateSnapshot brings s up to date, copying only changed nodes.
func (c *Cache) UpdateSnapshot(s *Snapshot) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s.ImageNodes = c.imageNodes
	if len(c.dirty) == 0 && !c.setChanged {
		return
	}
	if c.setChanged {
		nodes := make([]*framework.NodeInfo, 0, len(c.nodes))
		for _, ni := range c.nodes {
			if ni.Node != nil {
				nodes = append(nodes, ni)
			}
		}
		sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name() < nodes[j].Name() })
		clear(s.ByName)
		clear(s.pos)
		for i, ni := range nodes {
			nodes[i] = ni.Clone()
			s.ByName[ni.Name()] = nodes[i]
			s.pos[ni.Name()] = i
		}
		s.Nodes = nodes
	} else {
		for name := range c.dirty {
			i, ok := s.pos[name]
			if ni := c.nodes[name]; ok && ni != nil && ni.Node != nil {
				s.Nodes[i] = ni.Clone()
				s.ByName[name] = s.Nodes[i]
			}
		}
	}
	clear(c.dirty)
	c.setChanged = false
	s.HaveAffinity, s.HaveRequiredAntiAffinity = s.HaveAffinity[:0], s.HaveRequiredAntiAffinity[:0]
	for _, n := range s.Nodes {
		if len(n.PodsWithAffinity) > 0 {
			s.HaveAffinity = append(s.HaveAffinity, n)
		}
		if len(n.PodsWithRequiredAntiAffinity) > 0 {
			s.HaveRequiredAntiAffinity = append(s.HaveRequiredAntiAffinity, n)
		}
	}
}
