// Package kind is the registry of every API kind Flotilla serves: its group,
// version, resource name, scope and Go message type. The apiserver, the SDK and
// flotctl all resolve kinds here, so adding a kind is one Register call.
package kind

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Info describes one kind.
type Info struct {
	// Kind is the upstream kind name, e.g. "Deployment".
	Kind string
	// Group is the upstream API group ("" for core, "apps", "batch", ...).
	Group string
	// Version is the upstream API version, e.g. "v1".
	Version string
	// Resource is the lower-case plural, e.g. "deployments".
	Resource string
	// ShortNames are kubectl's short names, e.g. "deploy".
	ShortNames []string
	// Namespaced is false for cluster-scoped kinds (Node, Namespace, ...).
	Namespaced bool
	// HasStatus is true when status is a separate subresource written only by
	// UpdateStatus.
	HasStatus bool
	// HasSpec is true when the kind has a spec whose change bumps generation.
	HasSpec bool
	// New returns an empty message of the kind's type.
	New func() proto.Message
}

// APIVersion is the upstream apiVersion string: "v1" or "apps/v1".
func (i *Info) APIVersion() string {
	if i.Group == "" {
		return i.Version
	}
	return i.Group + "/" + i.Version
}

// Singular is the lower-case kind name, e.g. "deployment".
func (i *Info) Singular() string { return strings.ToLower(i.Kind) }

// FullName is the protobuf message name of the kind.
func (i *Info) FullName() protoreflect.FullName {
	return i.New().ProtoReflect().Descriptor().FullName()
}

var (
	mu      sync.RWMutex
	byKind  = map[string]*Info{}
	byName  = map[string]*Info{} // lower-case kind, singular, plural, short names
	byFull  = map[protoreflect.FullName]*Info{}
	ordered []*Info
)

// Register adds a kind to the registry. It panics on a duplicate, which is a
// programming error caught by any test.
func Register(i Info) {
	mu.Lock()
	defer mu.Unlock()
	info := &i
	if _, dup := byKind[i.Kind]; dup {
		panic(fmt.Sprintf("kind %s registered twice", i.Kind))
	}
	byKind[i.Kind] = info
	byFull[info.FullName()] = info
	for _, n := range append([]string{strings.ToLower(i.Kind), i.Resource}, i.ShortNames...) {
		byName[strings.ToLower(n)] = info
	}
	// Qualified names such as "deployments.apps" resolve too.
	if i.Group != "" {
		byName[i.Resource+"."+i.Group] = info
		byName[strings.ToLower(i.Kind)+"."+i.Group] = info
	}
	ordered = append(ordered, info)
	sort.Slice(ordered, func(a, b int) bool { return ordered[a].Kind < ordered[b].Kind })
}

// ByKind finds a kind by its exact kind name ("Pod").
func ByKind(k string) (*Info, bool) {
	mu.RLock()
	defer mu.RUnlock()
	i, ok := byKind[k]
	return i, ok
}

// ByName finds a kind the way kubectl resolves a resource argument: kind,
// singular, plural or short name, case-insensitive ("po", "pods", "Pod").
func ByName(n string) (*Info, bool) {
	mu.RLock()
	defer mu.RUnlock()
	if i, ok := byKind[n]; ok {
		return i, true
	}
	i, ok := byName[strings.ToLower(n)]
	return i, ok
}

// ByAPIVersionKind finds a kind by the apiVersion and kind of a manifest.
func ByAPIVersionKind(apiVersion, k string) (*Info, error) {
	i, ok := ByKind(k)
	if !ok {
		return nil, fmt.Errorf("kind %q is not supported (supported kinds: %s)", k, strings.Join(Kinds(), ", "))
	}
	if i.APIVersion() != apiVersion {
		return nil, fmt.Errorf("kind %s is served as apiVersion %q, not %q", k, i.APIVersion(), apiVersion)
	}
	return i, nil
}

// ForMessage finds the kind of a typed message.
func ForMessage(m proto.Message) (*Info, bool) {
	return ForFullName(m.ProtoReflect().Descriptor().FullName())
}

// ForFullName finds the kind of a protobuf message name.
func ForFullName(n protoreflect.FullName) (*Info, bool) {
	mu.RLock()
	defer mu.RUnlock()
	i, ok := byFull[n]
	return i, ok
}

// All lists every registered kind, sorted by kind name.
func All() []*Info {
	mu.RLock()
	defer mu.RUnlock()
	return append([]*Info(nil), ordered...)
}

// Kinds lists every registered kind name, sorted.
func Kinds() []string {
	all := All()
	out := make([]string, len(all))
	for n, i := range all {
		out[n] = i.Kind
	}
	return out
}
