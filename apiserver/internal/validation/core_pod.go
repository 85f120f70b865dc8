package validation

import (
	"fmt"
	"math"
	"strings"

	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
)

func init() {
	Register("Pod", nil, func(obj, old proto.Message) field.ErrorList {
		pod := obj.(*corev1.Pod)
		if old == nil {
			return ValidatePodSpec(pod.GetSpec(), field.NewPath("spec"))
		}
		return coreValidatePodUpdate(pod, old.(*corev1.Pod))
	})
	RegisterStatus("Pod", func(obj, old proto.Message) field.ErrorList {
		var oldStatus *corev1.PodStatus
		if old != nil {
			oldStatus = old.(*corev1.Pod).GetStatus()
		}
		return coreValidatePodStatus(obj.(*corev1.Pod).GetStatus(), oldStatus, field.NewPath("status"))
	})
	Register("PodTemplate", nil, func(obj, old proto.Message) field.ErrorList {
		return ValidatePodTemplateSpec(obj.(*corev1.PodTemplate).GetTemplate(), field.NewPath("template"))
	})
}

// ValidatePodTemplateSpec checks a pod template's labels, annotations and spec.
func ValidatePodTemplateSpec(t *corev1.PodTemplateSpec, fld *field.Path) field.ErrorList {
	if t == nil {
		return field.ErrorList{field.Required(fld, "")}
	}
	var errs field.ErrorList
	if md := t.GetMetadata(); md != nil {
		errs = append(errs, ValidateLabels(md.Labels, fld.Child("metadata", "labels"))...)
		errs = append(errs, ValidateAnnotations(md.Annotations, fld.Child("metadata", "annotations"))...)
	}
	errs = append(errs, ValidatePodSpec(t.GetSpec(), fld.Child("spec"))...)
	if len(t.GetSpec().GetEphemeralContainers()) > 0 {
		errs = append(errs, field.Forbidden(fld.Child("spec", "ephemeralContainers"), "ephemeral containers not allowed in pod template"))
	}
	return errs
}

var (
	coreRestartPolicies   = []string{"Always", "Never", "OnFailure"}
	coreDNSPolicies       = []string{"ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"}
	corePullPolicies      = []string{"Always", "IfNotPresent", "Never"}
	coreProtocols         = []string{"SCTP", "TCP", "UDP"}
	coreTermMsgPolicies   = []string{"FallbackToLogsOnError", "File"}
	coreHostPathTypes     = []string{"", "BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate", "File", "FileOrCreate", "Socket"}
	coreEnvFieldPaths     = []string{"metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName", "spec.serviceAccountName", "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs"}
	coreVolumeFieldPaths  = []string{"metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace", "metadata.uid"}
	coreResourceFieldRefs = []string{"limits.cpu", "limits.ephemeral-storage", "limits.memory", "requests.cpu", "requests.ephemeral-storage", "requests.memory"}
)

const (
	coreMaxDNSNameservers     = 3
	coreMaxDNSSearchPaths     = 32
	coreMaxDNSSearchListChars = 2048
)

// ValidatePodSpec checks a pod spec, as upstream's ValidatePodSpec.
func ValidatePodSpec(spec *corev1.PodSpec, fld *field.Path) field.ErrorList {
	if spec == nil {
		return field.ErrorList{field.Required(fld, "")}
	}
	var errs field.ErrorList
	vols, volErrs := coreVolumes(spec.Volumes, fld.Child("volumes"))
	errs = append(errs, volErrs...)

	names := map[string]bool{}
	errs = append(errs, coreContainers(spec.InitContainers, true, vols, names, spec, fld.Child("initContainers"))...)
	if len(spec.Containers) == 0 {
		errs = append(errs, field.Required(fld.Child("containers"), ""))
	}
	errs = append(errs, coreContainers(spec.Containers, false, vols, names, spec, fld.Child("containers"))...)
	errs = append(errs, coreEphemeralContainers(spec.EphemeralContainers, names, fld.Child("ephemeralContainers"))...)
	errs = append(errs, coreHostPorts(spec, fld)...)

	if !coreOneOf(spec.RestartPolicy, coreRestartPolicies...) {
		if spec.RestartPolicy == "" {
			errs = append(errs, field.Required(fld.Child("restartPolicy"), ""))
		} else {
			errs = append(errs, coreNotSupported(fld.Child("restartPolicy"), spec.RestartPolicy, coreRestartPolicies...))
		}
	}
	errs = append(errs, coreDNSPolicyAndConfig(spec, fld)...)
	errs = append(errs, ValidateLabels(spec.NodeSelector, fld.Child("nodeSelector"))...)
	if spec.ServiceAccountName != "" {
		errs = append(errs, coreDNSSubdomain(spec.ServiceAccountName, fld.Child("serviceAccountName"))...)
	}
	if spec.NodeName != "" {
		errs = append(errs, coreDNSSubdomain(spec.NodeName, fld.Child("nodeName"))...)
	}
	errs = append(errs, corePodSecurityContext(spec, fld.Child("securityContext"))...)
	for i, s := range spec.ImagePullSecrets {
		if s.GetName() == "" {
			errs = append(errs, field.Required(fld.Child("imagePullSecrets").Index(i).Child("name"), ""))
		}
	}
	if spec.Hostname != "" {
		errs = append(errs, coreDNSLabel(spec.Hostname, fld.Child("hostname"))...)
	}
	if spec.Subdomain != "" {
		errs = append(errs, coreDNSLabel(spec.Subdomain, fld.Child("subdomain"))...)
	}
	if spec.GetSetHostnameAsFqdn() && spec.Hostname == "" && spec.Subdomain == "" {
		// upstream only rejects it when the resulting FQDN is too long; nothing to check here.
	}
	errs = append(errs, coreAffinity(spec.Affinity, fld.Child("affinity"))...)
	if spec.SchedulerName != "" {
		errs = append(errs, coreDNSSubdomain(spec.SchedulerName, fld.Child("schedulerName"))...)
	}
	errs = append(errs, coreTolerations(spec.Tolerations, fld.Child("tolerations"))...)
	for i, ha := range spec.HostAliases {
		p := fld.Child("hostAliases").Index(i)
		errs = append(errs, coreIP(ha.Ip, p.Child("ip"))...)
		for j, h := range ha.Hostnames {
			errs = append(errs, coreDNSSubdomain(h, p.Child("hostnames").Index(j))...)
		}
	}
	if spec.PriorityClassName != "" {
		errs = append(errs, coreDNSSubdomain(spec.PriorityClassName, fld.Child("priorityClassName"))...)
	}
	for i, g := range spec.ReadinessGates {
		errs = append(errs, coreQualifiedName(g.ConditionType, fld.Child("readinessGates").Index(i).Child("conditionType"))...)
	}
	if spec.RuntimeClassName != nil {
		errs = append(errs, coreDNSSubdomain(spec.GetRuntimeClassName(), fld.Child("runtimeClassName"))...)
	}
	if spec.PreemptionPolicy != nil && !coreOneOf(spec.GetPreemptionPolicy(), "Never", "PreemptLowerPriority") {
		errs = append(errs, coreNotSupported(fld.Child("preemptionPolicy"), spec.GetPreemptionPolicy(), "Never", "PreemptLowerPriority"))
	}
	for name, q := range spec.Overhead {
		errs = append(errs, coreResourceQuantity(name, q, fld.Child("overhead").Key(name))...)
	}
	errs = append(errs, coreTopologySpread(spec.TopologySpreadConstraints, fld.Child("topologySpreadConstraints"))...)
	if spec.Os != nil && !coreOneOf(spec.Os.Name, "linux", "windows") {
		errs = append(errs, coreNotSupported(fld.Child("os", "name"), spec.Os.Name, "linux", "windows"))
	}
	gates := map[string]bool{}
	for i, g := range spec.SchedulingGates {
		p := fld.Child("schedulingGates").Index(i)
		errs = append(errs, coreQualifiedName(g.Name, p)...)
		if gates[g.Name] {
			errs = append(errs, field.Duplicate(p, g.Name))
		}
		gates[g.Name] = true
	}
	if spec.TerminationGracePeriodSeconds != nil {
		errs = append(errs, coreNonNegative(spec.GetTerminationGracePeriodSeconds(), fld.Child("terminationGracePeriodSeconds"))...)
	}
	if spec.ActiveDeadlineSeconds != nil {
		if v := spec.GetActiveDeadlineSeconds(); v < 1 || v > math.MaxUint32 {
			errs = append(errs, field.Invalid(fld.Child("activeDeadlineSeconds"), v, validation.InclusiveRangeError(1, math.MaxUint32)))
		}
	}
	if spec.GetShareProcessNamespace() && spec.HostPid {
		errs = append(errs, field.Invalid(fld.Child("shareProcessNamespace"), true, "ShareProcessNamespace and HostPID cannot both be enabled"))
	}
	if spec.Resources != nil {
		errs = append(errs, coreResourceRequirements(spec.Resources, true, fld.Child("resources"))...)
	}
	return errs
}

// coreVolumes is upstream's ValidateVolumes; it returns the volumes by name.
func coreVolumes(vols []*corev1.Volume, fld *field.Path) (map[string]*corev1.Volume, field.ErrorList) {
	var errs field.ErrorList
	byName := map[string]*corev1.Volume{}
	for i, v := range vols {
		p := fld.Index(i)
		namePath := p.Child("name")
		errs = append(errs, coreVolumeSource(v, p)...)
		if v.Name == "" {
			errs = append(errs, field.Required(namePath, ""))
		} else {
			errs = append(errs, coreDNSLabel(v.Name, namePath)...)
		}
		if _, dup := byName[v.Name]; dup {
			errs = append(errs, field.Duplicate(namePath, v.Name))
		}
		byName[v.Name] = v
	}
	return byName, errs
}

func coreVolumeSource(v *corev1.Volume, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	n := 0
	one := func(set bool, name string, check func(*field.Path) field.ErrorList) {
		if !set {
			return
		}
		if n > 0 {
			errs = append(errs, field.Forbidden(fld.Child(name), "may not specify more than 1 volume type"))
			return
		}
		n++
		errs = append(errs, check(fld.Child(name))...)
	}
	one(v.HostPath != nil, "hostPath", func(p *field.Path) field.ErrorList {
		var e field.ErrorList
		if v.HostPath.Path == "" {
			e = append(e, field.Required(p.Child("path"), ""))
		} else {
			e = append(e, coreNoBacksteps(v.HostPath.Path, p.Child("path"))...)
		}
		if t := v.HostPath.GetType(); !coreOneOf(t, coreHostPathTypes...) {
			e = append(e, coreNotSupported(p.Child("type"), t, coreHostPathTypes...))
		}
		return e
	})
	one(v.EmptyDir != nil, "emptyDir", func(p *field.Path) field.ErrorList {
		var e field.ErrorList
		m := v.EmptyDir.Medium
		if m != "" && m != "Memory" && m != "HugePages" && !strings.HasPrefix(m, "HugePages-") {
			e = append(e, coreNotSupported(p.Child("medium"), m, "", "HugePages", "Memory"))
		}
		if v.EmptyDir.SizeLimit != nil {
			q, qe := coreParseQuantity(v.EmptyDir.SizeLimit, p.Child("sizeLimit"))
			e = append(e, qe...)
			if qe == nil && q.Sign() < 0 {
				e = append(e, field.Forbidden(p.Child("sizeLimit"), "SizeLimit field must be a valid resource quantity"))
			}
		}
		return e
	})
	one(v.Secret != nil, "secret", func(p *field.Path) field.ErrorList {
		var e field.ErrorList
		if v.Secret.SecretName == "" {
			e = append(e, field.Required(p.Child("secretName"), ""))
		} else {
			e = append(e, coreDNSSubdomain(v.Secret.SecretName, p.Child("secretName"))...)
		}
		e = append(e, coreFileMode(v.Secret.DefaultMode, p.Child("defaultMode"))...)
		for i, kp := range v.Secret.Items {
			e = append(e, coreKeyToPath(kp, p.Child("items").Index(i))...)
		}
		return e
	})
	one(v.ConfigMap != nil, "configMap", func(p *field.Path) field.ErrorList {
		var e field.ErrorList
		if v.ConfigMap.Name == "" {
			e = append(e, field.Required(p.Child("name"), ""))
		} else {
			e = append(e, coreDNSSubdomain(v.ConfigMap.Name, p.Child("name"))...)
		}
		e = append(e, coreFileMode(v.ConfigMap.DefaultMode, p.Child("defaultMode"))...)
		for i, kp := range v.ConfigMap.Items {
			e = append(e, coreKeyToPath(kp, p.Child("items").Index(i))...)
		}
		return e
	})
	one(v.Nfs != nil, "nfs", func(p *field.Path) field.ErrorList { return coreNFS(v.Nfs, p) })
	one(v.PersistentVolumeClaim != nil, "persistentVolumeClaim", func(p *field.Path) field.ErrorList {
		if v.PersistentVolumeClaim.ClaimName == "" {
			return field.ErrorList{field.Required(p.Child("claimName"), "")}
		}
		return nil
	})
	one(v.DownwardApi != nil, "downwardAPI", func(p *field.Path) field.ErrorList {
		e := coreFileMode(v.DownwardApi.DefaultMode, p.Child("defaultMode"))
		for i, f := range v.DownwardApi.Items {
			e = append(e, coreDownwardAPIFile(f, p.Child("items").Index(i))...)
		}
		return e
	})
	one(v.Projected != nil, "projected", func(p *field.Path) field.ErrorList { return coreProjected(v.Projected, p) })
	one(v.Csi != nil, "csi", func(p *field.Path) field.ErrorList {
		if v.Csi.Driver == "" {
			return field.ErrorList{field.Required(p.Child("driver"), "")}
		}
		return coreDNSSubdomain(v.Csi.Driver, p.Child("driver"))
	})
	one(v.Ephemeral != nil, "ephemeral", func(p *field.Path) field.ErrorList {
		t := v.Ephemeral.VolumeClaimTemplate
		if t == nil {
			return field.ErrorList{field.Required(p.Child("volumeClaimTemplate"), "")}
		}
		var e field.ErrorList
		if md := t.Metadata; md != nil {
			e = append(e, ValidateLabels(md.Labels, p.Child("volumeClaimTemplate", "metadata", "labels"))...)
			e = append(e, ValidateAnnotations(md.Annotations, p.Child("volumeClaimTemplate", "metadata", "annotations"))...)
		}
		return append(e, corePVCSpec(t.Spec, p.Child("volumeClaimTemplate", "spec"))...)
	})
	one(v.Image != nil, "image", func(p *field.Path) field.ErrorList {
		var e field.ErrorList
		if v.Image.Reference == "" {
			e = append(e, field.Required(p.Child("reference"), ""))
		}
		if pp := v.Image.PullPolicy; pp != "" && !coreOneOf(pp, corePullPolicies...) {
			e = append(e, coreNotSupported(p.Child("pullPolicy"), pp, corePullPolicies...))
		}
		return e
	})
	if n == 0 {
		errs = append(errs, field.Required(fld, "must specify a volume type"))
	}
	return errs
}

func coreNFS(nfs *corev1.NFSVolumeSource, p *field.Path) field.ErrorList {
	var e field.ErrorList
	if nfs.Server == "" {
		e = append(e, field.Required(p.Child("server"), ""))
	}
	if nfs.Path == "" {
		e = append(e, field.Required(p.Child("path"), ""))
	} else if !strings.HasPrefix(nfs.Path, "/") {
		e = append(e, field.Invalid(p.Child("path"), nfs.Path, "must be an absolute path"))
	}
	return e
}

func coreFileMode(mode *int32, fld *field.Path) field.ErrorList {
	if mode != nil && (*mode > 0777 || *mode < 0) {
		return field.ErrorList{field.Invalid(fld, *mode, coreFileModeErrorMsg)}
	}
	return nil
}

func coreKeyToPath(kp *corev1.KeyToPath, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if kp.Key == "" {
		errs = append(errs, field.Required(fld.Child("key"), ""))
	}
	if kp.Path == "" {
		errs = append(errs, field.Required(fld.Child("path"), ""))
	}
	errs = append(errs, coreLocalNonReservedPath(kp.Path, fld.Child("path"))...)
	return append(errs, coreFileMode(kp.Mode, fld.Child("mode"))...)
}

func coreDownwardAPIFile(f *corev1.DownwardAPIVolumeFile, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if f.Path == "" {
		errs = append(errs, field.Required(fld.Child("path"), ""))
	}
	errs = append(errs, coreLocalNonReservedPath(f.Path, fld.Child("path"))...)
	switch {
	case f.FieldRef != nil && f.ResourceFieldRef != nil:
		errs = append(errs, field.Invalid(fld, "resource", "fieldRef and resourceFieldRef can not be specified simultaneously"))
	case f.FieldRef != nil:
		errs = append(errs, coreObjectFieldSelector(f.FieldRef, coreVolumeFieldPaths, fld.Child("fieldRef"))...)
	case f.ResourceFieldRef != nil:
		errs = append(errs, coreResourceFieldSelector(f.ResourceFieldRef, true, fld.Child("resourceFieldRef"))...)
	default:
		errs = append(errs, field.Required(fld, "one of fieldRef and resourceFieldRef is required"))
	}
	return append(errs, coreFileMode(f.Mode, fld.Child("mode"))...)
}

func coreProjected(pr *corev1.ProjectedVolumeSource, fld *field.Path) field.ErrorList {
	errs := coreFileMode(pr.DefaultMode, fld.Child("defaultMode"))
	for i, s := range pr.Sources {
		p := fld.Child("sources").Index(i)
		n := 0
		if s.Secret != nil {
			n++
			if s.Secret.Name == "" {
				errs = append(errs, field.Required(p.Child("secret", "name"), ""))
			}
			for j, kp := range s.Secret.Items {
				errs = append(errs, coreKeyToPath(kp, p.Child("secret", "items").Index(j))...)
			}
		}
		if s.ConfigMap != nil {
			if n > 0 {
				errs = append(errs, field.Forbidden(p, "may not specify more than 1 volume type per source"))
			}
			n++
			if s.ConfigMap.Name == "" {
				errs = append(errs, field.Required(p.Child("configMap", "name"), ""))
			}
			for j, kp := range s.ConfigMap.Items {
				errs = append(errs, coreKeyToPath(kp, p.Child("configMap", "items").Index(j))...)
			}
		}
		if s.DownwardApi != nil {
			if n > 0 {
				errs = append(errs, field.Forbidden(p, "may not specify more than 1 volume type per source"))
			}
			n++
			for j, f := range s.DownwardApi.Items {
				errs = append(errs, coreDownwardAPIFile(f, p.Child("downwardAPI", "items").Index(j))...)
			}
		}
		if sat := s.ServiceAccountToken; sat != nil {
			if n > 0 {
				errs = append(errs, field.Forbidden(p, "may not specify more than 1 volume type per source"))
			}
			n++
			sp := p.Child("serviceAccountToken")
			if sat.ExpirationSeconds != nil {
				if e := sat.GetExpirationSeconds(); e < 10*60 {
					errs = append(errs, field.Invalid(sp.Child("expirationSeconds"), e, "may not specify a duration less than 10 minutes"))
				} else if e > 1<<32 {
					errs = append(errs, field.Invalid(sp.Child("expirationSeconds"), e, "may not specify a duration larger than 2^32 seconds"))
				}
			}
			if sat.Path == "" {
				errs = append(errs, field.Required(sp.Child("path"), ""))
			}
		}
		if s.ClusterTrustBundle != nil || s.PodCertificate != nil {
			if n > 0 {
				errs = append(errs, field.Forbidden(p, "may not specify more than 1 volume type per source"))
			}
			n++
		}
		if n == 0 {
			errs = append(errs, field.Required(p, "must specify exactly 1 volume type"))
		}
	}
	return errs
}

// coreContainers checks init or app containers; names collects names across
// all container lists so duplicates between them are caught.
func coreContainers(ctrs []*corev1.Container, init bool, vols map[string]*corev1.Volume, names map[string]bool, spec *corev1.PodSpec, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, c := range ctrs {
		p := fld.Index(i)
		namePath := p.Child("name")
		if c.Name == "" {
			errs = append(errs, field.Required(namePath, ""))
		} else {
			errs = append(errs, coreDNSLabel(c.Name, namePath)...)
		}
		if names[c.Name] {
			errs = append(errs, field.Duplicate(namePath, c.Name))
		} else if c.Name != "" {
			names[c.Name] = true
		}
		if c.Image == "" {
			errs = append(errs, field.Required(p.Child("image"), ""))
		} else if strings.TrimSpace(c.Image) != c.Image {
			errs = append(errs, field.Invalid(p.Child("image"), c.Image, "must not have leading or trailing whitespace"))
		}
		if c.Lifecycle != nil {
			errs = append(errs, coreLifecycle(c.Lifecycle, p.Child("lifecycle"))...)
		}
		errs = append(errs, coreContainerPorts(c.Ports, p.Child("ports"))...)
		errs = append(errs, coreEnv(c.Env, p.Child("env"))...)
		errs = append(errs, coreEnvFrom(c.EnvFrom, p.Child("envFrom"))...)
		errs = append(errs, coreVolumeMounts(c.VolumeMounts, c.VolumeDevices, vols, c, p.Child("volumeMounts"))...)
		errs = append(errs, coreVolumeDevices(c.VolumeDevices, vols, p.Child("volumeDevices"))...)
		if c.TerminationMessagePolicy == "" {
			errs = append(errs, field.Required(p.Child("terminationMessagePolicy"), "must be 'File' or 'FallbackToLogsOnError'"))
		} else if !coreOneOf(c.TerminationMessagePolicy, coreTermMsgPolicies...) {
			errs = append(errs, field.Invalid(p.Child("terminationMessagePolicy"), c.TerminationMessagePolicy, "must be 'File' or 'FallbackToLogsOnError'"))
		}
		errs = append(errs, corePullPolicy(c.ImagePullPolicy, p.Child("imagePullPolicy"))...)
		errs = append(errs, coreResourceRequirements(c.Resources, false, p.Child("resources"))...)
		errs = append(errs, coreSecurityContext(c.SecurityContext, p.Child("securityContext"))...)

		restartable := init && c.GetRestartPolicy() == "Always"
		if c.RestartPolicy != nil {
			if init {
				if !coreOneOf(c.GetRestartPolicy(), "Always") {
					errs = append(errs, coreNotSupported(p.Child("restartPolicy"), c.GetRestartPolicy(), "Always"))
				}
			} else if !coreOneOf(c.GetRestartPolicy(), coreRestartPolicies...) {
				errs = append(errs, coreNotSupported(p.Child("restartPolicy"), c.GetRestartPolicy(), coreRestartPolicies...))
			}
		}
		if init && !restartable {
			// Regular init containers run to completion: upstream forbids probes and lifecycle on them.
			if c.Lifecycle != nil {
				errs = append(errs, field.Forbidden(p.Child("lifecycle"), "may not be set for init containers without restartPolicy=Always"))
			}
			if c.LivenessProbe != nil {
				errs = append(errs, field.Forbidden(p.Child("livenessProbe"), "may not be set for init containers without restartPolicy=Always"))
			}
			if c.ReadinessProbe != nil {
				errs = append(errs, field.Forbidden(p.Child("readinessProbe"), "may not be set for init containers without restartPolicy=Always"))
			}
			if c.StartupProbe != nil {
				errs = append(errs, field.Forbidden(p.Child("startupProbe"), "may not be set for init containers without restartPolicy=Always"))
			}
			continue
		}
		grace := spec.TerminationGracePeriodSeconds
		errs = append(errs, coreProbe(c.LivenessProbe, c, grace, p.Child("livenessProbe"))...)
		if c.LivenessProbe != nil && c.LivenessProbe.SuccessThreshold != 1 {
			errs = append(errs, field.Invalid(p.Child("livenessProbe", "successThreshold"), c.LivenessProbe.SuccessThreshold, "must be 1"))
		}
		errs = append(errs, coreProbe(c.ReadinessProbe, c, grace, p.Child("readinessProbe"))...)
		if c.ReadinessProbe != nil && c.ReadinessProbe.TerminationGracePeriodSeconds != nil {
			errs = append(errs, field.Invalid(p.Child("readinessProbe", "terminationGracePeriodSeconds"), c.ReadinessProbe.GetTerminationGracePeriodSeconds(), "must not be set for readinessProbes"))
		}
		errs = append(errs, coreProbe(c.StartupProbe, c, grace, p.Child("startupProbe"))...)
		if c.StartupProbe != nil && c.StartupProbe.SuccessThreshold != 1 {
			errs = append(errs, field.Invalid(p.Child("startupProbe", "successThreshold"), c.StartupProbe.SuccessThreshold, "must be 1"))
		}
	}
	return errs
}

func coreEphemeralContainers(ctrs []*corev1.EphemeralContainer, names map[string]bool, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, c := range ctrs {
		p := fld.Index(i)
		if c.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		} else {
			errs = append(errs, coreDNSLabel(c.Name, p.Child("name"))...)
		}
		if names[c.Name] {
			errs = append(errs, field.Duplicate(p.Child("name"), c.Name))
		} else if c.Name != "" {
			names[c.Name] = true
		}
		if c.Image == "" {
			errs = append(errs, field.Required(p.Child("image"), ""))
		}
		if c.TargetContainerName != "" && !names[c.TargetContainerName] {
			errs = append(errs, field.NotFound(p.Child("targetContainerName"), c.TargetContainerName))
		}
		for _, f := range []struct {
			set  bool
			name string
		}{{len(c.Ports) > 0, "ports"}, {c.LivenessProbe != nil, "livenessProbe"}, {c.ReadinessProbe != nil, "readinessProbe"}, {c.StartupProbe != nil, "startupProbe"}, {c.Lifecycle != nil, "lifecycle"}} {
			if f.set {
				errs = append(errs, field.Forbidden(p.Child(f.name), "cannot be set for an Ephemeral Container"))
			}
		}
		errs = append(errs, coreEnv(c.Env, p.Child("env"))...)
	}
	return errs
}

func corePullPolicy(pp string, fld *field.Path) field.ErrorList {
	if pp == "" {
		return field.ErrorList{field.Required(fld, "")}
	}
	if !coreOneOf(pp, corePullPolicies...) {
		return field.ErrorList{coreNotSupported(fld, pp, corePullPolicies...)}
	}
	return nil
}

// coreContainerPorts is upstream's validateContainerPorts.
func coreContainerPorts(ports []*corev1.ContainerPort, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := map[string]bool{}
	for i, port := range ports {
		p := fld.Index(i)
		if port.Name != "" {
			if msgs := validation.IsValidPortName(port.Name); len(msgs) != 0 {
				for _, msg := range msgs {
					errs = append(errs, field.Invalid(p.Child("name"), port.Name, msg))
				}
			} else if names[port.Name] {
				errs = append(errs, field.Duplicate(p.Child("name"), port.Name))
			} else {
				names[port.Name] = true
			}
		}
		if port.ContainerPort == 0 {
			errs = append(errs, field.Required(p.Child("containerPort"), ""))
		} else {
			for _, msg := range validation.IsValidPortNum(int(port.ContainerPort)) {
				errs = append(errs, field.Invalid(p.Child("containerPort"), port.ContainerPort, msg))
			}
		}
		if port.HostPort != 0 {
			for _, msg := range validation.IsValidPortNum(int(port.HostPort)) {
				errs = append(errs, field.Invalid(p.Child("hostPort"), port.HostPort, msg))
			}
		}
		if port.Protocol == "" {
			errs = append(errs, field.Required(p.Child("protocol"), ""))
		} else if !coreOneOf(port.Protocol, coreProtocols...) {
			errs = append(errs, coreNotSupported(p.Child("protocol"), port.Protocol, coreProtocols...))
		}
		if port.HostIp != "" {
			errs = append(errs, validation.IsValidIP(p.Child("hostIP"), port.HostIp)...)
		}
	}
	return errs
}

// coreHostPorts is upstream's AccumulateUniqueHostPorts over all containers,
// plus the hostNetwork rule that hostPort must equal containerPort.
func coreHostPorts(spec *corev1.PodSpec, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := map[string]bool{}
	check := func(ctrs []*corev1.Container, p *field.Path) {
		for ci, c := range ctrs {
			for pi, port := range c.Ports {
				pp := p.Index(ci).Child("ports").Index(pi)
				if spec.HostNetwork && port.HostPort != 0 && port.HostPort != port.ContainerPort {
					errs = append(errs, field.Invalid(pp.Child("hostPort"), port.HostPort, "must match `containerPort` when `hostNetwork` is true"))
				}
				if port.HostPort == 0 {
					continue
				}
				key := fmt.Sprintf("%s/%s/%d", port.HostIp, port.Protocol, port.HostPort)
				if seen[key] {
					errs = append(errs, field.Duplicate(pp.Child("hostPort"), fmt.Sprintf("%d/%s", port.HostPort, port.Protocol)))
				}
				seen[key] = true
			}
		}
	}
	check(spec.InitContainers, fld.Child("initContainers"))
	check(spec.Containers, fld.Child("containers"))
	return errs
}

// coreEnv is upstream's ValidateEnv.
func coreEnv(env []*corev1.EnvVar, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, ev := range env {
		p := fld.Index(i)
		if ev.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		} else {
			for _, msg := range validation.IsRelaxedEnvVarName(ev.Name) {
				errs = append(errs, field.Invalid(p.Child("name"), ev.Name, msg))
			}
		}
		errs = append(errs, coreEnvValueFrom(ev, p.Child("valueFrom"))...)
	}
	return errs
}

func coreEnvValueFrom(ev *corev1.EnvVar, fld *field.Path) field.ErrorList {
	vf := ev.ValueFrom
	if vf == nil {
		return nil
	}
	var errs field.ErrorList
	n := 0
	if vf.FieldRef != nil {
		n++
		errs = append(errs, coreObjectFieldSelector(vf.FieldRef, coreEnvFieldPaths, fld.Child("fieldRef"))...)
	}
	if vf.ResourceFieldRef != nil {
		n++
		errs = append(errs, coreResourceFieldSelector(vf.ResourceFieldRef, false, fld.Child("resourceFieldRef"))...)
	}
	if vf.ConfigMapKeyRef != nil {
		n++
		errs = append(errs, coreKeySelector(vf.ConfigMapKeyRef.Name, vf.ConfigMapKeyRef.Key, fld.Child("configMapKeyRef"))...)
	}
	if vf.SecretKeyRef != nil {
		n++
		errs = append(errs, coreKeySelector(vf.SecretKeyRef.Name, vf.SecretKeyRef.Key, fld.Child("secretKeyRef"))...)
	}
	if vf.FileKeyRef != nil {
		n++
		fp := fld.Child("fileKeyRef")
		if vf.FileKeyRef.VolumeName == "" {
			errs = append(errs, field.Required(fp.Child("volumeName"), ""))
		}
		if vf.FileKeyRef.Path == "" {
			errs = append(errs, field.Required(fp.Child("path"), ""))
		} else {
			errs = append(errs, coreLocalNonReservedPath(vf.FileKeyRef.Path, fp.Child("path"))...)
		}
		if vf.FileKeyRef.Key == "" {
			errs = append(errs, field.Required(fp.Child("key"), ""))
		}
	}
	switch {
	case n == 0:
		errs = append(errs, field.Invalid(fld, "", "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef`, `secretKeyRef` or `fileKeyRef`"))
	case ev.Value != "":
		errs = append(errs, field.Invalid(fld, "", "may not be specified when `value` is not empty"))
	case n > 1:
		errs = append(errs, field.Invalid(fld, "", "may not have more than one field specified at a time"))
	}
	return errs
}

func coreKeySelector(name, key string, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsDNS1123Subdomain(name) {
		errs = append(errs, field.Invalid(fld.Child("name"), name, msg))
	}
	if key == "" {
		errs = append(errs, field.Required(fld.Child("key"), ""))
	} else {
		for _, msg := range validation.IsConfigMapKey(key) {
			errs = append(errs, field.Invalid(fld.Child("key"), key, msg))
		}
	}
	return errs
}

// coreSplitSubscript is upstream's fieldpath.SplitMaybeSubscriptedPath.
func coreSplitSubscript(fp string) (string, string, bool) {
	if !strings.HasSuffix(fp, "']") {
		return fp, "", false
	}
	parts := strings.SplitN(strings.TrimSuffix(fp, "']"), "['", 2)
	if len(parts) < 2 || parts[0] == "" {
		return fp, "", false
	}
	return parts[0], parts[1], true
}

// coreObjectFieldSelector is upstream's validateObjectFieldSelector.
func coreObjectFieldSelector(fs *corev1.ObjectFieldSelector, allowed []string, fld *field.Path) field.ErrorList {
	if fs.ApiVersion == "" {
		return field.ErrorList{field.Required(fld.Child("apiVersion"), "")}
	}
	if fs.FieldPath == "" {
		return field.ErrorList{field.Required(fld.Child("fieldPath"), "")}
	}
	if fs.ApiVersion != "v1" {
		return field.ErrorList{field.Invalid(fld.Child("fieldPath"), fs.FieldPath, "error converting fieldPath: unsupported pod version: "+fs.ApiVersion)}
	}
	if path, sub, ok := coreSplitSubscript(fs.FieldPath); ok {
		switch path {
		case "metadata.annotations":
			return coreQualifiedName(strings.ToLower(sub), fld)
		case "metadata.labels":
			return coreQualifiedName(sub, fld)
		default:
			return field.ErrorList{field.Invalid(fld.Child("fieldPath"), fs.FieldPath, "error converting fieldPath: field label does not support subscript: "+fs.FieldPath)}
		}
	}
	if !coreOneOf(fs.FieldPath, allowed...) {
		return field.ErrorList{coreNotSupported(fld.Child("fieldPath"), fs.FieldPath, allowed...)}
	}
	return nil
}

// coreResourceFieldSelector is upstream's validateContainerResourceFieldSelector.
func coreResourceFieldSelector(fs *corev1.ResourceFieldSelector, volume bool, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if volume && fs.ContainerName == "" {
		errs = append(errs, field.Required(fld.Child("containerName"), ""))
	}
	switch {
	case fs.Resource == "":
		errs = append(errs, field.Required(fld.Child("resource"), ""))
	case coreOneOf(fs.Resource, coreResourceFieldRefs...), strings.HasPrefix(fs.Resource, "limits.hugepages-"), strings.HasPrefix(fs.Resource, "requests.hugepages-"):
	default:
		errs = append(errs, coreNotSupported(fld.Child("resource"), fs.Resource, coreResourceFieldRefs...))
	}
	if fs.Divisor != nil && fs.Divisor.String_ != "" {
		q, qe := coreParseQuantity(fs.Divisor, fld.Child("divisor"))
		errs = append(errs, qe...)
		if qe == nil && q.Sign() != 0 {
			var ok []string
			if strings.HasSuffix(fs.Resource, ".cpu") {
				ok = []string{"1m", "1"}
			} else {
				ok = []string{"1", "1k", "1M", "1G", "1T", "1P", "1E", "1Ki", "1Mi", "1Gi", "1Ti", "1Pi", "1Ei"}
			}
			valid := false
			for _, s := range ok {
				if q.Cmp(resource.MustParse(s)) == 0 {
					valid = true
				}
			}
			if !valid {
				msg := "only divisor's values 1m and 1 are supported with the cpu resource"
				if !strings.HasSuffix(fs.Resource, ".cpu") {
					msg = "only divisor's values 1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei are supported with the memory resource"
				}
				errs = append(errs, field.Invalid(fld.Child("divisor"), fs.Divisor.String_, msg))
			}
		}
	}
	return errs
}

func coreEnvFrom(vars []*corev1.EnvFromSource, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, ev := range vars {
		p := fld.Index(i)
		if ev.Prefix != "" {
			for _, msg := range validation.IsRelaxedEnvVarName(ev.Prefix) {
				errs = append(errs, field.Invalid(p.Child("prefix"), ev.Prefix, msg))
			}
		}
		n := 0
		if ev.ConfigMapRef != nil {
			n++
			errs = append(errs, coreDNSSubdomain(ev.ConfigMapRef.Name, p.Child("configMapRef", "name"))...)
		}
		if ev.SecretRef != nil {
			n++
			errs = append(errs, coreDNSSubdomain(ev.SecretRef.Name, p.Child("secretRef", "name"))...)
		}
		if n == 0 {
			errs = append(errs, field.Invalid(p, "", "must specify one of: `configMapRef` or `secretRef`"))
		} else if n > 1 {
			errs = append(errs, field.Invalid(p, "", "may not have more than one field specified at a time"))
		}
	}
	return errs
}

// coreVolumeMounts is upstream's ValidateVolumeMounts.
func coreVolumeMounts(mounts []*corev1.VolumeMount, devices []*corev1.VolumeDevice, vols map[string]*corev1.Volume, c *corev1.Container, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	points := map[string]bool{}
	for i, m := range mounts {
		p := fld.Index(i)
		if m.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		}
		if _, ok := vols[m.Name]; !ok {
			errs = append(errs, field.NotFound(p.Child("name"), m.Name))
		}
		if m.MountPath == "" {
			errs = append(errs, field.Required(p.Child("mountPath"), ""))
		}
		if points[m.MountPath] {
			errs = append(errs, field.Invalid(p.Child("mountPath"), m.MountPath, "must be unique"))
		}
		points[m.MountPath] = true
		for _, d := range devices {
			if d.Name == m.Name {
				errs = append(errs, field.Invalid(p.Child("name"), m.Name, "must not already exist in volumeDevices"))
			}
			if d.DevicePath == m.MountPath {
				errs = append(errs, field.Invalid(p.Child("mountPath"), m.MountPath, "must not already exist as a path in volumeDevices"))
			}
		}
		if m.SubPath != "" {
			errs = append(errs, coreLocalDescendingPath(m.SubPath, p.Child("subPath"))...)
		}
		if m.SubPathExpr != "" {
			if m.SubPath != "" {
				errs = append(errs, field.Invalid(p.Child("subPathExpr"), m.SubPathExpr, "subPathExpr and subPath are mutually exclusive"))
			}
			errs = append(errs, coreLocalDescendingPath(m.SubPathExpr, p.Child("subPathExpr"))...)
		}
		if m.MountPropagation != nil {
			mp := m.GetMountPropagation()
			switch mp {
			case "None", "HostToContainer":
			case "Bidirectional":
				if !c.GetSecurityContext().GetPrivileged() {
					errs = append(errs, field.Forbidden(p.Child("mountPropagation"), "Bidirectional mount propagation is available only to privileged containers"))
				}
			default:
				errs = append(errs, coreNotSupported(p.Child("mountPropagation"), mp, "Bidirectional", "HostToContainer", "None"))
			}
		}
		if m.RecursiveReadOnly != nil {
			rro := m.GetRecursiveReadOnly()
			switch rro {
			case "Disabled":
			case "IfPossible", "Enabled":
				if !m.ReadOnly {
					errs = append(errs, field.Forbidden(p.Child("recursiveReadOnly"), "may only be specified when readOnly is true"))
				}
			default:
				errs = append(errs, coreNotSupported(p.Child("recursiveReadOnly"), rro, "Disabled", "Enabled", "IfPossible"))
			}
		}
	}
	return errs
}

func coreVolumeDevices(devices []*corev1.VolumeDevice, vols map[string]*corev1.Volume, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	paths, names := map[string]bool{}, map[string]bool{}
	for i, d := range devices {
		p := fld.Index(i)
		if d.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		}
		if names[d.Name] {
			errs = append(errs, field.Invalid(p.Child("name"), d.Name, "must be unique"))
		}
		names[d.Name] = true
		v, ok := vols[d.Name]
		if !ok || (v.PersistentVolumeClaim == nil && v.Ephemeral == nil) {
			errs = append(errs, field.Invalid(p.Child("name"), d.Name, "can only use volume source type of PersistentVolumeClaim or Ephemeral for block mode"))
		}
		if d.DevicePath == "" {
			errs = append(errs, field.Required(p.Child("devicePath"), ""))
		}
		if paths[d.DevicePath] {
			errs = append(errs, field.Invalid(p.Child("devicePath"), d.DevicePath, "must be unique"))
		}
		paths[d.DevicePath] = true
		if d.DevicePath != "" {
			errs = append(errs, coreNoBacksteps(d.DevicePath, p.Child("devicePath"))...)
		}
	}
	return errs
}

// coreResourceName is upstream's validateContainerResourceName.
func coreResourceName(name string, fld *field.Path) field.ErrorList {
	errs := coreQualifiedName(name, fld)
	if len(errs) > 0 {
		return errs
	}
	if !strings.Contains(name, "/") {
		if !coreIsStandardContainerResource(name) {
			errs = append(errs, field.Invalid(fld, name, "must be a standard resource for containers"))
		}
	} else if !coreIsNativeResource(name) && !coreIsExtendedResource(name) {
		errs = append(errs, field.Invalid(fld, name, "doesn't follow extended resource name standard"))
	}
	return errs
}

func coreIsStandardContainerResource(name string) bool {
	return coreOneOf(name, "cpu", "memory", "ephemeral-storage") || strings.HasPrefix(name, "hugepages-")
}

func coreIsNativeResource(name string) bool {
	return !strings.Contains(name, "/") || strings.Contains(name, "kubernetes.io/")
}

func coreIsExtendedResource(name string) bool {
	if coreIsNativeResource(name) || strings.HasPrefix(name, "requests.") {
		return false
	}
	return len(validation.IsQualifiedName("requests."+name)) == 0
}

func coreOvercommitAllowed(name string) bool {
	return coreIsNativeResource(name) && !strings.HasPrefix(name, "hugepages-")
}

// coreResourceQuantity parses a quantity and applies upstream's
// ValidateResourceQuantityValue: non-negative, integral for extended resources.
func coreResourceQuantity(name string, q *metav1.Quantity, fld *field.Path) field.ErrorList {
	v, errs := coreParseQuantity(q, fld)
	if errs != nil {
		return errs
	}
	if v.Sign() < 0 {
		return field.ErrorList{field.Invalid(fld, v.String(), coreIsNegativeErrorMsg)}
	}
	if coreIsExtendedResource(name) && v.MilliValue()%1000 != 0 {
		return field.ErrorList{field.Invalid(fld, v.String(), "must be an integer")}
	}
	return nil
}

// coreResourceRequirements is upstream's ValidateResourceRequirements.
func coreResourceRequirements(r *corev1.ResourceRequirements, podLevel bool, fld *field.Path) field.ErrorList {
	if r == nil {
		return nil
	}
	var errs field.ErrorList
	limPath, reqPath := fld.Child("limits"), fld.Child("requests")
	limits := map[string]resource.Quantity{}
	for name, q := range r.Limits {
		p := limPath.Key(name)
		errs = append(errs, coreResourceName(name, p)...)
		qe := coreResourceQuantity(name, q, p)
		errs = append(errs, qe...)
		if qe == nil {
			limits[name], _ = resource.ParseQuantity(q.GetString_())
		}
	}
	for name, q := range r.Requests {
		p := reqPath.Key(name)
		errs = append(errs, coreResourceName(name, p)...)
		qe := coreResourceQuantity(name, q, p)
		errs = append(errs, qe...)
		if qe != nil {
			continue
		}
		req, _ := resource.ParseQuantity(q.GetString_())
		if lim, ok := limits[name]; ok {
			if req.Cmp(lim) != 0 && !coreOvercommitAllowed(name) {
				errs = append(errs, field.Invalid(reqPath, req.String(), fmt.Sprintf("must be equal to %s limit of %s", name, lim.String())))
			} else if req.Cmp(lim) > 0 {
				errs = append(errs, field.Invalid(reqPath, req.String(), fmt.Sprintf("must be less than or equal to %s limit of %s", name, lim.String())))
			}
		} else if _, malformed := r.Limits[name]; !malformed && !coreOvercommitAllowed(name) {
			errs = append(errs, field.Required(limPath, "Limit must be set for non overcommitable resources"))
		}
	}
	if podLevel {
		for name := range r.Limits {
			if !coreOneOf(name, "cpu", "memory") && !strings.HasPrefix(name, "hugepages-") {
				errs = append(errs, coreNotSupported(limPath.Key(name), name, "cpu", "memory"))
			}
		}
	}
	claims := map[string]bool{}
	for i, c := range r.Claims {
		p := fld.Child("claims").Index(i)
		if c.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
			continue
		}
		key := c.Name + "/" + c.Request
		if claims[key] {
			errs = append(errs, field.Duplicate(p, key))
		}
		claims[key] = true
	}
	return errs
}

// coreProbe is upstream's validateProbe; c is the container, for named ports.
func coreProbe(pr *corev1.Probe, c *corev1.Container, grace *int64, fld *field.Path) field.ErrorList {
	if pr == nil {
		return nil
	}
	errs := coreHandler(pr.Exec, pr.HttpGet, pr.TcpSocket, pr.Grpc, nil, c, fld)
	errs = append(errs, coreNonNegative(int64(pr.InitialDelaySeconds), fld.Child("initialDelaySeconds"))...)
	errs = append(errs, coreNonNegative(int64(pr.TimeoutSeconds), fld.Child("timeoutSeconds"))...)
	errs = append(errs, coreNonNegative(int64(pr.PeriodSeconds), fld.Child("periodSeconds"))...)
	errs = append(errs, coreNonNegative(int64(pr.SuccessThreshold), fld.Child("successThreshold"))...)
	errs = append(errs, coreNonNegative(int64(pr.FailureThreshold), fld.Child("failureThreshold"))...)
	if pr.TerminationGracePeriodSeconds != nil && pr.GetTerminationGracePeriodSeconds() <= 0 {
		errs = append(errs, field.Invalid(fld.Child("terminationGracePeriodSeconds"), pr.GetTerminationGracePeriodSeconds(), "must be greater than 0"))
	}
	return errs
}

func coreLifecycle(lc *corev1.Lifecycle, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if h := lc.PostStart; h != nil {
		errs = append(errs, coreHandler(h.Exec, h.HttpGet, h.TcpSocket, nil, h.Sleep, nil, fld.Child("postStart"))...)
	}
	if h := lc.PreStop; h != nil {
		errs = append(errs, coreHandler(h.Exec, h.HttpGet, h.TcpSocket, nil, h.Sleep, nil, fld.Child("preStop"))...)
	}
	return errs
}

// coreHandler is upstream's validateHandler: exactly one handler type.
func coreHandler(exec *corev1.ExecAction, http *corev1.HTTPGetAction, tcp *corev1.TCPSocketAction, grpc *corev1.GRPCAction, sleep *corev1.SleepAction, c *corev1.Container, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	n := 0
	one := func(set bool, name string, check func(*field.Path) field.ErrorList) {
		if !set {
			return
		}
		if n > 0 {
			errs = append(errs, field.Forbidden(fld.Child(name), "may not specify more than 1 handler type"))
			return
		}
		n++
		errs = append(errs, check(fld.Child(name))...)
	}
	one(exec != nil, "exec", func(p *field.Path) field.ErrorList {
		if len(exec.Command) == 0 {
			return field.ErrorList{field.Required(p.Child("command"), "")}
		}
		return nil
	})
	one(http != nil, "httpGet", func(p *field.Path) field.ErrorList {
		var e field.ErrorList
		if http.Path == "" {
			e = append(e, field.Required(p.Child("path"), ""))
		}
		e = append(e, corePortNumOrName(http.Port, p.Child("port"))...)
		e = append(e, coreNamedPortExists(http.Port, c, p.Child("port"))...)
		if !coreOneOf(strings.ToUpper(http.Scheme), "HTTP", "HTTPS") {
			e = append(e, coreNotSupported(p.Child("scheme"), http.Scheme, "HTTP", "HTTPS"))
		}
		for i, h := range http.HttpHeaders {
			for _, msg := range validation.IsHTTPHeaderName(h.Name) {
				e = append(e, field.Invalid(p.Child("httpHeaders").Index(i).Child("name"), h.Name, msg))
			}
		}
		return e
	})
	one(tcp != nil, "tcpSocket", func(p *field.Path) field.ErrorList {
		e := corePortNumOrName(tcp.Port, p.Child("port"))
		return append(e, coreNamedPortExists(tcp.Port, c, p.Child("port"))...)
	})
	one(grpc != nil, "grpc", func(p *field.Path) field.ErrorList {
		var e field.ErrorList
		for _, msg := range validation.IsValidPortNum(int(grpc.Port)) {
			e = append(e, field.Invalid(p.Child("port"), grpc.Port, msg))
		}
		return e
	})
	one(sleep != nil, "sleep", func(p *field.Path) field.ErrorList {
		if sleep.Seconds < 0 {
			return field.ErrorList{field.Invalid(p.Child("seconds"), sleep.Seconds, "must be non-negative integer")}
		}
		return nil
	})
	if n == 0 {
		errs = append(errs, field.Required(fld, "must specify a handler type"))
	}
	return errs
}

// coreNamedPortExists rejects a probe's named port that the container does
// not declare; the kubelet could never resolve it.
func coreNamedPortExists(port *metav1.IntOrString, c *corev1.Container, fld *field.Path) field.ErrorList {
	if c == nil || port == nil || port.Type != coreIntOrStringString || len(validation.IsValidPortName(port.StrVal)) > 0 {
		return nil
	}
	for _, p := range c.Ports {
		if p.Name == port.StrVal {
			return nil
		}
	}
	return field.ErrorList{field.Invalid(fld, port.StrVal, "must be the name of a port of this container")}
}

func coreDNSPolicyAndConfig(spec *corev1.PodSpec, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch {
	case spec.DnsPolicy == "":
		errs = append(errs, field.Required(fld.Child("dnsPolicy"), ""))
	case !coreOneOf(spec.DnsPolicy, coreDNSPolicies...):
		errs = append(errs, coreNotSupported(fld.Child("dnsPolicy"), spec.DnsPolicy, coreDNSPolicies...))
	}
	cfg := spec.DnsConfig
	p := fld.Child("dnsConfig")
	if spec.DnsPolicy == "None" {
		if cfg == nil {
			return append(errs, field.Required(p, "must provide `dnsConfig` when `dnsPolicy` is None"))
		}
		if len(cfg.Nameservers) == 0 {
			errs = append(errs, field.Required(p.Child("nameservers"), "must provide at least one DNS nameserver when `dnsPolicy` is None"))
		}
	}
	if cfg == nil {
		return errs
	}
	if len(cfg.Nameservers) > coreMaxDNSNameservers {
		errs = append(errs, field.Invalid(p.Child("nameservers"), cfg.Nameservers, fmt.Sprintf("must not have more than %v nameservers", coreMaxDNSNameservers)))
	}
	for i, ns := range cfg.Nameservers {
		errs = append(errs, validation.IsValidIP(p.Child("nameservers").Index(i), ns)...)
	}
	if len(cfg.Searches) > coreMaxDNSSearchPaths {
		errs = append(errs, field.Invalid(p.Child("searches"), cfg.Searches, fmt.Sprintf("must not have more than %v search paths", coreMaxDNSSearchPaths)))
	}
	if n := len(strings.Join(cfg.Searches, " ")); n > coreMaxDNSSearchListChars {
		errs = append(errs, field.Invalid(p.Child("searches"), cfg.Searches, fmt.Sprintf("must not have more than %v characters (including spaces) in the search list", coreMaxDNSSearchListChars)))
	}
	for i, s := range cfg.Searches {
		if s == "." {
			continue
		}
		errs = append(errs, coreDNSSubdomain(strings.TrimSuffix(s, "."), p.Child("searches").Index(i))...)
	}
	for i, o := range cfg.Options {
		if o.Name == "" {
			errs = append(errs, field.Required(p.Child("options").Index(i), "Option.Name must not be empty"))
		}
	}
	return errs
}

func corePodSecurityContext(spec *corev1.PodSpec, fld *field.Path) field.ErrorList {
	sc := spec.SecurityContext
	if sc == nil {
		return nil
	}
	var errs field.ErrorList
	if sc.FsGroup != nil {
		for _, msg := range validation.IsValidGroupID(sc.GetFsGroup()) {
			errs = append(errs, field.Invalid(fld.Child("fsGroup"), sc.GetFsGroup(), msg))
		}
	}
	if sc.RunAsUser != nil {
		for _, msg := range validation.IsValidUserID(sc.GetRunAsUser()) {
			errs = append(errs, field.Invalid(fld.Child("runAsUser"), sc.GetRunAsUser(), msg))
		}
	}
	if sc.RunAsGroup != nil {
		for _, msg := range validation.IsValidGroupID(sc.GetRunAsGroup()) {
			errs = append(errs, field.Invalid(fld.Child("runAsGroup"), sc.GetRunAsGroup(), msg))
		}
	}
	for i, g := range sc.SupplementalGroups {
		for _, msg := range validation.IsValidGroupID(g) {
			errs = append(errs, field.Invalid(fld.Child("supplementalGroups").Index(i), g, msg))
		}
	}
	if sc.FsGroupChangePolicy != nil && !coreOneOf(sc.GetFsGroupChangePolicy(), "Always", "OnRootMismatch") {
		errs = append(errs, coreNotSupported(fld.Child("fsGroupChangePolicy"), sc.GetFsGroupChangePolicy(), "Always", "OnRootMismatch"))
	}
	if sc.SupplementalGroupsPolicy != nil && !coreOneOf(sc.GetSupplementalGroupsPolicy(), "Merge", "Strict") {
		errs = append(errs, coreNotSupported(fld.Child("supplementalGroupsPolicy"), sc.GetSupplementalGroupsPolicy(), "Merge", "Strict"))
	}
	names := map[string]bool{}
	for i, s := range sc.Sysctls {
		p := fld.Child("sysctls").Index(i)
		if s.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		} else if !coreSysctlName.MatchString(s.Name) {
			errs = append(errs, field.Invalid(p.Child("name"), s.Name, fmt.Sprintf("must have at most %d characters and match regex %s", 253, coreSysctlFmt)))
		} else if names[s.Name] {
			errs = append(errs, field.Duplicate(p.Child("name"), s.Name))
		}
		names[s.Name] = true
		if spec.HostNetwork && strings.HasPrefix(s.Name, "net.") {
			errs = append(errs, field.Invalid(p.Child("name"), s.Name, "may not be specified when 'hostNetwork' is true"))
		}
	}
	errs = append(errs, coreSeccomp(sc.SeccompProfile, fld.Child("seccompProfile"))...)
	return errs
}

func coreSecurityContext(sc *corev1.SecurityContext, fld *field.Path) field.ErrorList {
	if sc == nil {
		return nil
	}
	var errs field.ErrorList
	if sc.RunAsUser != nil {
		for _, msg := range validation.IsValidUserID(sc.GetRunAsUser()) {
			errs = append(errs, field.Invalid(fld.Child("runAsUser"), sc.GetRunAsUser(), msg))
		}
	}
	if sc.RunAsGroup != nil {
		for _, msg := range validation.IsValidGroupID(sc.GetRunAsGroup()) {
			errs = append(errs, field.Invalid(fld.Child("runAsGroup"), sc.GetRunAsGroup(), msg))
		}
	}
	if sc.ProcMount != nil && !coreOneOf(sc.GetProcMount(), "Default", "Unmasked") {
		errs = append(errs, coreNotSupported(fld.Child("procMount"), sc.GetProcMount(), "Default", "Unmasked"))
	}
	if sc.AllowPrivilegeEscalation != nil && !sc.GetAllowPrivilegeEscalation() {
		if sc.GetPrivileged() {
			errs = append(errs, field.Invalid(fld, sc, "cannot set `allowPrivilegeEscalation` to false and `privileged` to true"))
		}
		for _, c := range sc.GetCapabilities().GetAdd() {
			if c == "CAP_SYS_ADMIN" || c == "SYS_ADMIN" {
				errs = append(errs, field.Invalid(fld, sc, "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN"))
			}
		}
	}
	return append(errs, coreSeccomp(sc.SeccompProfile, fld.Child("seccompProfile"))...)
}

func coreSeccomp(sp *corev1.SeccompProfile, fld *field.Path) field.ErrorList {
	if sp == nil {
		return nil
	}
	switch sp.Type {
	case "Localhost":
		if sp.GetLocalhostProfile() == "" {
			return field.ErrorList{field.Required(fld.Child("localhostProfile"), "must be set when seccomp type is Localhost")}
		}
	case "RuntimeDefault", "Unconfined":
		if sp.LocalhostProfile != nil {
			return field.ErrorList{field.Invalid(fld.Child("localhostProfile"), sp.GetLocalhostProfile(), "can only be set when seccomp type is Localhost")}
		}
	case "":
		return field.ErrorList{field.Required(fld.Child("type"), "")}
	default:
		return field.ErrorList{coreNotSupported(fld.Child("type"), sp.Type, "Localhost", "RuntimeDefault", "Unconfined")}
	}
	return nil
}

func coreAffinity(a *corev1.Affinity, fld *field.Path) field.ErrorList {
	if a == nil {
		return nil
	}
	var errs field.ErrorList
	if na := a.NodeAffinity; na != nil {
		p := fld.Child("nodeAffinity")
		if r := na.RequiredDuringSchedulingIgnoredDuringExecution; r != nil {
			errs = append(errs, coreNodeSelector(r, p.Child("requiredDuringSchedulingIgnoredDuringExecution"))...)
		}
		for i, t := range na.PreferredDuringSchedulingIgnoredDuringExecution {
			tp := p.Child("preferredDuringSchedulingIgnoredDuringExecution").Index(i)
			if t.Weight <= 0 || t.Weight > 100 {
				errs = append(errs, field.Invalid(tp.Child("weight"), t.Weight, "must be in the range 1-100"))
			}
			if t.Preference == nil {
				errs = append(errs, field.Required(tp.Child("preference"), ""))
			} else {
				errs = append(errs, coreNodeSelectorTerm(t.Preference, tp.Child("preference"))...)
			}
		}
	}
	if pa := a.PodAffinity; pa != nil {
		p := fld.Child("podAffinity")
		errs = append(errs, corePodAffinityTerms(pa.RequiredDuringSchedulingIgnoredDuringExecution, p.Child("requiredDuringSchedulingIgnoredDuringExecution"))...)
		errs = append(errs, coreWeightedPodAffinityTerms(pa.PreferredDuringSchedulingIgnoredDuringExecution, p.Child("preferredDuringSchedulingIgnoredDuringExecution"))...)
	}
	if pa := a.PodAntiAffinity; pa != nil {
		p := fld.Child("podAntiAffinity")
		errs = append(errs, corePodAffinityTerms(pa.RequiredDuringSchedulingIgnoredDuringExecution, p.Child("requiredDuringSchedulingIgnoredDuringExecution"))...)
		errs = append(errs, coreWeightedPodAffinityTerms(pa.PreferredDuringSchedulingIgnoredDuringExecution, p.Child("preferredDuringSchedulingIgnoredDuringExecution"))...)
	}
	return errs
}

func corePodAffinityTerms(terms []*corev1.PodAffinityTerm, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, t := range terms {
		errs = append(errs, corePodAffinityTerm(t, fld.Index(i))...)
	}
	return errs
}

func coreWeightedPodAffinityTerms(terms []*corev1.WeightedPodAffinityTerm, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, t := range terms {
		p := fld.Index(i)
		if t.Weight <= 0 || t.Weight > 100 {
			errs = append(errs, field.Invalid(p.Child("weight"), t.Weight, "must be in the range 1-100"))
		}
		if t.PodAffinityTerm == nil {
			errs = append(errs, field.Required(p.Child("podAffinityTerm"), ""))
			continue
		}
		errs = append(errs, corePodAffinityTerm(t.PodAffinityTerm, p.Child("podAffinityTerm"))...)
	}
	return errs
}

// corePodAffinityTerm is upstream's validatePodAffinityTerm.
func corePodAffinityTerm(t *corev1.PodAffinityTerm, fld *field.Path) field.ErrorList {
	errs := coreLabelSelector(t.LabelSelector, fld.Child("labelSelector"))
	errs = append(errs, coreLabelSelector(t.NamespaceSelector, fld.Child("namespaceSelector"))...)
	for _, ns := range t.Namespaces {
		for _, msg := range validation.IsDNS1123Label(ns) {
			errs = append(errs, field.Invalid(fld.Child("namespace"), ns, msg))
		}
	}
	errs = append(errs, coreMatchLabelKeys(t.MatchLabelKeys, t.MismatchLabelKeys, t.LabelSelector, fld)...)
	if t.TopologyKey == "" {
		return append(errs, field.Required(fld.Child("topologyKey"), "can not be empty"))
	}
	return append(errs, coreQualifiedName(t.TopologyKey, fld.Child("topologyKey"))...)
}

func coreMatchLabelKeys(match, mismatch []string, sel *metav1.LabelSelector, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	inSelector := map[string]bool{}
	for k := range sel.GetMatchLabels() {
		inSelector[k] = true
	}
	for _, e := range sel.GetMatchExpressions() {
		inSelector[e.Key] = true
	}
	seen := map[string]bool{}
	for i, k := range match {
		p := fld.Child("matchLabelKeys").Index(i)
		errs = append(errs, coreQualifiedName(k, p)...)
		seen[k] = true
	}
	for i, k := range mismatch {
		p := fld.Child("mismatchLabelKeys").Index(i)
		errs = append(errs, coreQualifiedName(k, p)...)
		if seen[k] {
			errs = append(errs, field.Invalid(p, k, "exists in both matchLabelKeys and mismatchLabelKeys"))
		}
	}
	return errs
}

// coreTolerations is upstream's ValidateTolerations.
func coreTolerations(tols []*corev1.Toleration, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, t := range tols {
		p := fld.Index(i)
		if t.Key != "" {
			errs = append(errs, coreQualifiedName(t.Key, p.Child("key"))...)
		}
		if t.Key == "" && t.Operator != "Exists" {
			errs = append(errs, field.Invalid(p.Child("operator"), t.Operator, "operator must be Exists when `key` is empty, which means \"match all values and all keys\""))
		}
		if t.TolerationSeconds != nil && t.Effect != "NoExecute" {
			errs = append(errs, field.Invalid(p.Child("effect"), t.Effect, "effect must be 'NoExecute' when `tolerationSeconds` is set"))
		}
		switch t.Operator {
		case "Equal", "":
			if msgs := validation.IsValidLabelValue(t.Value); len(msgs) != 0 {
				errs = append(errs, field.Invalid(p.Child("operator"), t.Value, strings.Join(msgs, ";")))
			}
		case "Exists":
			if t.Value != "" {
				errs = append(errs, field.Invalid(p.Child("operator"), t.Value, "value must be empty when `operator` is 'Exists'"))
			}
		default:
			errs = append(errs, coreNotSupported(p.Child("operator"), t.Operator, "Equal", "Exists"))
		}
		if t.Effect != "" {
			errs = append(errs, coreTaintEffect(t.Effect, true, p.Child("effect"))...)
		}
	}
	return errs
}

// coreTopologySpread is upstream's validateTopologySpreadConstraints.
func coreTopologySpread(cs []*corev1.TopologySpreadConstraint, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, c := range cs {
		p := fld.Index(i)
		if c.MaxSkew <= 0 {
			errs = append(errs, field.Invalid(p.Child("maxSkew"), c.MaxSkew, coreIsNotPositiveErrMsg))
		}
		if c.TopologyKey == "" {
			errs = append(errs, field.Required(p.Child("topologyKey"), "can not be empty"))
		}
		if !coreOneOf(c.WhenUnsatisfiable, "DoNotSchedule", "ScheduleAnyway") {
			errs = append(errs, coreNotSupported(p.Child("whenUnsatisfiable"), c.WhenUnsatisfiable, "DoNotSchedule", "ScheduleAnyway"))
		}
		for _, rest := range cs[i+1:] {
			if c.TopologyKey == rest.TopologyKey && c.WhenUnsatisfiable == rest.WhenUnsatisfiable {
				errs = append(errs, field.Duplicate(p.Child("{topologyKey, whenUnsatisfiable}"), fmt.Sprintf("{%v, %v}", c.TopologyKey, c.WhenUnsatisfiable)))
				break
			}
		}
		if c.MinDomains != nil {
			md := c.GetMinDomains()
			if md <= 0 {
				errs = append(errs, field.Invalid(p.Child("minDomains"), md, coreIsNotPositiveErrMsg))
			}
			if c.WhenUnsatisfiable != "DoNotSchedule" {
				errs = append(errs, field.Invalid(p.Child("minDomains"), md, fmt.Sprintf("can only use minDomains if whenUnsatisfiable=DoNotSchedule, not %s", c.WhenUnsatisfiable)))
			}
		}
		for _, pol := range []struct {
			v    *string
			name string
		}{{c.NodeAffinityPolicy, "nodeAffinityPolicy"}, {c.NodeTaintsPolicy, "nodeTaintsPolicy"}} {
			if pol.v != nil && !coreOneOf(*pol.v, "Honor", "Ignore") {
				errs = append(errs, coreNotSupported(p.Child(pol.name), *pol.v, "Honor", "Ignore"))
			}
		}
		for j, k := range c.MatchLabelKeys {
			errs = append(errs, coreQualifiedName(k, p.Child("matchLabelKeys").Index(j))...)
		}
		errs = append(errs, coreLabelSelector(c.LabelSelector, p.Child("labelSelector"))...)
	}
	return errs
}

// validatePodUpdate is upstream's ValidatePodUpdate: only images,
// activeDeadlineSeconds, added tolerations and scheduling-gate removal may change.
func coreValidatePodUpdate(pod, old *corev1.Pod) field.ErrorList {
	specPath := field.NewPath("spec")
	spec, oldSpec := pod.GetSpec(), old.GetSpec()
	if spec == nil {
		return field.ErrorList{field.Required(specPath, "")}
	}
	if oldSpec == nil {
		oldSpec = &corev1.PodSpec{}
	}
	var errs field.ErrorList
	for _, l := range []struct {
		new, old []*corev1.Container
		name     string
	}{{spec.Containers, oldSpec.Containers, "containers"}, {spec.InitContainers, oldSpec.InitContainers, "initContainers"}} {
		if len(l.new) != len(l.old) {
			errs = append(errs, field.Forbidden(specPath.Child(l.name), "pod updates may not add or remove containers"))
			return errs
		}
		for i, c := range l.new {
			if c.Image == "" {
				errs = append(errs, field.Required(specPath.Child(l.name).Index(i).Child("image"), ""))
			}
		}
	}
	adsPath := specPath.Child("activeDeadlineSeconds")
	if spec.ActiveDeadlineSeconds != nil {
		v := spec.GetActiveDeadlineSeconds()
		if v < 0 || v > math.MaxInt32 {
			return append(errs, field.Invalid(adsPath, v, validation.InclusiveRangeError(0, math.MaxInt32)))
		}
		if oldSpec.ActiveDeadlineSeconds != nil && oldSpec.GetActiveDeadlineSeconds() < v {
			return append(errs, field.Invalid(adsPath, v, "must be less than or equal to previous value"))
		}
	} else if oldSpec.ActiveDeadlineSeconds != nil {
		errs = append(errs, field.Invalid(adsPath, nil, "must not update from a positive integer to nil value"))
	}
	errs = append(errs, coreOnlyAddedTolerations(spec.Tolerations, oldSpec.Tolerations, specPath.Child("tolerations"))...)

	munged := proto.Clone(spec).(*corev1.PodSpec)
	for i, c := range munged.Containers {
		c.Image = oldSpec.Containers[i].Image
	}
	for i, c := range munged.InitContainers {
		c.Image = oldSpec.InitContainers[i].Image
	}
	munged.ActiveDeadlineSeconds = oldSpec.ActiveDeadlineSeconds
	munged.Tolerations = oldSpec.Tolerations
	if oldSpec.TerminationGracePeriodSeconds != nil && oldSpec.GetTerminationGracePeriodSeconds() < 0 &&
		munged.TerminationGracePeriodSeconds != nil && munged.GetTerminationGracePeriodSeconds() == 1 {
		munged.TerminationGracePeriodSeconds = oldSpec.TerminationGracePeriodSeconds
	}
	if len(oldSpec.SchedulingGates) > 0 {
		// A gated pod may drop gates and add nodeSelector entries.
		gp := specPath.Child("schedulingGates")
		for _, g := range munged.SchedulingGates {
			found := false
			for _, og := range oldSpec.SchedulingGates {
				found = found || og.Name == g.Name
			}
			if !found {
				errs = append(errs, field.Forbidden(gp, "only deletion is allowed, but found new scheduling gate '"+g.Name+"'"))
			}
		}
		munged.SchedulingGates = oldSpec.SchedulingGates
		for k, v := range oldSpec.NodeSelector {
			if nv, ok := munged.NodeSelector[k]; !ok || nv != v {
				errs = append(errs, field.Invalid(specPath.Child("nodeSelector"), munged.NodeSelector, "only additions to spec.nodeSelector are allowed (no mutations or deletions)"))
				break
			}
		}
		munged.NodeSelector = oldSpec.NodeSelector
	}
	if !proto.Equal(munged, oldSpec) {
		errs = append(errs, field.Forbidden(specPath, "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"))
	}
	return errs
}

// coreOnlyAddedTolerations is upstream's validateOnlyAddedTolerations.
func coreOnlyAddedTolerations(tols, old []*corev1.Toleration, fld *field.Path) field.ErrorList {
	for _, o := range old {
		found := false
		for _, t := range tols {
			c := proto.Clone(o).(*corev1.Toleration)
			c.TolerationSeconds = t.TolerationSeconds
			if proto.Equal(c, t) {
				found = true
				break
			}
		}
		if !found {
			return field.ErrorList{field.Forbidden(fld, "existing toleration can not be modified except its tolerationSeconds")}
		}
	}
	return coreTolerations(tols, fld)
}

var corePodPhases = []string{"Failed", "Pending", "Running", "Succeeded", "Unknown"}

func coreValidatePodStatus(st, old *corev1.PodStatus, fld *field.Path) field.ErrorList {
	if st == nil {
		return nil
	}
	var errs field.ErrorList
	if st.Phase != "" && !coreOneOf(st.Phase, corePodPhases...) {
		errs = append(errs, coreNotSupported(fld.Child("phase"), st.Phase, corePodPhases...))
	}
	if op := old.GetPhase(); (op == "Succeeded" || op == "Failed") && st.Phase != op {
		errs = append(errs, field.Forbidden(fld.Child("phase"), fmt.Sprintf("cannot transition from terminal phase %s to %s", op, st.Phase)))
	}
	for i, c := range st.Conditions {
		p := fld.Child("conditions").Index(i)
		if !coreOneOf(c.Type, "PodScheduled", "Ready", "Initialized", "ContainersReady") {
			errs = append(errs, coreQualifiedName(c.Type, p.Child("type"))...)
		}
		errs = append(errs, coreConditionStatus(c.Status, p.Child("status"))...)
	}
	if st.NominatedNodeName != "" && st.NominatedNodeName != old.GetNominatedNodeName() {
		errs = append(errs, coreDNSSubdomain(st.NominatedNodeName, fld.Child("nominatedNodeName"))...)
	}
	if st.PodIp != "" {
		errs = append(errs, validation.IsValidIP(fld.Child("podIP"), st.PodIp)...)
	}
	if st.HostIp != "" {
		errs = append(errs, validation.IsValidIP(fld.Child("hostIP"), st.HostIp)...)
	}
	var podIPs, hostIPs []string
	for _, ip := range st.PodIps {
		podIPs = append(podIPs, ip.Ip)
	}
	for _, ip := range st.HostIps {
		hostIPs = append(hostIPs, ip.Ip)
	}
	errs = append(errs, coreIPList(podIPs, st.PodIp, fld.Child("podIPs"), fld.Child("podIP"))...)
	errs = append(errs, coreIPList(hostIPs, st.HostIp, fld.Child("hostIPs"), fld.Child("hostIP"))...)
	for _, l := range []struct {
		list []*corev1.ContainerStatus
		name string
	}{{st.ContainerStatuses, "containerStatuses"}, {st.InitContainerStatuses, "initContainerStatuses"}, {st.EphemeralContainerStatuses, "ephemeralContainerStatuses"}} {
		for i, cs := range l.list {
			p := fld.Child(l.name).Index(i)
			if cs.RestartCount < 0 {
				errs = append(errs, field.Invalid(p.Child("restartCount"), cs.RestartCount, coreIsNegativeErrorMsg))
			}
		}
	}
	return errs
}

// coreIPList is upstream's validatePodIPs / validateHostIPs: valid, unique, at
// most one per family, the first matching the singular field.
func coreIPList(ips []string, first string, fld, firstFld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(ips) == 0 {
		return nil
	}
	if first != "" && ips[0] != first {
		errs = append(errs, field.Invalid(firstFld, first, "must match "+fld.String()+"[0]"))
	}
	seen := map[string]bool{}
	v4, v6 := 0, 0
	for i, ip := range ips {
		p := fld.Index(i).Child("ip")
		ipErrs := validation.IsValidIP(p, ip)
		errs = append(errs, ipErrs...)
		if seen[ip] {
			errs = append(errs, field.Duplicate(p, ip))
		}
		seen[ip] = true
		if len(ipErrs) == 0 {
			if strings.Contains(ip, ":") {
				v6++
			} else {
				v4++
			}
		}
	}
	if len(ips) > 2 || v4 > 1 || v6 > 1 {
		errs = append(errs, field.Invalid(fld, ips, "may specify no more than one IP for each IP family"))
	}
	return errs
}

// coreSysctlFmt is upstream's sysctl name pattern (dots or slashes as separators).
const coreSysctlFmt = `([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?`
