package endpointslice_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	discoveryv1 "flotilla.io/proto/flotilla/discovery/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"

	"flotilla.io/apiserver/testserver"
	"flotilla.io/sdk/client"

	controllermanager "flotilla.io/controller-manager"
	"flotilla.io/controller-manager/internal/endpointslice"
	"flotilla.io/controller-manager/internal/testkubelet"
)

// eventually polls cond every 100ms until it holds or 30s pass.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last state: %s", what, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func mkPod(name string, ann map[string]string) *corev1.Pod {
	return &corev1.Pod{
		Metadata: &metav1.ObjectMeta{Namespace: "default", Name: name, Labels: map[string]string{"app": "web"}, Annotations: ann},
		Spec: &corev1.PodSpec{Containers: []*corev1.Container{{Name: "c", Image: "busybox:1.35",
			Ports: []*corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}},
	}
}

// endpointsState renders Endpoints as "ready=[ips] notReady=[ips] ports=[...]".
func endpointsState(ep *corev1.Endpoints) string {
	var ready, notReady, ports []string
	for _, s := range ep.GetSubsets() {
		for _, a := range s.Addresses {
			ready = append(ready, a.TargetRef.Name)
		}
		for _, a := range s.NotReadyAddresses {
			notReady = append(notReady, a.TargetRef.Name)
		}
		for _, p := range s.Ports {
			ports = append(ports, fmt.Sprint(p.Port))
		}
	}
	slices.Sort(ready)
	slices.Sort(notReady)
	return fmt.Sprintf("ready=%v notReady=%v ports=%v", ready, notReady, ports)
}

// slicesState renders a Service's slices as sorted "pod:ready/serving/terminating".
func slicesState(items []*discoveryv1.EndpointSlice) (string, int) {
	var eps []string
	for _, s := range items {
		for _, e := range s.Endpoints {
			c := e.Conditions
			eps = append(eps, fmt.Sprintf("%s:%v/%v/%v", e.TargetRef.Name, c.GetReady(), c.GetServing(), c.GetTerminating()))
		}
	}
	slices.Sort(eps)
	return strings.Join(eps, " "), len(items)
}

func TestEndpointsAndSlicesFollowPods(t *testing.T) {
	s := testserver.Start(t)
	c := s.Client(s.Config)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	kubelet, err := testkubelet.Start(ctx, c, "n1", "n2")
	if err != nil {
		t.Fatal(err)
	}
	endpointslice.Flags.MaxEndpointsPerSlice = 2
	done := make(chan error, 1)
	go func() {
		done <- controllermanager.Run(ctx, controllermanager.Config{Client: s.Config, Controllers: []string{"endpoint", "endpointslice"}})
	}()
	defer func() { cancel(); <-done }()

	svcs := client.For[*corev1.Service](c)
	svc, err := svcs.Create(ctx, &corev1.Service{
		Metadata: &metav1.ObjectMeta{Namespace: "default", Name: "web", Labels: map[string]string{"tier": "front"}},
		Spec: &corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
			Ports: []*corev1.ServicePort{{Name: "http", Port: 80, TargetPort: &metav1.IntOrString{Type: 1, StrVal: "http"}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	pods := client.For[*corev1.Pod](c)
	for _, p := range []*corev1.Pod{mkPod("a", nil), mkPod("b", nil), mkPod("c", map[string]string{testkubelet.NotReady: ""})} {
		if _, err := pods.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	eps := client.For[*corev1.Endpoints](c)
	wantEndpoints := func(want string) {
		t.Helper()
		eventually(t, "endpoints "+want, func() (bool, string) {
			ep, err := eps.Get(ctx, "default", "web")
			if err != nil {
				return false, err.Error()
			}
			got := endpointsState(ep)
			return got == want, got
		})
	}
	sl := client.For[*discoveryv1.EndpointSlice](c)
	wantSlices := func(want string, n int) []*discoveryv1.EndpointSlice {
		t.Helper()
		var items []*discoveryv1.EndpointSlice
		eventually(t, "slices "+want, func() (bool, string) {
			l, err := sl.List(ctx, client.ListOptions{Namespace: "default", LabelSelector: endpointslice.ServiceNameLabel + "=web"})
			if err != nil {
				return false, err.Error()
			}
			items = l.Items
			got, count := slicesState(items)
			return got == want && count == n, fmt.Sprintf("%s in %d slices", got, count)
		})
		return items
	}
	wantEndpoints("ready=[a b] notReady=[c] ports=[8080]")
	items := wantSlices("a:true/true/false b:true/true/false c:false/false/false", 2)
	for _, s := range items {
		l := s.Metadata.Labels
		if l[endpointslice.ManagedByLabel] != endpointslice.ControllerName || l["tier"] != "front" || s.AddressType != "IPv4" {
			t.Errorf("slice %s labels %v addressType %s", s.Metadata.Name, l, s.AddressType)
		}
		if o := s.Metadata.OwnerReferences; len(o) != 1 || o[0].Uid != svc.Metadata.Uid || !o[0].GetController() {
			t.Errorf("slice %s ownerReferences %v", s.Metadata.Name, o)
		}
		if len(s.Ports) != 1 || s.Ports[0].GetPort() != 8080 || s.Ports[0].GetName() != "http" {
			t.Errorf("slice %s ports %v", s.Metadata.Name, s.Ports)
		}
	}

	// Readiness flips: a goes not ready, c ready.
	setReady := func(name, status string) {
		t.Helper()
		p, err := pods.Get(ctx, "default", name)
		if err != nil {
			t.Fatal(err)
		}
		for _, cond := range p.Status.Conditions {
			if cond.Type == "Ready" {
				cond.Status = status
			}
		}
		if _, err := pods.UpdateStatus(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	setReady("a", "False")
	setReady("c", "True")
	wantEndpoints("ready=[b c] notReady=[a] ports=[8080]")
	wantSlices("a:false/false/false b:true/true/false c:true/true/false", 2)

	// A terminating pod leaves Endpoints but stays in its slice, serving and terminating.
	kubelet.Pause(true)
	if err := pods.Delete(ctx, "default", "b", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	wantEndpoints("ready=[c] notReady=[a] ports=[8080]")
	wantSlices("a:false/false/false b:false/true/true c:true/true/false", 2)
	if err := pods.Delete(ctx, "default", "b", client.DeleteOptions{GracePeriodSeconds: proto.Int64(0)}); err != nil {
		t.Fatal(err)
	}
	kubelet.Pause(false)
	wantSlices("a:false/false/false c:true/true/false", 2)

	// A pod whose labels stop matching leaves.
	p, _ := pods.Get(ctx, "default", "a")
	p.Metadata.Labels = map[string]string{"app": "other"}
	if _, err := pods.Update(ctx, p); err != nil {
		t.Fatal(err)
	}
	wantEndpoints("ready=[c] notReady=[] ports=[8080]")
	wantSlices("c:true/true/false", 1)

	// Headless Service without ports: addresses only, marked headless.
	if _, err := svcs.Create(ctx, &corev1.Service{
		Metadata: &metav1.ObjectMeta{Namespace: "default", Name: "db"},
		Spec:     &corev1.ServiceSpec{ClusterIp: "None", Selector: map[string]string{"app": "web"}},
	}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "headless endpoints", func() (bool, string) {
		ep, err := eps.Get(ctx, "default", "db")
		if err != nil {
			return false, err.Error()
		}
		_, headless := ep.Metadata.Labels["service.kubernetes.io/headless"]
		return headless && endpointsState(ep) == "ready=[c] notReady=[] ports=[]", endpointsState(ep)
	})

	// Deleting the Service removes its Endpoints and slices.
	if err := svcs.Delete(ctx, "default", "web", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	wantSlices("", 0)
	eventually(t, "endpoints deleted", func() (bool, string) {
		_, err := eps.Get(ctx, "default", "web")
		return client.IsNotFound(err), fmt.Sprint(err)
	})
}
