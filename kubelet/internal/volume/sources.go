package volume

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/api/resource"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	"flotilla.io/sdk/client"
)

// defaultMode is the file mode of secret, configMap, downwardAPI and
// projected files when the volume names none.
const defaultMode = 0o644

// Service account token Secrets (written by the token controller).
const (
	saTokenSecretType = "kubernetes.io/service-account-token"
	saNameAnnotation  = "kubernetes.io/service-account.name"
	rootCAConfigMap   = "kube-root-ca.crt"
)

func modeOr(m *int32, def os.FileMode) os.FileMode {
	if m == nil {
		return def
	}
	return os.FileMode(*m) & os.ModePerm
}

// keyPayload maps keys to files: every key when items is empty, else the
// items (key -> path, with an optional mode). A missing key is an error
// unless optional.
func keyPayload(kind, name string, data map[string][]byte, items []*corev1.KeyToPath, mode os.FileMode, optional bool) (map[string]file, error) {
	out := map[string]file{}
	if len(items) == 0 {
		for k, v := range data {
			out[k] = file{data: v, mode: mode}
		}
		return out, nil
	}
	for _, it := range items {
		v, ok := data[it.GetKey()]
		if !ok {
			if optional {
				continue
			}
			return nil, fmt.Errorf("%s %q has no key %q", kind, name, it.GetKey())
		}
		out[it.GetPath()] = file{data: v, mode: modeOr(it.Mode, mode)}
	}
	return out, nil
}

// secretData reads a Secret; found is false when it does not exist.
func (m *Manager) secretData(ctx context.Context, ns, name string) (data map[string][]byte, found bool, err error) {
	if m.cfg.Client == nil {
		return nil, false, fmt.Errorf("no API client")
	}
	s, err := client.For[*corev1.Secret](m.cfg.Client).Get(ctx, ns, name)
	if client.IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("secret %q: %w", name, err)
	}
	return s.GetData(), true, nil
}

// configMapData reads a ConfigMap's data and binaryData as one map.
func (m *Manager) configMapData(ctx context.Context, ns, name string) (data map[string][]byte, found bool, err error) {
	if m.cfg.Client == nil {
		return nil, false, fmt.Errorf("no API client")
	}
	cm, err := client.For[*corev1.ConfigMap](m.cfg.Client).Get(ctx, ns, name)
	if client.IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("configMap %q: %w", name, err)
	}
	data = map[string][]byte{}
	for k, v := range cm.GetData() {
		data[k] = []byte(v)
	}
	for k, v := range cm.GetBinaryData() {
		data[k] = v
	}
	return data, true, nil
}

// objectPayload reads a Secret or ConfigMap with read and maps its keys to
// files; a missing object is an empty payload when optional.
func objectPayload(ctx context.Context, read func(ctx context.Context, ns, name string) (map[string][]byte, bool, error),
	kind, ns, name string, items []*corev1.KeyToPath, mode os.FileMode, optional bool) (map[string]file, error) {
	data, found, err := read(ctx, ns, name)
	if err != nil {
		return nil, err
	}
	if !found {
		if optional {
			return map[string]file{}, nil
		}
		return nil, fmt.Errorf("%s %q not found", kind, name)
	}
	return keyPayload(kind, name, data, items, mode, optional)
}

func (m *Manager) secretPayload(ctx context.Context, ns, name string, items []*corev1.KeyToPath, mode os.FileMode, optional bool) (map[string]file, error) {
	return objectPayload(ctx, m.secretData, "secret", ns, name, items, mode, optional)
}

func (m *Manager) configMapPayload(ctx context.Context, ns, name string, items []*corev1.KeyToPath, mode os.FileMode, optional bool) (map[string]file, error) {
	return objectPayload(ctx, m.configMapData, "configMap", ns, name, items, mode, optional)
}

func (m *Manager) setupSecret(ctx context.Context, pod *corev1.Pod, src *corev1.SecretVolumeSource, dir string) error {
	payload, err := m.secretPayload(ctx, pod.GetMetadata().GetNamespace(), src.GetSecretName(), src.GetItems(),
		modeOr(src.DefaultMode, defaultMode), src.GetOptional())
	if err != nil {
		return err
	}
	if err := m.memoryBacked(dir); err != nil {
		return err
	}
	return writeAtomic(dir, payload, fsGroup(pod))
}

// memoryBacked puts a tmpfs under a volume holding secrets (secret and
// projected volumes), as upstream does, so they never reach the disk. Where
// mounting is not permitted the volume stays on disk, with a warning.
func (m *Manager) memoryBacked(dir string) error {
	err := mountTmpfs(dir, "mode=0755")
	if errors.Is(err, unix.EPERM) {
		m.log.Warn("cannot mount a tmpfs for a secret volume: its files are kept on disk", zap.String("dir", dir), zap.Error(err))
		return nil
	}
	return err
}

func (m *Manager) setupConfigMap(ctx context.Context, pod *corev1.Pod, src *corev1.ConfigMapVolumeSource, dir string) error {
	payload, err := m.configMapPayload(ctx, pod.GetMetadata().GetNamespace(), src.GetName(), src.GetItems(),
		modeOr(src.DefaultMode, defaultMode), src.GetOptional())
	if err != nil {
		return err
	}
	return writeAtomic(dir, payload, fsGroup(pod))
}

func (m *Manager) setupDownwardAPI(ctx context.Context, pod *corev1.Pod, src *corev1.DownwardAPIVolumeSource, dir string) error {
	payload, err := m.downwardPayload(ctx, pod, src.GetItems(), modeOr(src.DefaultMode, defaultMode))
	if err != nil {
		return err
	}
	return writeAtomic(dir, payload, fsGroup(pod))
}

func (m *Manager) downwardPayload(ctx context.Context, pod *corev1.Pod, items []*corev1.DownwardAPIVolumeFile, mode os.FileMode) (map[string]file, error) {
	out := map[string]file{}
	for _, it := range items {
		var v string
		var err error
		switch {
		case it.GetFieldRef() != nil:
			v, err = podField(pod, it.GetFieldRef().GetFieldPath())
		case it.GetResourceFieldRef() != nil:
			v, err = m.containerResource(ctx, pod, it.GetResourceFieldRef())
		default:
			err = fmt.Errorf("downwardAPI item %q has neither fieldRef nor resourceFieldRef", it.GetPath())
		}
		if err != nil {
			return nil, err
		}
		out[it.GetPath()] = file{data: []byte(v), mode: modeOr(it.Mode, mode)}
	}
	return out, nil
}

// podField is a downward API pod field as upstream formats it; labels and
// annotations are sorted key="value" lines.
func podField(pod *corev1.Pod, path string) (string, error) {
	md := pod.GetMetadata()
	if k, ok := subscript(path, "metadata.labels"); ok {
		return md.GetLabels()[k], nil
	}
	if k, ok := subscript(path, "metadata.annotations"); ok {
		return md.GetAnnotations()[k], nil
	}
	switch path {
	case "metadata.name":
		return md.GetName(), nil
	case "metadata.namespace":
		return md.GetNamespace(), nil
	case "metadata.uid":
		return md.GetUid(), nil
	case "metadata.labels":
		return formatMap(md.GetLabels()), nil
	case "metadata.annotations":
		return formatMap(md.GetAnnotations()), nil
	case "spec.nodeName":
		return pod.GetSpec().GetNodeName(), nil
	case "spec.serviceAccountName":
		return serviceAccountName(pod), nil
	case "status.podIP":
		return pod.GetStatus().GetPodIp(), nil
	case "status.hostIP":
		return pod.GetStatus().GetHostIp(), nil
	}
	return "", fmt.Errorf("downward API field %q is not supported", path)
}

// subscript parses prefix['key'].
func subscript(path, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(path, prefix+"['")
	if !ok {
		return "", false
	}
	return strings.CutSuffix(rest, "']")
}

func formatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	lines := make([]string, len(keys))
	for i, k := range keys {
		lines[i] = k + "=" + strconv.Quote(m[k])
	}
	return strings.Join(lines, "\n")
}

// containerResource is limits.cpu, requests.memory, ... of a container in
// units of the divisor, rounded up as upstream does; an unset limit is the
// node's allocatable amount.
func (m *Manager) containerResource(ctx context.Context, pod *corev1.Pod, sel *corev1.ResourceFieldSelector) (string, error) {
	var c *corev1.Container
	for _, cc := range append(append([]*corev1.Container(nil), pod.GetSpec().GetContainers()...), pod.GetSpec().GetInitContainers()...) {
		if cc.GetName() == sel.GetContainerName() {
			c = cc
		}
	}
	if c == nil {
		return "", fmt.Errorf("resourceFieldRef: no container %q", sel.GetContainerName())
	}
	kind, name, ok := strings.Cut(sel.GetResource(), ".")
	if !ok || (kind != "limits" && kind != "requests") {
		return "", fmt.Errorf("resourceFieldRef: unsupported resource %q", sel.GetResource())
	}
	values := c.GetResources().GetLimits()
	if kind == "requests" {
		values = c.GetResources().GetRequests()
	}
	q, found := values[name]
	var amount resource.Quantity
	switch {
	case found:
		v, err := resource.ParseQuantity(q.GetString_())
		if err != nil {
			return "", fmt.Errorf("resourceFieldRef %s: %w", sel.GetResource(), err)
		}
		amount = v
	case kind == "limits":
		v, err := m.nodeAllocatable(ctx, pod, name)
		if err != nil {
			return "", err
		}
		amount = v
	default:
		amount = resource.Quantity{} // an unset request is 0
	}
	divisor := resource.MustParse("1")
	if d := sel.GetDivisor().GetString_(); d != "" {
		v, err := resource.ParseQuantity(d)
		if err != nil || v.IsZero() {
			return "", fmt.Errorf("resourceFieldRef divisor %q is invalid", d)
		}
		divisor = v
	}
	if name == "cpu" {
		return strconv.FormatInt(int64(math.Ceil(float64(amount.MilliValue())/float64(divisor.MilliValue()))), 10), nil
	}
	return strconv.FormatInt(int64(math.Ceil(float64(amount.Value())/float64(divisor.Value()))), 10), nil
}

func (m *Manager) nodeAllocatable(ctx context.Context, pod *corev1.Pod, name string) (resource.Quantity, error) {
	if m.cfg.Client == nil || pod.GetSpec().GetNodeName() == "" {
		return resource.Quantity{}, fmt.Errorf("resourceFieldRef limits.%s: no limit and no node to default it from", name)
	}
	node, err := client.For[*corev1.Node](m.cfg.Client).Get(ctx, "", pod.GetSpec().GetNodeName())
	if err != nil {
		return resource.Quantity{}, fmt.Errorf("resourceFieldRef limits.%s: node: %w", name, err)
	}
	q, ok := node.GetStatus().GetAllocatable()[name]
	if !ok {
		return resource.Quantity{}, fmt.Errorf("resourceFieldRef limits.%s: node reports no allocatable %s", name, name)
	}
	return resource.ParseQuantity(q.GetString_())
}

func serviceAccountName(pod *corev1.Pod) string {
	if n := pod.GetSpec().GetServiceAccountName(); n != "" {
		return n
	}
	if n := pod.GetSpec().GetDeprecatedServiceAccount(); n != "" {
		return n
	}
	return "default"
}

// setupProjected merges the sources into one payload. The service account
// token is requested from the apiserver, bound to the pod and expiring
// (tokens.go); only when the apiserver issues none is it the token of the
// service account's legacy token Secret (type
// kubernetes.io/service-account-token, annotated with the account's name),
// or, without one, left out with a warning. The
// kube-root-ca.crt ConfigMap (the CA bundle of the automounted volume) is
// treated as optional; when missing, the token Secret's ca.crt stands in.
func (m *Manager) setupProjected(ctx context.Context, pod *corev1.Pod, src *corev1.ProjectedVolumeSource, dir string) error {
	ns := pod.GetMetadata().GetNamespace()
	mode := modeOr(src.DefaultMode, defaultMode)
	payload := map[string]file{}
	add := func(part map[string]file) {
		for k, v := range part {
			payload[k] = v
		}
	}
	var token map[string][]byte // the token Secret, read once
	tokenSecret := func() (map[string][]byte, error) {
		if token == nil {
			data, err := m.serviceAccountTokenSecret(ctx, ns, serviceAccountName(pod))
			if err != nil {
				return nil, err
			}
			token = data
			if token == nil {
				token = map[string][]byte{}
			}
		}
		return token, nil
	}
	for i, s := range src.GetSources() {
		switch {
		case s.GetSecret() != nil:
			part, err := m.secretPayload(ctx, ns, s.GetSecret().GetName(), s.GetSecret().GetItems(), mode, s.GetSecret().GetOptional())
			if err != nil {
				return err
			}
			add(part)
		case s.GetConfigMap() != nil:
			cm := s.GetConfigMap()
			optional := cm.GetOptional() || cm.GetName() == rootCAConfigMap
			part, err := m.configMapPayload(ctx, ns, cm.GetName(), cm.GetItems(), mode, optional)
			if err != nil {
				return err
			}
			if cm.GetName() == rootCAConfigMap && len(part) == 0 {
				sec, err := tokenSecret()
				if err != nil {
					return err
				}
				if ca, ok := sec["ca.crt"]; ok {
					part, _ = keyPayload("secret", "token", map[string][]byte{"ca.crt": ca}, cm.GetItems(), mode, true)
				}
			}
			add(part)
		case s.GetDownwardApi() != nil:
			part, err := m.downwardPayload(ctx, pod, s.GetDownwardApi().GetItems(), mode)
			if err != nil {
				return err
			}
			add(part)
		case s.GetServiceAccountToken() != nil:
			t, err := m.serviceAccountToken(ctx, pod, filepath.Base(dir), s.GetServiceAccountToken())
			if err == nil {
				payload[s.GetServiceAccountToken().GetPath()] = file{data: []byte(t), mode: mode}
				continue
			}
			if !errors.Is(err, errNoTokenRequest) {
				return err
			}
			sec, err := tokenSecret()
			if err != nil {
				return err
			}
			tok, ok := sec["token"]
			if !ok {
				m.log.Warn("no token Secret for the service account yet: projected token left out",
					zap.String("pod", ns+"/"+pod.GetMetadata().GetName()), zap.String("serviceAccount", serviceAccountName(pod)))
				continue
			}
			payload[s.GetServiceAccountToken().GetPath()] = file{data: tok, mode: mode}
		default:
			return fmt.Errorf("projected source %d: only secret, configMap, downwardAPI and serviceAccountToken are supported", i)
		}
	}
	if err := m.memoryBacked(dir); err != nil {
		return err
	}
	return writeAtomic(dir, payload, fsGroup(pod))
}

// serviceAccountTokenSecret finds the legacy token Secret of a service
// account; nil when there is none.
func (m *Manager) serviceAccountTokenSecret(ctx context.Context, ns, sa string) (map[string][]byte, error) {
	if m.cfg.Client == nil {
		return nil, fmt.Errorf("no API client")
	}
	list, err := client.For[*corev1.Secret](m.cfg.Client).ListAll(ctx, client.ListOptions{Namespace: ns})
	if err != nil {
		return nil, fmt.Errorf("list secrets: %w", err)
	}
	sort.Slice(list.Items, func(i, j int) bool {
		return list.Items[i].GetMetadata().GetName() < list.Items[j].GetMetadata().GetName()
	})
	for _, s := range list.Items {
		if s.GetType() == saTokenSecretType && s.GetMetadata().GetAnnotations()[saNameAnnotation] == sa && len(s.GetData()["token"]) > 0 {
			return s.GetData(), nil
		}
	}
	return nil, nil
}
