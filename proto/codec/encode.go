// Package codec reads and writes API objects in the upstream Kubernetes JSON and
// YAML form: apiVersion and kind first, int64 as numbers, IntOrString and
// Quantity as bare scalars, timestamps as RFC 3339, empty fields omitted. It
// works from protobuf reflection, so every registered kind is covered by one
// code path, and decoding is strict: an unknown field is an error naming it.
package codec

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"sigs.k8s.io/yaml"

	"flotilla.io/proto/kind"
)

const (
	timestampName   protoreflect.FullName = "google.protobuf.Timestamp"
	intOrStringName protoreflect.FullName = "flotilla.meta.v1.IntOrString"
	quantityName    protoreflect.FullName = "flotilla.meta.v1.Quantity"
)

// MarshalJSON renders a registered object as compact upstream JSON.
func MarshalJSON(m proto.Message) ([]byte, error) {
	var b bytes.Buffer
	if err := writeObject(&b, m); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// MarshalIndentJSON renders a registered object as indented upstream JSON, the
// form of `flotctl get -o json`.
func MarshalIndentJSON(m proto.Message) ([]byte, error) {
	raw, err := MarshalJSON(m)
	if err != nil {
		return nil, err
	}
	return indent(raw)
}

// MarshalYAML renders a registered object as YAML (keys sorted, as kubectl).
func MarshalYAML(m proto.Message) ([]byte, error) {
	raw, err := MarshalJSON(m)
	if err != nil {
		return nil, err
	}
	return yaml.JSONToYAML(raw)
}

// MarshalListJSON renders objects as an upstream "List" (what kubectl prints for
// several objects), compact.
func MarshalListJSON(items []proto.Message, resourceVersion string) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`{"apiVersion":"v1","kind":"List","metadata":{"resourceVersion":`)
	writeString(&b, resourceVersion)
	b.WriteString(`},"items":[`)
	for n, m := range items {
		if n > 0 {
			b.WriteByte(',')
		}
		if err := writeObject(&b, m); err != nil {
			return nil, err
		}
	}
	b.WriteString("]}")
	return b.Bytes(), nil
}

// MarshalListYAML renders objects as an upstream "List" in YAML.
func MarshalListYAML(items []proto.Message, resourceVersion string) ([]byte, error) {
	raw, err := MarshalListJSON(items, resourceVersion)
	if err != nil {
		return nil, err
	}
	return yaml.JSONToYAML(raw)
}

// MarshalMessageJSON renders any message (not necessarily a registered kind,
// e.g. a PodSpec) in the same form, without apiVersion and kind.
func MarshalMessageJSON(m proto.Message) ([]byte, error) {
	var b bytes.Buffer
	if err := writeMessage(&b, m.ProtoReflect(), nil); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func indent(raw []byte) ([]byte, error) {
	var out bytes.Buffer
	if err := json.Indent(&out, raw, "", "    "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

func writeObject(b *bytes.Buffer, m proto.Message) error {
	info, ok := kind.ForMessage(m)
	if !ok {
		return fmt.Errorf("%s is not a registered kind", m.ProtoReflect().Descriptor().FullName())
	}
	b.WriteString(`{"apiVersion":`)
	writeString(b, info.APIVersion())
	b.WriteString(`,"kind":`)
	writeString(b, info.Kind)
	return writeFields(b, m.ProtoReflect(), true)
}

func writeMessage(b *bytes.Buffer, r protoreflect.Message, _ any) error {
	switch r.Descriptor().FullName() {
	case timestampName:
		writeString(b, formatTime(r))
		return nil
	case intOrStringName:
		f := r.Descriptor().Fields()
		if r.Get(f.ByName("type")).Int() == 1 {
			writeString(b, r.Get(f.ByName("str_val")).String())
		} else {
			b.WriteString(strconv.FormatInt(r.Get(f.ByName("int_val")).Int(), 10))
		}
		return nil
	case quantityName:
		writeString(b, r.Get(r.Descriptor().Fields().ByName("string")).String())
		return nil
	}
	b.WriteByte('{')
	return writeFields(b, r, false)
}

// writeFields writes the populated fields of r in field order and closes the
// object; wroteSome says whether a field was already written before them.
func writeFields(b *bytes.Buffer, r protoreflect.Message, wroteSome bool) error {
	fields := r.Descriptor().Fields()
	for n := 0; n < fields.Len(); n++ {
		fd := fields.Get(n)
		if !r.Has(fd) {
			continue
		}
		if wroteSome {
			b.WriteByte(',')
		}
		wroteSome = true
		writeString(b, fd.JSONName())
		b.WriteByte(':')
		if err := writeField(b, fd, r.Get(fd)); err != nil {
			return err
		}
	}
	b.WriteByte('}')
	return nil
}

func writeField(b *bytes.Buffer, fd protoreflect.FieldDescriptor, v protoreflect.Value) error {
	switch {
	case fd.IsList():
		l := v.List()
		b.WriteByte('[')
		for n := 0; n < l.Len(); n++ {
			if n > 0 {
				b.WriteByte(',')
			}
			if err := writeSingular(b, fd, l.Get(n)); err != nil {
				return err
			}
		}
		b.WriteByte(']')
		return nil
	case fd.IsMap():
		return writeMap(b, fd, v.Map())
	default:
		return writeSingular(b, fd, v)
	}
}

func writeMap(b *bytes.Buffer, fd protoreflect.FieldDescriptor, m protoreflect.Map) error {
	keys := make([]string, 0, m.Len())
	m.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
		keys = append(keys, k.String())
		return true
	})
	slices.Sort(keys)
	b.WriteByte('{')
	for n, k := range keys {
		if n > 0 {
			b.WriteByte(',')
		}
		writeString(b, k)
		b.WriteByte(':')
		if err := writeSingular(b, fd.MapValue(), m.Get(protoreflect.ValueOfString(k).MapKey())); err != nil {
			return err
		}
	}
	b.WriteByte('}')
	return nil
}

func writeSingular(b *bytes.Buffer, fd protoreflect.FieldDescriptor, v protoreflect.Value) error {
	switch fd.Kind() {
	case protoreflect.StringKind:
		writeString(b, v.String())
	case protoreflect.BoolKind:
		b.WriteString(strconv.FormatBool(v.Bool()))
	case protoreflect.Int32Kind, protoreflect.Int64Kind, protoreflect.Sint32Kind, protoreflect.Sint64Kind,
		protoreflect.Sfixed32Kind, protoreflect.Sfixed64Kind:
		b.WriteString(strconv.FormatInt(v.Int(), 10))
	case protoreflect.Uint32Kind, protoreflect.Uint64Kind, protoreflect.Fixed32Kind, protoreflect.Fixed64Kind:
		b.WriteString(strconv.FormatUint(v.Uint(), 10))
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("field %s: %v cannot be written as JSON", fd.JSONName(), f)
		}
		b.WriteString(strconv.FormatFloat(f, 'g', -1, 64))
	case protoreflect.BytesKind:
		writeString(b, base64.StdEncoding.EncodeToString(v.Bytes()))
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			writeString(b, string(ev.Name()))
		} else {
			b.WriteString(strconv.FormatInt(int64(v.Enum()), 10))
		}
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return writeMessage(b, v.Message(), nil)
	default:
		return fmt.Errorf("field %s: unsupported kind %v", fd.JSONName(), fd.Kind())
	}
	return nil
}

func writeString(b *bytes.Buffer, s string) {
	raw, _ := json.Marshal(s) // a Go string always marshals
	b.Write(raw)
}

// formatTime renders a Timestamp as upstream does: whole seconds for
// metav1.Time, microseconds when the value has them (metav1.MicroTime).
func formatTime(r protoreflect.Message) string {
	f := r.Descriptor().Fields()
	t := time.Unix(r.Get(f.ByName("seconds")).Int(), r.Get(f.ByName("nanos")).Int()).UTC()
	if t.Nanosecond() == 0 {
		return t.Format(time.RFC3339)
	}
	return t.Format("2006-01-02T15:04:05.000000Z07:00")
}
