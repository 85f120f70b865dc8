package endpoint

import (
	"k8s.io/apimachinery/pkg/labels"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	"flotilla.io/sdk/informer"
	"flotilla.io/sdk/workqueue"

	"flotilla.io/controller-manager/internal/controller"
)

// Sources are the shared informers both endpoint controllers read.
type Sources struct {
	Services *informer.Informer[*corev1.Service]
	Pods     *informer.Informer[*corev1.Pod]
}

// Watch queues the key of every Service whose endpoints an event may
// change: the Service itself, and the Services selecting a changed pod
// (before and after the change, so a pod that stops matching is dropped).
func Watch(c *controller.Context, q workqueue.Queue[string]) Sources {
	s := Sources{Services: informer.For[*corev1.Service](c.Informers), Pods: informer.For[*corev1.Pod](c.Informers)}
	addSvc := func(svc *corev1.Service) { q.Add(informer.KeyOf(svc)) }
	s.Services.AddHandler(informer.Handler[*corev1.Service]{
		OnAdd: addSvc, OnUpdate: func(_, svc *corev1.Service) { addSvc(svc) }, OnDelete: addSvc,
	})
	addPod := func(pod *corev1.Pod) {
		for _, svc := range s.Services.Lister().ListNamespace(pod.GetMetadata().GetNamespace(), labels.Everything()) {
			if Selects(svc, pod) {
				q.Add(informer.KeyOf(svc))
			}
		}
	}
	s.Pods.AddHandler(informer.Handler[*corev1.Pod]{
		OnAdd: addPod,
		OnUpdate: func(old, pod *corev1.Pod) {
			addPod(pod)
			if !labels.Equals(old.GetMetadata().GetLabels(), pod.GetMetadata().GetLabels()) {
				addPod(old)
			}
		},
		OnDelete: addPod,
	})
	return s
}

// SelectedPods lists the pods a Service selects.
func (s Sources) SelectedPods(svc *corev1.Service) []*corev1.Pod {
	return s.Pods.Lister().ListNamespace(svc.GetMetadata().GetNamespace(), labels.SelectorFromSet(svc.GetSpec().GetSelector()))
}
