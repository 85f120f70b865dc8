package pod

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
)

// Objects reads the Secrets and ConfigMaps env refers to.
type Objects interface {
	Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
	ConfigMap(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error)
}

// IsNotFound tells a missing object from other errors for Objects.
type IsNotFound func(error) bool

// EnvInput is what env resolution may refer to besides the pod.
type EnvInput struct {
	PodIP, HostIP string
	// Allocatable stands in for an unset limit in resourceFieldRef.
	Allocatable map[string]resource.Quantity
	Objects     Objects
	NotFound    IsNotFound
}

// ConfigError is a pod spec the kubelet cannot turn into a container
// (CreateContainerConfigError).
type ConfigError struct{ msg string }

func (e *ConfigError) Error() string { return e.msg }

func configErrorf(format string, args ...any) error {
	return &ConfigError{msg: fmt.Sprintf(format, args...)}
}

// Env builds a container's environment the way upstream does: envFrom in
// order, then env, each value expanded with $(VAR) against the variables
// defined before it. The result is "NAME=value" in definition order, later
// definitions replacing earlier ones in place.
func Env(ctx context.Context, pod *corev1.Pod, c *corev1.Container, in EnvInput) ([]string, error) {
	ns := pod.GetMetadata().GetNamespace()
	var order []string
	vals := map[string]string{}
	set := func(k, v string) {
		if _, ok := vals[k]; !ok {
			order = append(order, k)
		}
		vals[k] = v
	}
	secrets := map[string]*corev1.Secret{}
	secret := func(name string) (*corev1.Secret, error) {
		if s, ok := secrets[name]; ok {
			return s, nil
		}
		s, err := in.Objects.Secret(ctx, ns, name)
		if err != nil {
			return nil, err
		}
		secrets[name] = s
		return s, nil
	}
	configMaps := map[string]*corev1.ConfigMap{}
	configMap := func(name string) (*corev1.ConfigMap, error) {
		if cm, ok := configMaps[name]; ok {
			return cm, nil
		}
		cm, err := in.Objects.ConfigMap(ctx, ns, name)
		if err != nil {
			return nil, err
		}
		configMaps[name] = cm
		return cm, nil
	}
	missing := func(err error) bool { return in.NotFound != nil && in.NotFound(err) }

	for _, from := range c.GetEnvFrom() {
		switch {
		case from.GetConfigMapRef() != nil:
			ref := from.GetConfigMapRef()
			cm, err := configMap(ref.GetName())
			if err != nil {
				if missing(err) && ref.GetOptional() {
					continue
				}
				if missing(err) {
					return nil, configErrorf("configmap %q not found", ref.GetName())
				}
				return nil, err
			}
			for _, k := range sortedKeys(cm.GetData()) {
				set(from.GetPrefix()+k, cm.GetData()[k])
			}
		case from.GetSecretRef() != nil:
			ref := from.GetSecretRef()
			s, err := secret(ref.GetName())
			if err != nil {
				if missing(err) && ref.GetOptional() {
					continue
				}
				if missing(err) {
					return nil, configErrorf("secret %q not found", ref.GetName())
				}
				return nil, err
			}
			for _, k := range sortedKeys(s.GetData()) {
				set(from.GetPrefix()+k, string(s.GetData()[k]))
			}
		}
	}
	for _, e := range c.GetEnv() {
		src := e.GetValueFrom()
		if src == nil {
			set(e.GetName(), Expand(e.GetValue(), func(k string) (string, bool) { v, ok := vals[k]; return v, ok }))
			continue
		}
		var v string
		switch {
		case src.GetFieldRef() != nil:
			var err error
			if v, err = FieldValue(pod, src.GetFieldRef().GetFieldPath(), in.PodIP, in.HostIP); err != nil {
				return nil, err
			}
		case src.GetResourceFieldRef() != nil:
			var err error
			if v, err = ResourceValue(pod, c, src.GetResourceFieldRef(), in.Allocatable); err != nil {
				return nil, err
			}
		case src.GetSecretKeyRef() != nil:
			ref := src.GetSecretKeyRef()
			s, err := secret(ref.GetName())
			if err != nil {
				if missing(err) && ref.GetOptional() {
					continue
				}
				if missing(err) {
					return nil, configErrorf("secret %q not found", ref.GetName())
				}
				return nil, err
			}
			b, ok := s.GetData()[ref.GetKey()]
			if !ok {
				if ref.GetOptional() {
					continue
				}
				return nil, configErrorf("couldn't find key %s in Secret %s/%s", ref.GetKey(), ns, ref.GetName())
			}
			v = string(b)
		case src.GetConfigMapKeyRef() != nil:
			ref := src.GetConfigMapKeyRef()
			cm, err := configMap(ref.GetName())
			if err != nil {
				if missing(err) && ref.GetOptional() {
					continue
				}
				if missing(err) {
					return nil, configErrorf("configmap %q not found", ref.GetName())
				}
				return nil, err
			}
			s, ok := cm.GetData()[ref.GetKey()]
			if !ok {
				if ref.GetOptional() {
					continue
				}
				return nil, configErrorf("couldn't find key %s in ConfigMap %s/%s", ref.GetKey(), ns, ref.GetName())
			}
			v = s
		default:
			return nil, configErrorf("env %s: unsupported valueFrom", e.GetName())
		}
		set(e.GetName(), v)
	}
	out := make([]string, 0, len(order))
	for _, k := range order {
		out = append(out, k+"="+vals[k])
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// EnvMap turns "K=V" pairs into a lookup for Expand.
func EnvMap(env []string) func(string) (string, bool) {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// Expand is upstream's $(VAR) expansion: a defined variable is replaced,
// an undefined one left as written, and $$ escapes a $.
func Expand(s string, lookup func(string) (string, bool)) string {
	var buf strings.Builder
	checkpoint := 0
	for cursor := 0; cursor < len(s); cursor++ {
		if s[cursor] != '$' || cursor+1 >= len(s) {
			continue
		}
		buf.WriteString(s[checkpoint:cursor])
		rest := s[cursor+1:]
		advance := 1
		switch rest[0] {
		case '$':
			buf.WriteByte('$')
		case '(':
			end := strings.IndexByte(rest, ')')
			if end < 0 {
				buf.WriteString("$(")
				break
			}
			name := rest[1:end]
			if v, ok := lookup(name); ok {
				buf.WriteString(v)
			} else {
				buf.WriteString("$(" + name + ")")
			}
			advance = end + 1
		default:
			buf.WriteByte('$')
			buf.WriteByte(rest[0])
		}
		cursor += advance
		checkpoint = cursor + 1
	}
	buf.WriteString(s[checkpoint:])
	return buf.String()
}

// FieldValue resolves a downward-API fieldRef.
func FieldValue(pod *corev1.Pod, path, podIP, hostIP string) (string, error) {
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
		return pod.GetSpec().GetServiceAccountName(), nil
	case "status.podIP", "status.podIPs":
		return podIP, nil
	case "status.hostIP", "status.hostIPs":
		return hostIP, nil
	}
	return "", configErrorf("unsupported fieldRef %q", path)
}

// subscript parses `metadata.labels['key']`.
func subscript(path, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(path, prefix+"[")
	if !ok || !strings.HasSuffix(rest, "]") {
		return "", false
	}
	rest = strings.TrimSuffix(rest, "]")
	if len(rest) >= 2 && (rest[0] == '\'' || rest[0] == '"') && rest[len(rest)-1] == rest[0] {
		return rest[1 : len(rest)-1], true
	}
	return rest, true
}

func formatMap(m map[string]string) string {
	var lines []string
	for _, k := range sortedKeys(m) {
		lines = append(lines, k+"="+strconv.Quote(m[k]))
	}
	return strings.Join(lines, "\n")
}

// ResourceValue resolves a resourceFieldRef like upstream: limits fall
// back to the node's allocatable, the value is divided by the divisor and
// rounded up.
func ResourceValue(pod *corev1.Pod, c *corev1.Container, ref *corev1.ResourceFieldSelector, allocatable map[string]resource.Quantity) (string, error) {
	target := c
	if n := ref.GetContainerName(); n != "" && n != c.GetName() {
		target = nil
		for _, x := range append(append([]*corev1.Container{}, pod.GetSpec().GetInitContainers()...), pod.GetSpec().GetContainers()...) {
			if x.GetName() == n {
				target = x
			}
		}
		if target == nil {
			return "", configErrorf("resourceFieldRef: no container %q", n)
		}
	}
	kind, name, ok := strings.Cut(ref.GetResource(), ".")
	if !ok || (kind != "limits" && kind != "requests") {
		return "", configErrorf("unsupported resourceFieldRef %q", ref.GetResource())
	}
	var m map[string]*metav1.Quantity
	if kind == "limits" {
		m = target.GetResources().GetLimits()
	} else {
		m = target.GetResources().GetRequests()
	}
	q, ok := quantity(m, name)
	if !ok {
		if kind == "limits" {
			q = allocatable[name]
		} else {
			q = resource.Quantity{}
		}
	}
	divisor := resource.MustParse("1")
	if d := ref.GetDivisor().GetString_(); d != "" {
		var err error
		if divisor, err = resource.ParseQuantity(d); err != nil {
			return "", configErrorf("resourceFieldRef divisor %q: %v", d, err)
		}
	}
	if divisor.IsZero() {
		return "", configErrorf("resourceFieldRef divisor is zero")
	}
	if name == "cpu" {
		v := math.Ceil(float64(q.MilliValue()) / float64(divisor.MilliValue()))
		return strconv.FormatInt(int64(v), 10), nil
	}
	v := math.Ceil(float64(q.Value()) / float64(divisor.Value()))
	return strconv.FormatInt(int64(v), 10), nil
}
