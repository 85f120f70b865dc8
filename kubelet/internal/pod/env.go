package pod

import (
	"cmp"
	"context"
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"

	corev1 "flotilla.io/proto/flotilla/core/v1"

	"flotilla.io/kubelet/internal/downward"
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
	// ServiceEnv ("NAME=value") comes first, so env can refer to it with
	// $(VAR): the kubernetes Service's variables (ServiceEnv).
	ServiceEnv []string
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
	for _, kv := range in.ServiceEnv {
		k, v, _ := strings.Cut(kv, "=")
		set(k, v)
	}
	missing := func(err error) bool { return in.NotFound != nil && in.NotFound(err) }
	data := cached(func(ref string) (map[string]string, error) {
		kind, name, _ := strings.Cut(ref, "/")
		if kind == "Secret" {
			sec, err := in.Objects.Secret(ctx, ns, name)
			out := map[string]string{}
			for k, v := range sec.GetData() {
				out[k] = string(v)
			}
			return out, err
		}
		cm, err := in.Objects.ConfigMap(ctx, ns, name)
		return cm.GetData(), err
	})
	// lookup reads a Secret's or ConfigMap's data; skip: it is missing and
	// optional.
	lookup := func(kind, name string, optional bool) (m map[string]string, skip bool, err error) {
		m, err = data(kind + "/" + name)
		switch {
		case err == nil:
			return m, false, nil
		case missing(err) && optional:
			return nil, true, nil
		case missing(err):
			return nil, false, configErrorf("%s %q not found", strings.ToLower(kind), name)
		}
		return nil, false, err
	}

	for _, from := range c.GetEnvFrom() {
		kind, name, optional := "ConfigMap", from.GetConfigMapRef().GetName(), from.GetConfigMapRef().GetOptional()
		if from.GetSecretRef() != nil {
			kind, name, optional = "Secret", from.GetSecretRef().GetName(), from.GetSecretRef().GetOptional()
		}
		m, skip, err := lookup(kind, name, optional)
		if err != nil {
			return nil, err
		}
		if skip {
			continue
		}
		for _, k := range sortedKeys(m) {
			set(from.GetPrefix()+k, m[k])
		}
	}
	for _, e := range c.GetEnv() {
		src := e.GetValueFrom()
		var (
			v   string
			err error
		)
		switch {
		case src == nil:
			v = Expand(e.GetValue(), func(k string) (string, bool) { v, ok := vals[k]; return v, ok })
		case src.GetFieldRef() != nil:
			v, err = FieldValue(pod, src.GetFieldRef().GetFieldPath(), in.PodIP, in.HostIP)
		case src.GetResourceFieldRef() != nil:
			v, err = ResourceValue(pod, c, src.GetResourceFieldRef(), in.Allocatable)
		case src.GetSecretKeyRef() != nil || src.GetConfigMapKeyRef() != nil:
			kind, name, key, optional := "ConfigMap", src.GetConfigMapKeyRef().GetName(), src.GetConfigMapKeyRef().GetKey(), src.GetConfigMapKeyRef().GetOptional()
			if r := src.GetSecretKeyRef(); r != nil {
				kind, name, key, optional = "Secret", r.GetName(), r.GetKey(), r.GetOptional()
			}
			m, skip, lerr := lookup(kind, name, optional)
			if lerr != nil {
				return nil, lerr
			}
			val, ok := m[key]
			if skip || (!ok && optional) {
				continue
			}
			if !ok {
				return nil, configErrorf("couldn't find key %s in %s %s/%s", key, kind, ns, name)
			}
			v = val
		default:
			err = configErrorf("env %s: unsupported valueFrom", e.GetName())
		}
		if err != nil {
			return nil, err
		}
		set(e.GetName(), v)
	}
	out := make([]string, 0, len(order))
	for _, k := range order {
		out = append(out, k+"="+vals[k])
	}
	return out, nil
}

// ServiceEnv is the docker-links style environment upstream gives
// containers for a Service: NAME_SERVICE_HOST, NAME_SERVICE_PORT[_PORTNAME],
// NAME_PORT and NAME_PORT_<port>_<proto>[_PROTO|_PORT|_ADDR]. Services
// without a cluster IP give none.
func ServiceEnv(svc *corev1.Service) []string {
	ip := svc.GetSpec().GetClusterIp()
	ports := svc.GetSpec().GetPorts()
	if ip == "" || ip == "None" || len(ports) == 0 {
		return nil
	}
	name := strings.ToUpper(strings.ReplaceAll(svc.GetMetadata().GetName(), "-", "_"))
	host := ip
	if strings.Contains(ip, ":") {
		host = "[" + ip + "]"
	}
	out := []string{name + "_SERVICE_HOST=" + ip, fmt.Sprintf("%s_SERVICE_PORT=%d", name, ports[0].GetPort())}
	for _, p := range ports {
		if p.GetName() != "" {
			out = append(out, fmt.Sprintf("%s_SERVICE_PORT_%s=%d", name, strings.ToUpper(strings.ReplaceAll(p.GetName(), "-", "_")), p.GetPort()))
		}
	}
	first := ports[0]
	out = append(out, fmt.Sprintf("%s_PORT=%s://%s:%d", name, strings.ToLower(cmp.Or(first.GetProtocol(), "TCP")), host, first.GetPort()))
	for _, p := range ports {
		proto := cmp.Or(p.GetProtocol(), "TCP")
		pre := fmt.Sprintf("%s_PORT_%d_%s", name, p.GetPort(), strings.ToUpper(proto))
		out = append(out,
			fmt.Sprintf("%s=%s://%s:%d", pre, strings.ToLower(proto), host, p.GetPort()),
			pre+"_PROTO="+strings.ToLower(proto),
			fmt.Sprintf("%s_PORT=%d", pre, p.GetPort()),
			pre+"_ADDR="+ip)
	}
	return out
}

// cached memoizes one lookup per name for the duration of one Env call.
func cached[T any](get func(name string) (T, error)) func(string) (T, error) {
	seen := map[string]T{}
	return func(name string) (T, error) {
		if v, ok := seen[name]; ok {
			return v, nil
		}
		v, err := get(name)
		if err == nil {
			seen[name] = v
		}
		return v, err
	}
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
	v, err := downward.PodField(pod, path, podIP, hostIP)
	if err != nil {
		return "", &ConfigError{msg: err.Error()}
	}
	return v, nil
}

// ResourceValue resolves a resourceFieldRef like upstream: limits fall
// back to the node's allocatable, the value is divided by the divisor and
// rounded up.
func ResourceValue(pod *corev1.Pod, c *corev1.Container, ref *corev1.ResourceFieldSelector, allocatable map[string]resource.Quantity) (string, error) {
	v, err := downward.Resource(pod, c.GetName(), ref, func(name string) (resource.Quantity, error) {
		return allocatable[name], nil
	})
	if err != nil {
		return "", &ConfigError{msg: err.Error()}
	}
	return v, nil
}
