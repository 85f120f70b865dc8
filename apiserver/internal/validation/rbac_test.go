package validation_test

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/util/validation/field"

	coordinationv1 "flotilla.io/proto/flotilla/coordination/v1"
	discoveryv1 "flotilla.io/proto/flotilla/discovery/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
	rbacv1 "flotilla.io/proto/flotilla/rbac/v1"
	schedulingv1 "flotilla.io/proto/flotilla/scheduling/v1"
)

func clusterMeta(name string) *metav1.ObjectMeta { return &metav1.ObjectMeta{Name: name} }

func TestRoles(t *testing.T) {
	rule := func() *rbacv1.PolicyRule {
		return &rbacv1.PolicyRule{Verbs: []string{"get"}, ApiGroups: []string{""}, Resources: []string{"pods"}}
	}
	cases := []struct {
		name string
		obj  proto.Message
		want *want
	}{
		{"valid role", &rbacv1.Role{Metadata: meta("reader"), Rules: []*rbacv1.PolicyRule{rule()}}, nil},
		{"role name with colon", &rbacv1.Role{Metadata: meta("system:reader"), Rules: []*rbacv1.PolicyRule{rule()}}, nil},
		{"role name with slash", &rbacv1.Role{Metadata: meta("a/b")}, &want{"metadata.name", field.ErrorTypeInvalid}},
		{"no verbs", &rbacv1.Role{Metadata: meta("r"), Rules: []*rbacv1.PolicyRule{{ApiGroups: []string{""}, Resources: []string{"pods"}}}}, &want{"rules[0].verbs", field.ErrorTypeRequired}},
		{"no apiGroups", &rbacv1.Role{Metadata: meta("r"), Rules: []*rbacv1.PolicyRule{{Verbs: []string{"get"}, Resources: []string{"pods"}}}}, &want{"rules[0].apiGroups", field.ErrorTypeRequired}},
		{"no resources", &rbacv1.Role{Metadata: meta("r"), Rules: []*rbacv1.PolicyRule{{Verbs: []string{"get"}, ApiGroups: []string{""}}}}, &want{"rules[0].resources", field.ErrorTypeRequired}},
		{"role nonResourceURLs", &rbacv1.Role{Metadata: meta("r"), Rules: []*rbacv1.PolicyRule{{Verbs: []string{"get"}, NonResourceUrls: []string{"/healthz"}}}}, &want{"rules[0].nonResourceURLs", field.ErrorTypeInvalid}},
		{"valid cluster role nonResourceURLs", &rbacv1.ClusterRole{Metadata: clusterMeta("health"), Rules: []*rbacv1.PolicyRule{{Verbs: []string{"get"}, NonResourceUrls: []string{"/healthz"}}}}, nil},
		{"mixed rule", &rbacv1.ClusterRole{Metadata: clusterMeta("mixed"), Rules: []*rbacv1.PolicyRule{{Verbs: []string{"get"}, Resources: []string{"pods"}, NonResourceUrls: []string{"/healthz"}}}}, &want{"rules[0].nonResourceURLs", field.ErrorTypeInvalid}},
		{"empty aggregation", &rbacv1.ClusterRole{Metadata: clusterMeta("agg"), AggregationRule: &rbacv1.AggregationRule{}}, &want{"aggregationRule.clusterRoleSelectors", field.ErrorTypeRequired}},
		{"valid aggregation", &rbacv1.ClusterRole{Metadata: clusterMeta("agg"), AggregationRule: &rbacv1.AggregationRule{ClusterRoleSelectors: []*metav1.LabelSelector{{MatchLabels: map[string]string{"rbac.example.com/aggregate": "true"}}}}}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { check(t, c.obj, nil, c.want) })
	}
}

func TestBindings(t *testing.T) {
	ref := func(kind string) *rbacv1.RoleRef { return &rbacv1.RoleRef{Kind: kind, Name: "reader"} }
	user := &rbacv1.Subject{Kind: "User", Name: "jane"}
	sa := func(ns string) *rbacv1.Subject {
		return &rbacv1.Subject{Kind: "ServiceAccount", Name: "default", Namespace: ns}
	}
	cases := []struct {
		name string
		obj  proto.Message
		want *want
	}{
		{"valid role binding", &rbacv1.RoleBinding{Metadata: meta("b"), RoleRef: ref("Role"), Subjects: []*rbacv1.Subject{user, sa("")}}, nil},
		{"role binding to cluster role", &rbacv1.RoleBinding{Metadata: meta("b"), RoleRef: ref("ClusterRole")}, nil},
		{"no roleRef", &rbacv1.RoleBinding{Metadata: meta("b")}, &want{"roleRef.name", field.ErrorTypeRequired}},
		{"bad roleRef kind", &rbacv1.RoleBinding{Metadata: meta("b"), RoleRef: ref("Group")}, &want{"roleRef.kind", field.ErrorTypeNotSupported}},
		{"bad roleRef apiGroup", &rbacv1.RoleBinding{Metadata: meta("b"), RoleRef: &rbacv1.RoleRef{ApiGroup: "example.com", Kind: "Role", Name: "r"}}, &want{"roleRef.apiGroup", field.ErrorTypeNotSupported}},
		{"bad subject kind", &rbacv1.RoleBinding{Metadata: meta("b"), RoleRef: ref("Role"), Subjects: []*rbacv1.Subject{{Kind: "Robot", Name: "r2"}}}, &want{"subjects[0].kind", field.ErrorTypeNotSupported}},
		{"subject without name", &rbacv1.RoleBinding{Metadata: meta("b"), RoleRef: ref("Role"), Subjects: []*rbacv1.Subject{{Kind: "User"}}}, &want{"subjects[0].name", field.ErrorTypeRequired}},
		{"service account with apiGroup", &rbacv1.RoleBinding{Metadata: meta("b"), RoleRef: ref("Role"), Subjects: []*rbacv1.Subject{{Kind: "ServiceAccount", Name: "x", ApiGroup: "rbac.authorization.k8s.io"}}}, &want{"subjects[0].apiGroup", field.ErrorTypeNotSupported}},
		{"valid cluster role binding", &rbacv1.ClusterRoleBinding{Metadata: clusterMeta("b"), RoleRef: ref("ClusterRole"), Subjects: []*rbacv1.Subject{sa("kube-system")}}, nil},
		{"cluster binding to role", &rbacv1.ClusterRoleBinding{Metadata: clusterMeta("b"), RoleRef: ref("Role")}, &want{"roleRef.kind", field.ErrorTypeNotSupported}},
		{"cluster binding sa without namespace", &rbacv1.ClusterRoleBinding{Metadata: clusterMeta("b"), RoleRef: ref("ClusterRole"), Subjects: []*rbacv1.Subject{sa("")}}, &want{"subjects[0].namespace", field.ErrorTypeRequired}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { check(t, c.obj, nil, c.want) })
	}
	t.Run("roleRef immutable", func(t *testing.T) {
		old := &rbacv1.RoleBinding{Metadata: meta("b"), RoleRef: ref("Role")}
		cur := &rbacv1.RoleBinding{Metadata: meta("b"), RoleRef: &rbacv1.RoleRef{Kind: "Role", Name: "writer"}}
		check(t, cur, old, &want{"roleRef", field.ErrorTypeInvalid})
	})
	t.Run("subjects mutable", func(t *testing.T) {
		old := &rbacv1.ClusterRoleBinding{Metadata: clusterMeta("b"), RoleRef: ref("ClusterRole")}
		cur := &rbacv1.ClusterRoleBinding{Metadata: clusterMeta("b"), RoleRef: ref("ClusterRole"), Subjects: []*rbacv1.Subject{user}}
		check(t, cur, old, nil)
	})
}

func TestLease(t *testing.T) {
	cases := []struct {
		name string
		spec *coordinationv1.LeaseSpec
		want *want
	}{
		{"valid", &coordinationv1.LeaseSpec{HolderIdentity: proto.String("a"), LeaseDurationSeconds: proto.Int32(15), LeaseTransitions: proto.Int32(0)}, nil},
		{"empty", nil, nil},
		{"zero duration", &coordinationv1.LeaseSpec{LeaseDurationSeconds: proto.Int32(0)}, &want{"spec.leaseDurationSeconds", field.ErrorTypeInvalid}},
		{"negative transitions", &coordinationv1.LeaseSpec{LeaseTransitions: proto.Int32(-1)}, &want{"spec.leaseTransitions", field.ErrorTypeInvalid}},
		{"unknown strategy", &coordinationv1.LeaseSpec{Strategy: proto.String("Newest")}, &want{"spec.strategy", field.ErrorTypeNotSupported}},
		{"custom strategy", &coordinationv1.LeaseSpec{Strategy: proto.String("example.com/newest")}, nil},
		{"preferred holder without strategy", &coordinationv1.LeaseSpec{PreferredHolder: proto.String("b")}, &want{"spec.preferredHolder", field.ErrorTypeForbidden}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			check(t, &coordinationv1.Lease{Metadata: meta("leader"), Spec: c.spec}, nil, c.want)
		})
	}
}

func TestPriorityClass(t *testing.T) {
	cases := []struct {
		name string
		pc   *schedulingv1.PriorityClass
		want *want
	}{
		{"valid", &schedulingv1.PriorityClass{Metadata: clusterMeta("high"), Value: 1000000000}, nil},
		{"valid never", &schedulingv1.PriorityClass{Metadata: clusterMeta("batch"), Value: -5, PreemptionPolicy: proto.String("Never")}, nil},
		{"valid system class", &schedulingv1.PriorityClass{Metadata: clusterMeta("system-node-critical"), Value: 2000001000}, nil},
		{"too high", &schedulingv1.PriorityClass{Metadata: clusterMeta("high"), Value: 1000000001}, &want{"value", field.ErrorTypeForbidden}},
		{"reserved prefix", &schedulingv1.PriorityClass{Metadata: clusterMeta("system-mine"), Value: 10}, &want{"metadata.name", field.ErrorTypeForbidden}},
		{"system class wrong value", &schedulingv1.PriorityClass{Metadata: clusterMeta("system-cluster-critical"), Value: 10}, &want{"metadata.name", field.ErrorTypeForbidden}},
		{"bad preemption", &schedulingv1.PriorityClass{Metadata: clusterMeta("p"), PreemptionPolicy: proto.String("Always")}, &want{"preemptionPolicy", field.ErrorTypeNotSupported}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { check(t, c.pc, nil, c.want) })
	}
	t.Run("value immutable", func(t *testing.T) {
		check(t, &schedulingv1.PriorityClass{Metadata: clusterMeta("p"), Value: 2}, &schedulingv1.PriorityClass{Metadata: clusterMeta("p"), Value: 1}, &want{"value", field.ErrorTypeForbidden})
	})
	t.Run("preemptionPolicy immutable", func(t *testing.T) {
		check(t, &schedulingv1.PriorityClass{Metadata: clusterMeta("p"), PreemptionPolicy: proto.String("Never")}, &schedulingv1.PriorityClass{Metadata: clusterMeta("p")}, &want{"preemptionPolicy", field.ErrorTypeInvalid})
	})
}

func TestEndpointSlice(t *testing.T) {
	valid := func() *discoveryv1.EndpointSlice {
		return &discoveryv1.EndpointSlice{
			Metadata:    meta("web-abc"),
			AddressType: "IPv4",
			Endpoints: []*discoveryv1.Endpoint{{
				Addresses: []string{"10.0.0.1"}, Hostname: proto.String("web-0"), NodeName: proto.String("node-1"),
				Conditions: &discoveryv1.EndpointConditions{Ready: proto.Bool(true)},
			}},
			Ports: []*discoveryv1.EndpointPort{{Name: proto.String("http"), Port: proto.Int32(80)}, {Name: proto.String("https"), Port: proto.Int32(443)}},
		}
	}
	many := make([]string, 101)
	for i := range many {
		many[i] = "10.0.1.1"
	}
	cases := []struct {
		name   string
		mutate func(s *discoveryv1.EndpointSlice)
		want   *want
	}{
		{"valid", func(s *discoveryv1.EndpointSlice) {}, nil},
		{"valid IPv6", func(s *discoveryv1.EndpointSlice) {
			s.AddressType = "IPv6"
			s.Endpoints[0].Addresses = []string{"2001:db8::1"}
		}, nil},
		{"valid FQDN", func(s *discoveryv1.EndpointSlice) {
			s.AddressType = "FQDN"
			s.Endpoints[0].Addresses = []string{"example.com"}
		}, nil},
		{"valid unnamed port", func(s *discoveryv1.EndpointSlice) { s.Ports = []*discoveryv1.EndpointPort{{Port: proto.Int32(80)}} }, nil},
		{"no addressType", func(s *discoveryv1.EndpointSlice) { s.AddressType = "" }, &want{"addressType", field.ErrorTypeRequired}},
		{"bad addressType", func(s *discoveryv1.EndpointSlice) { s.AddressType = "IPX" }, &want{"addressType", field.ErrorTypeNotSupported}},
		{"no addresses", func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Addresses = nil }, &want{"endpoints[0].addresses", field.ErrorTypeRequired}},
		{"too many addresses", func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Addresses = many }, &want{"endpoints[0].addresses", field.ErrorTypeTooMany}},
		{"not an IP", func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Addresses = []string{"web"} }, &want{"endpoints[0].addresses[0]", field.ErrorTypeInvalid}},
		{"IPv6 in IPv4 slice", func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Addresses = []string{"2001:db8::1"} }, &want{"endpoints[0].addresses[0]", field.ErrorTypeInvalid}},
		{"loopback", func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Addresses = []string{"127.0.0.1"} }, &want{"endpoints[0].addresses[0]", field.ErrorTypeInvalid}},
		{"bad FQDN", func(s *discoveryv1.EndpointSlice) {
			s.AddressType = "FQDN"
			s.Endpoints[0].Addresses = []string{"Not_A_Name"}
		}, &want{"endpoints[0].addresses[0]", field.ErrorTypeInvalid}},
		{"bad hostname", func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Hostname = proto.String("web.0") }, &want{"endpoints[0].hostname", field.ErrorTypeInvalid}},
		{"bad nodeName", func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].NodeName = proto.String("Node_1") }, &want{"endpoints[0].nodeName", field.ErrorTypeInvalid}},
		{"duplicate port name", func(s *discoveryv1.EndpointSlice) { s.Ports[1].Name = proto.String("http") }, &want{"ports[1].name", field.ErrorTypeDuplicate}},
		{"bad port name", func(s *discoveryv1.EndpointSlice) { s.Ports[0].Name = proto.String("HTTP") }, &want{"ports[0].name", field.ErrorTypeInvalid}},
		{"bad protocol", func(s *discoveryv1.EndpointSlice) { s.Ports[0].Protocol = proto.String("ICMP") }, &want{"ports[0].protocol", field.ErrorTypeNotSupported}},
		{"bad port", func(s *discoveryv1.EndpointSlice) { s.Ports[0].Port = proto.Int32(70000) }, &want{"ports[0].port", field.ErrorTypeInvalid}},
		{"bad appProtocol", func(s *discoveryv1.EndpointSlice) { s.Ports[0].AppProtocol = proto.String("a b") }, &want{"ports[0].appProtocol", field.ErrorTypeInvalid}},
		{"duplicate zone hint", func(s *discoveryv1.EndpointSlice) {
			s.Endpoints[0].Hints = &discoveryv1.EndpointHints{ForZones: []*discoveryv1.ForZone{{Name: "a"}, {Name: "a"}}}
		}, &want{"endpoints[0].hints.forZones[1].name", field.ErrorTypeDuplicate}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := valid()
			c.mutate(s)
			check(t, s, nil, c.want)
		})
	}
	t.Run("addressType immutable", func(t *testing.T) {
		s := valid()
		s.AddressType = "FQDN"
		s.Endpoints[0].Addresses = []string{"example.com"}
		check(t, s, valid(), &want{"addressType", field.ErrorTypeInvalid})
	})
}
