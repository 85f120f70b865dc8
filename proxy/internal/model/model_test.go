package model

import (
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	discoveryv1 "flotilla.io/proto/flotilla/discovery/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
)

func svc(mutate func(*corev1.ServiceSpec)) *corev1.Service {
	s := &corev1.Service{Metadata: &metav1.ObjectMeta{Namespace: "ns", Name: "web"}, Spec: &corev1.ServiceSpec{
		ClusterIp: "10.96.0.5", Ports: []*corev1.ServicePort{{Name: "http", Port: 80, NodePort: 30080}, {Name: "dns", Protocol: "UDP", Port: 53}},
	}}
	if mutate != nil {
		mutate(s.Spec)
	}
	return s
}

func ep(ip string, ready, serving, terminating *bool) *discoveryv1.Endpoint {
	return &discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: &discoveryv1.EndpointConditions{Ready: ready, Serving: serving, Terminating: terminating}}
}

var yes, no = proto.Bool(true), proto.Bool(false)

func slice(eps ...*discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{AddressType: "IPv4", Endpoints: eps, Ports: []*discoveryv1.EndpointPort{
		{Name: proto.String("http"), Port: proto.Int32(8080)},
		{Name: proto.String("dns"), Protocol: proto.String("UDP"), Port: proto.Int32(5353)},
	}}
}

func TestBuild(t *testing.T) {
	for _, tc := range []struct {
		name   string
		svc    *corev1.Service
		slices []*discoveryv1.EndpointSlice
		want   string
	}{
		{"cluster IP, ready endpoints sorted and deduplicated", svc(nil),
			[]*discoveryv1.EndpointSlice{slice(ep("10.244.0.9", nil, nil, nil), ep("10.244.0.3", yes, nil, nil)), slice(ep("10.244.0.3", yes, nil, nil), ep("10.244.0.4", no, yes, nil))},
			"ns/web/tcp/http 10.96.0.5:80 np=0 ext=[] aff=0s eps=[10.244.0.3:8080 10.244.0.9:8080]\nns/web/udp/dns 10.96.0.5:53 np=0 ext=[] aff=0s eps=[10.244.0.3:5353 10.244.0.9:5353]\n"},
		{"no ready endpoint: serving terminating ones drain", svc(nil),
			[]*discoveryv1.EndpointSlice{slice(ep("10.244.0.3", no, yes, yes), ep("10.244.0.4", no, no, yes))},
			"ns/web/tcp/http 10.96.0.5:80 np=0 ext=[] aff=0s eps=[10.244.0.3:8080]\nns/web/udp/dns 10.96.0.5:53 np=0 ext=[] aff=0s eps=[10.244.0.3:5353]\n"},
		{"node port, external IPs, LB ingress and affinity", svc(func(s *corev1.ServiceSpec) {
			s.Type, s.ExternalIps, s.SessionAffinity = "NodePort", []string{"192.0.2.1"}, "ClientIP"
			s.Ports = s.Ports[:1]
		}), nil, "ns/web/tcp/http 10.96.0.5:80 np=30080 ext=[192.0.2.1] aff=3h0m0s eps=[]\n"},
		{"affinity timeout", svc(func(s *corev1.ServiceSpec) {
			s.SessionAffinity = "ClientIP"
			s.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIp: &corev1.ClientIPConfig{TimeoutSeconds: proto.Int32(60)}}
			s.Ports = s.Ports[:1]
		}), nil, "ns/web/tcp/http 10.96.0.5:80 np=0 ext=[] aff=1m0s eps=[]\n"},
		{"headless", svc(func(s *corev1.ServiceSpec) { s.ClusterIp = "None" }), nil, ""},
		{"external name", svc(func(s *corev1.ServiceSpec) { s.Type = "ExternalName" }), nil, ""},
		{"unnamed port matches unnamed slice port", svc(func(s *corev1.ServiceSpec) { s.Ports = []*corev1.ServicePort{{Port: 80}} }),
			[]*discoveryv1.EndpointSlice{{Endpoints: []*discoveryv1.Endpoint{ep("10.244.0.3", nil, nil, nil)}, Ports: []*discoveryv1.EndpointPort{{Port: proto.Int32(80)}}}},
			"ns/web/tcp/ 10.96.0.5:80 np=0 ext=[] aff=0s eps=[10.244.0.3:80]\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "node port, external IPs, LB ingress and affinity" {
				tc.svc.Status = &corev1.ServiceStatus{LoadBalancer: &corev1.LoadBalancerStatus{Ingress: []*corev1.LoadBalancerIngress{{Ip: "192.0.2.1"}}}}
			}
			var got string
			for _, p := range Build(tc.svc, tc.slices) {
				got += fmt.Sprintf("%s %s:%d np=%d ext=%v aff=%s eps=%v\n", p.Name, p.ClusterIP, p.Port, p.NodePort, p.ExternalIPs, p.Affinity, p.Endpoints)
			}
			if got != tc.want {
				t.Errorf("got:\n%swant:\n%s", got, tc.want)
			}
		})
	}
	_ = time.Second
}
