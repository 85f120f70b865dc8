package endpointslice

import (
	"strconv"
	"sync"
	"time"

	discoveryv1 "flotilla.io/proto/flotilla/discovery/v1"
)

// tracker is upstream's endpointSliceTracker in small: per Service, the
// resourceVersion each slice had after this controller wrote it (0 once
// deleted). A write the cache has not shown within staleAfter (the slice
// was deleted again by someone else) is forgotten.
type tracker struct {
	mu      sync.Mutex
	pending map[string]map[string]write // service key -> slice name -> write
}

type write struct {
	rv int64
	at time.Time
}

const staleAfter = 10 * time.Second

func newTracker() *tracker { return &tracker{pending: map[string]map[string]write{}} }

func (t *tracker) wrote(svc string, s *discoveryv1.EndpointSlice) {
	rv, _ := strconv.ParseInt(s.GetMetadata().GetResourceVersion(), 10, 64)
	t.set(svc, s.GetMetadata().GetName(), rv)
}

func (t *tracker) deleted(svc string, s *discoveryv1.EndpointSlice) {
	t.set(svc, s.GetMetadata().GetName(), 0)
}

func (t *tracker) set(svc, name string, rv int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pending[svc] == nil {
		t.pending[svc] = map[string]write{}
	}
	t.pending[svc][name] = write{rv: rv, at: time.Now()}
}

// seen reports whether cached holds every write made for svc, forgetting
// the writes it holds.
func (t *tracker) seen(svc string, cached []*discoveryv1.EndpointSlice) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.pending[svc]
	if len(p) == 0 {
		return true
	}
	have := map[string]int64{}
	for _, s := range cached {
		rv, _ := strconv.ParseInt(s.GetMetadata().GetResourceVersion(), 10, 64)
		have[s.GetMetadata().GetName()] = rv
	}
	for name, w := range p {
		got, ok := have[name]
		if (w.rv == 0 && !ok) || (w.rv > 0 && ok && got >= w.rv) || time.Since(w.at) > staleAfter {
			delete(p, name)
		}
	}
	if len(p) == 0 {
		delete(t.pending, svc)
		return true
	}
	return false
}
