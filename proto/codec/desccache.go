package codec

import (
	"sync"

	"google.golang.org/protobuf/reflect/protoreflect"
)

type descCache struct {
	m sync.Map // protoreflect.FullName -> map[string]protoreflect.FieldDescriptor
}

func newDescCache() *descCache { return &descCache{} }

func (c *descCache) get(md protoreflect.MessageDescriptor) map[string]protoreflect.FieldDescriptor {
	if v, ok := c.m.Load(md.FullName()); ok {
		return v.(map[string]protoreflect.FieldDescriptor)
	}
	fields := md.Fields()
	out := make(map[string]protoreflect.FieldDescriptor, fields.Len())
	for n := 0; n < fields.Len(); n++ {
		out[fields.Get(n).JSONName()] = fields.Get(n)
	}
	c.m.Store(md.FullName(), out)
	return out
}
