package nftrules

import (
	"cmp"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"flotilla.io/proxy/internal/model"
)

// OpKind says what an Op does.
type OpKind int

// Operations, in the order a batch must run them (see Phase).
const (
	// DeleteTable removes a table of an older layout (full sync only).
	DeleteTable OpKind = iota + 1
	// EnsureBase creates the table, its fixed chains and shared maps if
	// missing and rewrites the fixed chains' rules (the endpoints chain is
	// written by a WriteChain in the same batch).
	EnsureBase
	// AddSet creates a per-service set (a no-op if it exists).
	AddSet
	// AddChain creates a regular chain (a no-op if it exists).
	AddChain
	// WriteChain replaces a chain's rules: flush, then add.
	WriteChain
	// WriteMap replaces an endpoint map's elements: flush, then add.
	WriteMap
	// DeleteElements removes shared map elements.
	DeleteElements
	// AddElements adds shared map elements.
	AddElements
	// DeleteChain removes a chain (and its rules); nothing may refer to it.
	DeleteChain
	// DeleteSet removes a set; no rule may refer to it.
	DeleteSet
)

// Op is one step of a batch.
type Op struct {
	Kind     OpKind
	Chain    Chain     // AddChain (name only), WriteChain, DeleteChain (name only)
	Set      Set       // AddSet, WriteMap, DeleteSet
	Elements []Element // AddElements, DeleteElements
	// ClusterCIDR (EnsureBase): traffic to a cluster IP from elsewhere is
	// masqueraded; unset masquerades all of it.
	ClusterCIDR netip.Prefix
}

// Messages is about how many netlink messages the op takes.
func (o Op) Messages() int {
	switch o.Kind {
	case EnsureBase:
		return 40
	case WriteChain:
		return 1 + len(o.Chain.Rules)
	case WriteMap:
		return 2
	case AddElements, DeleteElements:
		// One message per map; count big ones by size too.
		maps := map[string]bool{}
		for _, e := range o.Elements {
			maps[e.Map] = true
		}
		return len(maps) + len(o.Elements)/100
	}
	return 1
}

// String is the op in nft-like syntax, one line per message.
func (o Op) String() string {
	switch o.Kind {
	case DeleteTable:
		return "delete table"
	case EnsureBase:
		return "ensure base"
	case AddSet:
		return fmt.Sprintf("add %s %s", o.Set.Kind, o.Set.Name)
	case AddChain:
		return "add chain " + o.Chain.Name
	case WriteChain:
		lines := []string{"flush chain " + o.Chain.Name}
		for _, r := range o.Chain.Rules {
			lines = append(lines, fmt.Sprintf("add rule %s %s", o.Chain.Name, r))
		}
		return strings.Join(lines, "\n")
	case WriteMap:
		elems := make([]string, len(o.Set.Gotos))
		for i, g := range o.Set.Gotos {
			elems[i] = fmt.Sprintf("%d : goto %s", i, g)
		}
		if len(elems) == 0 {
			return "flush map " + o.Set.Name
		}
		return fmt.Sprintf("flush map %s\nadd element %s { %s }", o.Set.Name, o.Set.Name, strings.Join(elems, ", "))
	case DeleteElements, AddElements:
		verb := "add"
		if o.Kind == DeleteElements {
			verb = "delete"
		}
		lines := make([]string, len(o.Elements))
		for i, e := range o.Elements {
			lines[i] = fmt.Sprintf("%s element %s", verb, e)
		}
		return strings.Join(lines, "\n")
	case DeleteChain:
		return "delete chain " + o.Chain.Name
	case DeleteSet:
		return fmt.Sprintf("delete %s %s", o.Set.Kind, o.Set.Name)
	}
	return fmt.Sprintf("op %d", o.Kind)
}

func (k SetKind) String() string {
	if k == AffinitySet {
		return "set"
	}
	return "map"
}

// Format renders ops one message per line, for tests and debug logs.
func Format(ops []Op) string {
	var b strings.Builder
	for _, o := range ops {
		b.WriteString(o.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// Diff returns the ops that turn old into new, in batch order: create
// what is new, rewrite what changed, then remove what is gone, referrers
// before what they refer to.
func Diff(old, new Objects) []Op {
	var ops []Op
	oldSets := index(old.Sets, func(s Set) string { return s.Name })
	newSets := index(new.Sets, func(s Set) string { return s.Name })
	oldChains := index(old.Chains, func(c Chain) string { return c.Name })
	newChains := index(new.Chains, func(c Chain) string { return c.Name })
	for _, s := range new.Sets {
		if _, ok := oldSets[s.Name]; !ok {
			ops = append(ops, Op{Kind: AddSet, Set: Set{Name: s.Name, Kind: s.Kind}})
		}
	}
	for _, c := range new.Chains {
		if _, ok := oldChains[c.Name]; !ok {
			ops = append(ops, Op{Kind: AddChain, Chain: Chain{Name: c.Name}})
		}
	}
	for _, c := range new.Chains {
		if o, ok := oldChains[c.Name]; !ok || !slices.Equal(o.Rules, c.Rules) {
			ops = append(ops, Op{Kind: WriteChain, Chain: c})
		}
	}
	for _, s := range new.Sets {
		if s.Kind != EndpointMap {
			continue
		}
		if o, ok := oldSets[s.Name]; !ok || !slices.Equal(o.Gotos, s.Gotos) {
			ops = append(ops, Op{Kind: WriteMap, Set: s})
		}
	}
	for _, s := range old.Sets {
		if _, ok := newSets[s.Name]; !ok && s.Kind == EndpointMap {
			// Empty it first: its elements refer to chains deleted below.
			ops = append(ops, Op{Kind: WriteMap, Set: Set{Name: s.Name, Kind: s.Kind}})
		}
	}
	oldElems := index(old.Elements, Element.ID)
	newElems := index(new.Elements, Element.ID)
	var del, add []Element
	for _, e := range old.Elements {
		if n, ok := newElems[e.ID()]; !ok || !n.SameData(e) {
			del = append(del, e)
		}
	}
	for _, e := range new.Elements {
		if o, ok := oldElems[e.ID()]; !ok || !o.SameData(e) {
			add = append(add, e)
		}
	}
	if len(del) > 0 {
		ops = append(ops, Op{Kind: DeleteElements, Elements: del})
	}
	if len(add) > 0 {
		ops = append(ops, Op{Kind: AddElements, Elements: add})
	}
	for _, c := range slices.Backward(old.Chains) {
		if _, ok := newChains[c.Name]; !ok {
			ops = append(ops, Op{Kind: DeleteChain, Chain: Chain{Name: c.Name}})
		}
	}
	for _, s := range old.Sets {
		if _, ok := newSets[s.Name]; !ok {
			ops = append(ops, Op{Kind: DeleteSet, Set: Set{Name: s.Name, Kind: s.Kind}})
		}
	}
	return ops
}

func index[T any, K comparable](items []T, key func(T) K) map[K]T {
	m := make(map[K]T, len(items))
	for _, it := range items {
		m[key(it)] = it
	}
	return m
}

// SortOps orders ops from several diffs into one valid batch: all
// creations, then rewrites, element changes and removals. Within a kind
// the order of the input is kept (chains are listed referrers last).
func SortOps(ops []Op) {
	slices.SortStableFunc(ops, func(a, b Op) int {
		return cmp.Compare(a.Kind, b.Kind)
	})
}

// State is what the proxy believes the kernel holds, per service
// (namespace/name), plus who owns each frontend (two services claiming
// one IP:port, a misconfiguration, must not fail every batch), how many
// services hold each shared element, and the endpoint counts the
// endpoints chain balances for.
type State struct {
	opts     Options
	services map[string]Objects
	owners   map[FrontendID]string // frontend -> service
	refs     map[ElementID]int     // shared element -> holders
	counts   map[int]int           // endpoint count -> frontends balanced so
	balanced []int                 // endpoint counts the kernel's chain has, sorted
	total    totals
}

// NewState is an empty state.
func NewState(opts Options) *State {
	s := &State{opts: opts}
	s.reset()
	return s
}

func (s *State) reset() {
	s.services, s.owners, s.refs, s.counts, s.balanced = map[string]Objects{}, map[FrontendID]string{}, map[ElementID]int{}, map[int]int{}, nil
	s.total = totals{}
}

// Services is how many services the state holds.
func (s *State) Services() int { return len(s.services) }

// Counts reports the services, the rules of their chains (including the
// endpoints chain), their map elements (shared ones once) and the
// endpoints programmed. Kept as running totals: a sync reports them.
func (s *State) Counts() (services, rules, elements, endpoints int) {
	return len(s.services), s.total.rules + 2*len(s.balanced), s.total.elements + len(s.refs), s.total.endpoints
}

// totals are the sums over services' Objects.
type totals struct{ rules, elements, endpoints int }

func (t *totals) add(o Objects, sign int) {
	for _, c := range o.Chains {
		t.rules += sign * len(c.Rules)
	}
	t.elements += sign * len(o.Elements)
	t.endpoints += sign * o.Endpoints
}

func (s *State) objects(service string, ports []model.ServicePort) Objects {
	var o Objects
	for _, sp := range ports {
		po := ObjectsFor(sp, s.opts)
		o.Chains = append(o.Chains, po.Chains...)
		o.Sets = append(o.Sets, po.Sets...)
		o.Shared = append(o.Shared, po.Shared...)
		o.Endpoints += po.Endpoints
		for _, e := range po.Elements {
			if owner, ok := s.owners[e.FrontendID()]; ok && owner != service {
				continue // first come, first served
			}
			o.Elements = append(o.Elements, e)
		}
	}
	return o
}

// record makes o the service's objects and returns the shared elements
// that appeared (no holder before) and disappeared (none left).
func (s *State) record(service string, o Objects) (added, removed []Element) {
	old := s.services[service]
	s.total.add(old, -1)
	s.total.add(o, 1)
	for _, e := range old.Elements {
		delete(s.owners, e.FrontendID())
		if m := LayoutOf(e.Map); m.Endpoint && e.Index == 0 {
			if s.counts[e.N]--; s.counts[e.N] <= 0 {
				delete(s.counts, e.N)
			}
		}
	}
	for _, e := range o.Shared {
		if s.refs[e.ID()]++; s.refs[e.ID()] == 1 {
			added = append(added, e)
		}
	}
	for _, e := range old.Shared {
		if s.refs[e.ID()]--; s.refs[e.ID()] == 0 {
			delete(s.refs, e.ID())
			removed = append(removed, e)
		}
	}
	for _, e := range o.Elements {
		s.owners[e.FrontendID()] = service
		if m := LayoutOf(e.Map); m.Endpoint && e.Index == 0 {
			s.counts[e.N]++
		}
	}
	if len(o.Chains)+len(o.Sets)+len(o.Elements)+len(o.Shared) == 0 {
		delete(s.services, service)
	} else {
		s.services[service] = o
	}
	return added, removed
}

// Update sets one service's ports (none: the service is gone) and returns
// the ops that bring the kernel along: only that service's objects, and a
// rule for an endpoint count no service had before.
func (s *State) Update(service string, ports []model.ServicePort) []Op {
	o := s.objects(service, ports)
	ops := Diff(s.services[service], o)
	added, removed := s.record(service, o)
	if len(removed) > 0 {
		ops = append(ops, Op{Kind: DeleteElements, Elements: removed})
	}
	if len(added) > 0 {
		ops = append(ops, Op{Kind: AddElements, Elements: added})
	}
	// The endpoints chain only grows here; a full sync trims it.
	missing := false
	for n := range s.counts {
		if _, ok := slices.BinarySearch(s.balanced, n); !ok {
			s.balanced = append(s.balanced, n)
			missing = true
		}
	}
	if missing {
		slices.Sort(s.balanced)
		ops = append(ops, Op{Kind: WriteChain, Chain: EndpointsChain(s.balanced)})
	}
	return ops
}

// Kernel is what a full sync found in the table.
type Kernel struct {
	Exists bool
	// Outdated: the table lacks a fixed set or map of this layout (an older
	// proxy made it); it is rebuilt from scratch, deleted in the first
	// batch of the full sync (services in later batches are briefly
	// unprogrammed).
	Outdated bool
	Chains   map[string]bool // regular chains owned by services
	Sets     map[string]bool // per-service sets and maps
	Elements []Element       // shared map elements
}

// Owned reports whether a chain or set name is one services own (not a
// fixed one).
func Owned(name string) bool {
	for _, p := range []string{"svc-", "ext-", "sep-", "eps-", "aff-"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// Full replaces the whole state with desired (service -> ports) and returns
// groups of ops that rewrite everything services own and remove whatever
// else the kernel holds. Each group is one service and must be sent in one
// batch (atomic); groups may share a batch. The first group ensures the
// fixed objects, the last removes strays.
func (s *State) Full(desired map[string][]model.ServicePort, k Kernel) [][]Op {
	s.reset()
	var base []Op
	if k.Exists && k.Outdated {
		base = append(base, Op{Kind: DeleteTable})
		k = Kernel{}
	}
	base = append(base, Op{Kind: EnsureBase, ClusterCIDR: s.opts.ClusterCIDR})
	groups := [][]Op{nil}
	kernelElems := index(k.Elements, Element.ID)
	wantedElems := make(map[ElementID]bool, len(k.Elements))
	wanted := map[string]bool{}
	for _, svc := range slices.Sorted(maps.Keys(desired)) {
		o := s.objects(svc, desired[svc])
		added, _ := s.record(svc, o)
		var g []Op
		for _, set := range o.Sets {
			g = append(g, Op{Kind: AddSet, Set: Set{Name: set.Name, Kind: set.Kind}})
			wanted[set.Name] = true
		}
		for _, c := range o.Chains {
			g = append(g, Op{Kind: AddChain, Chain: Chain{Name: c.Name}})
			wanted[c.Name] = true
		}
		for _, c := range o.Chains {
			g = append(g, Op{Kind: WriteChain, Chain: c})
		}
		for _, set := range o.Sets {
			if set.Kind == EndpointMap {
				g = append(g, Op{Kind: WriteMap, Set: set})
			}
		}
		var del, add []Element
		for _, e := range slices.Concat(o.Elements, added) {
			wantedElems[e.ID()] = true
			have, ok := kernelElems[e.ID()]
			if ok && have.SameData(e) {
				continue
			}
			if ok {
				del = append(del, have)
			}
			add = append(add, e)
		}
		if len(del) > 0 {
			g = append(g, Op{Kind: DeleteElements, Elements: del})
		}
		if len(add) > 0 {
			g = append(g, Op{Kind: AddElements, Elements: add})
		}
		groups = append(groups, g)
	}
	s.balanced = slices.Sorted(maps.Keys(s.counts))
	groups[0] = append(base, Op{Kind: WriteChain, Chain: EndpointsChain(s.balanced)})
	var stray []Op
	var del []Element
	for _, e := range k.Elements {
		if !wantedElems[e.ID()] && s.refs[e.ID()] == 0 {
			del = append(del, e)
		}
	}
	if len(del) > 0 {
		stray = append(stray, Op{Kind: DeleteElements, Elements: del})
	}
	// Stray chains may refer to each other: flush them all first, then
	// delete service and external chains before endpoint chains.
	var chains []string
	for c := range k.Chains {
		if !wanted[c] {
			chains = append(chains, c)
		}
	}
	slices.SortFunc(chains, func(a, b string) int {
		return cmp.Or(cmp.Compare(b2i(strings.HasPrefix(a, "sep-")), b2i(strings.HasPrefix(b, "sep-"))), strings.Compare(a, b))
	})
	for _, c := range chains {
		stray = append(stray, Op{Kind: WriteChain, Chain: Chain{Name: c}})
	}
	var sets []string
	for n := range k.Sets {
		if !wanted[n] {
			sets = append(sets, n)
		}
	}
	slices.Sort(sets)
	for _, n := range sets {
		if strings.HasPrefix(n, "eps-") {
			stray = append(stray, Op{Kind: WriteMap, Set: Set{Name: n, Kind: EndpointMap}})
		}
	}
	for _, c := range chains {
		stray = append(stray, Op{Kind: DeleteChain, Chain: Chain{Name: c}})
	}
	for _, n := range sets {
		kind := EndpointMap
		if strings.HasPrefix(n, "aff-") {
			kind = AffinitySet
		}
		stray = append(stray, Op{Kind: DeleteSet, Set: Set{Name: n, Kind: kind}})
	}
	if len(stray) > 0 {
		groups = append(groups, stray)
	}
	return groups
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
