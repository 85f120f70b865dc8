package defaults

import (
	"testing"

	"google.golang.org/protobuf/proto"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
)

func coreQ(s string) *metav1.Quantity { return &metav1.Quantity{String_: s} }

func coreCheck(t *testing.T, name string, got, want any) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", name, got, want)
	}
}

func TestCorePodDefaults(t *testing.T) {
	p := &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: "p"}, Spec: &corev1.PodSpec{
		Volumes: []*corev1.Volume{
			{Name: "s", Secret: &corev1.SecretVolumeSource{SecretName: "s"}},
			{Name: "c", ConfigMap: &corev1.ConfigMapVolumeSource{Name: "c"}},
			{Name: "h", HostPath: &corev1.HostPathVolumeSource{Path: "/x"}},
			{Name: "d", DownwardApi: &corev1.DownwardAPIVolumeSource{Items: []*corev1.DownwardAPIVolumeFile{{Path: "n", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}}},
			{Name: "none"},
		},
		InitContainers: []*corev1.Container{{Name: "i", Image: "busybox", Resources: &corev1.ResourceRequirements{Limits: map[string]*metav1.Quantity{"cpu": coreQ("0.5")}}}},
		Containers: []*corev1.Container{{
			Name:  "c",
			Image: "registry:5000/nginx:1.25",
			Ports: []*corev1.ContainerPort{{ContainerPort: 80}},
			Env:   []*corev1.EnvVar{{Name: "N", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}},
			Resources: &corev1.ResourceRequirements{
				Limits:   map[string]*metav1.Quantity{"cpu": coreQ("0.5"), "memory": coreQ("128Mi")},
				Requests: map[string]*metav1.Quantity{"memory": coreQ("64Mi"), "bogus": coreQ("lots")},
			},
			LivenessProbe:  &corev1.Probe{HttpGet: &corev1.HTTPGetAction{Port: &metav1.IntOrString{IntVal: 80}}},
			ReadinessProbe: &corev1.Probe{TcpSocket: &corev1.TCPSocketAction{}, PeriodSeconds: 5},
			Lifecycle:      &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{HttpGet: &corev1.HTTPGetAction{}}},
		}},
	}}
	Apply(p)
	s := p.Spec
	coreCheck(t, "restartPolicy", s.RestartPolicy, "Always")
	coreCheck(t, "dnsPolicy", s.DnsPolicy, "ClusterFirst")
	coreCheck(t, "schedulerName", s.SchedulerName, "default-scheduler")
	coreCheck(t, "terminationGracePeriodSeconds", s.GetTerminationGracePeriodSeconds(), int64(30))
	coreCheck(t, "securityContext set", s.SecurityContext != nil, true)
	coreCheck(t, "enableServiceLinks", s.EnableServiceLinks != nil && s.GetEnableServiceLinks(), true)
	coreCheck(t, "priority", s.Priority != nil && s.GetPriority() == 0, true)

	c := s.Containers[0]
	coreCheck(t, "terminationMessagePath", c.TerminationMessagePath, "/dev/termination-log")
	coreCheck(t, "terminationMessagePolicy", c.TerminationMessagePolicy, "File")
	coreCheck(t, "imagePullPolicy (tag)", c.ImagePullPolicy, "IfNotPresent")
	coreCheck(t, "imagePullPolicy (init, no tag)", s.InitContainers[0].ImagePullPolicy, "Always")
	coreCheck(t, "port protocol", c.Ports[0].Protocol, "TCP")
	coreCheck(t, "fieldRef apiVersion", c.Env[0].ValueFrom.FieldRef.ApiVersion, "v1")
	coreCheck(t, "limit canonical", c.Resources.Limits["cpu"].String_, "500m")
	coreCheck(t, "request from limit", c.Resources.Requests["cpu"].String_, "500m")
	coreCheck(t, "explicit request kept", c.Resources.Requests["memory"].String_, "64Mi")
	coreCheck(t, "malformed left alone", c.Resources.Requests["bogus"].String_, "lots")
	coreCheck(t, "init request from limit", s.InitContainers[0].Resources.Requests["cpu"].String_, "500m")
	if c.Resources.Requests["cpu"] == c.Resources.Limits["cpu"] {
		t.Error("request shares the limit's Quantity")
	}
	lp := c.LivenessProbe
	coreCheck(t, "timeoutSeconds", lp.TimeoutSeconds, int32(1))
	coreCheck(t, "periodSeconds", lp.PeriodSeconds, int32(10))
	coreCheck(t, "successThreshold", lp.SuccessThreshold, int32(1))
	coreCheck(t, "failureThreshold", lp.FailureThreshold, int32(3))
	coreCheck(t, "httpGet path", lp.HttpGet.Path, "/")
	coreCheck(t, "httpGet scheme", lp.HttpGet.Scheme, "HTTP")
	coreCheck(t, "explicit periodSeconds kept", c.ReadinessProbe.PeriodSeconds, int32(5))
	coreCheck(t, "lifecycle httpGet path", c.Lifecycle.PreStop.HttpGet.Path, "/")

	coreCheck(t, "secret defaultMode", s.Volumes[0].Secret.GetDefaultMode(), int32(0644))
	coreCheck(t, "configMap defaultMode", s.Volumes[1].ConfigMap.GetDefaultMode(), int32(0644))
	coreCheck(t, "hostPath type set", s.Volumes[2].HostPath.Type != nil && s.Volumes[2].HostPath.GetType() == "", true)
	coreCheck(t, "downwardAPI defaultMode", s.Volumes[3].DownwardApi.GetDefaultMode(), int32(0644))
	coreCheck(t, "downwardAPI fieldRef apiVersion", s.Volumes[3].DownwardApi.Items[0].FieldRef.ApiVersion, "v1")
	coreCheck(t, "sourceless volume is emptyDir", s.Volumes[4].EmptyDir != nil, true)

	// Defaulting is idempotent.
	again := proto.Clone(p).(*corev1.Pod)
	Apply(again)
	if !proto.Equal(again, p) {
		t.Error("second Apply changed the pod")
	}
}

func TestCorePullPolicy(t *testing.T) {
	for image, want := range map[string]string{
		"nginx":                        "Always",
		"nginx:latest":                 "Always",
		"nginx:1.25":                   "IfNotPresent",
		"registry:5000/nginx":          "Always",
		"registry:5000/nginx:1":        "IfNotPresent",
		"nginx@sha256:abcd":            "IfNotPresent",
		"nginx:latest@sha256:abcd":     "Always",
		"ghcr.io/org/app:v2@sha256:ab": "IfNotPresent",
	} {
		coreCheck(t, image, corePullPolicy(image), want)
	}
}

func TestCorePodHostNetworkAndExplicitValues(t *testing.T) {
	p := &corev1.Pod{Spec: &corev1.PodSpec{
		HostNetwork:                   true,
		RestartPolicy:                 "Never",
		DnsPolicy:                     "Default",
		TerminationGracePeriodSeconds: proto.Int64(0),
		EnableServiceLinks:            proto.Bool(false),
		Containers:                    []*corev1.Container{{Name: "c", Image: "x:1", ImagePullPolicy: "Never", Ports: []*corev1.ContainerPort{{ContainerPort: 53, Protocol: "UDP"}}}},
	}}
	Pod(p)
	coreCheck(t, "hostPort from containerPort", p.Spec.Containers[0].Ports[0].HostPort, int32(53))
	coreCheck(t, "protocol kept", p.Spec.Containers[0].Ports[0].Protocol, "UDP")
	coreCheck(t, "restartPolicy kept", p.Spec.RestartPolicy, "Never")
	coreCheck(t, "dnsPolicy kept", p.Spec.DnsPolicy, "Default")
	coreCheck(t, "grace kept", p.Spec.GetTerminationGracePeriodSeconds(), int64(0))
	coreCheck(t, "enableServiceLinks kept", p.Spec.GetEnableServiceLinks(), false)
	coreCheck(t, "pullPolicy kept", p.Spec.Containers[0].ImagePullPolicy, "Never")
}

func TestCorePodTemplateSpecDefaults(t *testing.T) {
	tmpl := &corev1.PodTemplateSpec{Spec: &corev1.PodSpec{Containers: []*corev1.Container{{Name: "c", Image: "x",
		Resources: &corev1.ResourceRequirements{Limits: map[string]*metav1.Quantity{"cpu": coreQ("1")}}}}}}
	PodTemplateSpec(tmpl)
	coreCheck(t, "restartPolicy", tmpl.Spec.RestartPolicy, "Always")
	coreCheck(t, "container default", tmpl.Spec.Containers[0].TerminationMessagePolicy, "File")
	// As upstream: requests-from-limits and enableServiceLinks are pod-only.
	coreCheck(t, "no requests on templates", len(tmpl.Spec.Containers[0].Resources.Requests), 0)
	coreCheck(t, "no enableServiceLinks on templates", tmpl.Spec.EnableServiceLinks == nil, true)
	empty := &corev1.PodTemplateSpec{}
	PodTemplateSpec(empty)
	coreCheck(t, "spec created", empty.Spec != nil && empty.Spec.DnsPolicy == "ClusterFirst", true)

	pt := &corev1.PodTemplate{Template: &corev1.PodTemplateSpec{Spec: &corev1.PodSpec{}}}
	Apply(pt)
	coreCheck(t, "PodTemplate kind defaulted", pt.Template.Spec.SchedulerName, "default-scheduler")
}

func TestCoreServiceDefaults(t *testing.T) {
	s := &corev1.Service{Spec: &corev1.ServiceSpec{ClusterIp: "10.0.0.1", Ports: []*corev1.ServicePort{{Port: 80}, {Port: 443, TargetPort: &metav1.IntOrString{Type: 1, StrVal: "https"}}}}}
	Apply(s)
	sp := s.Spec
	coreCheck(t, "type", sp.Type, "ClusterIP")
	coreCheck(t, "sessionAffinity", sp.SessionAffinity, "None")
	coreCheck(t, "protocol", sp.Ports[0].Protocol, "TCP")
	coreCheck(t, "targetPort = port", sp.Ports[0].TargetPort.IntVal, int32(80))
	coreCheck(t, "named targetPort kept", sp.Ports[1].TargetPort.StrVal, "https")
	coreCheck(t, "internalTrafficPolicy", sp.GetInternalTrafficPolicy(), "Cluster")
	coreCheck(t, "ipFamilyPolicy", sp.GetIpFamilyPolicy(), "SingleStack")
	coreCheck(t, "no externalTrafficPolicy for ClusterIP", sp.ExternalTrafficPolicy, "")
	coreCheck(t, "clusterIPs from clusterIP", len(sp.ClusterIps) == 1 && sp.ClusterIps[0] == "10.0.0.1", true)

	lb := &corev1.Service{Spec: &corev1.ServiceSpec{Type: "LoadBalancer", SessionAffinity: "ClientIP"}}
	Apply(lb)
	coreCheck(t, "externalTrafficPolicy", lb.Spec.ExternalTrafficPolicy, "Cluster")
	coreCheck(t, "allocateLoadBalancerNodePorts", lb.Spec.GetAllocateLoadBalancerNodePorts(), true)
	coreCheck(t, "clientIP timeout", lb.Spec.GetSessionAffinityConfig().GetClientIp().GetTimeoutSeconds(), int32(10800))

	np := &corev1.Service{Spec: &corev1.ServiceSpec{Type: "NodePort"}}
	Apply(np)
	coreCheck(t, "NodePort externalTrafficPolicy", np.Spec.ExternalTrafficPolicy, "Cluster")

	ext := &corev1.Service{Spec: &corev1.ServiceSpec{Type: "ExternalName", ExternalName: "example.com"}}
	Apply(ext)
	coreCheck(t, "ExternalName has no ipFamilyPolicy", ext.Spec.IpFamilyPolicy == nil, true)
	coreCheck(t, "ExternalName has no internalTrafficPolicy", ext.Spec.InternalTrafficPolicy == nil, true)
}

func TestCoreNamespaceDefaults(t *testing.T) {
	ns := &corev1.Namespace{Metadata: &metav1.ObjectMeta{Name: "team"}}
	Apply(ns)
	coreCheck(t, "phase", ns.Status.GetPhase(), "Active")
	coreCheck(t, "finalizers", len(ns.Spec.GetFinalizers()) == 1 && ns.Spec.Finalizers[0] == "kubernetes", true)
	coreCheck(t, "name label", ns.Metadata.Labels["kubernetes.io/metadata.name"], "team")
	// On update the stored status is kept, so a cleared finalizer list stays cleared.
	ns.Spec.Finalizers = nil
	ns.Status.Phase = "Terminating"
	Apply(ns)
	coreCheck(t, "finalizers not re-added", len(ns.Spec.GetFinalizers()), 0)
}

func TestCoreSecretDefaults(t *testing.T) {
	s := &corev1.Secret{Data: map[string][]byte{"a": []byte("old"), "b": []byte("keep")}, StringData: map[string]string{"a": "new", "c": "added"}}
	Apply(s)
	coreCheck(t, "type", s.Type, "Opaque")
	coreCheck(t, "stringData wins", string(s.Data["a"]), "new")
	coreCheck(t, "data kept", string(s.Data["b"]), "keep")
	coreCheck(t, "stringData added", string(s.Data["c"]), "added")
	coreCheck(t, "stringData cleared", s.StringData == nil, true)
	tls := &corev1.Secret{Type: "kubernetes.io/tls"}
	Apply(tls)
	coreCheck(t, "type kept", tls.Type, "kubernetes.io/tls")
}

func TestCoreRCDefaults(t *testing.T) {
	rc := &corev1.ReplicationController{Metadata: &metav1.ObjectMeta{Name: "rc"}, Spec: &corev1.ReplicationControllerSpec{
		Template: &corev1.PodTemplateSpec{Metadata: &metav1.ObjectMeta{Labels: map[string]string{"app": "web"}}, Spec: &corev1.PodSpec{Containers: []*corev1.Container{{Name: "c", Image: "x"}}}},
	}}
	Apply(rc)
	coreCheck(t, "replicas", rc.Spec.GetReplicas(), int32(1))
	coreCheck(t, "selector", rc.Spec.Selector["app"], "web")
	coreCheck(t, "labels", rc.Metadata.Labels["app"], "web")
	coreCheck(t, "template defaulted", rc.Spec.Template.Spec.RestartPolicy, "Always")
	rc.Spec.Template.Metadata.Labels["x"] = "y"
	coreCheck(t, "selector is a copy", len(rc.Spec.Selector), 1)
	zero := &corev1.ReplicationController{Spec: &corev1.ReplicationControllerSpec{Replicas: proto.Int32(0)}}
	Apply(zero)
	coreCheck(t, "replicas 0 kept", zero.Spec.GetReplicas(), int32(0))
}

func TestCoreOtherDefaults(t *testing.T) {
	pv := &corev1.PersistentVolume{Spec: &corev1.PersistentVolumeSpec{Capacity: map[string]*metav1.Quantity{"storage": coreQ("1024Mi")}}}
	Apply(pv)
	coreCheck(t, "pv reclaim", pv.Spec.PersistentVolumeReclaimPolicy, "Retain")
	coreCheck(t, "pv volumeMode", pv.Spec.GetVolumeMode(), "Filesystem")
	coreCheck(t, "pv phase", pv.Status.GetPhase(), "Pending")
	coreCheck(t, "pv capacity canonical", pv.Spec.Capacity["storage"].String_, "1Gi")
	pvc := &corev1.PersistentVolumeClaim{}
	Apply(pvc)
	coreCheck(t, "pvc volumeMode", pvc.Spec.GetVolumeMode(), "Filesystem")
	coreCheck(t, "pvc phase", pvc.Status.GetPhase(), "Pending")
	ep := &corev1.Endpoints{Subsets: []*corev1.EndpointSubset{{Ports: []*corev1.EndpointPort{{Port: 80}}}}}
	Apply(ep)
	coreCheck(t, "endpoint protocol", ep.Subsets[0].Ports[0].Protocol, "TCP")
	n := &corev1.Node{Spec: &corev1.NodeSpec{PodCidr: "10.244.0.0/24"}}
	Apply(n)
	coreCheck(t, "node podCIDRs", len(n.Spec.PodCidrs) == 1 && n.Spec.PodCidrs[0] == "10.244.0.0/24", true)
}
