package defaults

import (
	"strings"

	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/api/resource"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
)

// Upstream's default values.
const (
	DefaultSchedulerName          = "default-scheduler"
	DefaultTerminationGracePeriod = int64(30)
	DefaultTerminationMessagePath = "/dev/termination-log"
	DefaultFileMode               = int32(0644)
	DefaultClientIPTimeoutSeconds = int32(10800)
)

func init() {
	Register("Pod", func(obj proto.Message) { Pod(obj.(*corev1.Pod)) })
	Register("PodTemplate", func(obj proto.Message) {
		t := obj.(*corev1.PodTemplate)
		if t.Template != nil {
			PodTemplateSpec(t.Template)
		}
	})
	Register("ReplicationController", func(obj proto.Message) { coreReplicationController(obj.(*corev1.ReplicationController)) })
	Register("Service", func(obj proto.Message) { coreService(obj.(*corev1.Service)) })
	Register("Endpoints", func(obj proto.Message) {
		for _, ss := range obj.(*corev1.Endpoints).Subsets {
			for _, p := range ss.Ports {
				if p.Protocol == "" {
					p.Protocol = "TCP"
				}
			}
		}
	})
	Register("Namespace", func(obj proto.Message) { coreNamespace(obj.(*corev1.Namespace)) })
	Register("Secret", func(obj proto.Message) { coreSecret(obj.(*corev1.Secret)) })
	Register("Node", func(obj proto.Message) {
		n := obj.(*corev1.Node)
		if n.Spec != nil && n.Spec.PodCidr != "" && len(n.Spec.PodCidrs) == 0 {
			n.Spec.PodCidrs = []string{n.Spec.PodCidr}
		}
		if n.Spec != nil && n.Spec.PodCidr == "" && len(n.Spec.PodCidrs) > 0 {
			n.Spec.PodCidr = n.Spec.PodCidrs[0]
		}
	})
	Register("PersistentVolume", func(obj proto.Message) {
		pv := obj.(*corev1.PersistentVolume)
		if pv.Spec == nil {
			pv.Spec = &corev1.PersistentVolumeSpec{}
		}
		if pv.Spec.PersistentVolumeReclaimPolicy == "" {
			pv.Spec.PersistentVolumeReclaimPolicy = "Retain"
		}
		if pv.Spec.VolumeMode == nil {
			pv.Spec.VolumeMode = proto.String("Filesystem")
		}
		if pv.Spec.HostPath != nil && pv.Spec.HostPath.Type == nil {
			pv.Spec.HostPath.Type = proto.String("")
		}
		coreQuantities(pv.Spec.Capacity)
		if pv.Status == nil {
			pv.Status = &corev1.PersistentVolumeStatus{}
		}
		if pv.Status.Phase == "" {
			pv.Status.Phase = "Pending"
		}
	})
	Register("PersistentVolumeClaim", func(obj proto.Message) {
		pvc := obj.(*corev1.PersistentVolumeClaim)
		if pvc.Spec == nil {
			pvc.Spec = &corev1.PersistentVolumeClaimSpec{}
		}
		corePvcSpec(pvc.Spec)
		if pvc.Status == nil {
			pvc.Status = &corev1.PersistentVolumeClaimStatus{}
		}
		if pvc.Status.Phase == "" {
			pvc.Status.Phase = "Pending"
		}
	})
}

// Pod defaults a pod: its spec as PodSpec does, plus what upstream defaults on
// pods only (requests from limits, enableServiceLinks, priority).
func Pod(pod *corev1.Pod) {
	if pod.Spec == nil {
		pod.Spec = &corev1.PodSpec{}
	}
	spec := pod.Spec
	PodSpec(spec)
	for _, list := range [][]*corev1.Container{spec.InitContainers, spec.Containers} {
		for _, c := range list {
			r := c.Resources
			if r == nil || len(r.Limits) == 0 {
				continue
			}
			if r.Requests == nil {
				r.Requests = map[string]*metav1.Quantity{}
			}
			for k, v := range r.Limits {
				if _, ok := r.Requests[k]; !ok {
					r.Requests[k] = proto.Clone(v).(*metav1.Quantity)
				}
			}
		}
	}
	if spec.EnableServiceLinks == nil {
		spec.EnableServiceLinks = proto.Bool(true)
	}
	if spec.Priority == nil {
		spec.Priority = proto.Int32(0)
	}
}

// PodTemplateSpec defaults a pod template's spec in place.
func PodTemplateSpec(t *corev1.PodTemplateSpec) {
	if t == nil {
		return
	}
	if t.Spec == nil {
		t.Spec = &corev1.PodSpec{}
	}
	PodSpec(t.Spec)
}

// PodSpec defaults a pod spec in place, as upstream's SetDefaults_PodSpec and
// the defaulters of everything a pod spec holds.
func PodSpec(spec *corev1.PodSpec) {
	if spec == nil {
		return
	}
	if spec.DnsPolicy == "" {
		spec.DnsPolicy = "ClusterFirst"
	}
	if spec.RestartPolicy == "" {
		spec.RestartPolicy = "Always"
	}
	if spec.HostNetwork {
		coreHostNetworkPorts(spec.InitContainers)
		coreHostNetworkPorts(spec.Containers)
	}
	if spec.SecurityContext == nil {
		spec.SecurityContext = &corev1.PodSecurityContext{}
	}
	if spec.TerminationGracePeriodSeconds == nil {
		spec.TerminationGracePeriodSeconds = proto.Int64(DefaultTerminationGracePeriod)
	}
	if spec.SchedulerName == "" {
		spec.SchedulerName = DefaultSchedulerName
	}
	for _, v := range spec.Volumes {
		coreVolume(v)
	}
	for _, list := range [][]*corev1.Container{spec.InitContainers, spec.Containers} {
		for _, c := range list {
			coreContainer(c)
		}
	}
	for _, c := range spec.EphemeralContainers {
		if c.ImagePullPolicy == "" {
			c.ImagePullPolicy = corePullPolicy(c.Image)
		}
		if c.TerminationMessagePath == "" {
			c.TerminationMessagePath = DefaultTerminationMessagePath
		}
		if c.TerminationMessagePolicy == "" {
			c.TerminationMessagePolicy = "File"
		}
		coreEnv(c.Env)
		coreResources(c.Resources)
	}
	coreQuantities(spec.Overhead)
	coreResources(spec.Resources)
}

// hostNetworkPorts is upstream's defaultHostNetworkPorts.
func coreHostNetworkPorts(ctrs []*corev1.Container) {
	for _, c := range ctrs {
		for _, p := range c.Ports {
			if p.HostPort == 0 {
				p.HostPort = p.ContainerPort
			}
		}
	}
}

func coreContainer(c *corev1.Container) {
	if c.ImagePullPolicy == "" {
		c.ImagePullPolicy = corePullPolicy(c.Image)
	}
	if c.TerminationMessagePath == "" {
		c.TerminationMessagePath = DefaultTerminationMessagePath
	}
	if c.TerminationMessagePolicy == "" {
		c.TerminationMessagePolicy = "File"
	}
	for _, p := range c.Ports {
		if p.Protocol == "" {
			p.Protocol = "TCP"
		}
	}
	coreEnv(c.Env)
	coreResources(c.Resources)
	for _, pr := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
		coreProbe(pr)
	}
	if lc := c.Lifecycle; lc != nil {
		for _, h := range []*corev1.LifecycleHandler{lc.PostStart, lc.PreStop} {
			if h != nil {
				coreHttpGet(h.HttpGet)
			}
		}
	}
}

// pullPolicy is upstream's rule: Always for ":latest" or no tag, else
// IfNotPresent (an image pinned by digest alone counts as tagged).
func corePullPolicy(image string) string {
	if _, tag, digest := coreSplitImage(image); tag == "latest" || (tag == "" && digest == "") {
		return "Always"
	}
	return "IfNotPresent"
}

// splitImage splits "repo[:tag][@digest]"; a colon before the last slash is a
// registry port, not a tag.
func coreSplitImage(image string) (repo, tag, digest string) {
	if i := strings.Index(image, "@"); i >= 0 {
		image, digest = image[:i], image[i+1:]
	}
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		return image[:i], image[i+1:], digest
	}
	return image, "", digest
}

func coreEnv(vars []*corev1.EnvVar) {
	for _, e := range vars {
		if fr := e.GetValueFrom().GetFieldRef(); fr != nil && fr.ApiVersion == "" {
			fr.ApiVersion = "v1"
		}
	}
}

func coreProbe(p *corev1.Probe) {
	if p == nil {
		return
	}
	if p.TimeoutSeconds == 0 {
		p.TimeoutSeconds = 1
	}
	if p.PeriodSeconds == 0 {
		p.PeriodSeconds = 10
	}
	if p.SuccessThreshold == 0 {
		p.SuccessThreshold = 1
	}
	if p.FailureThreshold == 0 {
		p.FailureThreshold = 3
	}
	coreHttpGet(p.HttpGet)
}

func coreHttpGet(h *corev1.HTTPGetAction) {
	if h == nil {
		return
	}
	if h.Path == "" {
		h.Path = "/"
	}
	if h.Scheme == "" {
		h.Scheme = "HTTP"
	}
}

func coreVolume(v *corev1.Volume) {
	if v.HostPath == nil && v.EmptyDir == nil && v.Secret == nil && v.Nfs == nil && v.PersistentVolumeClaim == nil &&
		v.DownwardApi == nil && v.ConfigMap == nil && v.Projected == nil && v.Csi == nil && v.Ephemeral == nil && v.Image == nil {
		v.EmptyDir = &corev1.EmptyDirVolumeSource{}
	}
	mode := func(m **int32) {
		if *m == nil {
			*m = proto.Int32(DefaultFileMode)
		}
	}
	if v.HostPath != nil && v.HostPath.Type == nil {
		v.HostPath.Type = proto.String("")
	}
	if v.Secret != nil {
		mode(&v.Secret.DefaultMode)
	}
	if v.ConfigMap != nil {
		mode(&v.ConfigMap.DefaultMode)
	}
	if v.DownwardApi != nil {
		mode(&v.DownwardApi.DefaultMode)
		for _, f := range v.DownwardApi.Items {
			if f.FieldRef != nil && f.FieldRef.ApiVersion == "" {
				f.FieldRef.ApiVersion = "v1"
			}
		}
	}
	if v.Projected != nil {
		mode(&v.Projected.DefaultMode)
		for _, s := range v.Projected.Sources {
			if sat := s.ServiceAccountToken; sat != nil && sat.ExpirationSeconds == nil {
				sat.ExpirationSeconds = proto.Int64(3600)
			}
			if d := s.DownwardApi; d != nil {
				for _, f := range d.Items {
					if f.FieldRef != nil && f.FieldRef.ApiVersion == "" {
						f.FieldRef.ApiVersion = "v1"
					}
				}
			}
		}
	}
	if v.EmptyDir != nil && v.EmptyDir.SizeLimit != nil {
		coreQuantity(v.EmptyDir.SizeLimit)
	}
	if v.Image != nil && v.Image.PullPolicy == "" {
		v.Image.PullPolicy = corePullPolicy(v.Image.Reference)
	}
	if e := v.Ephemeral; e != nil && e.VolumeClaimTemplate != nil && e.VolumeClaimTemplate.Spec != nil {
		corePvcSpec(e.VolumeClaimTemplate.Spec)
	}
}

func corePvcSpec(s *corev1.PersistentVolumeClaimSpec) {
	if s.VolumeMode == nil {
		s.VolumeMode = proto.String("Filesystem")
	}
	if s.Resources != nil {
		coreQuantities(s.Resources.Requests)
		coreQuantities(s.Resources.Limits)
	}
}

func coreResources(r *corev1.ResourceRequirements) {
	if r == nil {
		return
	}
	coreQuantities(r.Limits)
	coreQuantities(r.Requests)
}

func coreQuantities(m map[string]*metav1.Quantity) {
	for _, q := range m {
		coreQuantity(q)
	}
}

// quantity rewrites a quantity in canonical form when it parses; a malformed
// one is left for validation to report.
func coreQuantity(q *metav1.Quantity) {
	if q == nil {
		return
	}
	if v, err := resource.ParseQuantity(q.String_); err == nil {
		q.String_ = v.String()
	}
}

// replicationController is upstream's SetDefaults_ReplicationController.
func coreReplicationController(rc *corev1.ReplicationController) {
	if rc.Spec == nil {
		rc.Spec = &corev1.ReplicationControllerSpec{}
	}
	if t := rc.Spec.Template; t != nil {
		if l := t.GetMetadata().GetLabels(); l != nil {
			if len(rc.Spec.Selector) == 0 {
				rc.Spec.Selector = coreCopyMap(l)
			}
			if rc.Metadata != nil && len(rc.Metadata.Labels) == 0 {
				rc.Metadata.Labels = coreCopyMap(l)
			}
		}
		PodTemplateSpec(t)
	}
	if rc.Spec.Replicas == nil {
		rc.Spec.Replicas = proto.Int32(1)
	}
}

func coreCopyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// service is upstream's SetDefaults_Service plus the strategy's
// clusterIP/clusterIPs normalisation.
func coreService(svc *corev1.Service) {
	if svc.Spec == nil {
		svc.Spec = &corev1.ServiceSpec{}
	}
	s := svc.Spec
	if s.SessionAffinity == "" {
		s.SessionAffinity = "None"
	}
	if s.SessionAffinity == "None" {
		s.SessionAffinityConfig = nil
	}
	if s.Type == "" {
		s.Type = "ClusterIP"
	}
	for _, p := range s.Ports {
		if p.Protocol == "" {
			p.Protocol = "TCP"
		}
		if t := p.TargetPort; t == nil || (t.Type == 0 && t.IntVal == 0) || (t.Type == 1 && t.StrVal == "") {
			p.TargetPort = &metav1.IntOrString{Type: 0, IntVal: p.Port}
		}
	}
	if s.SessionAffinity == "ClientIP" {
		if s.SessionAffinityConfig == nil {
			s.SessionAffinityConfig = &corev1.SessionAffinityConfig{}
		}
		if s.SessionAffinityConfig.ClientIp == nil {
			s.SessionAffinityConfig.ClientIp = &corev1.ClientIPConfig{}
		}
		if s.SessionAffinityConfig.ClientIp.TimeoutSeconds == nil {
			s.SessionAffinityConfig.ClientIp.TimeoutSeconds = proto.Int32(DefaultClientIPTimeoutSeconds)
		}
	}
	if s.Type == "LoadBalancer" && s.AllocateLoadBalancerNodePorts == nil {
		s.AllocateLoadBalancerNodePorts = proto.Bool(true)
	}
	externallyAccessible := s.Type == "LoadBalancer" || s.Type == "NodePort" || (s.Type == "ClusterIP" && len(s.ExternalIps) > 0)
	if externallyAccessible && s.ExternalTrafficPolicy == "" {
		s.ExternalTrafficPolicy = "Cluster"
	}
	if s.Type != "ExternalName" {
		if s.InternalTrafficPolicy == nil {
			s.InternalTrafficPolicy = proto.String("Cluster")
		}
		if s.IpFamilyPolicy == nil {
			s.IpFamilyPolicy = proto.String("SingleStack")
		}
		if s.ClusterIp != "" && len(s.ClusterIps) == 0 {
			s.ClusterIps = []string{s.ClusterIp}
		} else if s.ClusterIp == "" && len(s.ClusterIps) > 0 {
			s.ClusterIp = s.ClusterIps[0]
		}
	}
}

// namespace sets the kubernetes.io/metadata.name label (SetDefaults_Namespace)
// and, on create (status is still empty), the "kubernetes" finalizer and phase
// Active as upstream's namespace strategy does.
func coreNamespace(ns *corev1.Namespace) {
	if md := ns.Metadata; md != nil && md.Name != "" {
		if md.Labels == nil {
			md.Labels = map[string]string{}
		}
		md.Labels["kubernetes.io/metadata.name"] = md.Name
	}
	if ns.Status == nil {
		ns.Status = &corev1.NamespaceStatus{}
	}
	if ns.Status.Phase == "" {
		if ns.Spec == nil {
			ns.Spec = &corev1.NamespaceSpec{}
		}
		found := false
		for _, f := range ns.Spec.Finalizers {
			found = found || f == "kubernetes"
		}
		if !found {
			ns.Spec.Finalizers = append(ns.Spec.Finalizers, "kubernetes")
		}
		ns.Status.Phase = "Active"
	}
}

// secret defaults type Opaque and merges stringData into data (stringData
// wins), as upstream's v1 conversion does; stringData is write-only.
func coreSecret(s *corev1.Secret) {
	if s.Type == "" {
		s.Type = "Opaque"
	}
	if len(s.StringData) > 0 {
		if s.Data == nil {
			s.Data = map[string][]byte{}
		}
		for k, v := range s.StringData {
			s.Data[k] = []byte(v)
		}
	}
	s.StringData = nil
}
