package scheduler

import (
	"runtime"
	"sync"
	"weak"

	"google.golang.org/protobuf/proto"
)

// interner makes equal read-only messages one shared value: the replicas
// of a template have the same containers, tolerations (the apiserver adds
// two to every pod), owner and affinity, and a cache of 10,000 pods need
// not hold 10,000 copies. It holds its values weakly: a value no cached pod
// uses any more is collected and its entry dropped. Interned values are
// shared by every pod that has them, like everything in the informer
// cache: never mutate one.
type interner[T any, PT interface {
	*T
	proto.Message
}] struct {
	mu sync.Mutex
	m  map[string]weak.Pointer[T]
	// buf is reused to encode keys; intern runs on the informer's one
	// goroutine, but cleanups run on another, hence mu.
	buf []byte
}

func newInterner[T any, PT interface {
	*T
	proto.Message
}]() *interner[T, PT] {
	return &interner[T, PT]{m: map[string]weak.Pointer[T]{}}
}

var deterministic = proto.MarshalOptions{Deterministic: true}

// intern returns the shared message equal to v (v itself the first time);
// nil stays nil. Once interned v is read-only. A message that does not
// encode is returned unshared.
func (in *interner[T, PT]) intern(v *T) *T {
	if v == nil {
		return nil
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	var err error
	in.buf, err = deterministic.MarshalAppend(in.buf[:0], PT(v))
	if err != nil {
		return v
	}
	if w, ok := in.m[string(in.buf)]; ok { // no allocation for the lookup
		if shared := w.Value(); shared != nil {
			return shared
		}
	}
	key := string(in.buf)
	in.m[key] = weak.Make(v)
	runtime.AddCleanup(v, in.forget, key)
	return v
}

// forget drops key's entry once its value is gone (and not replaced by a
// live one since).
func (in *interner[T, PT]) forget(key string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if w, ok := in.m[key]; ok && w.Value() == nil {
		delete(in.m, key)
	}
}

// len counts entries (tests).
func (in *interner[T, PT]) len() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.m)
}
