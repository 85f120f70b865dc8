package scheduler

import (
	"maps"
	"slices"

	"google.golang.org/protobuf/proto"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
	schedulingv1 "flotilla.io/proto/flotilla/scheduling/v1"

	"flotilla.io/sdk/informer"

	"flotilla.io/scheduler/internal/framework"
	"flotilla.io/scheduler/internal/plugins"
	"flotilla.io/scheduler/internal/queue"
)

// Cluster events and the plugins whose rejections each can undo (a small
// version of upstream's queueing hints). Plugins nil means any.
var (
	evNodeAdd    = queue.Event{Name: "NodeAdd"}
	evNodeUpdate = queue.Event{Name: "NodeUpdate"}
	evPodAdd     = queue.Event{Name: "AssignedPodAdd", Plugins: []string{plugins.NameInterPodAffinity, plugins.NamePodTopologySpread}}
	evPodLabels  = queue.Event{Name: "AssignedPodUpdate", Plugins: []string{plugins.NameInterPodAffinity, plugins.NamePodTopologySpread}}
	evPodShrink  = queue.Event{Name: "AssignedPodUpdate", Plugins: []string{plugins.NameNodeResourcesFit}}
	evPodDelete  = queue.Event{Name: "AssignedPodDelete", Plugins: []string{plugins.NameNodeResourcesFit, plugins.NameInterPodAffinity, plugins.NamePodTopologySpread}}
	evNamespace  = queue.Event{Name: "NamespaceUpdate", Plugins: []string{plugins.NameInterPodAffinity}}
	evVolume     = queue.Event{Name: "VolumeChange", Plugins: []string{plugins.NameVolumeBinding}}
	evPriority   = queue.Event{Name: "PriorityClassChange"}
)

func assigned(p *corev1.Pod) bool { return p.GetSpec().GetNodeName() != "" }

func terminal(p *corev1.Pod) bool {
	ph := p.GetStatus().GetPhase()
	return ph == "Succeeded" || ph == "Failed"
}

// responsible reports whether this scheduler places the pod.
func (s *Scheduler) responsible(p *corev1.Pod) bool {
	n := p.GetSpec().GetSchedulerName()
	return n == s.name || (n == "" && s.name == DefaultSchedulerName)
}

// podInfo precomputes a pod, resolving its priority from its class: the
// apiserver defaults spec.priority to 0 without upstream's Priority
// admission, so a named class (or the global default) decides.
func (s *Scheduler) podInfo(p *corev1.Pod) *framework.PodInfo {
	pi := framework.NewPodInfo(p)
	if name := p.GetSpec().GetPriorityClassName(); name != "" {
		if pc, err := s.pcLister.Get("", name); err == nil {
			pi.Priority = pc.GetValue()
		}
	} else if p.GetSpec().GetPriority() == 0 {
		for _, pc := range s.pcLister.List(nil) {
			if pc.GetGlobalDefault() {
				pi.Priority = pc.GetValue()
			}
		}
	}
	return pi
}

// preemptionPolicy is the pod's or its class's.
func (s *Scheduler) preemptionPolicy(p *corev1.Pod) string {
	if p.GetSpec().PreemptionPolicy != nil {
		return p.GetSpec().GetPreemptionPolicy()
	}
	if pc, err := s.pcLister.Get("", p.GetSpec().GetPriorityClassName()); err == nil && pc.PreemptionPolicy != nil {
		return pc.GetPreemptionPolicy()
	}
	return "PreemptLowerPriority"
}

type volumeLister struct {
	claims *informer.Lister[*corev1.PersistentVolumeClaim]
	pvs    *informer.Lister[*corev1.PersistentVolume]
}

func (v volumeLister) Claim(ns, name string) (*corev1.PersistentVolumeClaim, bool) {
	c, err := v.claims.Get(ns, name)
	return c, err == nil
}

func (v volumeLister) Volume(name string) (*corev1.PersistentVolume, bool) {
	pv, err := v.pvs.Get("", name)
	return pv, err == nil
}

// addHandlers wires the informers to the cache and the queue and returns
// what must sync before scheduling. The pod cache keeps only each pod's
// schedulingView.
func (s *Scheduler) addHandlers(f *informer.Factory) ([]informer.Syncer, error) {
	podInf := informer.For[*corev1.Pod](f)
	if err := podInf.SetTransform(newPodViewer().view); err != nil {
		return nil, err
	}
	nodeInf := informer.For[*corev1.Node](f)
	nsInf := informer.For[*corev1.Namespace](f)
	pcInf := informer.For[*schedulingv1.PriorityClass](f)
	pvcInf := informer.For[*corev1.PersistentVolumeClaim](f)
	pvInf := informer.For[*corev1.PersistentVolume](f)
	s.podLister, s.nsLister, s.pcLister = podInf.Lister(), nsInf.Lister(), pcInf.Lister()
	s.volumes = volumeLister{claims: pvcInf.Lister(), pvs: pvInf.Lister()}
	s.snapshot.NamespaceLabels = s.namespaceLabels
	s.snapshot.Volumes = s.volumes

	nodeInf.AddHandler(informer.Handler[*corev1.Node]{
		OnAdd: func(n *corev1.Node) {
			s.cache.AddNode(n)
			s.queue.MoveAll(evNodeAdd)
		},
		OnUpdate: func(old, n *corev1.Node) {
			s.cache.AddNode(n)
			if nodeChangeMatters(old, n) {
				s.queue.MoveAll(evNodeUpdate)
			}
		},
		OnDelete: func(n *corev1.Node) { s.cache.RemoveNode(n.GetMetadata().GetName()) },
	})
	podInf.AddHandler(informer.Handler[*corev1.Pod]{
		OnAdd:    func(p *corev1.Pod) { s.onPod(nil, p) },
		OnUpdate: func(old, p *corev1.Pod) { s.onPod(old, p) },
		OnDelete: s.onPodDelete,
	})
	nsInf.AddHandler(informer.Handler[*corev1.Namespace]{
		OnAdd: func(*corev1.Namespace) { s.queue.MoveAll(evNamespace) },
		OnUpdate: func(old, n *corev1.Namespace) {
			if !maps.Equal(old.GetMetadata().GetLabels(), n.GetMetadata().GetLabels()) {
				s.queue.MoveAll(evNamespace)
			}
		},
	})
	pcInf.AddHandler(informer.Handler[*schedulingv1.PriorityClass]{
		OnAdd:    func(*schedulingv1.PriorityClass) { s.queue.MoveAll(evPriority) },
		OnUpdate: func(_, _ *schedulingv1.PriorityClass) { s.queue.MoveAll(evPriority) },
	})
	pvcInf.AddHandler(informer.Handler[*corev1.PersistentVolumeClaim]{
		OnAdd:    func(*corev1.PersistentVolumeClaim) { s.queue.MoveAll(evVolume) },
		OnUpdate: func(_, _ *corev1.PersistentVolumeClaim) { s.queue.MoveAll(evVolume) },
	})
	pvInf.AddHandler(informer.Handler[*corev1.PersistentVolume]{
		OnAdd:    func(*corev1.PersistentVolume) { s.queue.MoveAll(evVolume) },
		OnUpdate: func(_, _ *corev1.PersistentVolume) { s.queue.MoveAll(evVolume) },
	})
	return []informer.Syncer{podInf, nodeInf, nsInf, pcInf, pvcInf, pvInf}, nil
}

// nodeChangeMatters reports a change a filter looks at; a heartbeat does not
// wake the unschedulable pods.
func nodeChangeMatters(old, n *corev1.Node) bool {
	ready := func(n *corev1.Node) string {
		for _, c := range n.GetStatus().GetConditions() {
			if c.GetType() == "Ready" {
				return c.GetStatus()
			}
		}
		return ""
	}
	return !maps.Equal(old.GetMetadata().GetLabels(), n.GetMetadata().GetLabels()) ||
		!proto.Equal(old.GetSpec(), n.GetSpec()) ||
		ready(old) != ready(n) ||
		!maps.EqualFunc(old.GetStatus().GetAllocatable(), n.GetStatus().GetAllocatable(), func(a, b *metav1.Quantity) bool { return a.GetString_() == b.GetString_() }) ||
		!slices.EqualFunc(old.GetStatus().GetImages(), n.GetStatus().GetImages(), func(a, b *corev1.ContainerImage) bool { return proto.Equal(a, b) })
}

func (s *Scheduler) onPod(old, p *corev1.Pod) {
	pi := s.podInfo(p)
	switch {
	case assigned(p) && terminal(p):
		s.cache.RemovePod(pi.Key)
		s.queue.Delete(pi.Key)
		if old != nil && !terminal(old) {
			s.queue.MoveAll(evPodDelete)
		}
	case assigned(p):
		s.cache.AddPod(pi)
		s.queue.Delete(pi.Key)
		switch {
		case old == nil || !assigned(old):
			s.queue.MoveAll(evPodAdd)
		case !maps.Equal(old.GetMetadata().GetLabels(), p.GetMetadata().GetLabels()):
			s.queue.MoveAll(evPodLabels)
		default:
			before := framework.PodRequests(old.GetSpec(), false)
			if pi.Requests.MilliCPU < before.MilliCPU || pi.Requests.Memory < before.Memory {
				s.queue.MoveAll(evPodShrink)
			}
		}
	case !s.responsible(p):
	case p.GetMetadata().GetDeletionTimestamp() != nil || terminal(p):
		s.queue.Delete(pi.Key)
	case s.cache.IsAssumed(pi.Key):
		// Being bound: the bind's own update will confirm it.
	case old == nil:
		s.queue.Add(pi)
	default:
		s.queue.Update(pi)
	}
}

func (s *Scheduler) onPodDelete(p *corev1.Pod) {
	key := informer.KeyOf(p)
	s.queue.Delete(key)
	if assigned(p) || s.cache.IsAssumed(key) {
		s.cache.RemovePod(key)
		s.queue.MoveAll(evPodDelete)
	}
}
