package endpointslice

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	discoveryv1 "flotilla.io/proto/flotilla/discovery/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
)

var service = &corev1.Service{
	Metadata: &metav1.ObjectMeta{Namespace: "ns", Name: "web", Uid: "svc-uid"},
	Spec: &corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
		Ports: []*corev1.ServicePort{{Name: "http", Port: 80, TargetPort: &metav1.IntOrString{IntVal: 8080}}}},
}

func pods(names ...string) []*corev1.Pod {
	var out []*corev1.Pod
	for _, name := range names {
		out = append(out, &corev1.Pod{
			Metadata: &metav1.ObjectMeta{Namespace: "ns", Name: name},
			Spec:     &corev1.PodSpec{NodeName: "n1"},
			Status:   &corev1.PodStatus{Phase: "Running", PodIp: fmt.Sprintf("10.0.0.%d", name[0]), Conditions: []*corev1.PodCondition{{Type: "Ready", Status: "True"}}},
		})
	}
	return out
}

// apply stores a plan's result the way the apiserver would, naming new slices.
func apply(existing []*discoveryv1.EndpointSlice, p Plan, next *int) []*discoveryv1.EndpointSlice {
	byName := map[string]*discoveryv1.EndpointSlice{}
	for _, s := range existing {
		byName[s.Metadata.Name] = s
	}
	for _, s := range p.Delete {
		delete(byName, s.Metadata.Name)
	}
	for _, s := range p.Update {
		byName[s.Metadata.Name] = s
	}
	for _, s := range p.Create {
		s = proto.Clone(s).(*discoveryv1.EndpointSlice)
		*next++
		s.Metadata.Name = fmt.Sprintf("web-%d", *next)
		byName[s.Metadata.Name] = s
	}
	var out []*discoveryv1.EndpointSlice
	for _, s := range byName {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b *discoveryv1.EndpointSlice) int { return strings.Compare(a.Metadata.Name, b.Metadata.Name) })
	return out
}

func render(items []*discoveryv1.EndpointSlice) string {
	var parts []string
	for _, s := range items {
		var names []string
		for _, e := range s.Endpoints {
			names = append(names, e.TargetRef.Name)
		}
		parts = append(parts, s.Metadata.Name+"["+strings.Join(names, ",")+"]")
	}
	return strings.Join(parts, " ")
}

func TestComputeKeepsEndpointsInPlace(t *testing.T) {
	next := 0
	var stored []*discoveryv1.EndpointSlice
	steps := []struct {
		pods                  []string
		want                  string
		creates, updates, del int
	}{
		{nil, "web-1[]", 1, 0, 0},                                 // placeholder
		{[]string{"a", "b", "c"}, "web-1[a,b] web-2[c]", 1, 1, 0}, // placeholder filled, then a new slice
		{[]string{"a", "b", "c"}, "web-1[a,b] web-2[c]", 0, 0, 0}, // nothing changed: no writes
		{[]string{"b", "c", "d"}, "web-1[b,d] web-2[c]", 0, 1, 0}, // a's room goes to d
		{[]string{"b", "d"}, "web-1[b,d]", 0, 0, 1},               // an emptied slice goes
		{nil, "web-1[]", 0, 1, 0},                                 // back to a placeholder
	}
	for n, st := range steps {
		p := Compute(service, pods(st.pods...), nil, stored, 2)
		if len(p.Create) != st.creates || len(p.Update) != st.updates || len(p.Delete) != st.del {
			t.Fatalf("step %d: creates/updates/deletes = %d/%d/%d, want %d/%d/%d", n, len(p.Create), len(p.Update), len(p.Delete), st.creates, st.updates, st.del)
		}
		stored = apply(stored, p, &next)
		if got := render(stored); got != st.want {
			t.Fatalf("step %d: slices %s, want %s", n, got, st.want)
		}
		for _, s := range stored {
			if s.Metadata.Labels[ServiceNameLabel] != "web" || s.Metadata.Labels[ManagedByLabel] != ControllerName || s.Metadata.OwnerReferences[0].Uid != "svc-uid" {
				t.Fatalf("step %d: slice metadata %v", n, s.Metadata)
			}
		}
	}
}

func TestComputeConditions(t *testing.T) {
	ps := pods("ready", "unready", "term", "termunready")
	ps[1].Status.Conditions[0].Status = "False"
	ps[2].Metadata.DeletionTimestamp = timestamppb.Now()
	ps[3].Metadata.DeletionTimestamp = timestamppb.Now()
	ps[3].Status.Conditions[0].Status = "False"
	for _, tc := range []struct {
		publish bool
		want    string
	}{
		{false, "ready:true/true/false term:false/true/true termunready:false/false/true unready:false/false/false"},
		{true, "ready:true/true/false term:true/true/true termunready:true/false/true unready:true/false/false"},
	} {
		svc := proto.Clone(service).(*corev1.Service)
		svc.Spec.PublishNotReadyAddresses = tc.publish
		p := Compute(svc, ps, map[string]string{"n1": "z1"}, nil, 100)
		var got []string
		for _, e := range p.Create[0].Endpoints {
			c := e.Conditions
			got = append(got, fmt.Sprintf("%s:%v/%v/%v", e.TargetRef.Name, c.GetReady(), c.GetServing(), c.GetTerminating()))
			if e.GetZone() != "z1" || e.GetNodeName() != "n1" {
				t.Errorf("endpoint %s zone %q node %q", e.TargetRef.Name, e.GetZone(), e.GetNodeName())
			}
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("publish=%v: %s, want %s", tc.publish, strings.Join(got, " "), tc.want)
		}
	}
}
