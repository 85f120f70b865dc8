// Package fieldpath reads a scalar field of an API object by its upstream
// dotted path ("spec.nodeName", "status.phase", "metadata.name"), the names
// field selectors and field indexers use.
package fieldpath

import (
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Lookup returns the field's value as a string. Segments match JSON names
// first (nodeName), then proto names (node_name). It reports false when a
// segment is missing, crosses a list or map, or ends on a message; an unset
// scalar reads as its zero value, as upstream field selectors do.
func Lookup(m proto.Message, path string) (string, bool) {
	r := m.ProtoReflect()
	segs := strings.Split(path, ".")
	for i, seg := range segs {
		fields := r.Descriptor().Fields()
		fd := fields.ByJSONName(seg)
		if fd == nil {
			fd = fields.ByName(protoreflect.Name(seg))
		}
		if fd == nil || fd.IsList() || fd.IsMap() {
			return "", false
		}
		last := i == len(segs)-1
		if fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind {
			if last {
				return "", false
			}
			r = r.Get(fd).Message()
			continue
		}
		if !last {
			return "", false
		}
		v := r.Get(fd)
		switch fd.Kind() {
		case protoreflect.StringKind:
			return v.String(), true
		case protoreflect.BoolKind:
			return strconv.FormatBool(v.Bool()), true
		case protoreflect.EnumKind:
			if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
				return string(ev.Name()), true
			}
			return strconv.Itoa(int(v.Enum())), true
		case protoreflect.BytesKind:
			return string(v.Bytes()), true
		default:
			return v.String(), true
		}
	}
	return "", false
}
