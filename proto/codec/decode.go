package codec

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"sigs.k8s.io/yaml"

	"flotilla.io/proto/kind"
)

// FieldError is a decoding error at one field, named by its JSON path
// ("spec.containers[0].ports[1].containerPort").
type FieldError struct {
	Path   string
	Reason string
	// Unknown marks a field that the kind does not have.
	Unknown bool
}

func (e *FieldError) Error() string {
	if e.Unknown {
		return fmt.Sprintf("unknown field %q", e.Path)
	}
	if e.Path == "" {
		return e.Reason
	}
	return e.Path + ": " + e.Reason
}

// TypeMeta is the apiVersion and kind of a manifest.
type TypeMeta struct {
	APIVersion string
	Kind       string
}

// Unmarshal decodes one manifest, JSON or YAML, into a new typed object of the
// kind its apiVersion and kind name. Unknown fields and wrong types are errors.
func Unmarshal(data []byte) (proto.Message, error) {
	doc, err := parseDocument(data)
	if err != nil {
		return nil, err
	}
	return decodeObject(doc, "")
}

// UnmarshalAll decodes one manifest that is either an object or a List of
// objects (kind "List" or "<Kind>List"), as kubectl accepts.
func UnmarshalAll(data []byte) ([]proto.Message, error) {
	doc, err := parseDocument(data)
	if err != nil {
		return nil, err
	}
	k, _ := doc["kind"].(string)
	if k == "List" || (strings.HasSuffix(k, "List") && doc["items"] != nil) {
		items, ok := doc["items"].([]any)
		if !ok && doc["items"] != nil {
			return nil, &FieldError{Path: "items", Reason: "must be a list"}
		}
		out := make([]proto.Message, 0, len(items))
		for n, it := range items {
			obj, ok := it.(map[string]any)
			if !ok {
				return nil, &FieldError{Path: fmt.Sprintf("items[%d]", n), Reason: "must be an object"}
			}
			m, err := decodeObject(obj, fmt.Sprintf("items[%d].", n))
			if err != nil {
				return nil, err
			}
			out = append(out, m)
		}
		return out, nil
	}
	m, err := decodeObject(doc, "")
	if err != nil {
		return nil, err
	}
	return []proto.Message{m}, nil
}

// UnmarshalInto decodes a manifest into m. apiVersion and kind may be absent;
// when present they must match m's kind.
func UnmarshalInto(data []byte, m proto.Message) error {
	doc, err := parseDocument(data)
	if err != nil {
		return err
	}
	if info, ok := kind.ForMessage(m); ok {
		if err := checkTypeMeta(doc, info, ""); err != nil {
			return err
		}
		delete(doc, "apiVersion")
		delete(doc, "kind")
	}
	return decodeMessage(doc, m.ProtoReflect(), "")
}

// PeekTypeMeta reads only apiVersion and kind of a manifest.
func PeekTypeMeta(data []byte) (TypeMeta, error) {
	doc, err := parseDocument(data)
	if err != nil {
		return TypeMeta{}, err
	}
	av, _ := doc["apiVersion"].(string)
	k, _ := doc["kind"].(string)
	return TypeMeta{APIVersion: av, Kind: k}, nil
}

// Limits on what a manifest may be: an object bigger than etcd stores, or
// nesting deeper than any API type, is refused before it is parsed.
const (
	MaxDocumentBytes = 3 << 20
	MaxDepth         = 100
)

func parseDocument(data []byte) (map[string]any, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, fmt.Errorf("empty document")
	}
	if len(data) > MaxDocumentBytes {
		return nil, fmt.Errorf("document is %d bytes, more than the limit of %d", len(data), MaxDocumentBytes)
	}
	if depth(data) > MaxDepth {
		return nil, fmt.Errorf("document nests deeper than %d levels", MaxDepth)
	}
	if data[0] != '{' {
		j, err := yaml.YAMLToJSON(data)
		if err != nil {
			return nil, fmt.Errorf("parse YAML: %w", err)
		}
		data = j
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("parse JSON: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("parse JSON: trailing data after the object")
	}
	doc, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("a manifest must be an object, not %s", jsonType(v))
	}
	return doc, nil
}

func decodeObject(doc map[string]any, prefix string) (proto.Message, error) {
	av, _ := doc["apiVersion"].(string)
	k, _ := doc["kind"].(string)
	if k == "" {
		return nil, &FieldError{Path: prefix + "kind", Reason: "Required value: every manifest names its kind"}
	}
	if av == "" {
		return nil, &FieldError{Path: prefix + "apiVersion", Reason: "Required value: every manifest names its apiVersion"}
	}
	info, err := kind.ByAPIVersionKind(av, k)
	if err != nil {
		return nil, &FieldError{Path: prefix + "kind", Reason: err.Error()}
	}
	m := info.New()
	delete(doc, "apiVersion")
	delete(doc, "kind")
	if err := decodeMessage(doc, m.ProtoReflect(), prefix); err != nil {
		return nil, err
	}
	return m, nil
}

func checkTypeMeta(doc map[string]any, info *kind.Info, prefix string) error {
	if k, ok := doc["kind"].(string); ok && k != info.Kind {
		return &FieldError{Path: prefix + "kind", Reason: fmt.Sprintf("is %q, expected %q", k, info.Kind)}
	}
	if av, ok := doc["apiVersion"].(string); ok && av != info.APIVersion() {
		return &FieldError{Path: prefix + "apiVersion", Reason: fmt.Sprintf("is %q, expected %q", av, info.APIVersion())}
	}
	return nil
}

// fieldsByJSON caches, per message type, the fields by their JSON name.
var fieldsByJSON = newDescCache()

func decodeMessage(obj map[string]any, r protoreflect.Message, path string) error {
	byName := fieldsByJSON.get(r.Descriptor())
	for key, val := range obj {
		fd := byName[key]
		fpath := path + key
		if fd == nil {
			return &FieldError{Path: fpath, Unknown: true}
		}
		if val == nil { // null means unset, as upstream
			continue
		}
		if err := decodeField(val, r, fd, fpath); err != nil {
			return err
		}
	}
	return nil
}

func decodeField(val any, r protoreflect.Message, fd protoreflect.FieldDescriptor, path string) error {
	switch {
	case fd.IsList():
		arr, ok := val.([]any)
		if !ok {
			return typeError(path, "a list", val)
		}
		l := r.Mutable(fd).List()
		for n, it := range arr {
			ipath := fmt.Sprintf("%s[%d]", path, n)
			if it == nil {
				return &FieldError{Path: ipath, Reason: "null is not allowed in a list"}
			}
			if fd.Kind() == protoreflect.MessageKind && !isScalarMessage(fd.Message()) {
				el := l.NewElement()
				if err := decodeInto(it, el.Message(), ipath); err != nil {
					return err
				}
				l.Append(el)
				continue
			}
			v, err := decodeSingular(it, fd, l.NewElement, ipath)
			if err != nil {
				return err
			}
			l.Append(v)
		}
		return nil
	case fd.IsMap():
		obj, ok := val.(map[string]any)
		if !ok {
			return typeError(path, "an object", val)
		}
		m := r.Mutable(fd).Map()
		vd := fd.MapValue()
		for k, it := range obj {
			ipath := path + "." + k
			if it == nil {
				continue
			}
			if vd.Kind() == protoreflect.MessageKind && !isScalarMessage(vd.Message()) {
				el := m.NewValue()
				if err := decodeInto(it, el.Message(), ipath); err != nil {
					return err
				}
				m.Set(protoreflect.ValueOfString(k).MapKey(), el)
				continue
			}
			v, err := decodeSingular(it, vd, m.NewValue, ipath)
			if err != nil {
				return err
			}
			m.Set(protoreflect.ValueOfString(k).MapKey(), v)
		}
		return nil
	case fd.Kind() == protoreflect.MessageKind && !isScalarMessage(fd.Message()):
		return decodeInto(val, r.Mutable(fd).Message(), path)
	default:
		v, err := decodeSingular(val, fd, func() protoreflect.Value { return r.NewField(fd) }, path)
		if err != nil {
			return err
		}
		r.Set(fd, v)
		return nil
	}
}

func decodeInto(val any, m protoreflect.Message, path string) error {
	obj, ok := val.(map[string]any)
	if !ok {
		return typeError(path, "an object", val)
	}
	return decodeMessage(obj, m, path+".")
}

func isScalarMessage(md protoreflect.MessageDescriptor) bool {
	switch md.FullName() {
	case timestampName, intOrStringName, quantityName:
		return true
	}
	return false
}

func decodeSingular(val any, fd protoreflect.FieldDescriptor, newMsg func() protoreflect.Value, path string) (protoreflect.Value, error) {
	switch fd.Kind() {
	case protoreflect.StringKind:
		s, ok := val.(string)
		if !ok {
			return protoreflect.Value{}, typeError(path, "a string", val)
		}
		return protoreflect.ValueOfString(s), nil
	case protoreflect.BoolKind:
		b, ok := val.(bool)
		if !ok {
			return protoreflect.Value{}, typeError(path, "a boolean", val)
		}
		return protoreflect.ValueOfBool(b), nil
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		n, err := intValue(val, path, math.MinInt32, math.MaxInt32)
		return protoreflect.ValueOfInt32(int32(n)), err
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		n, err := intValue(val, path, math.MinInt64, math.MaxInt64)
		return protoreflect.ValueOfInt64(n), err
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		n, err := intValue(val, path, 0, math.MaxUint32)
		return protoreflect.ValueOfUint32(uint32(n)), err
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		n, err := intValue(val, path, 0, math.MaxInt64)
		return protoreflect.ValueOfUint64(uint64(n)), err
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		num, ok := val.(json.Number)
		if !ok {
			return protoreflect.Value{}, typeError(path, "a number", val)
		}
		f, err := num.Float64()
		if err != nil {
			return protoreflect.Value{}, &FieldError{Path: path, Reason: "invalid number " + num.String()}
		}
		if fd.Kind() == protoreflect.FloatKind {
			return protoreflect.ValueOfFloat32(float32(f)), nil
		}
		return protoreflect.ValueOfFloat64(f), nil
	case protoreflect.BytesKind:
		s, ok := val.(string)
		if !ok {
			return protoreflect.Value{}, typeError(path, "a base64 string", val)
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return protoreflect.Value{}, &FieldError{Path: path, Reason: "invalid base64 data: " + err.Error()}
		}
		return protoreflect.ValueOfBytes(b), nil
	case protoreflect.EnumKind:
		s, ok := val.(string)
		if !ok {
			return protoreflect.Value{}, typeError(path, "a string", val)
		}
		ev := fd.Enum().Values().ByName(protoreflect.Name(s))
		if ev == nil {
			return protoreflect.Value{}, &FieldError{Path: path, Reason: fmt.Sprintf("unsupported value %q", s)}
		}
		return protoreflect.ValueOfEnum(ev.Number()), nil
	case protoreflect.MessageKind:
		v := newMsg()
		if err := decodeScalarMessage(val, v.Message(), path); err != nil {
			return protoreflect.Value{}, err
		}
		return v, nil
	}
	return protoreflect.Value{}, &FieldError{Path: path, Reason: fmt.Sprintf("unsupported field kind %v", fd.Kind())}
}

func decodeScalarMessage(val any, m protoreflect.Message, path string) error {
	f := m.Descriptor().Fields()
	switch m.Descriptor().FullName() {
	case timestampName:
		s, ok := val.(string)
		if !ok {
			return typeError(path, "an RFC 3339 time string", val)
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return &FieldError{Path: path, Reason: fmt.Sprintf("invalid time %q: want RFC 3339 such as 2006-01-02T15:04:05Z", s)}
		}
		m.Set(f.ByName("seconds"), protoreflect.ValueOfInt64(t.Unix()))
		m.Set(f.ByName("nanos"), protoreflect.ValueOfInt32(int32(t.Nanosecond())))
	case intOrStringName:
		switch v := val.(type) {
		case string:
			m.Set(f.ByName("type"), protoreflect.ValueOfInt32(1))
			m.Set(f.ByName("str_val"), protoreflect.ValueOfString(v))
		case json.Number:
			n, err := intValue(v, path, math.MinInt32, math.MaxInt32)
			if err != nil {
				return err
			}
			m.Set(f.ByName("int_val"), protoreflect.ValueOfInt32(int32(n)))
		default:
			return typeError(path, "an integer or a string", val)
		}
	case quantityName:
		switch v := val.(type) {
		case string:
			m.Set(f.ByName("string"), protoreflect.ValueOfString(v))
		case json.Number:
			m.Set(f.ByName("string"), protoreflect.ValueOfString(v.String()))
		default:
			return typeError(path, `a quantity such as "500m" or "128Mi"`, val)
		}
	}
	return nil
}

func intValue(val any, path string, lo, hi int64) (int64, error) {
	num, ok := val.(json.Number)
	if !ok {
		return 0, typeError(path, "an integer", val)
	}
	n, err := strconv.ParseInt(num.String(), 10, 64)
	if err != nil {
		// Accept integral floats such as 1e3 or 3.0, as JSON producers write them.
		f, ferr := num.Float64()
		if ferr != nil || f != math.Trunc(f) || f < float64(lo) || f > float64(hi) {
			return 0, &FieldError{Path: path, Reason: fmt.Sprintf("%s is not an integer in range", num)}
		}
		n = int64(f)
	}
	if n < lo || n > hi {
		return 0, &FieldError{Path: path, Reason: fmt.Sprintf("%d is out of range [%d, %d]", n, lo, hi)}
	}
	return n, nil
}

func typeError(path, want string, got any) error {
	return &FieldError{Path: path, Reason: fmt.Sprintf("must be %s, not %s", want, jsonType(got))}
}

func jsonType(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// depth is the deepest bracket nesting of a JSON or flow-YAML document
// (block YAML nests by indentation, which the parser bounds itself).
func depth(data []byte) int {
	d, deepest := 0, 0
	inString := byte(0)
	for n := 0; n < len(data); n++ {
		c := data[n]
		switch {
		case inString != 0:
			if c == '\\' && inString == '"' {
				n++
			} else if c == inString {
				inString = 0
			}
		case c == '"' || c == '\'':
			inString = c
		case c == '{' || c == '[':
			d++
			deepest = max(deepest, d)
		case c == '}' || c == ']':
			d--
		}
	}
	return deepest
}
