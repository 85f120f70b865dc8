// Package filter matches objects against the namespace, label selector and field
// selector of a list or watch request. Field selectors work on any scalar field
// by its JSON path ("spec.nodeName", "status.phase", "metadata.name").
package filter

import (
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"

	"flotilla.io/proto/kind"
	"flotilla.io/proto/object"
)

// Filter decides whether an object belongs in a list or watch.
type Filter struct {
	Namespace string
	labels    labels.Selector
	fields    []fieldReq
}

type fieldReq struct {
	path  []protoreflect.FieldDescriptor
	value string
	equal bool
}

// New parses the selectors for a kind. Errors name the selector and the reason.
func New(info *kind.Info, namespace, labelSelector, fieldSelector string) (*Filter, error) {
	f := &Filter{Namespace: namespace}
	if labelSelector != "" {
		sel, err := labels.Parse(labelSelector)
		if err != nil {
			return nil, fmt.Errorf("labelSelector: %w", err)
		}
		if !sel.Empty() {
			f.labels = sel
		}
	}
	if fieldSelector != "" {
		sel, err := fields.ParseSelector(fieldSelector)
		if err != nil {
			return nil, fmt.Errorf("fieldSelector: %w", err)
		}
		md := info.New().ProtoReflect().Descriptor()
		for _, r := range sel.Requirements() {
			path, err := resolve(md, r.Field)
			if err != nil {
				return nil, fmt.Errorf("fieldSelector: %w", err)
			}
			equal := r.Operator == selection.Equals || r.Operator == selection.DoubleEquals
			if !equal && r.Operator != selection.NotEquals {
				return nil, fmt.Errorf("fieldSelector: operator %q is not supported for %s", r.Operator, r.Field)
			}
			f.fields = append(f.fields, fieldReq{path: path, value: r.Value, equal: equal})
		}
	}
	return f, nil
}

// resolve turns a JSON path into field descriptors, refusing paths that do not
// end at a scalar.
func resolve(md protoreflect.MessageDescriptor, path string) ([]protoreflect.FieldDescriptor, error) {
	var out []protoreflect.FieldDescriptor
	parts := strings.Split(path, ".")
	for n, p := range parts {
		var fd protoreflect.FieldDescriptor
		fields := md.Fields()
		for i := 0; i < fields.Len(); i++ {
			if fields.Get(i).JSONName() == p {
				fd = fields.Get(i)
				break
			}
		}
		if fd == nil || fd.IsList() || fd.IsMap() {
			return nil, fmt.Errorf("field label %q is not supported for %s", path, md.Name())
		}
		out = append(out, fd)
		if n < len(parts)-1 {
			if fd.Message() == nil {
				return nil, fmt.Errorf("field label %q is not supported for %s", path, md.Name())
			}
			md = fd.Message()
		} else if fd.Message() != nil {
			return nil, fmt.Errorf("field label %q is not a scalar field of %s", path, md.Name())
		}
	}
	return out, nil
}

// Everything reports whether the filter matches all objects of its namespace.
func (f *Filter) Everything() bool { return f.labels == nil && len(f.fields) == 0 }

// Match reports whether obj passes the filter.
func (f *Filter) Match(obj proto.Message) bool {
	if obj == nil {
		return false
	}
	md := object.Meta(obj)
	if f.Namespace != "" && md.GetNamespace() != f.Namespace {
		return false
	}
	if f.labels != nil && !f.labels.Matches(labels.Set(md.GetLabels())) {
		return false
	}
	for _, r := range f.fields {
		if (fieldValue(obj.ProtoReflect(), r.path) == r.value) != r.equal {
			return false
		}
	}
	return true
}

func fieldValue(m protoreflect.Message, path []protoreflect.FieldDescriptor) string {
	for _, fd := range path[:len(path)-1] {
		if !m.Has(fd) {
			return ""
		}
		m = m.Get(fd).Message()
	}
	fd := path[len(path)-1]
	v := m.Get(fd)
	switch fd.Kind() {
	case protoreflect.StringKind:
		return v.String()
	case protoreflect.BoolKind:
		return strconv.FormatBool(v.Bool())
	case protoreflect.Int32Kind, protoreflect.Int64Kind, protoreflect.Sint32Kind, protoreflect.Sint64Kind:
		return strconv.FormatInt(v.Int(), 10)
	case protoreflect.Uint32Kind, protoreflect.Uint64Kind:
		return strconv.FormatUint(v.Uint(), 10)
	}
	return fmt.Sprint(v.Interface())
}
