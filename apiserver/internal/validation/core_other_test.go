package validation

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"flotilla.io/apiserver/internal/defaults"
	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
)

func coreSvc(typ string) *corev1.Service {
	s := &corev1.Service{
		Metadata: &metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: &corev1.ServiceSpec{
			Type:     typ,
			Selector: map[string]string{"app": "web"},
			Ports: []*corev1.ServicePort{
				{Name: "http", Port: 80, TargetPort: coreNamedPort("http")},
				{Name: "metrics", Port: 9090},
			},
		},
	}
	defaults.Apply(s)
	return s
}

func TestCoreService(t *testing.T) {
	for _, typ := range []string{"ClusterIP", "NodePort", "LoadBalancer"} {
		if errs := Validate(coreSvc(typ), nil); len(errs) != 0 {
			t.Fatalf("%s rejected: %v", typ, errs)
		}
	}
	ext := &corev1.Service{Metadata: &metav1.ObjectMeta{Name: "ext", Namespace: "default"}, Spec: &corev1.ServiceSpec{Type: "ExternalName", ExternalName: "example.com."}}
	defaults.Apply(ext)
	if errs := Validate(ext, nil); len(errs) != 0 {
		t.Fatalf("ExternalName rejected: %v", errs)
	}
	headless := coreSvc("ClusterIP")
	headless.Spec.ClusterIp = "None"
	headless.Spec.Ports = nil
	defaults.Apply(headless)
	if errs := Validate(headless, nil); len(errs) != 0 {
		t.Fatalf("headless rejected: %v", errs)
	}

	cases := []struct {
		name   string
		typ    string
		mutate func(s *corev1.Service)
		field  string
		et     field.ErrorType
	}{
		{"name not DNS-1035", "ClusterIP", func(s *corev1.Service) { s.Metadata.Name = "1web" }, "metadata.name", field.ErrorTypeInvalid},
		{"no ports", "ClusterIP", func(s *corev1.Service) { s.Spec.Ports = nil }, "spec.ports", field.ErrorTypeRequired},
		{"port 0", "ClusterIP", func(s *corev1.Service) { s.Spec.Ports[0].Port = 0 }, "spec.ports[0].port", field.ErrorTypeInvalid},
		{"name required when many", "ClusterIP", func(s *corev1.Service) { s.Spec.Ports[1].Name = "" }, "spec.ports[1].name", field.ErrorTypeRequired},
		{"dup port name", "ClusterIP", func(s *corev1.Service) { s.Spec.Ports[1].Name = "http" }, "spec.ports[1].name", field.ErrorTypeDuplicate},
		{"dup port", "ClusterIP", func(s *corev1.Service) { s.Spec.Ports[1].Port = 80 }, "spec.ports[1]", field.ErrorTypeDuplicate},
		{"protocol", "ClusterIP", func(s *corev1.Service) { s.Spec.Ports[0].Protocol = "HTTP" }, "spec.ports[0].protocol", field.ErrorTypeNotSupported},
		{"targetPort name", "ClusterIP", func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = coreNamedPort("Not_Valid") }, "spec.ports[0].targetPort", field.ErrorTypeInvalid},
		{"targetPort number", "ClusterIP", func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = corePort(70000) }, "spec.ports[0].targetPort", field.ErrorTypeInvalid},
		{"nodePort on ClusterIP", "ClusterIP", func(s *corev1.Service) { s.Spec.Ports[0].NodePort = 30080 }, "spec.ports[0].nodePort", field.ErrorTypeForbidden},
		{"nodePort range", "NodePort", func(s *corev1.Service) { s.Spec.Ports[0].NodePort = 8080 }, "spec.ports[0].nodePort", field.ErrorTypeInvalid},
		{"dup nodePort", "NodePort", func(s *corev1.Service) { s.Spec.Ports[0].NodePort = 30080; s.Spec.Ports[1].NodePort = 30080 }, "spec.ports[1].nodePort", field.ErrorTypeDuplicate},
		{"type", "ClusterIP", func(s *corev1.Service) { s.Spec.Type = "Ingress" }, "spec.type", field.ErrorTypeNotSupported},
		{"clusterIP", "ClusterIP", func(s *corev1.Service) { s.Spec.ClusterIp = "10.0.0.300"; s.Spec.ClusterIps = nil }, "spec.clusterIP", field.ErrorTypeInvalid},
		{"headless NodePort", "NodePort", func(s *corev1.Service) { s.Spec.ClusterIp = "None" }, "spec.clusterIPs[0]", field.ErrorTypeInvalid},
		{"externalName required", "ExternalName", func(s *corev1.Service) { s.Spec.Ports = nil }, "spec.externalName", field.ErrorTypeRequired},
		{"sessionAffinity", "ClusterIP", func(s *corev1.Service) { s.Spec.SessionAffinity = "Cookie" }, "spec.sessionAffinity", field.ErrorTypeNotSupported},
		{"affinity timeout", "ClusterIP", func(s *corev1.Service) {
			s.Spec.SessionAffinity = "ClientIP"
			s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIp: &corev1.ClientIPConfig{TimeoutSeconds: proto.Int32(86401)}}
		}, "spec.sessionAffinityConfig.clientIP.timeoutSeconds", field.ErrorTypeInvalid},
		{"externalTrafficPolicy on ClusterIP", "ClusterIP", func(s *corev1.Service) { s.Spec.ExternalTrafficPolicy = "Local" }, "spec.externalTrafficPolicy", field.ErrorTypeInvalid},
		{"externalTrafficPolicy value", "NodePort", func(s *corev1.Service) { s.Spec.ExternalTrafficPolicy = "Nearby" }, "spec.externalTrafficPolicy", field.ErrorTypeNotSupported},
		{"selector", "ClusterIP", func(s *corev1.Service) { s.Spec.Selector["app"] = "bad value" }, "spec.selector[app]", field.ErrorTypeInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := coreSvc(tc.typ)
			if tc.typ == "ExternalName" {
				s = &corev1.Service{Metadata: &metav1.ObjectMeta{Name: "e", Namespace: "d"}, Spec: &corev1.ServiceSpec{Type: "ExternalName"}}
				defaults.Apply(s)
			}
			tc.mutate(s)
			coreExpect(t, Validate(s, nil), tc.field, tc.et)
		})
	}

	// clusterIP may be allocated once but not changed.
	old := coreSvc("ClusterIP")
	next := proto.Clone(old).(*corev1.Service)
	next.Spec.ClusterIp, next.Spec.ClusterIps = "10.96.0.10", []string{"10.96.0.10"}
	if errs := Validate(next, old); len(errs) != 0 {
		t.Fatalf("allocation rejected: %v", errs)
	}
	again := proto.Clone(next).(*corev1.Service)
	again.Spec.ClusterIp, again.Spec.ClusterIps = "10.96.0.11", []string{"10.96.0.11"}
	coreExpect(t, Validate(again, next), "spec.clusterIPs[0]", field.ErrorTypeInvalid)
}

func TestCoreEndpoints(t *testing.T) {
	ep := &corev1.Endpoints{Metadata: &metav1.ObjectMeta{Name: "web", Namespace: "default"}, Subsets: []*corev1.EndpointSubset{{
		Addresses: []*corev1.EndpointAddress{{Ip: "10.1.0.4", Hostname: "web-0"}},
		Ports:     []*corev1.EndpointPort{{Name: "http", Port: 80}, {Name: "https", Port: 443}},
	}}}
	defaults.Apply(ep)
	if errs := Validate(ep, nil); len(errs) != 0 {
		t.Fatalf("rejected: %v", errs)
	}
	for _, tc := range []struct {
		name   string
		mutate func(e *corev1.Endpoints)
		field  string
		et     field.ErrorType
	}{
		{"bad ip", func(e *corev1.Endpoints) { e.Subsets[0].Addresses[0].Ip = "x" }, "subsets[0].addresses[0].ip", field.ErrorTypeInvalid},
		{"loopback", func(e *corev1.Endpoints) { e.Subsets[0].Addresses[0].Ip = "127.0.0.1" }, "subsets[0].addresses[0].ip", field.ErrorTypeInvalid},
		{"no addresses", func(e *corev1.Endpoints) { e.Subsets[0].Addresses = nil }, "subsets[0]", field.ErrorTypeRequired},
		{"port", func(e *corev1.Endpoints) { e.Subsets[0].Ports[0].Port = 0 }, "subsets[0].ports[0].port", field.ErrorTypeInvalid},
		{"port name", func(e *corev1.Endpoints) { e.Subsets[0].Ports[1].Name = "" }, "subsets[0].ports[1].name", field.ErrorTypeRequired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := proto.Clone(ep).(*corev1.Endpoints)
			tc.mutate(e)
			coreExpect(t, Validate(e, nil), tc.field, tc.et)
		})
	}
}

func TestCoreNode(t *testing.T) {
	n := &corev1.Node{Metadata: &metav1.ObjectMeta{Name: "n1"}, Spec: &corev1.NodeSpec{
		PodCidr: "10.244.1.0/24",
		Taints:  []*corev1.Taint{{Key: "dedicated", Value: "gpu", Effect: "NoSchedule"}, {Key: "dedicated", Effect: "NoExecute"}},
	}}
	defaults.Apply(n)
	if errs := Validate(n, nil); len(errs) != 0 {
		t.Fatalf("rejected: %v", errs)
	}
	for _, tc := range []struct {
		name   string
		mutate func(n *corev1.Node)
		field  string
		et     field.ErrorType
	}{
		{"taint key", func(n *corev1.Node) { n.Spec.Taints[0].Key = "bad key" }, "spec.taints[0].key", field.ErrorTypeInvalid},
		{"taint effect", func(n *corev1.Node) { n.Spec.Taints[0].Effect = "NoRun" }, "spec.taints[0].effect", field.ErrorTypeNotSupported},
		{"taint effect required", func(n *corev1.Node) { n.Spec.Taints[0].Effect = "" }, "spec.taints[0].effect", field.ErrorTypeRequired},
		{"taint dup", func(n *corev1.Node) { n.Spec.Taints[1].Effect = "NoSchedule" }, "spec.taints[1]", field.ErrorTypeDuplicate},
		{"podCIDR", func(n *corev1.Node) { n.Spec.PodCidr = "10.244.1.0/33"; n.Spec.PodCidrs = []string{n.Spec.PodCidr} }, "spec.podCIDR", field.ErrorTypeInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := proto.Clone(n).(*corev1.Node)
			tc.mutate(x)
			coreExpect(t, Validate(x, nil), tc.field, tc.et)
		})
	}
	next := proto.Clone(n).(*corev1.Node)
	next.Spec.PodCidr, next.Spec.PodCidrs = "10.244.2.0/24", []string{"10.244.2.0/24"}
	coreExpect(t, Validate(next, n), "spec.podCIDRs", field.ErrorTypeForbidden)

	st := proto.Clone(n).(*corev1.Node)
	st.Status = &corev1.NodeStatus{Capacity: map[string]*metav1.Quantity{"cpu": coreQ("4"), "pods": coreQ("110")},
		Conditions: []*corev1.NodeCondition{{Type: "Ready", Status: "True"}}, Addresses: []*corev1.NodeAddress{{Type: "InternalIP", Address: "10.0.0.1"}}}
	if errs := ValidateStatus(st, n); len(errs) != 0 {
		t.Fatalf("status rejected: %v", errs)
	}
	st.Status.Conditions[0].Status = "Maybe"
	coreExpect(t, ValidateStatus(st, n), "status.conditions[0].status", field.ErrorTypeNotSupported)
}

func TestCoreNamespace(t *testing.T) {
	ns := &corev1.Namespace{Metadata: &metav1.ObjectMeta{Name: "team-a"}}
	defaults.Apply(ns)
	if errs := Validate(ns, nil); len(errs) != 0 {
		t.Fatalf("rejected: %v", errs)
	}
	bad := &corev1.Namespace{Metadata: &metav1.ObjectMeta{Name: "team.a"}}
	coreExpect(t, Validate(bad, nil), "metadata.name", field.ErrorTypeInvalid)
	ns.Spec.Finalizers = []string{"custom"}
	coreExpect(t, Validate(ns, nil), "spec.finalizers[0]", field.ErrorTypeInvalid)
}

func TestCoreSecretConfigMap(t *testing.T) {
	s := &corev1.Secret{Metadata: &metav1.ObjectMeta{Name: "s", Namespace: "d"}, Data: map[string][]byte{"a.b": []byte("x")}}
	defaults.Apply(s)
	if errs := Validate(s, nil); len(errs) != 0 {
		t.Fatalf("rejected: %v", errs)
	}
	x := proto.Clone(s).(*corev1.Secret)
	x.Data["bad/key"] = nil
	coreExpect(t, Validate(x, nil), "data[bad/key]", field.ErrorTypeInvalid)
	x = proto.Clone(s).(*corev1.Secret)
	x.Data["big"] = make([]byte, 1024*1024)
	coreExpect(t, Validate(x, nil), "data", field.ErrorTypeTooLong)
	x = proto.Clone(s).(*corev1.Secret)
	x.Type = "kubernetes.io/tls"
	coreExpect(t, Validate(x, nil), "data[tls.crt]", field.ErrorTypeRequired)
	x.Data["tls.crt"], x.Data["tls.key"] = []byte("c"), []byte("k")
	coreExpect(t, Validate(x, s), "type", field.ErrorTypeInvalid)
	imm := proto.Clone(s).(*corev1.Secret)
	imm.Immutable = proto.Bool(true)
	x = proto.Clone(imm).(*corev1.Secret)
	x.Data["a.b"] = []byte("y")
	coreExpect(t, Validate(x, imm), "data", field.ErrorTypeForbidden)
	x = proto.Clone(imm).(*corev1.Secret)
	x.Immutable = proto.Bool(false)
	coreExpect(t, Validate(x, imm), "immutable", field.ErrorTypeForbidden)

	cm := &corev1.ConfigMap{Metadata: &metav1.ObjectMeta{Name: "c", Namespace: "d"}, Data: map[string]string{"k": "v"}, BinaryData: map[string][]byte{"b": {1}}}
	if errs := Validate(cm, nil); len(errs) != 0 {
		t.Fatalf("rejected: %v", errs)
	}
	y := proto.Clone(cm).(*corev1.ConfigMap)
	y.BinaryData["k"] = []byte{2}
	coreExpect(t, Validate(y, nil), "data[k]", field.ErrorTypeInvalid)
	y = proto.Clone(cm).(*corev1.ConfigMap)
	y.Data["big"] = strings.Repeat("x", 1024*1024)
	coreExpect(t, Validate(y, nil), field.NewPath("").String(), field.ErrorTypeTooLong) // upstream reports "[]: Too long"
	cm.Immutable = proto.Bool(true)
	y = proto.Clone(cm).(*corev1.ConfigMap)
	y.Data["k"] = "w"
	coreExpect(t, Validate(y, cm), "data", field.ErrorTypeForbidden)
}

func TestCoreEventAndServiceAccount(t *testing.T) {
	ev := &corev1.Event{Metadata: &metav1.ObjectMeta{Name: "e", Namespace: "d"}, Type: "Normal",
		InvolvedObject: &corev1.ObjectReference{Kind: "Pod", Namespace: "d", Name: "p"}}
	if errs := Validate(ev, nil); len(errs) != 0 {
		t.Fatalf("rejected: %v", errs)
	}
	x := proto.Clone(ev).(*corev1.Event)
	x.Type = "Info"
	coreExpect(t, Validate(x, nil), "type", field.ErrorTypeNotSupported)
	x = proto.Clone(ev).(*corev1.Event)
	x.InvolvedObject = nil
	coreExpect(t, Validate(x, nil), "involvedObject", field.ErrorTypeRequired)
	x = proto.Clone(ev).(*corev1.Event)
	x.InvolvedObject.Namespace = "other"
	coreExpect(t, Validate(x, nil), "involvedObject.namespace", field.ErrorTypeInvalid)

	sa := &corev1.ServiceAccount{Metadata: &metav1.ObjectMeta{Name: "default", Namespace: "d"}}
	if errs := Validate(sa, nil); len(errs) != 0 {
		t.Fatalf("rejected: %v", errs)
	}
}

func TestCorePVAndPVC(t *testing.T) {
	pv := &corev1.PersistentVolume{Metadata: &metav1.ObjectMeta{Name: "pv1"}, Spec: &corev1.PersistentVolumeSpec{
		Capacity:    map[string]*metav1.Quantity{"storage": coreQ("10Gi")},
		AccessModes: []string{"ReadWriteOnce"},
		HostPath:    &corev1.HostPathVolumeSource{Path: "/mnt/data"},
	}}
	defaults.Apply(pv)
	if errs := Validate(pv, nil); len(errs) != 0 {
		t.Fatalf("rejected: %v", errs)
	}
	for _, tc := range []struct {
		name   string
		mutate func(p *corev1.PersistentVolume)
		field  string
		et     field.ErrorType
	}{
		{"no capacity", func(p *corev1.PersistentVolume) { p.Spec.Capacity = nil }, "spec.capacity", field.ErrorTypeRequired},
		{"zero capacity", func(p *corev1.PersistentVolume) { p.Spec.Capacity["storage"] = coreQ("0") }, "spec.capacity[storage]", field.ErrorTypeInvalid},
		{"access mode", func(p *corev1.PersistentVolume) { p.Spec.AccessModes = []string{"ReadWriteSome"} }, "spec.accessModes", field.ErrorTypeNotSupported},
		{"no access modes", func(p *corev1.PersistentVolume) { p.Spec.AccessModes = nil }, "spec.accessModes", field.ErrorTypeRequired},
		{"no source", func(p *corev1.PersistentVolume) { p.Spec.HostPath = nil }, "spec", field.ErrorTypeRequired},
		{"two sources", func(p *corev1.PersistentVolume) { p.Spec.Nfs = &corev1.NFSVolumeSource{Server: "s", Path: "/x"} }, "spec.nfs", field.ErrorTypeForbidden},
		{"reclaim", func(p *corev1.PersistentVolume) { p.Spec.PersistentVolumeReclaimPolicy = "Keep" }, "spec.persistentVolumeReclaimPolicy", field.ErrorTypeNotSupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := proto.Clone(pv).(*corev1.PersistentVolume)
			tc.mutate(x)
			coreExpect(t, Validate(x, nil), tc.field, tc.et)
		})
	}

	pvc := &corev1.PersistentVolumeClaim{Metadata: &metav1.ObjectMeta{Name: "c", Namespace: "d"}, Spec: &corev1.PersistentVolumeClaimSpec{
		AccessModes: []string{"ReadWriteOnce"},
		Resources:   &corev1.VolumeResourceRequirements{Requests: map[string]*metav1.Quantity{"storage": coreQ("1Gi")}},
	}}
	defaults.Apply(pvc)
	if errs := Validate(pvc, nil); len(errs) != 0 {
		t.Fatalf("rejected: %v", errs)
	}
	x := proto.Clone(pvc).(*corev1.PersistentVolumeClaim)
	x.Spec.Resources.Requests = nil
	coreExpect(t, Validate(x, nil), "spec.resources[storage]", field.ErrorTypeRequired)
	x = proto.Clone(pvc).(*corev1.PersistentVolumeClaim)
	x.Spec.AccessModes = nil
	coreExpect(t, Validate(x, nil), "spec.accessModes", field.ErrorTypeRequired)
	// Updates: volumeName may be set once; bound claims may grow, never shrink.
	x = proto.Clone(pvc).(*corev1.PersistentVolumeClaim)
	x.Spec.VolumeName = "pv1"
	if errs := Validate(x, pvc); len(errs) != 0 {
		t.Fatalf("binding rejected: %v", errs)
	}
	bound := proto.Clone(x).(*corev1.PersistentVolumeClaim)
	bound.Status.Phase = "Bound"
	grow := proto.Clone(bound).(*corev1.PersistentVolumeClaim)
	grow.Spec.Resources.Requests["storage"] = coreQ("2Gi")
	if errs := Validate(grow, bound); len(errs) != 0 {
		t.Fatalf("expansion rejected: %v", errs)
	}
	shrink := proto.Clone(bound).(*corev1.PersistentVolumeClaim)
	shrink.Spec.Resources.Requests["storage"] = coreQ("500Mi")
	coreExpect(t, Validate(shrink, bound), "spec.resources.requests.storage", field.ErrorTypeForbidden)
	modes := proto.Clone(bound).(*corev1.PersistentVolumeClaim)
	modes.Spec.AccessModes = []string{"ReadWriteMany"}
	coreExpect(t, Validate(modes, bound), "spec", field.ErrorTypeForbidden)
}

func TestCoreReplicationController(t *testing.T) {
	rc := &corev1.ReplicationController{Metadata: &metav1.ObjectMeta{Name: "rc", Namespace: "d"}, Spec: &corev1.ReplicationControllerSpec{
		Template: &corev1.PodTemplateSpec{
			Metadata: &metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
			Spec:     &corev1.PodSpec{Containers: []*corev1.Container{{Name: "c", Image: "nginx"}}},
		},
	}}
	defaults.Apply(rc)
	if errs := Validate(rc, nil); len(errs) != 0 {
		t.Fatalf("rejected: %v", errs)
	}
	for _, tc := range []struct {
		name   string
		mutate func(r *corev1.ReplicationController)
		field  string
		et     field.ErrorType
	}{
		{"selector mismatch", func(r *corev1.ReplicationController) { r.Spec.Selector = map[string]string{"app": "db"} }, "spec.template.metadata.labels", field.ErrorTypeInvalid},
		{"replicas", func(r *corev1.ReplicationController) { r.Spec.Replicas = proto.Int32(-1) }, "spec.replicas", field.ErrorTypeInvalid},
		{"no template", func(r *corev1.ReplicationController) { r.Spec.Template = nil }, "spec.template", field.ErrorTypeRequired},
		{"restartPolicy", func(r *corev1.ReplicationController) { r.Spec.Template.Spec.RestartPolicy = "Never" }, "spec.template.spec.restartPolicy", field.ErrorTypeNotSupported},
		{"template image", func(r *corev1.ReplicationController) { r.Spec.Template.Spec.Containers[0].Image = "" }, "spec.template.spec.containers[0].image", field.ErrorTypeRequired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := proto.Clone(rc).(*corev1.ReplicationController)
			tc.mutate(x)
			coreExpect(t, Validate(x, nil), tc.field, tc.et)
		})
	}
	st := proto.Clone(rc).(*corev1.ReplicationController)
	st.Status = &corev1.ReplicationControllerStatus{Replicas: 1, ReadyReplicas: 2}
	coreExpect(t, ValidateStatus(st, rc), "status.readyReplicas", field.ErrorTypeInvalid)
}
