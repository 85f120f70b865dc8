package printer

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/util/duration"

	appsv1 "flotilla.io/proto/flotilla/apps/v1"
	batchv1 "flotilla.io/proto/flotilla/batch/v1"
	coordinationv1 "flotilla.io/proto/flotilla/coordination/v1"
	corev1 "flotilla.io/proto/flotilla/core/v1"
	discoveryv1 "flotilla.io/proto/flotilla/discovery/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
	rbacv1 "flotilla.io/proto/flotilla/rbac/v1"
	schedulingv1 "flotilla.io/proto/flotilla/scheduling/v1"
)

// The tables below follow kubectl's (k8s.io/kubernetes/pkg/printers/internalversion).

func init() {
	register("Pod",
		nameColumn,
		col("READY", func(p *corev1.Pod, _ time.Time) string {
			r, t, _, _ := podReadiness(p)
			return fmt.Sprintf("%d/%d", r, t)
		}),
		col("STATUS", func(p *corev1.Pod, _ time.Time) string { _, _, s, _ := podReadiness(p); return s }),
		col("RESTARTS", podRestarts),
		ageColumn,
		wide(col("IP", func(p *corev1.Pod, _ time.Time) string { return orNone(p.GetStatus().GetPodIp()) })),
		wide(col("NODE", func(p *corev1.Pod, _ time.Time) string { return orNone(p.GetSpec().GetNodeName()) })),
		wide(col("NOMINATED NODE", func(p *corev1.Pod, _ time.Time) string { return orNone(p.GetStatus().GetNominatedNodeName()) })),
		wide(col("READINESS GATES", podReadinessGates)),
	)
	register("Deployment",
		nameColumn,
		col("READY", func(d *appsv1.Deployment, _ time.Time) string {
			return fmt.Sprintf("%d/%d", d.GetStatus().GetReadyReplicas(), replicas(d.GetSpec()))
		}),
		col("UP-TO-DATE", func(d *appsv1.Deployment, _ time.Time) string { return itoa(d.GetStatus().GetUpdatedReplicas()) }),
		col("AVAILABLE", func(d *appsv1.Deployment, _ time.Time) string { return itoa(d.GetStatus().GetAvailableReplicas()) }),
		ageColumn,
		wide(col("CONTAINERS", func(d *appsv1.Deployment, _ time.Time) string { return containerNames(d.GetSpec().GetTemplate()) })),
		wide(col("IMAGES", func(d *appsv1.Deployment, _ time.Time) string { return containerImages(d.GetSpec().GetTemplate()) })),
		wide(col("SELECTOR", func(d *appsv1.Deployment, _ time.Time) string { return FormatSelector(d.GetSpec().GetSelector()) })),
	)
	register("ReplicaSet",
		nameColumn,
		col("DESIRED", func(r *appsv1.ReplicaSet, _ time.Time) string { return itoa(replicas(r.GetSpec())) }),
		col("CURRENT", func(r *appsv1.ReplicaSet, _ time.Time) string { return itoa(r.GetStatus().GetReplicas()) }),
		col("READY", func(r *appsv1.ReplicaSet, _ time.Time) string { return itoa(r.GetStatus().GetReadyReplicas()) }),
		ageColumn,
		wide(col("CONTAINERS", func(r *appsv1.ReplicaSet, _ time.Time) string { return containerNames(r.GetSpec().GetTemplate()) })),
		wide(col("IMAGES", func(r *appsv1.ReplicaSet, _ time.Time) string { return containerImages(r.GetSpec().GetTemplate()) })),
		wide(col("SELECTOR", func(r *appsv1.ReplicaSet, _ time.Time) string { return FormatSelector(r.GetSpec().GetSelector()) })),
	)
	register("ReplicationController",
		nameColumn,
		col("DESIRED", func(r *corev1.ReplicationController, _ time.Time) string { return itoa(replicas(r.GetSpec())) }),
		col("CURRENT", func(r *corev1.ReplicationController, _ time.Time) string { return itoa(r.GetStatus().GetReplicas()) }),
		col("READY", func(r *corev1.ReplicationController, _ time.Time) string {
			return itoa(r.GetStatus().GetReadyReplicas())
		}),
		ageColumn,
		wide(col("CONTAINERS", func(r *corev1.ReplicationController, _ time.Time) string {
			return containerNames(r.GetSpec().GetTemplate())
		})),
		wide(col("IMAGES", func(r *corev1.ReplicationController, _ time.Time) string {
			return containerImages(r.GetSpec().GetTemplate())
		})),
		wide(col("SELECTOR", func(r *corev1.ReplicationController, _ time.Time) string {
			return formatLabels(r.GetSpec().GetSelector())
		})),
	)
	register("StatefulSet",
		nameColumn,
		col("READY", func(s *appsv1.StatefulSet, _ time.Time) string {
			return fmt.Sprintf("%d/%d", s.GetStatus().GetReadyReplicas(), replicas(s.GetSpec()))
		}),
		ageColumn,
		wide(col("CONTAINERS", func(s *appsv1.StatefulSet, _ time.Time) string { return containerNames(s.GetSpec().GetTemplate()) })),
		wide(col("IMAGES", func(s *appsv1.StatefulSet, _ time.Time) string { return containerImages(s.GetSpec().GetTemplate()) })),
	)
	register("DaemonSet",
		nameColumn,
		col("DESIRED", func(d *appsv1.DaemonSet, _ time.Time) string { return itoa(d.GetStatus().GetDesiredNumberScheduled()) }),
		col("CURRENT", func(d *appsv1.DaemonSet, _ time.Time) string { return itoa(d.GetStatus().GetCurrentNumberScheduled()) }),
		col("READY", func(d *appsv1.DaemonSet, _ time.Time) string { return itoa(d.GetStatus().GetNumberReady()) }),
		col("UP-TO-DATE", func(d *appsv1.DaemonSet, _ time.Time) string { return itoa(d.GetStatus().GetUpdatedNumberScheduled()) }),
		col("AVAILABLE", func(d *appsv1.DaemonSet, _ time.Time) string { return itoa(d.GetStatus().GetNumberAvailable()) }),
		col("NODE SELECTOR", func(d *appsv1.DaemonSet, _ time.Time) string {
			return formatLabels(d.GetSpec().GetTemplate().GetSpec().GetNodeSelector())
		}),
		ageColumn,
		wide(col("CONTAINERS", func(d *appsv1.DaemonSet, _ time.Time) string { return containerNames(d.GetSpec().GetTemplate()) })),
		wide(col("IMAGES", func(d *appsv1.DaemonSet, _ time.Time) string { return containerImages(d.GetSpec().GetTemplate()) })),
		wide(col("SELECTOR", func(d *appsv1.DaemonSet, _ time.Time) string { return FormatSelector(d.GetSpec().GetSelector()) })),
	)
	register("Job",
		nameColumn,
		col("STATUS", func(j *batchv1.Job, _ time.Time) string { return jobStatus(j) }),
		col("COMPLETIONS", func(j *batchv1.Job, _ time.Time) string { return jobCompletions(j) }),
		col("DURATION", jobDuration),
		ageColumn,
		wide(col("CONTAINERS", func(j *batchv1.Job, _ time.Time) string { return containerNames(j.GetSpec().GetTemplate()) })),
		wide(col("IMAGES", func(j *batchv1.Job, _ time.Time) string { return containerImages(j.GetSpec().GetTemplate()) })),
		wide(col("SELECTOR", func(j *batchv1.Job, _ time.Time) string { return FormatSelector(j.GetSpec().GetSelector()) })),
	)
	register("CronJob",
		nameColumn,
		col("SCHEDULE", func(c *batchv1.CronJob, _ time.Time) string { return c.GetSpec().GetSchedule() }),
		col("TIMEZONE", func(c *batchv1.CronJob, _ time.Time) string { return orNone(c.GetSpec().GetTimeZone()) }),
		col("SUSPEND", func(c *batchv1.CronJob, _ time.Time) string { return boolTitle(c.GetSpec().GetSuspend()) }),
		col("ACTIVE", func(c *batchv1.CronJob, _ time.Time) string { return strconv.Itoa(len(c.GetStatus().GetActive())) }),
		col("LAST SCHEDULE", func(c *batchv1.CronJob, now time.Time) string { return Since(c.GetStatus().GetLastScheduleTime(), now) }),
		ageColumn,
		wide(col("CONTAINERS", func(c *batchv1.CronJob, _ time.Time) string {
			return containerNames(c.GetSpec().GetJobTemplate().GetSpec().GetTemplate())
		})),
		wide(col("IMAGES", func(c *batchv1.CronJob, _ time.Time) string {
			return containerImages(c.GetSpec().GetJobTemplate().GetSpec().GetTemplate())
		})),
		wide(col("SELECTOR", func(c *batchv1.CronJob, _ time.Time) string {
			return FormatSelector(c.GetSpec().GetJobTemplate().GetSpec().GetSelector())
		})),
	)
	register("Service",
		nameColumn,
		col("TYPE", func(s *corev1.Service, _ time.Time) string { return serviceType(s) }),
		col("CLUSTER-IP", func(s *corev1.Service, _ time.Time) string { return orNone(s.GetSpec().GetClusterIp()) }),
		col("EXTERNAL-IP", func(s *corev1.Service, _ time.Time) string { return serviceExternalIP(s) }),
		col("PORT(S)", func(s *corev1.Service, _ time.Time) string { return servicePorts(s.GetSpec().GetPorts()) }),
		ageColumn,
		wide(col("SELECTOR", func(s *corev1.Service, _ time.Time) string { return formatLabels(s.GetSpec().GetSelector()) })),
	)
	register("Endpoints",
		nameColumn,
		col("ENDPOINTS", func(e *corev1.Endpoints, _ time.Time) string { return formatEndpoints(e) }),
		ageColumn,
	)
	register("EndpointSlice",
		nameColumn,
		col("ADDRESSTYPE", func(e *discoveryv1.EndpointSlice, _ time.Time) string { return e.GetAddressType() }),
		col("PORTS", func(e *discoveryv1.EndpointSlice, _ time.Time) string { return sliceP(e) }),
		col("ENDPOINTS", func(e *discoveryv1.EndpointSlice, _ time.Time) string { return sliceEndpoints(e) }),
		ageColumn,
	)
	register("Node",
		nameColumn,
		col("STATUS", func(n *corev1.Node, _ time.Time) string { return nodeStatus(n) }),
		col("ROLES", func(n *corev1.Node, _ time.Time) string { return nodeRoles(n) }),
		ageColumn,
		col("VERSION", func(n *corev1.Node, _ time.Time) string { return n.GetStatus().GetNodeInfo().GetKubeletVersion() }),
		wide(col("INTERNAL-IP", func(n *corev1.Node, _ time.Time) string { return nodeAddress(n, "InternalIP") })),
		wide(col("EXTERNAL-IP", func(n *corev1.Node, _ time.Time) string { return nodeAddress(n, "ExternalIP") })),
		wide(col("OS-IMAGE", func(n *corev1.Node, _ time.Time) string { return orUnknown(n.GetStatus().GetNodeInfo().GetOsImage()) })),
		wide(col("KERNEL-VERSION", func(n *corev1.Node, _ time.Time) string {
			return orUnknown(n.GetStatus().GetNodeInfo().GetKernelVersion())
		})),
		wide(col("CONTAINER-RUNTIME", func(n *corev1.Node, _ time.Time) string {
			return orUnknown(n.GetStatus().GetNodeInfo().GetContainerRuntimeVersion())
		})),
	)
	register("Namespace",
		nameColumn,
		col("STATUS", func(n *corev1.Namespace, _ time.Time) string { return NamespacePhase(n) }),
		ageColumn,
	)
	register("ConfigMap",
		nameColumn,
		col("DATA", func(c *corev1.ConfigMap, _ time.Time) string {
			return strconv.Itoa(len(c.GetData()) + len(c.GetBinaryData()))
		}),
		ageColumn,
	)
	register("Secret",
		nameColumn,
		col("TYPE", func(s *corev1.Secret, _ time.Time) string { return SecretType(s) }),
		col("DATA", func(s *corev1.Secret, _ time.Time) string { return strconv.Itoa(len(secretKeys(s))) }),
		ageColumn,
	)
	register("ServiceAccount",
		nameColumn,
		col("SECRETS", func(s *corev1.ServiceAccount, _ time.Time) string { return strconv.Itoa(len(s.GetSecrets())) }),
		ageColumn,
	)
	register("Event",
		col("LAST SEEN", func(e *corev1.Event, now time.Time) string { return eventLastSeen(e, now) }),
		col("TYPE", func(e *corev1.Event, _ time.Time) string { return e.GetType() }),
		col("REASON", func(e *corev1.Event, _ time.Time) string { return e.GetReason() }),
		col("OBJECT", func(e *corev1.Event, _ time.Time) string {
			io := e.GetInvolvedObject()
			return strings.ToLower(io.GetKind()) + "/" + io.GetName()
		}),
		col("MESSAGE", func(e *corev1.Event, _ time.Time) string { return strings.TrimSpace(e.GetMessage()) }),
		wide(col("SOURCE", func(e *corev1.Event, _ time.Time) string { return eventSource(e) })),
		wide(col("FIRST SEEN", func(e *corev1.Event, now time.Time) string { return Since(e.GetFirstTimestamp(), now) })),
		wide(col("COUNT", func(e *corev1.Event, _ time.Time) string { return itoa(max(e.GetCount(), 1)) })),
		wide(col("NAME", func(e *corev1.Event, _ time.Time) string { return e.GetMetadata().GetName() })),
	)
	register("PersistentVolume",
		nameColumn,
		col("CAPACITY", func(p *corev1.PersistentVolume, _ time.Time) string {
			return p.GetSpec().GetCapacity()["storage"].GetString_()
		}),
		col("ACCESS MODES", func(p *corev1.PersistentVolume, _ time.Time) string { return accessModes(p.GetSpec().GetAccessModes()) }),
		col("RECLAIM POLICY", func(p *corev1.PersistentVolume, _ time.Time) string {
			return p.GetSpec().GetPersistentVolumeReclaimPolicy()
		}),
		col("STATUS", func(p *corev1.PersistentVolume, _ time.Time) string { return p.GetStatus().GetPhase() }),
		col("CLAIM", func(p *corev1.PersistentVolume, _ time.Time) string {
			if r := p.GetSpec().GetClaimRef(); r != nil {
				return r.GetNamespace() + "/" + r.GetName()
			}
			return ""
		}),
		col("STORAGECLASS", func(p *corev1.PersistentVolume, _ time.Time) string { return p.GetSpec().GetStorageClassName() }),
		col("VOLUMEATTRIBUTESCLASS", func(p *corev1.PersistentVolume, _ time.Time) string {
			return orUnset(p.GetSpec().GetVolumeAttributesClassName())
		}),
		col("REASON", func(p *corev1.PersistentVolume, _ time.Time) string { return p.GetStatus().GetReason() }),
		ageColumn,
		wide(col("VOLUMEMODE", func(p *corev1.PersistentVolume, _ time.Time) string { return volumeMode(p.GetSpec().VolumeMode) })),
	)
	register("PersistentVolumeClaim",
		nameColumn,
		col("STATUS", func(p *corev1.PersistentVolumeClaim, _ time.Time) string {
			if p.GetMetadata().GetDeletionTimestamp() != nil {
				return "Terminating"
			}
			return p.GetStatus().GetPhase()
		}),
		col("VOLUME", func(p *corev1.PersistentVolumeClaim, _ time.Time) string { return p.GetSpec().GetVolumeName() }),
		col("CAPACITY", func(p *corev1.PersistentVolumeClaim, _ time.Time) string {
			return p.GetStatus().GetCapacity()["storage"].GetString_()
		}),
		col("ACCESS MODES", func(p *corev1.PersistentVolumeClaim, _ time.Time) string {
			return accessModes(p.GetStatus().GetAccessModes())
		}),
		col("STORAGECLASS", func(p *corev1.PersistentVolumeClaim, _ time.Time) string { return p.GetSpec().GetStorageClassName() }),
		col("VOLUMEATTRIBUTESCLASS", func(p *corev1.PersistentVolumeClaim, _ time.Time) string {
			return orUnset(p.GetSpec().GetVolumeAttributesClassName())
		}),
		ageColumn,
		wide(col("VOLUMEMODE", func(p *corev1.PersistentVolumeClaim, _ time.Time) string { return volumeMode(p.GetSpec().VolumeMode) })),
	)
	createdAt := func(m *metav1.ObjectMeta) string {
		if m.GetCreationTimestamp() == nil {
			return "<unknown>"
		}
		return m.GetCreationTimestamp().AsTime().UTC().Format(time.RFC3339)
	}
	register("Role", nameColumn,
		col("CREATED AT", func(r *rbacv1.Role, _ time.Time) string { return createdAt(r.GetMetadata()) }))
	register("ClusterRole", nameColumn,
		col("CREATED AT", func(r *rbacv1.ClusterRole, _ time.Time) string { return createdAt(r.GetMetadata()) }))
	register("RoleBinding",
		nameColumn,
		col("ROLE", func(r *rbacv1.RoleBinding, _ time.Time) string {
			return r.GetRoleRef().GetKind() + "/" + r.GetRoleRef().GetName()
		}),
		ageColumn,
		wide(col("USERS", func(r *rbacv1.RoleBinding, _ time.Time) string { return subjects(r.GetSubjects(), "User") })),
		wide(col("GROUPS", func(r *rbacv1.RoleBinding, _ time.Time) string { return subjects(r.GetSubjects(), "Group") })),
		wide(col("SERVICEACCOUNTS", func(r *rbacv1.RoleBinding, _ time.Time) string {
			return subjects(r.GetSubjects(), "ServiceAccount")
		})),
	)
	register("ClusterRoleBinding",
		nameColumn,
		col("ROLE", func(r *rbacv1.ClusterRoleBinding, _ time.Time) string {
			return r.GetRoleRef().GetKind() + "/" + r.GetRoleRef().GetName()
		}),
		ageColumn,
		wide(col("USERS", func(r *rbacv1.ClusterRoleBinding, _ time.Time) string { return subjects(r.GetSubjects(), "User") })),
		wide(col("GROUPS", func(r *rbacv1.ClusterRoleBinding, _ time.Time) string { return subjects(r.GetSubjects(), "Group") })),
		wide(col("SERVICEACCOUNTS", func(r *rbacv1.ClusterRoleBinding, _ time.Time) string {
			return subjects(r.GetSubjects(), "ServiceAccount")
		})),
	)
	register("Lease",
		nameColumn,
		col("HOLDER", func(l *coordinationv1.Lease, _ time.Time) string { return l.GetSpec().GetHolderIdentity() }),
		ageColumn,
	)
	register("PriorityClass",
		nameColumn,
		col("VALUE", func(p *schedulingv1.PriorityClass, _ time.Time) string { return itoa(p.GetValue()) }),
		col("GLOBAL-DEFAULT", func(p *schedulingv1.PriorityClass, _ time.Time) string {
			return strconv.FormatBool(p.GetGlobalDefault())
		}),
		ageColumn,
		col("PREEMPTIONPOLICY", func(p *schedulingv1.PriorityClass, _ time.Time) string {
			if p.PreemptionPolicy == nil {
				return "PreemptLowerPriority"
			}
			return p.GetPreemptionPolicy()
		}),
	)
	register("PodTemplate",
		nameColumn,
		col("CONTAINERS", func(p *corev1.PodTemplate, _ time.Time) string { return containerNames(p.GetTemplate()) }),
		col("IMAGES", func(p *corev1.PodTemplate, _ time.Time) string { return containerImages(p.GetTemplate()) }),
		col("POD LABELS", func(p *corev1.PodTemplate, _ time.Time) string {
			return formatLabels(p.GetTemplate().GetMetadata().GetLabels())
		}),
	)
}

func itoa[T int | int32 | int64](n T) string { return strconv.FormatInt(int64(n), 10) }

// replicas is a spec's replicas; unset (or no spec) means upstream's
// default of 1.
func replicas(spec proto.Message) int32 {
	r := spec.ProtoReflect()
	fd := r.Descriptor().Fields().ByName("replicas")
	if !r.IsValid() || fd == nil || !r.Has(fd) {
		return 1
	}
	return int32(r.Get(fd).Int())
}

func boolTitle(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

func orUnknown(s string) string {
	if s == "" {
		return "<unknown>"
	}
	return s
}

func orUnset(s string) string {
	if s == "" {
		return "<unset>"
	}
	return s
}

func volumeMode(p *string) string {
	if p == nil {
		return "Filesystem"
	}
	return *p
}

// podReadiness is kubectl's pod status logic: ready and total containers, the
// STATUS reason shown, and the restart count.
func podReadiness(p *corev1.Pod) (ready, total int, reason string, restarts int) {
	st := p.GetStatus()
	total = len(p.GetSpec().GetContainers())
	reason = st.GetPhase()
	if reason == "" {
		reason = "Pending"
	}
	if st.GetReason() != "" {
		reason = st.GetReason()
	}
	for _, c := range st.GetConditions() {
		if c.GetType() == "PodScheduled" && c.GetReason() == "SchedulingGated" {
			reason = "SchedulingGated"
		}
	}
	sidecars := map[string]bool{}
	for _, c := range p.GetSpec().GetInitContainers() {
		if c.GetRestartPolicy() == "Always" {
			sidecars[c.GetName()] = true
			total++
		}
	}
	initializing := false
	sidecarRestarts := 0
	for n, c := range st.GetInitContainerStatuses() {
		restarts += int(c.GetRestartCount())
		if sidecars[c.GetName()] {
			sidecarRestarts += int(c.GetRestartCount())
		}
		state := c.GetState()
		switch {
		case state.GetTerminated() != nil && state.GetTerminated().GetExitCode() == 0:
			continue
		case sidecars[c.GetName()] && c.GetStarted():
			if c.GetReady() {
				ready++
			}
			continue
		case state.GetTerminated() != nil:
			t := state.GetTerminated()
			switch {
			case t.GetReason() != "":
				reason = "Init:" + t.GetReason()
			case t.GetSignal() != 0:
				reason = fmt.Sprintf("Init:Signal:%d", t.GetSignal())
			default:
				reason = fmt.Sprintf("Init:ExitCode:%d", t.GetExitCode())
			}
		case state.GetWaiting().GetReason() != "" && state.GetWaiting().GetReason() != "PodInitializing":
			reason = "Init:" + state.GetWaiting().GetReason()
		default:
			reason = fmt.Sprintf("Init:%d/%d", n, len(p.GetSpec().GetInitContainers()))
		}
		initializing = true
		break
	}
	if !initializing || conditionTrue(st.GetConditions(), "Initialized") {
		restarts = sidecarRestarts
		running := false
		cs := st.GetContainerStatuses()
		for n := len(cs) - 1; n >= 0; n-- {
			c := cs[n]
			restarts += int(c.GetRestartCount())
			state := c.GetState()
			switch {
			case state.GetWaiting().GetReason() != "":
				reason = state.GetWaiting().GetReason()
			case state.GetTerminated() != nil && state.GetTerminated().GetReason() != "":
				reason = state.GetTerminated().GetReason()
			case state.GetTerminated() != nil && state.GetTerminated().GetSignal() != 0:
				reason = fmt.Sprintf("Signal:%d", state.GetTerminated().GetSignal())
			case state.GetTerminated() != nil:
				reason = fmt.Sprintf("ExitCode:%d", state.GetTerminated().GetExitCode())
			case c.GetReady() && state.GetRunning() != nil:
				running = true
				ready++
			}
		}
		if reason == "Completed" && running {
			reason = "NotReady"
			if conditionTrue(st.GetConditions(), "Ready") {
				reason = "Running"
			}
		}
	}
	if p.GetMetadata().GetDeletionTimestamp() != nil {
		if st.GetReason() == "NodeLost" {
			reason = "Unknown"
		} else if ph := st.GetPhase(); ph != "Succeeded" && ph != "Failed" {
			reason = "Terminating"
		}
	}
	return ready, total, reason, restarts
}

func conditionTrue(conds []*corev1.PodCondition, t string) bool {
	for _, c := range conds {
		if c.GetType() == t {
			return c.GetStatus() == "True"
		}
	}
	return false
}

// podRestarts is the RESTARTS cell: "2 (5m ago)" when a container restarted.
func podRestarts(p *corev1.Pod, now time.Time) string {
	_, _, _, restarts := podReadiness(p)
	var last time.Time
	for _, c := range append(slices.Clone(p.GetStatus().GetInitContainerStatuses()), p.GetStatus().GetContainerStatuses()...) {
		if f := c.GetLastTerminationState().GetTerminated().GetFinishedAt(); f != nil && f.AsTime().After(last) {
			last = f.AsTime()
		}
	}
	if restarts == 0 || last.IsZero() {
		return strconv.Itoa(restarts)
	}
	return fmt.Sprintf("%d (%s ago)", restarts, duration.HumanDuration(now.Sub(last)))
}

func podReadinessGates(p *corev1.Pod, _ time.Time) string {
	gates := p.GetSpec().GetReadinessGates()
	if len(gates) == 0 {
		return "<none>"
	}
	ok := 0
	for _, g := range gates {
		if conditionTrue(p.GetStatus().GetConditions(), g.GetConditionType()) {
			ok++
		}
	}
	return fmt.Sprintf("%d/%d", ok, len(gates))
}

func containerNames(t *corev1.PodTemplateSpec) string {
	var names []string
	for _, c := range t.GetSpec().GetContainers() {
		names = append(names, c.GetName())
	}
	return strings.Join(names, ",")
}

func containerImages(t *corev1.PodTemplateSpec) string {
	var images []string
	for _, c := range t.GetSpec().GetContainers() {
		images = append(images, c.GetImage())
	}
	return strings.Join(images, ",")
}

// FormatSelector renders a label selector in upstream syntax
// ("app=web,tier in (a,b)"); "<none>" for an empty one.
func FormatSelector(s *metav1.LabelSelector) string {
	if s == nil || (len(s.GetMatchLabels()) == 0 && len(s.GetMatchExpressions()) == 0) {
		return "<none>"
	}
	var parts []string
	if len(s.GetMatchLabels()) > 0 {
		parts = append(parts, formatLabels(s.GetMatchLabels()))
	}
	for _, e := range s.GetMatchExpressions() {
		vals := slices.Clone(e.GetValues())
		slices.Sort(vals)
		switch e.GetOperator() {
		case "In":
			parts = append(parts, fmt.Sprintf("%s in (%s)", e.GetKey(), strings.Join(vals, ",")))
		case "NotIn":
			parts = append(parts, fmt.Sprintf("%s notin (%s)", e.GetKey(), strings.Join(vals, ",")))
		case "Exists":
			parts = append(parts, e.GetKey())
		case "DoesNotExist":
			parts = append(parts, "!"+e.GetKey())
		default:
			parts = append(parts, fmt.Sprintf("%s %s (%s)", e.GetKey(), e.GetOperator(), strings.Join(vals, ",")))
		}
	}
	return strings.Join(parts, ",")
}

func jobStatus(j *batchv1.Job) string {
	has := func(t string) bool {
		for _, c := range j.GetStatus().GetConditions() {
			if c.GetType() == t && c.GetStatus() == "True" {
				return true
			}
		}
		return false
	}
	switch {
	case has("Complete"):
		return "Complete"
	case has("Failed"):
		return "Failed"
	case j.GetMetadata().GetDeletionTimestamp() != nil:
		return "Terminating"
	case has("FailureTarget"):
		return "FailureTarget"
	case has("SuccessCriteriaMet"):
		return "SuccessCriteriaMet"
	case has("Suspended"):
		return "Suspended"
	}
	return "Running"
}

func jobCompletions(j *batchv1.Job) string {
	succeeded := j.GetStatus().GetSucceeded()
	if j.GetSpec().Completions != nil {
		return fmt.Sprintf("%d/%d", succeeded, j.GetSpec().GetCompletions())
	}
	if p := j.GetSpec().GetParallelism(); p > 1 {
		return fmt.Sprintf("%d/1 of %d", succeeded, p)
	}
	return fmt.Sprintf("%d/1", succeeded)
}

func jobDuration(j *batchv1.Job, now time.Time) string {
	start := j.GetStatus().GetStartTime()
	if start == nil {
		return ""
	}
	end := now
	if c := j.GetStatus().GetCompletionTime(); c != nil {
		end = c.AsTime()
	}
	return duration.HumanDuration(end.Sub(start.AsTime()))
}

func serviceType(s *corev1.Service) string {
	if t := s.GetSpec().GetType(); t != "" {
		return t
	}
	return "ClusterIP"
}

func serviceExternalIP(s *corev1.Service) string {
	ext := s.GetSpec().GetExternalIps()
	switch serviceType(s) {
	case "ExternalName":
		return s.GetSpec().GetExternalName()
	case "LoadBalancer":
		var ips []string
		for _, in := range s.GetStatus().GetLoadBalancer().GetIngress() {
			if in.GetIp() != "" {
				ips = append(ips, in.GetIp())
			} else if in.GetHostname() != "" {
				ips = append(ips, in.GetHostname())
			}
		}
		ips = append(ips, ext...)
		if len(ips) == 0 {
			return "<pending>"
		}
		return strings.Join(ips, ",")
	}
	if len(ext) > 0 {
		return strings.Join(ext, ",")
	}
	return "<none>"
}

func servicePorts(ports []*corev1.ServicePort) string {
	if len(ports) == 0 {
		return "<none>"
	}
	out := make([]string, len(ports))
	for n, p := range ports {
		proto := p.GetProtocol()
		if proto == "" {
			proto = "TCP"
		}
		if p.GetNodePort() != 0 {
			out[n] = fmt.Sprintf("%d:%d/%s", p.GetPort(), p.GetNodePort(), proto)
		} else {
			out[n] = fmt.Sprintf("%d/%s", p.GetPort(), proto)
		}
	}
	return strings.Join(out, ",")
}

// formatEndpoints lists up to three ip:port pairs, as kubectl.
func formatEndpoints(e *corev1.Endpoints) string {
	var list []string
	count := 0
	for _, ss := range e.GetSubsets() {
		for _, a := range ss.GetAddresses() {
			if len(ss.GetPorts()) == 0 {
				count++
				if len(list) < 3 {
					list = append(list, a.GetIp())
				}
				continue
			}
			for _, p := range ss.GetPorts() {
				count++
				if len(list) < 3 {
					list = append(list, fmt.Sprintf("%s:%d", a.GetIp(), p.GetPort()))
				}
			}
		}
	}
	if count == 0 {
		return "<none>"
	}
	s := strings.Join(list, ",")
	if count > len(list) {
		s += fmt.Sprintf(" + %d more...", count-len(list))
	}
	return s
}

func sliceP(e *discoveryv1.EndpointSlice) string {
	if len(e.GetPorts()) == 0 {
		return "<unset>"
	}
	var out []string
	for _, p := range e.GetPorts() {
		out = append(out, itoa(p.GetPort()))
	}
	return strings.Join(out, ",")
}

func sliceEndpoints(e *discoveryv1.EndpointSlice) string {
	var addrs []string
	for _, ep := range e.GetEndpoints() {
		addrs = append(addrs, ep.GetAddresses()...)
	}
	if len(addrs) == 0 {
		return "<unset>"
	}
	if len(addrs) > 3 {
		return strings.Join(addrs[:3], ",") + fmt.Sprintf(" + %d more...", len(addrs)-3)
	}
	return strings.Join(addrs, ",")
}

func nodeStatus(n *corev1.Node) string {
	var status []string
	for _, c := range n.GetStatus().GetConditions() {
		if c.GetType() == "Ready" {
			if c.GetStatus() == "True" {
				status = append(status, "Ready")
			} else {
				status = append(status, "NotReady")
			}
		}
	}
	if len(status) == 0 {
		status = append(status, "Unknown")
	}
	if n.GetSpec().GetUnschedulable() {
		status = append(status, "SchedulingDisabled")
	}
	return strings.Join(status, ",")
}

func nodeRoles(n *corev1.Node) string {
	var roles []string
	for k, v := range n.GetMetadata().GetLabels() {
		switch {
		case strings.HasPrefix(k, "node-role.kubernetes.io/"):
			if r := strings.TrimPrefix(k, "node-role.kubernetes.io/"); r != "" {
				roles = append(roles, r)
			}
		case k == "kubernetes.io/role" && v != "":
			roles = append(roles, v)
		}
	}
	if len(roles) == 0 {
		return "<none>"
	}
	slices.Sort(roles)
	return strings.Join(slices.Compact(roles), ",")
}

func nodeAddress(n *corev1.Node, t string) string {
	for _, a := range n.GetStatus().GetAddresses() {
		if a.GetType() == t {
			return a.GetAddress()
		}
	}
	return "<none>"
}

// NamespacePhase is a namespace's STATUS: its phase, Active when unset.
func NamespacePhase(n *corev1.Namespace) string {
	if p := n.GetStatus().GetPhase(); p != "" {
		return p
	}
	if n.GetMetadata().GetDeletionTimestamp() != nil {
		return "Terminating"
	}
	return "Active"
}

// SecretType is a secret's type, Opaque when unset.
func SecretType(s *corev1.Secret) string {
	if s.GetType() == "" {
		return "Opaque"
	}
	return s.GetType()
}

func secretKeys(s *corev1.Secret) []string {
	var keys []string
	for k := range s.GetData() {
		keys = append(keys, k)
	}
	for k := range s.GetStringData() {
		if _, dup := s.GetData()[k]; !dup {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

func eventLastSeen(e *corev1.Event, now time.Time) string {
	last := e.GetLastTimestamp()
	if last == nil {
		last = e.GetEventTime()
	}
	if last == nil {
		last = e.GetFirstTimestamp()
	}
	if last == nil {
		last = e.GetMetadata().GetCreationTimestamp()
	}
	s := Age(last, now)
	if count := e.GetCount(); count > 1 && e.GetFirstTimestamp() != nil {
		s = fmt.Sprintf("%s (x%d over %s)", s, count, Age(e.GetFirstTimestamp(), now))
	}
	return s
}

func eventSource(e *corev1.Event) string {
	src := e.GetSource().GetComponent()
	if src == "" {
		src = e.GetReportingController()
	}
	if h := e.GetSource().GetHost(); h != "" {
		src += ", " + h
	}
	return src
}

func accessModes(modes []string) string {
	short := map[string]string{"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX", "ReadWriteOncePod": "RWOP"}
	var out []string
	for _, m := range modes {
		if s, ok := short[m]; ok && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return strings.Join(out, ",")
}

func subjects(subs []*rbacv1.Subject, k string) string {
	var out []string
	for _, s := range subs {
		if s.GetKind() != k {
			continue
		}
		if k == "ServiceAccount" {
			out = append(out, s.GetNamespace()+"/"+s.GetName())
		} else {
			out = append(out, s.GetName())
		}
	}
	return strings.Join(out, ", ")
}
