// Package object gives generic access to the parts every API object shares
// (metadata, spec, status) over protobuf reflection, so storage, informers and the
// CLI handle every kind with one code path.
package object

import (
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"

	metav1 "flotilla.io/proto/flotilla/meta/v1"
	"flotilla.io/proto/kind"
)

// Meta returns the object's metadata, creating it when unset. The returned
// message is the object's own: writes to it change the object.
func Meta(m proto.Message) *metav1.ObjectMeta {
	r := m.ProtoReflect()
	fd := r.Descriptor().Fields().ByName("metadata")
	if fd == nil {
		return nil
	}
	return r.Mutable(fd).Message().Interface().(*metav1.ObjectMeta)
}

// Field returns the named top-level message field ("spec", "status") or nil when
// the kind has none or it is unset.
func Field(m proto.Message, name protoreflect.Name) proto.Message {
	r := m.ProtoReflect()
	fd := r.Descriptor().Fields().ByName(name)
	if fd == nil || fd.Message() == nil || !r.Has(fd) {
		return nil
	}
	return r.Get(fd).Message().Interface()
}

// CopyField copies top-level field name from src to dst (both of one kind),
// clearing it in dst when src has it unset. It is how the server keeps status
// out of spec writes and spec out of status writes.
func CopyField(dst, src proto.Message, name protoreflect.Name) {
	d, s := dst.ProtoReflect(), src.ProtoReflect()
	fd := d.Descriptor().Fields().ByName(name)
	if fd == nil {
		return
	}
	if s.Has(fd) {
		d.Set(fd, s.Get(fd))
	} else {
		d.Clear(fd)
	}
}

// FieldsExcept reports whether a and b are equal in every top-level field but
// the named ones.
func FieldsExcept(a, b proto.Message, skip ...protoreflect.Name) bool {
	ac, bc := proto.Clone(a), proto.Clone(b)
	for _, n := range skip {
		if fd := ac.ProtoReflect().Descriptor().Fields().ByName(n); fd != nil {
			ac.ProtoReflect().Clear(fd)
			bc.ProtoReflect().Clear(fd)
		}
	}
	return proto.Equal(ac, bc)
}

// Key is namespace/name, or name for cluster-scoped objects.
func Key(m proto.Message) string {
	md := Meta(m)
	if md.GetNamespace() == "" {
		return md.GetName()
	}
	return md.GetNamespace() + "/" + md.GetName()
}

// Kind returns the registered kind of m, or "" when it is not an API object.
func Kind(m proto.Message) string {
	if i, ok := kind.ForMessage(m); ok {
		return i.Kind
	}
	return ""
}

// ToAny wraps a typed object for the wire.
func ToAny(m proto.Message) (*anypb.Any, error) {
	return anypb.New(m)
}

// FromAny unwraps an object from the wire into a new message of its
// registered kind.
func FromAny(a *anypb.Any) (proto.Message, error) {
	return a.UnmarshalNew()
}
