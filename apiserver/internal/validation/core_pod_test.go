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

func corePort(i int32) *metav1.IntOrString { return &metav1.IntOrString{Type: 0, IntVal: i} }
func coreNamedPort(s string) *metav1.IntOrString {
	return &metav1.IntOrString{Type: 1, StrVal: s}
}
func coreQ(s string) *metav1.Quantity { return &metav1.Quantity{String_: s} }

// coreValidPod is a defaulted pod that passes validation.
func coreValidPod() *corev1.Pod {
	p := &corev1.Pod{
		Metadata: &metav1.ObjectMeta{Name: "web", Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec: &corev1.PodSpec{
			Volumes: []*corev1.Volume{
				{Name: "data", EmptyDir: &corev1.EmptyDirVolumeSource{}},
				{Name: "cfg", ConfigMap: &corev1.ConfigMapVolumeSource{Name: "cfg", Items: []*corev1.KeyToPath{{Key: "a", Path: "a.conf"}}}},
			},
			InitContainers: []*corev1.Container{{Name: "init", Image: "busybox:1.36", Command: []string{"true"}}},
			Containers: []*corev1.Container{{
				Name:  "app",
				Image: "nginx:1.25",
				Ports: []*corev1.ContainerPort{{Name: "http", ContainerPort: 80}},
				Env: []*corev1.EnvVar{
					{Name: "A", Value: "1"},
					{Name: "POD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
					{Name: "TIER", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['tier']"}}},
					{Name: "IPS", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIPs"}}},
					{Name: "S", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{Name: "s", Key: "k"}}},
					{Name: "MEM", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.memory", Divisor: coreQ("1Mi")}}},
				},
				Resources: &corev1.ResourceRequirements{
					Requests: map[string]*metav1.Quantity{"cpu": coreQ("100m"), "memory": coreQ("64Mi")},
					Limits:   map[string]*metav1.Quantity{"cpu": coreQ("1"), "memory": coreQ("128Mi"), "example.com/gpu": coreQ("1")},
				},
				VolumeMounts:   []*corev1.VolumeMount{{Name: "data", MountPath: "/data"}, {Name: "cfg", MountPath: "/etc/cfg", ReadOnly: true}},
				LivenessProbe:  &corev1.Probe{HttpGet: &corev1.HTTPGetAction{Port: coreNamedPort("http")}},
				ReadinessProbe: &corev1.Probe{TcpSocket: &corev1.TCPSocketAction{Port: corePort(80)}, SuccessThreshold: 2},
				StartupProbe:   &corev1.Probe{Exec: &corev1.ExecAction{Command: []string{"true"}}},
				Lifecycle:      &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 5}}},
			}},
			NodeSelector: map[string]string{"kubernetes.io/os": "linux"},
			Tolerations: []*corev1.Toleration{
				{Key: "dedicated", Operator: "Equal", Value: "web", Effect: "NoSchedule"},
				{Operator: "Exists"},
				{Key: "node.kubernetes.io/not-ready", Operator: "Exists", Effect: "NoExecute", TolerationSeconds: proto.Int64(300)},
			},
			Affinity: &corev1.Affinity{
				NodeAffinity: &corev1.NodeAffinity{
					RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []*corev1.NodeSelectorTerm{{
						MatchExpressions: []*corev1.NodeSelectorRequirement{
							{Key: "zone", Operator: "In", Values: []string{"a", "b"}},
							{Key: "cores", Operator: "Gt", Values: []string{"4"}},
							{Key: "spot", Operator: "DoesNotExist"},
						},
					}}},
					PreferredDuringSchedulingIgnoredDuringExecution: []*corev1.PreferredSchedulingTerm{{Weight: 50, Preference: &corev1.NodeSelectorTerm{}}},
				},
				PodAntiAffinity: &corev1.PodAntiAffinity{
					RequiredDuringSchedulingIgnoredDuringExecution: []*corev1.PodAffinityTerm{{
						LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
						TopologyKey:   "kubernetes.io/hostname",
					}},
					PreferredDuringSchedulingIgnoredDuringExecution: []*corev1.WeightedPodAffinityTerm{{
						Weight: 100, PodAffinityTerm: &corev1.PodAffinityTerm{TopologyKey: "zone"},
					}},
				},
			},
			TopologySpreadConstraints: []*corev1.TopologySpreadConstraint{{
				MaxSkew: 1, TopologyKey: "zone", WhenUnsatisfiable: "DoNotSchedule", MinDomains: proto.Int32(2),
				LabelSelector: &metav1.LabelSelector{MatchExpressions: []*metav1.LabelSelectorRequirement{{Key: "app", Operator: "In", Values: []string{"web"}}}},
			}},
			ActiveDeadlineSeconds: proto.Int64(600),
			Hostname:              "web-0",
			Subdomain:             "web",
			PriorityClassName:     "high-priority",
			ServiceAccountName:    "builder",
		},
	}
	defaults.Pod(p)
	return p
}

func coreExpect(t *testing.T, errs field.ErrorList, fld string, typ field.ErrorType) {
	t.Helper()
	if len(errs) == 0 {
		t.Fatalf("want %s %s, got no errors", fld, typ)
	}
	if errs[0].Field != fld || errs[0].Type != typ {
		t.Fatalf("want %s %s, got %v", fld, typ, errs)
	}
}

func TestCorePodValid(t *testing.T) {
	if errs := Validate(coreValidPod(), nil); len(errs) != 0 {
		t.Fatalf("valid pod rejected: %v", errs)
	}
	// Minimal pod after defaulting.
	p := &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: "p", Namespace: "ns"}, Spec: &corev1.PodSpec{Containers: []*corev1.Container{{Name: "c", Image: "x"}}}}
	defaults.Pod(p)
	if errs := Validate(p, nil); len(errs) != 0 {
		t.Fatalf("minimal pod rejected: %v", errs)
	}
}

func TestCorePodInvalid(t *testing.T) {
	c0 := func(p *corev1.Pod) *corev1.Container { return p.Spec.Containers[0] }
	cases := []struct {
		name   string
		mutate func(p *corev1.Pod)
		field  string
		typ    field.ErrorType
		detail string
	}{
		{"no containers", func(p *corev1.Pod) { p.Spec.Containers = nil }, "spec.containers", field.ErrorTypeRequired, ""},
		{"no image", func(p *corev1.Pod) { c0(p).Image = "" }, "spec.containers[0].image", field.ErrorTypeRequired, ""},
		{"image whitespace", func(p *corev1.Pod) { c0(p).Image = " nginx" }, "spec.containers[0].image", field.ErrorTypeInvalid, "whitespace"},
		{"no name", func(p *corev1.Pod) { c0(p).Name = "" }, "spec.containers[0].name", field.ErrorTypeRequired, ""},
		{"bad name", func(p *corev1.Pod) { c0(p).Name = "App_1" }, "spec.containers[0].name", field.ErrorTypeInvalid, "RFC 1123"},
		{"dup name across init", func(p *corev1.Pod) { c0(p).Name = "init" }, "spec.containers[0].name", field.ErrorTypeDuplicate, ""},
		{"containerPort 0", func(p *corev1.Pod) { c0(p).Ports[0].ContainerPort = 0 }, "spec.containers[0].ports[0].containerPort", field.ErrorTypeRequired, ""},
		{"containerPort too big", func(p *corev1.Pod) { c0(p).Ports[0].ContainerPort = 70000 }, "spec.containers[0].ports[0].containerPort", field.ErrorTypeInvalid, "between 1 and 65535"},
		{"hostPort too big", func(p *corev1.Pod) { c0(p).Ports[0].HostPort = 70000 }, "spec.containers[0].ports[0].hostPort", field.ErrorTypeInvalid, ""},
		{"bad protocol", func(p *corev1.Pod) { c0(p).Ports[0].Protocol = "ICMP" }, "spec.containers[0].ports[0].protocol", field.ErrorTypeNotSupported, ""},
		{"bad port name", func(p *corev1.Pod) { c0(p).Ports[0].Name = "HTTP_PORT" }, "spec.containers[0].ports[0].name", field.ErrorTypeInvalid, ""},
		{"dup port name", func(p *corev1.Pod) {
			c0(p).Ports = append(c0(p).Ports, &corev1.ContainerPort{Name: "http", ContainerPort: 81, Protocol: "TCP"})
		}, "spec.containers[0].ports[1].name", field.ErrorTypeDuplicate, ""},
		{"dup host port", func(p *corev1.Pod) {
			c0(p).Ports = []*corev1.ContainerPort{{ContainerPort: 80, HostPort: 8080, Protocol: "TCP"}, {ContainerPort: 81, HostPort: 8080, Protocol: "TCP"}}
			c0(p).LivenessProbe = nil
		}, "spec.containers[0].ports[1].hostPort", field.ErrorTypeDuplicate, ""},
		{"hostNetwork hostPort mismatch", func(p *corev1.Pod) { p.Spec.HostNetwork = true; c0(p).Ports[0].HostPort = 8080 }, "spec.containers[0].ports[0].hostPort", field.ErrorTypeInvalid, "must match `containerPort`"},
		{"env no name", func(p *corev1.Pod) { c0(p).Env[0].Name = "" }, "spec.containers[0].env[0].name", field.ErrorTypeRequired, ""},
		{"env bad name", func(p *corev1.Pod) { c0(p).Env[0].Name = "A=B" }, "spec.containers[0].env[0].name", field.ErrorTypeInvalid, ""},
		{"env valueFrom empty", func(p *corev1.Pod) { c0(p).Env[0] = &corev1.EnvVar{Name: "X", ValueFrom: &corev1.EnvVarSource{}} }, "spec.containers[0].env[0].valueFrom", field.ErrorTypeInvalid, "must specify one of"},
		{"env valueFrom two sources", func(p *corev1.Pod) {
			c0(p).Env[4].ValueFrom.ConfigMapKeyRef = &corev1.ConfigMapKeySelector{Name: "c", Key: "k"}
		}, "spec.containers[0].env[4].valueFrom", field.ErrorTypeInvalid, "more than one field"},
		{"env value and valueFrom", func(p *corev1.Pod) { c0(p).Env[4].Value = "x" }, "spec.containers[0].env[4].valueFrom", field.ErrorTypeInvalid, "when `value` is not empty"},
		{"env fieldRef unsupported", func(p *corev1.Pod) { c0(p).Env[1].ValueFrom.FieldRef.FieldPath = "spec.hostname" }, "spec.containers[0].env[1].valueFrom.fieldRef.fieldPath", field.ErrorTypeNotSupported, ""},
		{"env fieldRef bad subscript", func(p *corev1.Pod) { c0(p).Env[1].ValueFrom.FieldRef.FieldPath = "metadata.name['x']" }, "spec.containers[0].env[1].valueFrom.fieldRef.fieldPath", field.ErrorTypeInvalid, "does not support subscript"},
		{"env fieldRef bad label key", func(p *corev1.Pod) { c0(p).Env[2].ValueFrom.FieldRef.FieldPath = "metadata.labels['-x']" }, "spec.containers[0].env[2].valueFrom.fieldRef", field.ErrorTypeInvalid, ""},
		{"env fieldRef bad version", func(p *corev1.Pod) { c0(p).Env[1].ValueFrom.FieldRef.ApiVersion = "v2" }, "spec.containers[0].env[1].valueFrom.fieldRef.fieldPath", field.ErrorTypeInvalid, "unsupported pod version"},
		{"env secret key missing", func(p *corev1.Pod) { c0(p).Env[4].ValueFrom.SecretKeyRef.Key = "" }, "spec.containers[0].env[4].valueFrom.secretKeyRef.key", field.ErrorTypeRequired, ""},
		{"env resource unsupported", func(p *corev1.Pod) { c0(p).Env[5].ValueFrom.ResourceFieldRef.Resource = "limits.gpu" }, "spec.containers[0].env[5].valueFrom.resourceFieldRef.resource", field.ErrorTypeNotSupported, ""},
		{"env divisor bad", func(p *corev1.Pod) { c0(p).Env[5].ValueFrom.ResourceFieldRef.Divisor = coreQ("3") }, "spec.containers[0].env[5].valueFrom.resourceFieldRef.divisor", field.ErrorTypeInvalid, ""},
		{"envFrom none", func(p *corev1.Pod) { c0(p).EnvFrom = []*corev1.EnvFromSource{{}} }, "spec.containers[0].envFrom[0]", field.ErrorTypeInvalid, ""},
		{"bad quantity", func(p *corev1.Pod) { c0(p).Resources.Limits["cpu"] = coreQ("lots") }, "spec.containers[0].resources.limits[cpu]", field.ErrorTypeInvalid, ""},
		{"negative quantity", func(p *corev1.Pod) { c0(p).Resources.Requests["memory"] = coreQ("-1") }, "spec.containers[0].resources.requests[memory]", field.ErrorTypeInvalid, "greater than or equal to 0"},
		{"requests above limits", func(p *corev1.Pod) { c0(p).Resources.Requests["cpu"] = coreQ("2") }, "spec.containers[0].resources.requests", field.ErrorTypeInvalid, "must be less than or equal to cpu limit of 1"},
		{"unknown resource", func(p *corev1.Pod) { c0(p).Resources.Limits["gpu"] = coreQ("1") }, "spec.containers[0].resources.limits[gpu]", field.ErrorTypeInvalid, "must be a standard resource for containers"},
		{"extended request != limit", func(p *corev1.Pod) { c0(p).Resources.Requests["example.com/gpu"] = coreQ("0") }, "spec.containers[0].resources.requests", field.ErrorTypeInvalid, "must be equal to example.com/gpu limit"},
		{"extended fractional", func(p *corev1.Pod) {
			c0(p).Resources.Limits["example.com/gpu"] = coreQ("500m")
			c0(p).Resources.Requests["example.com/gpu"] = coreQ("500m")
		}, "spec.containers[0].resources.limits[example.com/gpu]", field.ErrorTypeInvalid, "must be an integer"},
		{"probe no handler", func(p *corev1.Pod) { c0(p).LivenessProbe.HttpGet = nil }, "spec.containers[0].livenessProbe", field.ErrorTypeRequired, "must specify a handler type"},
		{"probe two handlers", func(p *corev1.Pod) { c0(p).StartupProbe.TcpSocket = &corev1.TCPSocketAction{Port: corePort(80)} }, "spec.containers[0].startupProbe.tcpSocket", field.ErrorTypeForbidden, "more than 1 handler"},
		{"probe unknown named port", func(p *corev1.Pod) { c0(p).LivenessProbe.HttpGet.Port = coreNamedPort("metrics") }, "spec.containers[0].livenessProbe.httpGet.port", field.ErrorTypeInvalid, ""},
		{"probe port 0", func(p *corev1.Pod) { c0(p).ReadinessProbe.TcpSocket.Port = corePort(0) }, "spec.containers[0].readinessProbe.tcpSocket.port", field.ErrorTypeInvalid, ""},
		{"probe negative period", func(p *corev1.Pod) { c0(p).ReadinessProbe.PeriodSeconds = -1 }, "spec.containers[0].readinessProbe.periodSeconds", field.ErrorTypeInvalid, "greater than or equal to 0"},
		{"probe exec no command", func(p *corev1.Pod) { c0(p).StartupProbe.Exec.Command = nil }, "spec.containers[0].startupProbe.exec.command", field.ErrorTypeRequired, ""},
		{"liveness successThreshold", func(p *corev1.Pod) { c0(p).LivenessProbe.SuccessThreshold = 2 }, "spec.containers[0].livenessProbe.successThreshold", field.ErrorTypeInvalid, "must be 1"},
		{"startup successThreshold", func(p *corev1.Pod) { c0(p).StartupProbe.SuccessThreshold = 3 }, "spec.containers[0].startupProbe.successThreshold", field.ErrorTypeInvalid, "must be 1"},
		{"http scheme", func(p *corev1.Pod) { c0(p).LivenessProbe.HttpGet.Scheme = "FTP" }, "spec.containers[0].livenessProbe.httpGet.scheme", field.ErrorTypeNotSupported, ""},
		{"init container probe", func(p *corev1.Pod) {
			p.Spec.InitContainers[0].ReadinessProbe = &corev1.Probe{Exec: &corev1.ExecAction{Command: []string{"x"}}}
		}, "spec.initContainers[0].readinessProbe", field.ErrorTypeForbidden, ""},
		{"restartPolicy", func(p *corev1.Pod) { p.Spec.RestartPolicy = "Sometimes" }, "spec.restartPolicy", field.ErrorTypeNotSupported, ""},
		{"dnsPolicy", func(p *corev1.Pod) { p.Spec.DnsPolicy = "Google" }, "spec.dnsPolicy", field.ErrorTypeNotSupported, ""},
		{"dnsPolicy None without config", func(p *corev1.Pod) { p.Spec.DnsPolicy = "None" }, "spec.dnsConfig", field.ErrorTypeRequired, ""},
		{"dns nameserver", func(p *corev1.Pod) { p.Spec.DnsConfig = &corev1.PodDNSConfig{Nameservers: []string{"x"}} }, "spec.dnsConfig.nameservers[0]", field.ErrorTypeInvalid, ""},
		{"pull policy", func(p *corev1.Pod) { c0(p).ImagePullPolicy = "Sometimes" }, "spec.containers[0].imagePullPolicy", field.ErrorTypeNotSupported, ""},
		{"dup volume", func(p *corev1.Pod) { p.Spec.Volumes[1].Name = "data" }, "spec.volumes[1].name", field.ErrorTypeDuplicate, ""},
		{"bad volume name", func(p *corev1.Pod) { p.Spec.Volumes[0].Name = "Data" }, "spec.volumes[0].name", field.ErrorTypeInvalid, ""},
		{"volume no source", func(p *corev1.Pod) { p.Spec.Volumes[0].EmptyDir = nil }, "spec.volumes[0]", field.ErrorTypeRequired, "must specify a volume type"},
		{"volume two sources", func(p *corev1.Pod) { p.Spec.Volumes[0].HostPath = &corev1.HostPathVolumeSource{Path: "/x"} }, "spec.volumes[0].emptyDir", field.ErrorTypeForbidden, "more than 1 volume type"},
		{"secret volume name", func(p *corev1.Pod) {
			p.Spec.Volumes[0] = &corev1.Volume{Name: "data", Secret: &corev1.SecretVolumeSource{}}
		}, "spec.volumes[0].secret.secretName", field.ErrorTypeRequired, ""},
		{"configMap mode", func(p *corev1.Pod) { p.Spec.Volumes[1].ConfigMap.DefaultMode = proto.Int32(01000) }, "spec.volumes[1].configMap.defaultMode", field.ErrorTypeInvalid, "0777"},
		{"keyToPath backsteps", func(p *corev1.Pod) { p.Spec.Volumes[1].ConfigMap.Items[0].Path = "../x" }, "spec.volumes[1].configMap.items[0].path", field.ErrorTypeInvalid, "'..'"},
		{"hostPath type", func(p *corev1.Pod) {
			p.Spec.Volumes[0] = &corev1.Volume{Name: "data", HostPath: &corev1.HostPathVolumeSource{Path: "/x", Type: proto.String("Pipe")}}
		}, "spec.volumes[0].hostPath.type", field.ErrorTypeNotSupported, ""},
		{"mount unknown volume", func(p *corev1.Pod) { c0(p).VolumeMounts[0].Name = "nope" }, "spec.containers[0].volumeMounts[0].name", field.ErrorTypeNotFound, ""},
		{"mount no path", func(p *corev1.Pod) { c0(p).VolumeMounts[0].MountPath = "" }, "spec.containers[0].volumeMounts[0].mountPath", field.ErrorTypeRequired, ""},
		{"mount dup path", func(p *corev1.Pod) { c0(p).VolumeMounts[1].MountPath = "/data" }, "spec.containers[0].volumeMounts[1].mountPath", field.ErrorTypeInvalid, "must be unique"},
		{"mount subPath absolute", func(p *corev1.Pod) { c0(p).VolumeMounts[0].SubPath = "/abs" }, "spec.containers[0].volumeMounts[0].subPath", field.ErrorTypeInvalid, "relative"},
		{"bidirectional unprivileged", func(p *corev1.Pod) { c0(p).VolumeMounts[0].MountPropagation = proto.String("Bidirectional") }, "spec.containers[0].volumeMounts[0].mountPropagation", field.ErrorTypeForbidden, ""},
		{"nodeSelector key", func(p *corev1.Pod) { p.Spec.NodeSelector["bad key"] = "x" }, "spec.nodeSelector", field.ErrorTypeInvalid, ""},
		{"nodeSelector value", func(p *corev1.Pod) { p.Spec.NodeSelector["k"] = "bad value" }, "spec.nodeSelector[k]", field.ErrorTypeInvalid, ""},
		{"toleration operator", func(p *corev1.Pod) { p.Spec.Tolerations[0].Operator = "Like" }, "spec.tolerations[0].operator", field.ErrorTypeNotSupported, ""},
		{"toleration exists value", func(p *corev1.Pod) {
			p.Spec.Tolerations[1] = &corev1.Toleration{Key: "k", Operator: "Exists", Value: "v"}
		}, "spec.tolerations[1].operator", field.ErrorTypeInvalid, "value must be empty"},
		{"toleration empty key Equal", func(p *corev1.Pod) { p.Spec.Tolerations[1].Operator = "Equal" }, "spec.tolerations[1].operator", field.ErrorTypeInvalid, "operator must be Exists"},
		{"toleration effect", func(p *corev1.Pod) { p.Spec.Tolerations[0].Effect = "NoRun" }, "spec.tolerations[0].effect", field.ErrorTypeNotSupported, ""},
		{"toleration seconds not NoExecute", func(p *corev1.Pod) { p.Spec.Tolerations[0].TolerationSeconds = proto.Int64(1) }, "spec.tolerations[0].effect", field.ErrorTypeInvalid, "NoExecute"},
		{"node affinity operator", func(p *corev1.Pod) {
			p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchExpressions[0].Operator = "Like"
		}, "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator", field.ErrorTypeInvalid, "not a valid selector operator"},
		{"node affinity In no values", func(p *corev1.Pod) {
			p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchExpressions[0].Values = nil
		}, "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values", field.ErrorTypeRequired, ""},
		{"node affinity Gt two values", func(p *corev1.Pod) {
			p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchExpressions[1].Values = []string{"1", "2"}
		}, "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[1].values", field.ErrorTypeRequired, "single value"},
		{"node affinity Exists with values", func(p *corev1.Pod) {
			p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchExpressions[2].Values = []string{"x"}
		}, "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[2].values", field.ErrorTypeForbidden, ""},
		{"node affinity no terms", func(p *corev1.Pod) {
			p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms = nil
		}, "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms", field.ErrorTypeRequired, ""},
		{"preferred weight", func(p *corev1.Pod) {
			p.Spec.Affinity.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].Weight = 0
		}, "spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight", field.ErrorTypeInvalid, "1-100"},
		{"pod anti affinity topologyKey", func(p *corev1.Pod) {
			p.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0].TopologyKey = ""
		}, "spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey", field.ErrorTypeRequired, "can not be empty"},
		{"pod affinity weight", func(p *corev1.Pod) {
			p.Spec.Affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].Weight = 101
		}, "spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight", field.ErrorTypeInvalid, ""},
		{"pod affinity selector operator", func(p *corev1.Pod) {
			p.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0].LabelSelector.MatchExpressions = []*metav1.LabelSelectorRequirement{{Key: "a", Operator: "Gt", Values: []string{"1"}}}
		}, "spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].labelSelector.matchExpressions[0].operator", field.ErrorTypeInvalid, ""},
		{"maxSkew", func(p *corev1.Pod) { p.Spec.TopologySpreadConstraints[0].MaxSkew = 0 }, "spec.topologySpreadConstraints[0].maxSkew", field.ErrorTypeInvalid, "greater than zero"},
		{"spread topologyKey", func(p *corev1.Pod) { p.Spec.TopologySpreadConstraints[0].TopologyKey = "" }, "spec.topologySpreadConstraints[0].topologyKey", field.ErrorTypeRequired, ""},
		{"whenUnsatisfiable", func(p *corev1.Pod) { p.Spec.TopologySpreadConstraints[0].WhenUnsatisfiable = "Maybe" }, "spec.topologySpreadConstraints[0].whenUnsatisfiable", field.ErrorTypeNotSupported, ""},
		{"minDomains with ScheduleAnyway", func(p *corev1.Pod) { p.Spec.TopologySpreadConstraints[0].WhenUnsatisfiable = "ScheduleAnyway" }, "spec.topologySpreadConstraints[0].minDomains", field.ErrorTypeInvalid, "can only use minDomains if whenUnsatisfiable=DoNotSchedule"},
		{"spread duplicate", func(p *corev1.Pod) {
			p.Spec.TopologySpreadConstraints = append(p.Spec.TopologySpreadConstraints, proto.Clone(p.Spec.TopologySpreadConstraints[0]).(*corev1.TopologySpreadConstraint))
		}, "spec.topologySpreadConstraints[0].{topologyKey, whenUnsatisfiable}", field.ErrorTypeDuplicate, ""},
		{"terminationGracePeriodSeconds", func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = proto.Int64(-1) }, "spec.terminationGracePeriodSeconds", field.ErrorTypeInvalid, ""},
		{"activeDeadlineSeconds", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = proto.Int64(0) }, "spec.activeDeadlineSeconds", field.ErrorTypeInvalid, ""},
		{"hostname", func(p *corev1.Pod) { p.Spec.Hostname = "web.0" }, "spec.hostname", field.ErrorTypeInvalid, ""},
		{"subdomain", func(p *corev1.Pod) { p.Spec.Subdomain = "Web" }, "spec.subdomain", field.ErrorTypeInvalid, ""},
		{"priorityClassName", func(p *corev1.Pod) { p.Spec.PriorityClassName = "High_Priority" }, "spec.priorityClassName", field.ErrorTypeInvalid, ""},
		{"serviceAccountName", func(p *corev1.Pod) { p.Spec.ServiceAccountName = "Builder" }, "spec.serviceAccountName", field.ErrorTypeInvalid, ""},
		{"runAsUser", func(p *corev1.Pod) { p.Spec.SecurityContext.RunAsUser = proto.Int64(-1) }, "spec.securityContext.runAsUser", field.ErrorTypeInvalid, ""},
		{"sysctl name", func(p *corev1.Pod) { p.Spec.SecurityContext.Sysctls = []*corev1.Sysctl{{Name: "Bad!"}} }, "spec.securityContext.sysctls[0].name", field.ErrorTypeInvalid, ""},
		{"terminationMessagePolicy", func(p *corev1.Pod) { c0(p).TerminationMessagePolicy = "Never" }, "spec.containers[0].terminationMessagePolicy", field.ErrorTypeInvalid, ""},
		{"hostAlias ip", func(p *corev1.Pod) { p.Spec.HostAliases = []*corev1.HostAlias{{Ip: "nope"}} }, "spec.hostAliases[0].ip", field.ErrorTypeInvalid, ""},
		{"scheduling gate dup", func(p *corev1.Pod) {
			p.Spec.SchedulingGates = []*corev1.PodSchedulingGate{{Name: "example.com/a"}, {Name: "example.com/a"}}
		}, "spec.schedulingGates[1]", field.ErrorTypeDuplicate, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := coreValidPod()
			tc.mutate(p)
			errs := Validate(p, nil)
			coreExpect(t, errs, tc.field, tc.typ)
			if tc.detail != "" && !strings.Contains(errs[0].Error(), tc.detail) {
				t.Fatalf("want detail %q, got %q", tc.detail, errs[0].Error())
			}
		})
	}
}

func TestCorePodErrorMessage(t *testing.T) {
	p := coreValidPod()
	p.Spec.Containers[0].Image = ""
	errs := Validate(p, nil)
	if len(errs) != 1 || errs[0].Error() != "spec.containers[0].image: Required value" {
		t.Fatalf("got %v", errs)
	}
}

func TestCorePodUpdate(t *testing.T) {
	ok := []struct {
		name   string
		mutate func(p *corev1.Pod)
	}{
		{"no change", func(p *corev1.Pod) {}},
		{"image", func(p *corev1.Pod) {
			p.Spec.Containers[0].Image = "nginx:1.26"
			p.Spec.InitContainers[0].Image = "busybox:1.37"
		}},
		{"decrease deadline", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = proto.Int64(300) }},
		{"add toleration", func(p *corev1.Pod) {
			p.Spec.Tolerations = append(p.Spec.Tolerations, &corev1.Toleration{Key: "x", Operator: "Exists"})
		}},
		{"change tolerationSeconds", func(p *corev1.Pod) { p.Spec.Tolerations[2].TolerationSeconds = proto.Int64(10) }},
		{"labels", func(p *corev1.Pod) { p.Metadata.Labels["v"] = "2" }},
	}
	for _, tc := range ok {
		t.Run(tc.name, func(t *testing.T) {
			old := coreValidPod()
			p := coreValidPod()
			tc.mutate(p)
			if errs := Validate(p, old); len(errs) != 0 {
				t.Fatalf("rejected: %v", errs)
			}
		})
	}
	bad := []struct {
		name   string
		mutate func(p *corev1.Pod)
		field  string
		typ    field.ErrorType
	}{
		{"restartPolicy", func(p *corev1.Pod) { p.Spec.RestartPolicy = "Never" }, "spec", field.ErrorTypeForbidden},
		{"container command", func(p *corev1.Pod) { p.Spec.Containers[0].Command = []string{"sh"} }, "spec", field.ErrorTypeForbidden},
		{"add container", func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, &corev1.Container{Name: "b", Image: "b"})
		}, "spec.containers", field.ErrorTypeForbidden},
		{"remove image", func(p *corev1.Pod) { p.Spec.Containers[0].Image = "" }, "spec.containers[0].image", field.ErrorTypeRequired},
		{"increase deadline", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = proto.Int64(601) }, "spec.activeDeadlineSeconds", field.ErrorTypeInvalid},
		{"unset deadline", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = nil }, "spec.activeDeadlineSeconds", field.ErrorTypeInvalid},
		{"remove toleration", func(p *corev1.Pod) { p.Spec.Tolerations = p.Spec.Tolerations[1:] }, "spec.tolerations", field.ErrorTypeForbidden},
		{"grace period", func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = proto.Int64(5) }, "spec", field.ErrorTypeForbidden},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			old := coreValidPod()
			p := coreValidPod()
			tc.mutate(p)
			errs := Validate(p, old)
			coreExpect(t, errs, tc.field, tc.typ)
			if tc.field == "spec" && !strings.Contains(errs[0].Detail, "pod updates may not change fields other than") {
				t.Fatalf("detail: %q", errs[0].Detail)
			}
		})
	}
}

func TestCorePodStatus(t *testing.T) {
	old := coreValidPod()
	good := coreValidPod()
	good.Status = &corev1.PodStatus{
		Phase:      "Running",
		Conditions: []*corev1.PodCondition{{Type: "Ready", Status: "True"}, {Type: "example.com/gate", Status: "Unknown"}},
		PodIp:      "10.0.0.5",
		PodIps:     []*corev1.PodIP{{Ip: "10.0.0.5"}, {Ip: "fd00::5"}},
		HostIp:     "192.168.1.2",
	}
	if errs := ValidateStatus(good, old); len(errs) != 0 {
		t.Fatalf("rejected: %v", errs)
	}
	cases := []struct {
		name   string
		mutate func(s *corev1.PodStatus)
		field  string
		typ    field.ErrorType
	}{
		{"phase", func(s *corev1.PodStatus) { s.Phase = "Sleeping" }, "status.phase", field.ErrorTypeNotSupported},
		{"condition status", func(s *corev1.PodStatus) { s.Conditions[0].Status = "Yes" }, "status.conditions[0].status", field.ErrorTypeNotSupported},
		{"condition type", func(s *corev1.PodStatus) { s.Conditions[1].Type = "bad type" }, "status.conditions[1].type", field.ErrorTypeInvalid},
		{"pod ip", func(s *corev1.PodStatus) { s.PodIps[1].Ip = "nope" }, "status.podIPs[1].ip", field.ErrorTypeInvalid},
		{"two v4", func(s *corev1.PodStatus) { s.PodIps[1].Ip = "10.0.0.6" }, "status.podIPs", field.ErrorTypeInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := proto.Clone(good).(*corev1.Pod)
			tc.mutate(p.Status)
			coreExpect(t, ValidateStatus(p, old), tc.field, tc.typ)
		})
	}
	// Terminal phases are final.
	done := proto.Clone(good).(*corev1.Pod)
	done.Status.Phase = "Succeeded"
	coreExpect(t, ValidateStatus(good, done), "status.phase", field.ErrorTypeForbidden)
}

func TestCorePodTemplateSpec(t *testing.T) {
	pod := coreValidPod()
	tmpl := &corev1.PodTemplateSpec{Metadata: &metav1.ObjectMeta{Labels: map[string]string{"app": "x"}}, Spec: pod.Spec}
	if errs := ValidatePodTemplateSpec(tmpl, field.NewPath("spec", "template")); len(errs) != 0 {
		t.Fatalf("rejected: %v", errs)
	}
	tmpl.Metadata.Labels["bad key!"] = "x"
	coreExpect(t, ValidatePodTemplateSpec(tmpl, field.NewPath("spec", "template")), "spec.template.metadata.labels", field.ErrorTypeInvalid)
	coreExpect(t, ValidatePodTemplateSpec(nil, field.NewPath("spec", "template")), "spec.template", field.ErrorTypeRequired)
	tmpl = &corev1.PodTemplateSpec{Spec: &corev1.PodSpec{Containers: []*corev1.Container{{Name: "c"}}}}
	defaults.PodTemplateSpec(tmpl)
	coreExpect(t, ValidatePodTemplateSpec(tmpl, field.NewPath("spec", "template")), "spec.template.spec.containers[0].image", field.ErrorTypeRequired)

	pt := &corev1.PodTemplate{Metadata: &metav1.ObjectMeta{Name: "t", Namespace: "ns"}, Template: tmpl}
	coreExpect(t, Validate(pt, nil), "template.spec.containers[0].image", field.ErrorTypeRequired)
}
