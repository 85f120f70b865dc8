package validation

import (
	"encoding/json"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
)

// coreMaxSecretSize is upstream's limit on Secret and ConfigMap data (1 MiB).
const coreMaxSecretSize = 1 * 1024 * 1024

func init() {
	Register("Node", nil, func(obj, old proto.Message) field.ErrorList {
		n := obj.(*corev1.Node)
		errs := coreValidateNodeSpec(n.GetSpec(), field.NewPath("spec"))
		if old != nil {
			errs = append(errs, coreValidateNodeUpdate(n.GetSpec(), old.(*corev1.Node).GetSpec())...)
		}
		return errs
	})
	RegisterStatus("Node", func(obj, old proto.Message) field.ErrorList {
		return coreValidateNodeStatus(obj.(*corev1.Node).GetStatus(), field.NewPath("status"))
	})
	Register("Namespace", NameIsDNSLabel, func(obj, old proto.Message) field.ErrorList {
		var errs field.ErrorList
		for i, f := range obj.(*corev1.Namespace).GetSpec().GetFinalizers() {
			errs = append(errs, coreFinalizerName(f, field.NewPath("spec", "finalizers").Index(i))...)
		}
		return errs
	})
	RegisterStatus("Namespace", func(obj, old proto.Message) field.ErrorList {
		st := obj.(*corev1.Namespace).GetStatus()
		var errs field.ErrorList
		if p := st.GetPhase(); p != "" && !coreOneOf(p, "Active", "Terminating") {
			errs = append(errs, coreNotSupported(field.NewPath("status", "phase"), p, "Active", "Terminating"))
		}
		for i, c := range st.GetConditions() {
			errs = append(errs, coreConditionStatus(c.Status, field.NewPath("status", "conditions").Index(i).Child("status"))...)
		}
		return errs
	})
	Register("Secret", nil, func(obj, old proto.Message) field.ErrorList {
		s := obj.(*corev1.Secret)
		errs := coreValidateSecret(s)
		if old != nil {
			o := old.(*corev1.Secret)
			if s.Type != o.Type {
				errs = append(errs, field.Invalid(field.NewPath("type"), s.Type, "field is immutable"))
			}
			if o.GetImmutable() {
				if !s.GetImmutable() {
					errs = append(errs, field.Forbidden(field.NewPath("immutable"), "field is immutable when `immutable` is set"))
				}
				if !coreBytesMapEqual(s.Data, o.Data) {
					errs = append(errs, field.Forbidden(field.NewPath("data"), "field is immutable when `immutable` is set"))
				}
			}
		}
		return errs
	})
	Register("ConfigMap", nil, func(obj, old proto.Message) field.ErrorList {
		c := obj.(*corev1.ConfigMap)
		errs := coreValidateConfigMap(c)
		if old != nil {
			o := old.(*corev1.ConfigMap)
			if o.GetImmutable() {
				if !c.GetImmutable() {
					errs = append(errs, field.Forbidden(field.NewPath("immutable"), "field is immutable when `immutable` is set"))
				}
				if !coreStringMapEqual(c.Data, o.Data) {
					errs = append(errs, field.Forbidden(field.NewPath("data"), "field is immutable when `immutable` is set"))
				}
				if !coreBytesMapEqual(c.BinaryData, o.BinaryData) {
					errs = append(errs, field.Forbidden(field.NewPath("binaryData"), "field is immutable when `immutable` is set"))
				}
			}
		}
		return errs
	})
	Register("ServiceAccount", nil, func(obj, old proto.Message) field.ErrorList {
		var errs field.ErrorList
		for i, s := range obj.(*corev1.ServiceAccount).GetImagePullSecrets() {
			if s.GetName() == "" {
				errs = append(errs, field.Required(field.NewPath("imagePullSecrets").Index(i).Child("name"), ""))
			}
		}
		return errs
	})
	Register("Event", nil, func(obj, old proto.Message) field.ErrorList {
		return coreValidateEvent(obj.(*corev1.Event))
	})
	Register("PersistentVolume", nil, func(obj, old proto.Message) field.ErrorList {
		pv := obj.(*corev1.PersistentVolume)
		errs := coreValidatePVSpec(pv.GetSpec(), field.NewPath("spec"))
		if old != nil {
			errs = append(errs, coreValidatePVUpdate(pv.GetSpec(), old.(*corev1.PersistentVolume).GetSpec())...)
		}
		return errs
	})
	RegisterStatus("PersistentVolume", func(obj, old proto.Message) field.ErrorList {
		phases := []string{"Available", "Bound", "Failed", "Pending", "Released"}
		if p := obj.(*corev1.PersistentVolume).GetStatus().GetPhase(); p != "" && !coreOneOf(p, phases...) {
			return field.ErrorList{coreNotSupported(field.NewPath("status", "phase"), p, phases...)}
		}
		return nil
	})
	Register("PersistentVolumeClaim", nil, func(obj, old proto.Message) field.ErrorList {
		pvc := obj.(*corev1.PersistentVolumeClaim)
		errs := corePVCSpec(pvc.GetSpec(), field.NewPath("spec"))
		if old != nil {
			errs = append(errs, coreValidatePVCUpdate(pvc, old.(*corev1.PersistentVolumeClaim))...)
		}
		return errs
	})
	RegisterStatus("PersistentVolumeClaim", func(obj, old proto.Message) field.ErrorList {
		st := obj.(*corev1.PersistentVolumeClaim).GetStatus()
		fld := field.NewPath("status")
		var errs field.ErrorList
		phases := []string{"Bound", "Lost", "Pending"}
		if p := st.GetPhase(); p != "" && !coreOneOf(p, phases...) {
			errs = append(errs, coreNotSupported(fld.Child("phase"), p, phases...))
		}
		errs = append(errs, coreAccessModes(st.GetAccessModes(), false, fld.Child("accessModes"))...)
		for name, q := range st.GetCapacity() {
			errs = append(errs, coreResourceQuantity(name, q, fld.Child("capacity").Key(name))...)
		}
		for i, c := range st.GetConditions() {
			errs = append(errs, coreConditionStatus(c.Status, fld.Child("conditions").Index(i).Child("status"))...)
		}
		return errs
	})
	Register("ReplicationController", nil, func(obj, old proto.Message) field.ErrorList {
		return coreValidateRCSpec(obj.(*corev1.ReplicationController).GetSpec(), field.NewPath("spec"))
	})
	RegisterStatus("ReplicationController", func(obj, old proto.Message) field.ErrorList {
		return coreValidateRCStatus(obj.(*corev1.ReplicationController).GetStatus(), field.NewPath("status"))
	})
}

func coreBytesMapEqual(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || string(v) != string(w) {
			return false
		}
	}
	return true
}

func coreStringMapEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || v != w {
			return false
		}
	}
	return true
}

// validateNodeSpec is upstream's ValidateNode (spec part).
func coreValidateNodeSpec(spec *corev1.NodeSpec, fld *field.Path) field.ErrorList {
	if spec == nil {
		return nil
	}
	var errs field.ErrorList
	type key struct{ k, e string }
	seen := map[key]bool{}
	for i, t := range spec.Taints {
		p := fld.Child("taints").Index(i)
		errs = append(errs, coreQualifiedName(t.Key, p.Child("key"))...)
		if msgs := validation.IsValidLabelValue(t.Value); len(msgs) != 0 {
			errs = append(errs, field.Invalid(p.Child("value"), t.Value, strings.Join(msgs, ";")))
		}
		errs = append(errs, coreTaintEffect(t.Effect, false, p.Child("effect"))...)
		if seen[key{t.Key, t.Effect}] {
			e := field.Duplicate(p, fmt.Sprintf("%s:%s", t.Key, t.Effect))
			e.Detail = "taints must be unique by key and effect pair"
			errs = append(errs, e)
		}
		seen[key{t.Key, t.Effect}] = true
	}
	if spec.PodCidr != "" {
		errs = append(errs, validation.IsValidCIDR(fld.Child("podCIDR"), spec.PodCidr)...)
		if len(spec.PodCidrs) > 0 && spec.PodCidrs[0] != spec.PodCidr {
			errs = append(errs, field.Invalid(fld.Child("podCIDRs"), spec.PodCidrs, "first value must match `podCIDR`"))
		}
	}
	v4, v6 := 0, 0
	for i, c := range spec.PodCidrs {
		e := validation.IsValidCIDR(fld.Child("podCIDRs").Index(i), c)
		errs = append(errs, e...)
		if len(e) == 0 {
			if strings.Contains(c, ":") {
				v6++
			} else {
				v4++
			}
		}
	}
	if len(spec.PodCidrs) > 2 || v4 > 1 || v6 > 1 {
		errs = append(errs, field.Invalid(fld.Child("podCIDRs"), spec.PodCidrs, "may specify no more than one CIDR for each IP family"))
	}
	return errs
}

// validateNodeUpdate: podCIDRs and providerID may be set once, not changed.
func coreValidateNodeUpdate(spec, old *corev1.NodeSpec) field.ErrorList {
	var errs field.ErrorList
	if oc := old.GetPodCidrs(); len(oc) > 0 {
		nc := spec.GetPodCidrs()
		same := len(oc) == len(nc)
		for i := 0; same && i < len(oc); i++ {
			same = oc[i] == nc[i]
		}
		if !same {
			errs = append(errs, field.Forbidden(field.NewPath("spec", "podCIDRs"), "node updates may not change podCIDR except from \"\" to valid"))
		}
	}
	if op := old.GetProviderId(); op != "" && op != spec.GetProviderId() {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "providerID"), "node updates may not change providerID except from \"\" to valid"))
	}
	return errs
}

var coreNodeAddressTypes = []string{"ExternalDNS", "ExternalIP", "Hostname", "InternalDNS", "InternalIP"}

func coreValidateNodeStatus(st *corev1.NodeStatus, fld *field.Path) field.ErrorList {
	if st == nil {
		return nil
	}
	var errs field.ErrorList
	for name, q := range st.Capacity {
		errs = append(errs, coreQualifiedName(name, fld.Child("capacity").Key(name))...)
		errs = append(errs, coreResourceQuantity(name, q, fld.Child("capacity").Key(name))...)
	}
	for name, q := range st.Allocatable {
		errs = append(errs, coreQualifiedName(name, fld.Child("allocatable").Key(name))...)
		errs = append(errs, coreResourceQuantity(name, q, fld.Child("allocatable").Key(name))...)
	}
	seen := map[string]bool{}
	for i, a := range st.Addresses {
		p := fld.Child("addresses").Index(i)
		if !coreOneOf(a.Type, coreNodeAddressTypes...) {
			errs = append(errs, coreNotSupported(p.Child("type"), a.Type, coreNodeAddressTypes...))
		}
		k := a.Type + "/" + a.Address
		if seen[k] {
			errs = append(errs, field.Duplicate(p, a.Address))
		}
		seen[k] = true
	}
	for i, c := range st.Conditions {
		p := fld.Child("conditions").Index(i)
		if c.Type == "" {
			errs = append(errs, field.Required(p.Child("type"), ""))
		}
		errs = append(errs, coreConditionStatus(c.Status, p.Child("status"))...)
	}
	return errs
}

// coreFinalizerName is upstream's validateFinalizerName for namespaces.
func coreFinalizerName(f string, fld *field.Path) field.ErrorList {
	errs := coreQualifiedName(f, fld)
	if !strings.Contains(f, "/") && !coreOneOf(f, "kubernetes", "orphan", "foregroundDeletion") {
		errs = append(errs, field.Invalid(fld, f, "name is neither a standard finalizer name nor is it fully qualified"))
	}
	return errs
}

// validateSecret is upstream's ValidateSecret (after stringData was merged).
func coreValidateSecret(s *corev1.Secret) field.ErrorList {
	var errs field.ErrorList
	dataPath := field.NewPath("data")
	total := 0
	for k, v := range s.Data {
		for _, msg := range validation.IsConfigMapKey(k) {
			errs = append(errs, field.Invalid(dataPath.Key(k), k, msg))
		}
		total += len(v)
	}
	if total > coreMaxSecretSize {
		errs = append(errs, field.TooLong(dataPath, "", coreMaxSecretSize))
	}
	switch s.Type {
	case "kubernetes.io/service-account-token":
		if s.GetMetadata().GetAnnotations()["kubernetes.io/service-account.name"] == "" {
			errs = append(errs, field.Required(field.NewPath("metadata", "annotations").Key("kubernetes.io/service-account.name"), ""))
		}
	case "kubernetes.io/dockercfg", "kubernetes.io/dockerconfigjson":
		key := ".dockercfg"
		if s.Type == "kubernetes.io/dockerconfigjson" {
			key = ".dockerconfigjson"
		}
		b, ok := s.Data[key]
		if !ok {
			errs = append(errs, field.Required(dataPath.Key(key), ""))
			break
		}
		if err := json.Unmarshal(b, &map[string]any{}); err != nil {
			errs = append(errs, field.Invalid(dataPath.Key(key), "<secret contents redacted>", err.Error()))
		}
	case "kubernetes.io/basic-auth":
		_, u := s.Data["username"]
		_, p := s.Data["password"]
		if !u && !p {
			errs = append(errs, field.Required(dataPath.Key("username"), ""), field.Required(dataPath.Key("password"), ""))
		}
	case "kubernetes.io/ssh-auth":
		if len(s.Data["ssh-privatekey"]) == 0 {
			errs = append(errs, field.Required(dataPath.Key("ssh-privatekey"), ""))
		}
	case "kubernetes.io/tls":
		if _, ok := s.Data["tls.crt"]; !ok {
			errs = append(errs, field.Required(dataPath.Key("tls.crt"), ""))
		}
		if _, ok := s.Data["tls.key"]; !ok {
			errs = append(errs, field.Required(dataPath.Key("tls.key"), ""))
		}
	}
	return errs
}

// validateConfigMap is upstream's ValidateConfigMap.
func coreValidateConfigMap(c *corev1.ConfigMap) field.ErrorList {
	var errs field.ErrorList
	total := 0
	for k, v := range c.Data {
		p := field.NewPath("data").Key(k)
		for _, msg := range validation.IsConfigMapKey(k) {
			errs = append(errs, field.Invalid(p, k, msg))
		}
		if _, dup := c.BinaryData[k]; dup {
			errs = append(errs, field.Invalid(p, k, "duplicate of key present in binaryData"))
		}
		total += len(v)
	}
	for k, v := range c.BinaryData {
		for _, msg := range validation.IsConfigMapKey(k) {
			errs = append(errs, field.Invalid(field.NewPath("binaryData").Key(k), k, msg))
		}
		total += len(v)
	}
	if total > coreMaxSecretSize {
		errs = append(errs, field.TooLong(field.NewPath(""), "", coreMaxSecretSize))
	}
	return errs
}

func coreValidateEvent(e *corev1.Event) field.ErrorList {
	var errs field.ErrorList
	io := e.InvolvedObject
	if io == nil {
		return append(errs, field.Required(field.NewPath("involvedObject"), ""))
	}
	ns := e.GetMetadata().GetNamespace()
	if io.Namespace == "" {
		if ns != "" && ns != "default" {
			errs = append(errs, field.Invalid(field.NewPath("involvedObject", "namespace"), io.Namespace, "does not match event.namespace"))
		}
	} else if io.Namespace != ns {
		errs = append(errs, field.Invalid(field.NewPath("involvedObject", "namespace"), io.Namespace, "does not match event.namespace"))
	}
	if e.Type != "" && !coreOneOf(e.Type, "Normal", "Warning") {
		errs = append(errs, coreNotSupported(field.NewPath("type"), e.Type, "Normal", "Warning"))
	}
	if e.Count < 0 {
		errs = append(errs, field.Invalid(field.NewPath("count"), e.Count, coreIsNegativeErrorMsg))
	}
	return errs
}

var coreAccessModeValues = []string{"ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"}

func coreAccessModes(modes []string, required bool, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if required && len(modes) == 0 {
		errs = append(errs, field.Required(fld, "at least 1 access mode is required"))
	}
	rwop, other := false, false
	for _, m := range modes {
		if !coreOneOf(m, coreAccessModeValues...) {
			errs = append(errs, coreNotSupported(fld, m, coreAccessModeValues...))
		} else if m == "ReadWriteOncePod" {
			rwop = true
		} else {
			other = true
		}
	}
	if rwop && other {
		errs = append(errs, field.Forbidden(fld, "may not use ReadWriteOncePod with other access modes"))
	}
	return errs
}

func coreStorageQuantity(q *metav1.Quantity, fld *field.Path) field.ErrorList {
	v, errs := coreParseQuantity(q, fld)
	if errs != nil {
		return errs
	}
	if v.Sign() <= 0 {
		return field.ErrorList{field.Invalid(fld, v.String(), coreIsNotPositiveErrMsg)}
	}
	return nil
}

// validatePVSpec is upstream's ValidatePersistentVolumeSpec.
func coreValidatePVSpec(spec *corev1.PersistentVolumeSpec, fld *field.Path) field.ErrorList {
	if spec == nil {
		return field.ErrorList{field.Required(fld, "")}
	}
	var errs field.ErrorList
	if len(spec.AccessModes) == 0 {
		errs = append(errs, field.Required(fld.Child("accessModes"), ""))
	}
	errs = append(errs, coreAccessModes(spec.AccessModes, false, fld.Child("accessModes"))...)
	capPath := fld.Child("capacity")
	if len(spec.Capacity) == 0 {
		errs = append(errs, field.Required(capPath, ""))
	} else if _, ok := spec.Capacity["storage"]; !ok || len(spec.Capacity) > 1 {
		var keys []string
		for k := range spec.Capacity {
			keys = append(keys, k)
		}
		errs = append(errs, field.NotSupported(capPath, strings.Join(keys, ","), []string{"storage"}))
	}
	for name, q := range spec.Capacity {
		errs = append(errs, coreStorageQuantity(q, capPath.Key(name))...)
	}
	if spec.StorageClassName != "" {
		errs = append(errs, coreDNSSubdomain(spec.StorageClassName, fld.Child("storageClassName"))...)
	}
	if spec.VolumeMode != nil && !coreOneOf(spec.GetVolumeMode(), "Block", "Filesystem") {
		errs = append(errs, coreNotSupported(fld.Child("volumeMode"), spec.GetVolumeMode(), "Block", "Filesystem"))
	}
	if rp := spec.PersistentVolumeReclaimPolicy; rp != "" && !coreOneOf(rp, "Delete", "Recycle", "Retain") {
		errs = append(errs, coreNotSupported(fld.Child("persistentVolumeReclaimPolicy"), rp, "Delete", "Recycle", "Retain"))
	}
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
	one(spec.HostPath != nil, "hostPath", func(p *field.Path) field.ErrorList {
		var e field.ErrorList
		if spec.HostPath.Path == "" {
			e = append(e, field.Required(p.Child("path"), ""))
		} else {
			e = append(e, coreNoBacksteps(spec.HostPath.Path, p.Child("path"))...)
		}
		if t := spec.HostPath.GetType(); !coreOneOf(t, coreHostPathTypes...) {
			e = append(e, coreNotSupported(p.Child("type"), t, coreHostPathTypes...))
		}
		if spec.PersistentVolumeReclaimPolicy == "Recycle" && spec.HostPath.Path == "/" {
			e = append(e, field.Forbidden(fld.Child("persistentVolumeReclaimPolicy"), "may not be 'recycle' for a hostPath mount of '/'"))
		}
		return e
	})
	one(spec.Nfs != nil, "nfs", func(p *field.Path) field.ErrorList { return coreNFS(spec.Nfs, p) })
	one(spec.Local != nil, "local", func(p *field.Path) field.ErrorList {
		var e field.ErrorList
		if spec.Local.Path == "" {
			e = append(e, field.Required(p.Child("path"), ""))
		} else {
			e = append(e, coreNoBacksteps(spec.Local.Path, p.Child("path"))...)
		}
		if spec.NodeAffinity == nil {
			e = append(e, field.Required(fld.Child("nodeAffinity"), "Local volumes require node affinity"))
		}
		return e
	})
	one(spec.Csi != nil, "csi", func(p *field.Path) field.ErrorList {
		var e field.ErrorList
		if spec.Csi.Driver == "" {
			e = append(e, field.Required(p.Child("driver"), ""))
		}
		if spec.Csi.VolumeHandle == "" {
			e = append(e, field.Required(p.Child("volumeHandle"), ""))
		}
		return e
	})
	if n == 0 {
		errs = append(errs, field.Required(fld, "must specify a volume type"))
	}
	if na := spec.NodeAffinity; na != nil {
		if na.Required == nil {
			errs = append(errs, field.Required(fld.Child("nodeAffinity", "required"), "must specify required node constraints"))
		} else {
			errs = append(errs, coreNodeSelector(na.Required, fld.Child("nodeAffinity", "required"))...)
		}
	}
	return errs
}

func coreValidatePVUpdate(spec, old *corev1.PersistentVolumeSpec) field.ErrorList {
	if spec == nil || old == nil {
		return nil
	}
	var errs field.ErrorList
	if !proto.Equal(spec.HostPath, old.HostPath) || !proto.Equal(spec.Nfs, old.Nfs) || !proto.Equal(spec.Local, old.Local) || !proto.Equal(spec.Csi, old.Csi) {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "persistentvolumesource"), "spec.persistentvolumesource is immutable after creation"))
	}
	if spec.GetVolumeMode() != old.GetVolumeMode() {
		errs = append(errs, field.Invalid(field.NewPath("spec", "volumeMode"), spec.GetVolumeMode(), "field is immutable"))
	}
	if old.NodeAffinity != nil && !proto.Equal(spec.NodeAffinity, old.NodeAffinity) {
		errs = append(errs, field.Invalid(field.NewPath("spec", "nodeAffinity"), "", "field is immutable"))
	}
	return errs
}

// corePVCSpec is upstream's ValidatePersistentVolumeClaimSpec.
func corePVCSpec(spec *corev1.PersistentVolumeClaimSpec, fld *field.Path) field.ErrorList {
	if spec == nil {
		return field.ErrorList{field.Required(fld, "")}
	}
	errs := coreAccessModes(spec.AccessModes, true, fld.Child("accessModes"))
	errs = append(errs, coreLabelSelector(spec.Selector, fld.Child("selector"))...)
	storagePath := fld.Child("resources").Key("storage")
	if q, ok := spec.GetResources().GetRequests()["storage"]; !ok {
		errs = append(errs, field.Required(storagePath, ""))
	} else {
		errs = append(errs, coreStorageQuantity(q, storagePath)...)
	}
	for name, q := range spec.GetResources().GetLimits() {
		errs = append(errs, coreResourceQuantity(name, q, fld.Child("resources", "limits").Key(name))...)
	}
	if spec.GetStorageClassName() != "" {
		errs = append(errs, coreDNSSubdomain(spec.GetStorageClassName(), fld.Child("storageClassName"))...)
	}
	if spec.VolumeMode != nil && !coreOneOf(spec.GetVolumeMode(), "Block", "Filesystem") {
		errs = append(errs, coreNotSupported(fld.Child("volumeMode"), spec.GetVolumeMode(), "Block", "Filesystem"))
	}
	if ds := spec.DataSource; ds != nil {
		if ds.Name == "" {
			errs = append(errs, field.Required(fld.Child("dataSource", "name"), ""))
		}
		if ds.Kind == "" {
			errs = append(errs, field.Required(fld.Child("dataSource", "kind"), ""))
		}
	}
	if ds := spec.DataSourceRef; ds != nil {
		if ds.Name == "" {
			errs = append(errs, field.Required(fld.Child("dataSourceRef", "name"), ""))
		}
		if ds.Kind == "" {
			errs = append(errs, field.Required(fld.Child("dataSourceRef", "kind"), ""))
		}
	}
	return errs
}

// validatePVCUpdate is upstream's ValidatePersistentVolumeClaimUpdate: the
// spec is immutable except volumeName (once) and, for bound claims, a
// storage request increase.
func coreValidatePVCUpdate(pvc, old *corev1.PersistentVolumeClaim) field.ErrorList {
	var errs field.ErrorList
	ns, os := proto.Clone(pvc.GetSpec()).(*corev1.PersistentVolumeClaimSpec), proto.Clone(old.GetSpec()).(*corev1.PersistentVolumeClaimSpec)
	if ns == nil || os == nil {
		return nil
	}
	if os.VolumeName == "" {
		os.VolumeName = ns.VolumeName
	}
	oldSize, _ := coreParseQuantity(old.GetSpec().GetResources().GetRequests()["storage"], nil)
	newSize, _ := coreParseQuantity(pvc.GetSpec().GetResources().GetRequests()["storage"], nil)
	if pvc.GetStatus().GetPhase() == "Bound" && ns.Resources != nil && ns.Resources.Requests != nil {
		if os.Resources == nil {
			os.Resources = &corev1.VolumeResourceRequirements{}
		}
		if q, ok := os.Resources.Requests["storage"]; ok {
			ns.Resources.Requests["storage"] = q
		} else {
			delete(ns.Resources.Requests, "storage")
		}
		ns.VolumeAttributesClassName = os.VolumeAttributesClassName
	}
	if !proto.Equal(ns, os) {
		errs = append(errs, field.Forbidden(field.NewPath("spec"), "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims"))
	}
	if newSize.Cmp(oldSize) < 0 {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "resources", "requests", "storage"), "field can not be less than previous value"))
	}
	return errs
}

// validateRCSpec is upstream's ValidateReplicationControllerSpec.
func coreValidateRCSpec(spec *corev1.ReplicationControllerSpec, fld *field.Path) field.ErrorList {
	if spec == nil {
		return field.ErrorList{field.Required(fld, "")}
	}
	errs := coreNonNegative(int64(spec.MinReadySeconds), fld.Child("minReadySeconds"))
	if len(spec.Selector) == 0 {
		errs = append(errs, field.Required(fld.Child("selector"), ""))
	}
	errs = append(errs, ValidateLabels(spec.Selector, fld.Child("selector"))...)
	if spec.Replicas == nil {
		errs = append(errs, field.Required(fld.Child("replicas"), ""))
	} else {
		errs = append(errs, coreNonNegative(int64(spec.GetReplicas()), fld.Child("replicas"))...)
	}
	tp := fld.Child("template")
	t := spec.Template
	if t == nil {
		return append(errs, field.Required(tp, ""))
	}
	if len(spec.Selector) > 0 {
		if !labels.SelectorFromSet(spec.Selector).Matches(labels.Set(t.GetMetadata().GetLabels())) {
			errs = append(errs, field.Invalid(tp.Child("metadata", "labels"), t.GetMetadata().GetLabels(), "`selector` does not match template `labels`"))
		}
	}
	errs = append(errs, ValidatePodTemplateSpec(t, tp)...)
	if rp := t.GetSpec().GetRestartPolicy(); rp != "Always" {
		errs = append(errs, coreNotSupported(tp.Child("spec", "restartPolicy"), rp, "Always"))
	}
	if t.GetSpec().ActiveDeadlineSeconds != nil {
		errs = append(errs, field.Invalid(tp.Child("spec", "activeDeadlineSeconds"), t.GetSpec().GetActiveDeadlineSeconds(), "activeDeadlineSeconds in ReplicationController is not Supported"))
	}
	return errs
}

// validateRCStatus is upstream's ValidateReplicationControllerStatus.
func coreValidateRCStatus(st *corev1.ReplicationControllerStatus, fld *field.Path) field.ErrorList {
	if st == nil {
		return nil
	}
	errs := coreNonNegative(int64(st.Replicas), fld.Child("replicas"))
	errs = append(errs, coreNonNegative(int64(st.FullyLabeledReplicas), fld.Child("fullyLabeledReplicas"))...)
	errs = append(errs, coreNonNegative(int64(st.ReadyReplicas), fld.Child("readyReplicas"))...)
	errs = append(errs, coreNonNegative(int64(st.AvailableReplicas), fld.Child("availableReplicas"))...)
	errs = append(errs, coreNonNegative(st.ObservedGeneration, fld.Child("observedGeneration"))...)
	msg := "cannot be greater than status.replicas"
	if st.FullyLabeledReplicas > st.Replicas {
		errs = append(errs, field.Invalid(fld.Child("fullyLabeledReplicas"), st.FullyLabeledReplicas, msg))
	}
	if st.ReadyReplicas > st.Replicas {
		errs = append(errs, field.Invalid(fld.Child("readyReplicas"), st.ReadyReplicas, msg))
	}
	if st.AvailableReplicas > st.Replicas {
		errs = append(errs, field.Invalid(fld.Child("availableReplicas"), st.AvailableReplicas, msg))
	}
	if st.AvailableReplicas > st.ReadyReplicas {
		errs = append(errs, field.Invalid(fld.Child("availableReplicas"), st.AvailableReplicas, "cannot be greater than readyReplicas"))
	}
	return errs
}
