package printer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	appsv1 "flotilla.io/proto/flotilla/apps/v1"
	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
	"flotilla.io/proto/kind"
	"flotilla.io/proto/object"
)

// Describe renders obj as kubectl describe does: aligned "Field: value"
// sections, then the object's events (already filtered to it, any order).
func Describe(obj proto.Message, events []*corev1.Event, now time.Time) (string, error) {
	var out bytes.Buffer
	tw := tabwriter.NewWriter(&out, 0, 8, 2, ' ', 0)
	d := &describer{w: tw, now: now}
	switch o := obj.(type) {
	case *corev1.Pod:
		d.pod(o)
	case *appsv1.Deployment:
		d.deployment(o)
	case *corev1.Service:
		d.service(o)
	case *corev1.Node:
		d.node(o)
	case *corev1.Namespace:
		d.meta(o.GetMetadata(), false)
		d.line(0, "Status:", NamespacePhase(o))
	case *corev1.ConfigMap:
		d.configMap(o)
	case *corev1.Secret:
		d.secret(o)
	default:
		if err := d.generic(obj); err != nil {
			return "", err
		}
	}
	d.events(events)
	if err := tw.Flush(); err != nil {
		return "", err
	}
	return out.String(), nil
}

type describer struct {
	w   io.Writer
	now time.Time
}

// line writes "label\tvalue" at an indent level (two spaces per level), the
// form the tab writer aligns; with no values it writes the label alone, which
// also ends the current alignment block.
func (d *describer) line(level int, label string, values ...string) {
	indent := strings.Repeat("  ", level)
	if len(values) == 0 {
		fmt.Fprintf(d.w, "%s%s\n", indent, label)
		return
	}
	fmt.Fprintf(d.w, "%s%s\t%s\n", indent, label, strings.Join(values, "\t"))
}

func (d *describer) meta(md *metav1.ObjectMeta, namespaced bool) {
	d.line(0, "Name:", md.GetName())
	if namespaced {
		d.line(0, "Namespace:", md.GetNamespace())
	}
	d.mapLines(0, "Labels:", md.GetLabels(), "=")
	d.annotations(0, md.GetAnnotations())
}

// annotations prints annotations without the last-applied configuration, as
// kubectl describe: it repeats the object and may hold secret stringData.
func (d *describer) annotations(level int, m map[string]string) {
	shown := make(map[string]string, len(m))
	for k, v := range m {
		if k != lastApplied && k != schedulingDiagnosis {
			shown[k] = strings.TrimSpace(v)
		}
	}
	d.mapLines(level, "Annotations:", shown, ": ")
}

const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// mapLines prints a map one entry a line, sorted, kubectl-style.
func (d *describer) mapLines(level int, label string, m map[string]string, sep string) {
	if len(m) == 0 {
		d.line(level, label, "<none>")
		return
	}
	keys := sortedKeys(m)
	for n, k := range keys {
		l := ""
		if n == 0 {
			l = label
		}
		d.line(level, l, k+sep+m[k])
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func timeString(t *timestamppb.Timestamp) string {
	if t == nil {
		return "<unset>"
	}
	return t.AsTime().UTC().Format(time.RFC1123Z)
}

func (d *describer) pod(p *corev1.Pod) {
	md, spec, st := p.GetMetadata(), p.GetSpec(), p.GetStatus()
	d.line(0, "Name:", md.GetName())
	d.line(0, "Namespace:", md.GetNamespace())
	d.line(0, "Priority:", itoa(spec.GetPriority()))
	if spec.GetPriorityClassName() != "" {
		d.line(0, "Priority Class Name:", spec.GetPriorityClassName())
	}
	d.line(0, "Service Account:", orNone(spec.GetServiceAccountName()))
	node := orNone(spec.GetNodeName())
	if spec.GetNodeName() != "" && st.GetHostIp() != "" {
		node += "/" + st.GetHostIp()
	}
	d.line(0, "Node:", node)
	if st.GetStartTime() != nil {
		d.line(0, "Start Time:", timeString(st.GetStartTime()))
	}
	d.mapLines(0, "Labels:", md.GetLabels(), "=")
	d.annotations(0, md.GetAnnotations())
	if md.GetDeletionTimestamp() != nil {
		d.line(0, "Status:", fmt.Sprintf("Terminating (lasts %s)", Age(md.GetDeletionTimestamp(), d.now)))
		d.line(0, "Termination Grace Period:", fmt.Sprintf("%ds", md.GetDeletionGracePeriodSeconds()))
	} else {
		phase := st.GetPhase()
		if phase == "" {
			phase = "Pending"
		}
		d.line(0, "Status:", phase)
	}
	if st.GetReason() != "" {
		d.line(0, "Reason:", st.GetReason())
	}
	if st.GetMessage() != "" {
		d.line(0, "Message:", st.GetMessage())
	}
	d.line(0, "IP:", st.GetPodIp())
	if len(st.GetPodIps()) == 0 {
		d.line(0, "IPs:", "<none>")
	} else {
		d.line(0, "IPs:")
		for _, ip := range st.GetPodIps() {
			d.line(1, "IP:", ip.GetIp())
		}
	}
	if len(spec.GetInitContainers()) > 0 {
		d.line(0, "Init Containers:")
		d.containers(spec.GetInitContainers(), st.GetInitContainerStatuses())
	}
	d.line(0, "Containers:")
	d.containers(spec.GetContainers(), st.GetContainerStatuses())
	d.podConditions(st.GetConditions())
	d.volumes(spec.GetVolumes())
	if st.GetQosClass() != "" {
		d.line(0, "QoS Class:", st.GetQosClass())
	}
	d.line(0, "Node-Selectors:", orNone(formatLabels(spec.GetNodeSelector())))
	d.tolerations(spec.GetTolerations())
	if spec.GetNodeName() == "" {
		d.schedulingDiagnosis(md.GetAnnotations()[schedulingDiagnosis])
	}
}

// schedulingDiagnosis is the scheduler's annotation on a pod no node fits:
// JSON mapping each node to the filter that rejected it ("_truncated" says
// how many nodes were left out).
const schedulingDiagnosis = "scheduler.flotilla.io/diagnosis"

// schedulingDiagnosis lists, for a pending pod, each node and why the
// scheduler rejected it.
func (d *describer) schedulingDiagnosis(raw string) {
	if raw == "" {
		return
	}
	var nodes map[string]string
	if err := json.Unmarshal([]byte(raw), &nodes); err != nil {
		return
	}
	note := nodes["_truncated"]
	delete(nodes, "_truncated")
	d.line(0, "Scheduling diagnosis:")
	d.line(1, "Node", "Rejected by")
	d.line(1, "----", "-----------")
	for _, n := range sortedKeys(nodes) {
		d.line(1, n, nodes[n])
	}
	if note != "" {
		d.line(1, "("+note+")")
	}
}

func (d *describer) podConditions(conds []*corev1.PodCondition) {
	if len(conds) == 0 {
		return
	}
	detail := false
	for _, c := range conds {
		if c.GetStatus() != "True" && c.GetMessage() != "" {
			detail = true
		}
	}
	d.line(0, "Conditions:")
	if detail {
		d.line(1, "Type", "Status", "Reason", "Message")
		d.line(1, "----", "------", "------", "-------")
	} else {
		d.line(1, "Type", "Status")
	}
	for _, c := range conds {
		if detail {
			d.line(1, c.GetType(), c.GetStatus(), c.GetReason(), c.GetMessage())
		} else {
			d.line(1, c.GetType(), c.GetStatus())
		}
	}
}

func (d *describer) containers(cs []*corev1.Container, statuses []*corev1.ContainerStatus) {
	byName := map[string]*corev1.ContainerStatus{}
	for _, s := range statuses {
		byName[s.GetName()] = s
	}
	for _, c := range cs {
		d.line(1, c.GetName()+":")
		if s := byName[c.GetName()]; s != nil && s.GetContainerId() != "" {
			d.line(2, "Container ID:", s.GetContainerId())
		}
		d.line(2, "Image:", c.GetImage())
		if s := byName[c.GetName()]; s != nil && s.GetImageId() != "" {
			d.line(2, "Image ID:", s.GetImageId())
		}
		d.ports(c.GetPorts())
		if len(c.GetCommand()) > 0 {
			d.line(2, "Command:")
			for _, a := range c.GetCommand() {
				d.line(3, a)
			}
		}
		if len(c.GetArgs()) > 0 {
			d.line(2, "Args:")
			for _, a := range c.GetArgs() {
				d.line(3, a)
			}
		}
		if s := byName[c.GetName()]; s != nil {
			d.containerState(2, "State:", s.GetState())
			if ls := s.GetLastTerminationState(); ls.GetTerminated() != nil || ls.GetRunning() != nil || ls.GetWaiting() != nil {
				d.containerState(2, "Last State:", ls)
			}
			d.line(2, "Ready:", boolTitle(s.GetReady()))
			d.line(2, "Restart Count:", itoa(s.GetRestartCount()))
		}
		d.quantities(2, "Limits:", c.GetResources().GetLimits())
		d.quantities(2, "Requests:", c.GetResources().GetRequests())
		for _, p := range []struct {
			label string
			probe *corev1.Probe
		}{{"Liveness:", c.GetLivenessProbe()}, {"Readiness:", c.GetReadinessProbe()}, {"Startup:", c.GetStartupProbe()}} {
			if p.probe != nil {
				d.line(2, p.label, describeProbe(p.probe))
			}
		}
		if len(c.GetEnvFrom()) > 0 {
			d.line(2, "Environment Variables from:")
			for _, e := range c.GetEnvFrom() {
				switch {
				case e.GetConfigMapRef() != nil:
					d.line(3, e.GetConfigMapRef().GetName(), "ConfigMap", "Optional: "+fmt.Sprint(e.GetConfigMapRef().GetOptional()))
				case e.GetSecretRef() != nil:
					d.line(3, e.GetSecretRef().GetName(), "Secret", "Optional: "+fmt.Sprint(e.GetSecretRef().GetOptional()))
				}
			}
		}
		if len(c.GetEnv()) == 0 {
			d.line(2, "Environment:", "<none>")
		} else {
			d.line(2, "Environment:")
			for _, e := range c.GetEnv() {
				d.line(3, e.GetName()+":", envValue(e))
			}
		}
		if len(c.GetVolumeMounts()) == 0 {
			d.line(2, "Mounts:", "<none>")
		} else {
			d.line(2, "Mounts:")
			for _, m := range c.GetVolumeMounts() {
				mode := "rw"
				if m.GetReadOnly() {
					mode = "ro"
				}
				if m.GetSubPath() != "" {
					mode += fmt.Sprintf(",path=%q", m.GetSubPath())
				}
				d.line(3, fmt.Sprintf("%s from %s (%s)", m.GetMountPath(), m.GetName(), mode))
			}
		}
	}
}

func (d *describer) ports(ports []*corev1.ContainerPort) {
	if len(ports) == 0 {
		d.line(2, "Port:", "<none>")
		d.line(2, "Host Port:", "<none>")
		return
	}
	var ps, hs []string
	for _, p := range ports {
		proto := p.GetProtocol()
		if proto == "" {
			proto = "TCP"
		}
		s := fmt.Sprintf("%d/%s", p.GetContainerPort(), proto)
		if p.GetName() != "" {
			s += " (" + p.GetName() + ")"
		}
		ps = append(ps, s)
		hs = append(hs, fmt.Sprintf("%d/%s", p.GetHostPort(), proto))
	}
	label := "Port:"
	if len(ports) > 1 {
		label = "Ports:"
	}
	d.line(2, label, strings.Join(ps, ", "))
	label = "Host Port:"
	if len(ports) > 1 {
		label = "Host Ports:"
	}
	d.line(2, label, strings.Join(hs, ", "))
}

func (d *describer) containerState(level int, label string, s *corev1.ContainerState) {
	switch {
	case s.GetRunning() != nil:
		d.line(level, label, "Running")
		d.line(level+1, "Started:", timeString(s.GetRunning().GetStartedAt()))
	case s.GetWaiting() != nil:
		d.line(level, label, "Waiting")
		if r := s.GetWaiting().GetReason(); r != "" {
			d.line(level+1, "Reason:", r)
		}
		if m := s.GetWaiting().GetMessage(); m != "" {
			d.line(level+1, "Message:", m)
		}
	case s.GetTerminated() != nil:
		t := s.GetTerminated()
		d.line(level, label, "Terminated")
		if t.GetReason() != "" {
			d.line(level+1, "Reason:", t.GetReason())
		}
		if t.GetMessage() != "" {
			d.line(level+1, "Message:", t.GetMessage())
		}
		d.line(level+1, "Exit Code:", itoa(t.GetExitCode()))
		if t.GetSignal() != 0 {
			d.line(level+1, "Signal:", itoa(t.GetSignal()))
		}
		d.line(level+1, "Started:", timeString(t.GetStartedAt()))
		d.line(level+1, "Finished:", timeString(t.GetFinishedAt()))
	default:
		d.line(level, label, "Waiting")
	}
}

func (d *describer) quantities(level int, label string, q map[string]*metav1.Quantity) {
	if len(q) == 0 {
		return
	}
	d.line(level, label)
	for _, k := range sortedKeys(q) {
		d.line(level+1, k+":", q[k].GetString_())
	}
}

func describeProbe(p *corev1.Probe) string {
	attrs := fmt.Sprintf("delay=%ds timeout=%ds period=%ds #success=%d #failure=%d",
		p.GetInitialDelaySeconds(), p.GetTimeoutSeconds(), p.GetPeriodSeconds(), p.GetSuccessThreshold(), p.GetFailureThreshold())
	switch {
	case p.GetExec() != nil:
		return fmt.Sprintf("exec [%s] %s", strings.Join(p.GetExec().GetCommand(), " "), attrs)
	case p.GetHttpGet() != nil:
		h := p.GetHttpGet()
		scheme := strings.ToLower(h.GetScheme())
		if scheme == "" {
			scheme = "http"
		}
		return fmt.Sprintf("http-get %s://%s:%s%s %s", scheme, h.GetHost(), intOrString(h.GetPort()), h.GetPath(), attrs)
	case p.GetTcpSocket() != nil:
		return fmt.Sprintf("tcp-socket %s:%s %s", p.GetTcpSocket().GetHost(), intOrString(p.GetTcpSocket().GetPort()), attrs)
	case p.GetGrpc() != nil:
		svc := p.GetGrpc().GetService()
		return fmt.Sprintf("grpc <pod>:%d %s %s", p.GetGrpc().GetPort(), svc, attrs)
	}
	return "unknown " + attrs
}

func intOrString(v *metav1.IntOrString) string {
	if v.GetType() == 1 {
		return v.GetStrVal()
	}
	return itoa(v.GetIntVal())
}

func envValue(e *corev1.EnvVar) string {
	vf := e.GetValueFrom()
	switch {
	case vf == nil:
		return e.GetValue()
	case vf.GetFieldRef() != nil:
		av := vf.GetFieldRef().GetApiVersion()
		if av == "" {
			av = "v1"
		}
		return fmt.Sprintf(" (%s:%s)", av, vf.GetFieldRef().GetFieldPath())
	case vf.GetResourceFieldRef() != nil:
		return fmt.Sprintf("%s (%s)", vf.GetResourceFieldRef().GetResource(), vf.GetResourceFieldRef().GetContainerName())
	case vf.GetSecretKeyRef() != nil:
		r := vf.GetSecretKeyRef()
		return fmt.Sprintf("<set to the key '%s' in secret '%s'>  Optional: %t", r.GetKey(), r.GetName(), r.GetOptional())
	case vf.GetConfigMapKeyRef() != nil:
		r := vf.GetConfigMapKeyRef()
		return fmt.Sprintf("<set to the key '%s' of config map '%s'>  Optional: %t", r.GetKey(), r.GetName(), r.GetOptional())
	case vf.GetFileKeyRef() != nil:
		r := vf.GetFileKeyRef()
		return fmt.Sprintf("<set to the key '%s' in file '%s' of volume '%s'>", r.GetKey(), r.GetPath(), r.GetVolumeName())
	}
	return ""
}

func (d *describer) volumes(vols []*corev1.Volume) {
	if len(vols) == 0 {
		d.line(0, "Volumes:", "<none>")
		return
	}
	d.line(0, "Volumes:")
	for _, v := range vols {
		d.line(1, v.GetName()+":")
		switch {
		case v.GetEmptyDir() != nil:
			d.line(2, "Type:", "EmptyDir (a temporary directory that shares a pod's lifetime)")
			d.line(2, "Medium:", v.GetEmptyDir().GetMedium())
			limit := "<unset>"
			if v.GetEmptyDir().GetSizeLimit() != nil {
				limit = v.GetEmptyDir().GetSizeLimit().GetString_()
			}
			d.line(2, "SizeLimit:", limit)
		case v.GetConfigMap() != nil:
			d.line(2, "Type:", "ConfigMap (a volume populated by a ConfigMap)")
			d.line(2, "Name:", v.GetConfigMap().GetName())
			d.line(2, "Optional:", fmt.Sprint(v.GetConfigMap().GetOptional()))
		case v.GetSecret() != nil:
			d.line(2, "Type:", "Secret (a volume populated by a Secret)")
			d.line(2, "SecretName:", v.GetSecret().GetSecretName())
			d.line(2, "Optional:", fmt.Sprint(v.GetSecret().GetOptional()))
		case v.GetHostPath() != nil:
			d.line(2, "Type:", "HostPath (bare host directory volume)")
			d.line(2, "Path:", v.GetHostPath().GetPath())
			d.line(2, "HostPathType:", v.GetHostPath().GetType())
		case v.GetPersistentVolumeClaim() != nil:
			d.line(2, "Type:", "PersistentVolumeClaim (a reference to a PersistentVolumeClaim in the same namespace)")
			d.line(2, "ClaimName:", v.GetPersistentVolumeClaim().GetClaimName())
			d.line(2, "ReadOnly:", fmt.Sprint(v.GetPersistentVolumeClaim().GetReadOnly()))
		case v.GetNfs() != nil:
			d.line(2, "Type:", "NFS (an NFS mount that lasts the lifetime of a pod)")
			d.line(2, "Server:", v.GetNfs().GetServer())
			d.line(2, "Path:", v.GetNfs().GetPath())
			d.line(2, "ReadOnly:", fmt.Sprint(v.GetNfs().GetReadOnly()))
		case v.GetProjected() != nil:
			d.line(2, "Type:", "Projected (a volume that contains injected data from multiple sources)")
		case v.GetDownwardApi() != nil:
			d.line(2, "Type:", "DownwardAPI (a volume populated by information about the pod)")
		default:
			d.line(2, "Type:", "<unknown>")
		}
	}
}

func (d *describer) tolerations(ts []*corev1.Toleration) {
	if len(ts) == 0 {
		d.line(0, "Tolerations:", "<none>")
		return
	}
	for n, t := range ts {
		s := t.GetKey()
		if t.GetValue() != "" {
			s += "=" + t.GetValue()
		} else if t.GetOperator() == "Exists" && s != "" {
			s += " op=Exists"
		}
		if s == "" {
			s = "op=Exists"
		}
		if t.GetEffect() != "" {
			s += ":" + t.GetEffect()
		}
		if t.TolerationSeconds != nil {
			s += fmt.Sprintf(" for %ds", t.GetTolerationSeconds())
		}
		label := ""
		if n == 0 {
			label = "Tolerations:"
		}
		d.line(0, label, s)
	}
}

func (d *describer) deployment(dep *appsv1.Deployment) {
	md, spec, st := dep.GetMetadata(), dep.GetSpec(), dep.GetStatus()
	d.line(0, "Name:", md.GetName())
	d.line(0, "Namespace:", md.GetNamespace())
	d.line(0, "CreationTimestamp:", timeString(md.GetCreationTimestamp()))
	d.mapLines(0, "Labels:", md.GetLabels(), "=")
	d.annotations(0, md.GetAnnotations())
	d.line(0, "Selector:", FormatSelector(spec.GetSelector()))
	d.line(0, "Replicas:", fmt.Sprintf("%d desired | %d updated | %d total | %d available | %d unavailable",
		replicas(spec), st.GetUpdatedReplicas(), st.GetReplicas(), st.GetAvailableReplicas(), st.GetUnavailableReplicas()))
	strategy := spec.GetStrategy().GetType()
	if strategy == "" {
		strategy = "RollingUpdate"
	}
	d.line(0, "StrategyType:", strategy)
	d.line(0, "MinReadySeconds:", itoa(spec.GetMinReadySeconds()))
	if ru := spec.GetStrategy().GetRollingUpdate(); ru != nil {
		d.line(0, "RollingUpdateStrategy:", fmt.Sprintf("%s max unavailable, %s max surge", intOrString(ru.GetMaxUnavailable()), intOrString(ru.GetMaxSurge())))
	}
	d.podTemplate(spec.GetTemplate())
	if len(st.GetConditions()) > 0 {
		d.line(0, "Conditions:")
		d.line(1, "Type", "Status", "Reason")
		d.line(1, "----", "------", "------")
		for _, c := range st.GetConditions() {
			d.line(1, c.GetType(), c.GetStatus(), c.GetReason())
		}
	}
}

func (d *describer) podTemplate(t *corev1.PodTemplateSpec) {
	d.line(0, "Pod Template:")
	d.mapLines(1, "Labels:", t.GetMetadata().GetLabels(), "=")
	if len(t.GetMetadata().GetAnnotations()) > 0 {
		d.annotations(1, t.GetMetadata().GetAnnotations())
	}
	if sa := t.GetSpec().GetServiceAccountName(); sa != "" {
		d.line(1, "Service Account:", sa)
	}
	if len(t.GetSpec().GetInitContainers()) > 0 {
		d.line(1, "Init Containers:")
		d.containers(t.GetSpec().GetInitContainers(), nil)
	}
	d.line(1, "Containers:")
	d.containers(t.GetSpec().GetContainers(), nil)
	d.volumes(t.GetSpec().GetVolumes())
	d.line(1, "Node-Selectors:", orNone(formatLabels(t.GetSpec().GetNodeSelector())))
	d.tolerations(t.GetSpec().GetTolerations())
}

func (d *describer) service(s *corev1.Service) {
	md, spec := s.GetMetadata(), s.GetSpec()
	d.meta(md, true)
	d.line(0, "Selector:", formatLabels(spec.GetSelector()))
	d.line(0, "Type:", serviceType(s))
	if spec.GetIpFamilyPolicy() != "" {
		d.line(0, "IP Family Policy:", spec.GetIpFamilyPolicy())
	}
	if len(spec.GetIpFamilies()) > 0 {
		d.line(0, "IP Families:", strings.Join(spec.GetIpFamilies(), ","))
	}
	d.line(0, "IP:", orNone(spec.GetClusterIp()))
	if len(spec.GetClusterIps()) > 0 {
		d.line(0, "IPs:", strings.Join(spec.GetClusterIps(), ","))
	}
	if len(spec.GetExternalIps()) > 0 {
		d.line(0, "External IPs:", strings.Join(spec.GetExternalIps(), ","))
	}
	if spec.GetExternalName() != "" {
		d.line(0, "External Name:", spec.GetExternalName())
	}
	if serviceType(s) == "LoadBalancer" {
		d.line(0, "LoadBalancer Ingress:", serviceExternalIP(s))
	}
	for _, p := range spec.GetPorts() {
		name := p.GetName()
		if name == "" {
			name = "<unset>"
		}
		proto := p.GetProtocol()
		if proto == "" {
			proto = "TCP"
		}
		d.line(0, "Port:", fmt.Sprintf("%s  %d/%s", name, p.GetPort(), proto))
		if p.GetTargetPort() != nil {
			d.line(0, "TargetPort:", fmt.Sprintf("%s/%s", intOrString(p.GetTargetPort()), proto))
		}
		if p.GetNodePort() != 0 {
			d.line(0, "NodePort:", fmt.Sprintf("%s  %d/%s", name, p.GetNodePort(), proto))
		}
	}
	aff := spec.GetSessionAffinity()
	if aff == "" {
		aff = "None"
	}
	d.line(0, "Session Affinity:", aff)
	if spec.GetExternalTrafficPolicy() != "" {
		d.line(0, "External Traffic Policy:", spec.GetExternalTrafficPolicy())
	}
	if spec.GetInternalTrafficPolicy() != "" {
		d.line(0, "Internal Traffic Policy:", spec.GetInternalTrafficPolicy())
	}
}

func (d *describer) node(n *corev1.Node) {
	md, spec, st := n.GetMetadata(), n.GetSpec(), n.GetStatus()
	d.line(0, "Name:", md.GetName())
	d.line(0, "Roles:", nodeRoles(n))
	d.mapLines(0, "Labels:", md.GetLabels(), "=")
	d.annotations(0, md.GetAnnotations())
	d.line(0, "CreationTimestamp:", timeString(md.GetCreationTimestamp()))
	if len(spec.GetTaints()) == 0 {
		d.line(0, "Taints:", "<none>")
	}
	for i, t := range spec.GetTaints() {
		label := ""
		if i == 0 {
			label = "Taints:"
		}
		s := t.GetKey()
		if t.GetValue() != "" {
			s += "=" + t.GetValue()
		}
		d.line(0, label, s+":"+t.GetEffect())
	}
	d.line(0, "Unschedulable:", fmt.Sprint(spec.GetUnschedulable()))
	if len(st.GetConditions()) > 0 {
		d.line(0, "Conditions:")
		d.line(1, "Type", "Status", "LastHeartbeatTime", "LastTransitionTime", "Reason", "Message")
		d.line(1, "----", "------", "-----------------", "------------------", "------", "-------")
		for _, c := range st.GetConditions() {
			d.line(1, c.GetType(), c.GetStatus(), timeString(c.GetLastHeartbeatTime()), timeString(c.GetLastTransitionTime()), c.GetReason(), c.GetMessage())
		}
	}
	d.line(0, "Addresses:")
	for _, a := range st.GetAddresses() {
		d.line(1, a.GetType()+":", a.GetAddress())
	}
	d.quantities(0, "Capacity:", st.GetCapacity())
	d.quantities(0, "Allocatable:", st.GetAllocatable())
	if ni := st.GetNodeInfo(); ni != nil {
		d.line(0, "System Info:")
		d.line(1, "Machine ID:", ni.GetMachineId())
		d.line(1, "Kernel Version:", ni.GetKernelVersion())
		d.line(1, "OS Image:", ni.GetOsImage())
		d.line(1, "Operating System:", ni.GetOperatingSystem())
		d.line(1, "Architecture:", ni.GetArchitecture())
		d.line(1, "Container Runtime Version:", ni.GetContainerRuntimeVersion())
		d.line(1, "Kubelet Version:", ni.GetKubeletVersion())
	}
	if spec.GetPodCidr() != "" {
		d.line(0, "PodCIDR:", spec.GetPodCidr())
		d.line(0, "PodCIDRs:", strings.Join(spec.GetPodCidrs(), ","))
	}
}

func (d *describer) configMap(c *corev1.ConfigMap) {
	d.meta(c.GetMetadata(), true)
	d.line(0, "")
	d.line(0, "Data")
	d.line(0, "====")
	for _, k := range sortedKeys(c.GetData()) {
		d.line(0, k+":")
		d.line(0, "----")
		fmt.Fprintln(d.w, c.GetData()[k])
		d.line(0, "")
	}
	d.line(0, "")
	d.line(0, "BinaryData")
	d.line(0, "====")
	for _, k := range sortedKeys(c.GetBinaryData()) {
		d.line(0, k+":", fmt.Sprintf("%d bytes", len(c.GetBinaryData()[k])))
	}
	d.line(0, "")
}

func (d *describer) secret(s *corev1.Secret) {
	d.meta(s.GetMetadata(), true)
	d.line(0, "")
	d.line(0, "Type:", SecretType(s))
	d.line(0, "")
	d.line(0, "Data")
	d.line(0, "====")
	// Values are never printed, only their sizes, as kubectl.
	for _, k := range secretKeys(s) {
		size := len(s.GetData()[k])
		if v, ok := s.GetStringData()[k]; ok {
			size = len(v)
		}
		d.line(0, k+":", fmt.Sprintf("%d bytes", size))
	}
}

// generic describes any kind from its JSON form: metadata first, then every
// other top-level field with kubectl's Title Case keys.
func (d *describer) generic(obj proto.Message) error {
	info, _ := kind.ForMessage(obj)
	md := object.Meta(obj)
	d.meta(md, info != nil && info.Namespaced)
	if info != nil {
		d.line(0, "API Version:", info.APIVersion())
		d.line(0, "Kind:", info.Kind)
	}
	d.line(0, "CreationTimestamp:", timeString(md.GetCreationTimestamp()))
	data, err := JSONMap(obj)
	if err != nil {
		return err
	}
	for _, k := range sortedKeys(data) {
		switch k {
		case "apiVersion", "kind", "metadata":
			continue
		}
		d.value(0, false, titleCase(k), data[k])
	}
	return nil
}

// value prints generic data: maps as nested "Key:" sections, lists of maps
// as "- " items, scalars after their label. dash prefixes the label with
// "- ", which shifts its children one level right.
func (d *describer) value(level int, dash bool, label string, v any) {
	prefix, child := "", level+1
	if dash {
		prefix, child = "- ", level+2
	}
	switch t := v.(type) {
	case map[string]any:
		d.line(level, prefix+label+":")
		for _, k := range sortedKeys(t) {
			d.value(child, false, titleCase(k), t[k])
		}
	case []any:
		d.line(level, prefix+label+":")
		for _, it := range t {
			m, ok := it.(map[string]any)
			if !ok {
				d.line(child, fmt.Sprint(it))
				continue
			}
			for n, k := range sortedKeys(m) {
				if n == 0 {
					d.value(child, true, titleCase(k), m[k])
				} else {
					d.value(child+1, false, titleCase(k), m[k])
				}
			}
		}
	default:
		d.line(level, prefix+label+":", fmt.Sprint(t))
	}
}

// titleCase turns a JSON key into kubectl describe's label: "containerPort"
// becomes "Container Port".
func titleCase(s string) string {
	var b strings.Builder
	for n, r := range s {
		if n == 0 {
			b.WriteRune(unicode.ToUpper(r))
			continue
		}
		if unicode.IsUpper(r) && !unicode.IsUpper(rune(s[n-1])) {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (d *describer) events(events []*corev1.Event) {
	if len(events) == 0 {
		d.line(0, "Events:", "<none>")
		return
	}
	sorted := slices.Clone(events)
	sort.SliceStable(sorted, func(a, b int) bool { return eventTime(sorted[a]).Before(eventTime(sorted[b])) })
	d.line(0, "Events:")
	d.line(1, "Type", "Reason", "Age", "From", "Message")
	d.line(1, "----", "------", "----", "----", "-------")
	for _, e := range sorted {
		d.line(1, e.GetType(), e.GetReason(), eventLastSeen(e, d.now), eventSource(e), strings.TrimSpace(e.GetMessage()))
	}
}

func eventTime(e *corev1.Event) time.Time {
	for _, t := range []*timestamppb.Timestamp{e.GetLastTimestamp(), e.GetEventTime(), e.GetFirstTimestamp(), e.GetMetadata().GetCreationTimestamp()} {
		if t != nil {
			return t.AsTime()
		}
	}
	return time.Time{}
}
