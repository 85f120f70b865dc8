package endpoint

import (
	"testing"

	"strconv"

	"google.golang.org/protobuf/types/known/timestamppb"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
)

func svc(publish bool, clusterIP string, ports ...*corev1.ServicePort) *corev1.Service {
	return &corev1.Service{
		Metadata: &metav1.ObjectMeta{Namespace: "ns", Name: "web"},
		Spec:     &corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: ports, PublishNotReadyAddresses: publish, ClusterIp: clusterIP},
	}
}

type podOpt func(*corev1.Pod)

func notReady(p *corev1.Pod)    { p.Status.Conditions[0].Status = "False" }
func terminating(p *corev1.Pod) { p.Metadata.DeletionTimestamp = timestamppb.Now() }
func noIP(p *corev1.Pod)        { p.Status.PodIp = "" }
func succeeded(p *corev1.Pod)   { p.Status.Phase = "Succeeded" }
func altPort(p *corev1.Pod)     { p.Spec.Containers[0].Ports[0].ContainerPort = 9090 }
func hostname(p *corev1.Pod)    { p.Spec.Hostname, p.Spec.Subdomain = "h-"+p.Metadata.Name, "web" }

func pod(name, ip string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{
		Metadata: &metav1.ObjectMeta{Namespace: "ns", Name: name, Uid: "uid-" + name, Labels: map[string]string{"app": "web"}},
		Spec: &corev1.PodSpec{NodeName: "n1", Containers: []*corev1.Container{{Name: "c", Ports: []*corev1.ContainerPort{
			{Name: "http", ContainerPort: 8080},
		}}}},
		Status: &corev1.PodStatus{Phase: "Running", PodIp: ip, Conditions: []*corev1.PodCondition{{Type: "Ready", Status: "True"}}},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

var (
	named   = &corev1.ServicePort{Name: "http", Port: 80, TargetPort: &metav1.IntOrString{Type: 1, StrVal: "http"}}
	numeric = &corev1.ServicePort{Name: "metrics", Port: 9100, TargetPort: &metav1.IntOrString{IntVal: 9100}, Protocol: "TCP"}
	missing = &corev1.ServicePort{Name: "grpc", Port: 90, TargetPort: &metav1.IntOrString{Type: 1, StrVal: "grpc"}}
)

// summary renders subsets as "ports: ready | notReady".
func summary(ss []*corev1.EndpointSubset) []string {
	var out []string
	for _, s := range ss {
		line := ""
		for _, p := range s.Ports {
			line += p.Name + ":" + itoa(p.Port) + " "
		}
		line += "="
		for _, a := range s.Addresses {
			line += " " + a.Ip
			if a.Hostname != "" {
				line += "(" + a.Hostname + ")"
			}
		}
		line += " |"
		for _, a := range s.NotReadyAddresses {
			line += " " + a.Ip
		}
		out = append(out, line)
	}
	return out
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }

func TestSubsets(t *testing.T) {
	for _, tc := range []struct {
		name string
		svc  *corev1.Service
		pods []*corev1.Pod
		want []string
	}{
		{"ready and not ready", svc(false, "", named), []*corev1.Pod{pod("a", "10.0.0.2"), pod("b", "10.0.0.1"), pod("c", "10.0.0.3", notReady)},
			[]string{"http:8080 = 10.0.0.1 10.0.0.2 | 10.0.0.3"}},
		{"publishNotReadyAddresses", svc(true, "", named), []*corev1.Pod{pod("a", "10.0.0.1"), pod("c", "10.0.0.3", notReady), pod("t", "10.0.0.4", terminating)},
			[]string{"http:8080 = 10.0.0.1 10.0.0.3 10.0.0.4 |"}},
		{"terminating, ipless and finished pods left out", svc(false, "", named), []*corev1.Pod{pod("a", "10.0.0.1"), pod("t", "10.0.0.4", terminating), pod("n", "", noIP), pod("s", "10.0.0.5", succeeded)},
			[]string{"http:8080 = 10.0.0.1 |"}},
		{"named port resolved per pod", svc(false, "", named, numeric), []*corev1.Pod{pod("a", "10.0.0.1"), pod("b", "10.0.0.2", altPort)},
			[]string{"http:8080 metrics:9100 = 10.0.0.1 |", "http:9090 metrics:9100 = 10.0.0.2 |"}},
		{"pod without the named port serves the others", svc(false, "", missing, numeric), []*corev1.Pod{pod("a", "10.0.0.1")},
			[]string{"metrics:9100 = 10.0.0.1 |"}},
		{"pod serving no port", svc(false, "", missing), []*corev1.Pod{pod("a", "10.0.0.1")}, nil},
		{"headless without ports, hostnames", svc(false, "None"), []*corev1.Pod{pod("a", "10.0.0.1", hostname)},
			[]string{"= 10.0.0.1(h-a) |"}},
		{"no pods", svc(false, "", named), nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := summary(Subsets(tc.svc, tc.pods))
			if len(got) != len(tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			for n := range got {
				if got[n] != tc.want[n] {
					t.Fatalf("got %q, want %q", got, tc.want)
				}
			}
		})
	}
}
