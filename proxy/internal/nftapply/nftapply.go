// Package nftapply sends nftrules operations to the kernel over netlink
// (github.com/google/nftables) and reads back what a full sync needs. It is
// the only package of the proxy that touches nftables.
package nftapply

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"syscall"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"flotilla.io/proxy/internal/model"
	"flotilla.io/proxy/internal/nftrules"
)

// Conn programs the proxy's table in one network namespace.
type Conn struct {
	nft   *nftables.Conn
	ns    *os.File
	table *nftables.Table
}

// Open connects to nftables in the network namespace at netnsPath ("" is
// the process's own).
func Open(netnsPath string) (*Conn, error) {
	c := &Conn{table: &nftables.Table{Name: nftrules.Table, Family: nftables.TableFamilyIPv4}}
	opts := []nftables.ConnOption{nftables.AsLasting(), nftables.WithSockOptions(bigBuffers)}
	if netnsPath != "" {
		f, err := os.Open(netnsPath)
		if err != nil {
			return nil, fmt.Errorf("network namespace: %w", err)
		}
		c.ns = f
		opts = append(opts, nftables.WithNetNSFd(int(f.Fd())))
	}
	nft, err := nftables.New(opts...)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("nftables: %w", err)
	}
	c.nft = nft
	return c, nil
}

// SocketBuffer is the netlink socket's send and receive buffer size: a
// batch goes out in one message, and every message in it is acknowledged,
// so the kernel's defaults (~200 KiB) overflow (ENOBUFS) after a few
// hundred messages.
const SocketBuffer = 64 << 20

func bigBuffers(c *netlink.Conn) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = raw.Control(func(fd uintptr) {
		for _, o := range [][2]int{{unix.SO_SNDBUFFORCE, unix.SO_SNDBUF}, {unix.SO_RCVBUFFORCE, unix.SO_RCVBUF}} {
			// The FORCE variants pass rmem_max/wmem_max with CAP_NET_ADMIN.
			if e := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, o[0], SocketBuffer); e != nil {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, o[1], SocketBuffer)
			}
		}
	})
	return errors.Join(err, serr)
}

// Close releases the connection; the table stays in the kernel.
func (c *Conn) Close() {
	if c.nft != nil {
		_ = c.nft.CloseLasting()
	}
	if c.ns != nil {
		_ = c.ns.Close()
	}
}

// Probe checks that nftables works here with everything the proxy uses, by
// building and removing a scratch table.
func (c *Conn) Probe() error {
	t := &nftables.Table{Name: nftrules.Table + "-probe", Family: nftables.TableFamilyIPv4}
	probe := &Conn{nft: c.nft, table: t}
	probe.ensureBase(netip.Prefix{})
	probe.queue(nftrules.Op{Kind: nftrules.WriteChain, Chain: nftrules.EndpointsChain([]int{1})})
	probe.writeMap(nftrules.Set{Name: "eps-probe", Kind: nftrules.EndpointMap})
	c.nft.DelTable(t)
	if err := c.nft.Flush(); err != nil {
		return fmt.Errorf("nftables probe: %w", err)
	}
	return nil
}

// Delete removes the proxy's table, if there is one.
func (c *Conn) Delete() error {
	if _, err := c.nft.ListTableOfFamily(nftrules.Table, nftables.TableFamilyIPv4); err != nil {
		if errors.Is(err, syscall.ENOENT) || strings.Contains(err.Error(), "no such file") {
			return nil
		}
		return fmt.Errorf("list table: %w", err)
	}
	c.nft.DelTable(c.table)
	return c.nft.Flush()
}

// Apply sends ops as one atomic batch.
func (c *Conn) Apply(ops []nftrules.Op) error {
	for _, op := range ops {
		c.queue(op)
	}
	if err := c.nft.Flush(); err != nil {
		return fmt.Errorf("nftables batch of %d ops: %w", len(ops), err)
	}
	return nil
}

// ApplyGroups sends groups of ops, several groups per batch up to about
// maxMessages netlink messages; a group is never split.
func (c *Conn) ApplyGroups(groups [][]nftrules.Op, maxMessages int) error {
	var batch []nftrules.Op
	n := 0
	for _, g := range groups {
		m := 0
		for _, op := range g {
			m += op.Messages()
		}
		if n > 0 && n+m > maxMessages {
			if err := c.Apply(batch); err != nil {
				return err
			}
			batch, n = nil, 0
		}
		batch = append(batch, g...)
		n += m
	}
	if len(batch) > 0 {
		return c.Apply(batch)
	}
	return nil
}

// Read returns what services own in the table now.
func (c *Conn) Read() (nftrules.Kernel, error) {
	k := nftrules.Kernel{Chains: map[string]bool{}, Sets: map[string]bool{}}
	if _, err := c.nft.ListTableOfFamily(nftrules.Table, nftables.TableFamilyIPv4); err != nil {
		return k, nil // no table yet
	}
	k.Exists = true
	chains, err := c.nft.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return k, fmt.Errorf("list chains: %w", err)
	}
	for _, ch := range chains {
		if ch.Table.Name == nftrules.Table && nftrules.Owned(ch.Name) {
			k.Chains[ch.Name] = true
		}
	}
	sets, err := c.nft.GetSets(c.table)
	if err != nil {
		return k, fmt.Errorf("list sets: %w", err)
	}
	fixed := map[string]bool{}
	for _, s := range sets {
		if nftrules.Owned(s.Name) {
			k.Sets[s.Name] = true
			continue
		}
		fixed[s.Name] = c.sameType(s)
	}
	for _, m := range nftrules.SharedMaps {
		if !fixed[m] {
			k.Outdated = true
			return k, nil
		}
	}
	for _, m := range nftrules.SharedMaps {
		elems, err := c.nft.GetSetElements(c.sharedSet(m))
		if err != nil {
			return k, fmt.Errorf("list %s: %w", m, err)
		}
		for _, e := range elems {
			if el, ok := decodeElement(m, e); ok {
				k.Elements = append(k.Elements, el)
			}
		}
	}
	return k, nil
}

func (c *Conn) queue(op nftrules.Op) {
	switch op.Kind {
	case nftrules.DeleteTable:
		c.nft.DelTable(c.table)
	case nftrules.EnsureBase:
		c.ensureBase(op.ClusterCIDR)
	case nftrules.AddSet:
		_ = c.nft.AddSet(c.serviceSet(op.Set), nil)
	case nftrules.AddChain:
		c.nft.AddChain(&nftables.Chain{Name: op.Chain.Name, Table: c.table})
	case nftrules.WriteChain:
		ch := &nftables.Chain{Name: op.Chain.Name, Table: c.table}
		c.nft.FlushChain(ch)
		for _, r := range op.Chain.Rules {
			c.nft.AddRule(&nftables.Rule{Table: c.table, Chain: ch, Exprs: ruleExprs(r)})
		}
	case nftrules.WriteMap:
		c.writeMap(op.Set)
	case nftrules.DeleteElements:
		for m, elems := range byMap(op.Elements) {
			_ = c.nft.SetDeleteElements(c.sharedSet(m), elems)
		}
	case nftrules.AddElements:
		for m, elems := range byMap(op.Elements) {
			_ = c.nft.SetAddElements(c.sharedSet(m), elems)
		}
	case nftrules.DeleteChain:
		c.nft.DelChain(&nftables.Chain{Name: op.Chain.Name, Table: c.table})
	case nftrules.DeleteSet:
		c.nft.DelSet(c.serviceSet(op.Set))
	}
}

func (c *Conn) writeMap(s nftrules.Set) {
	set := c.serviceSet(s)
	_ = c.nft.AddSet(set, nil)
	c.nft.FlushSet(set)
	if len(s.Gotos) == 0 {
		return
	}
	elems := make([]nftables.SetElement, len(s.Gotos))
	for i, g := range s.Gotos {
		elems[i] = nftables.SetElement{Key: binaryutil.NativeEndian.PutUint32(uint32(i)), VerdictData: &expr.Verdict{Kind: expr.VerdictGoto, Chain: g}}
	}
	_ = c.nft.SetAddElements(set, elems)
}

func byMap(elems []nftrules.Element) map[string][]nftables.SetElement {
	out := map[string][]nftables.SetElement{}
	for _, e := range elems {
		el := nftables.SetElement{Key: elementKey(e)}
		switch l := nftrules.LayoutOf(e.Map); {
		case l.Verdict:
			el.VerdictData = &expr.Verdict{Kind: expr.VerdictGoto, Chain: e.Goto}
		case l.Endpoint:
			ip := e.Endpoint.Addr().As4()
			el.Val = binary.BigEndian.AppendUint16(ip[:], e.Endpoint.Port())
			el.Val = append(el.Val, 0, 0)
		}
		out[e.Map] = append(out[e.Map], el)
	}
	return out
}

// elementKey encodes a concatenated key: each field padded to 4 bytes;
// the endpoint count and index in host order (numgen's).
func elementKey(e nftrules.Element) []byte {
	l := nftrules.LayoutOf(e.Map)
	var k []byte
	if l.IP || l.Hairpin {
		ip := e.IP.As4()
		k = append(k, ip[:]...)
	}
	if l.Hairpin {
		ip := e.IP.As4()
		return append(k, ip[:]...)
	}
	k = append(k, byte(e.Proto), 0, 0, 0)
	k = binary.BigEndian.AppendUint16(k, e.Port)
	k = append(k, 0, 0)
	if l.Endpoint {
		k = binary.NativeEndian.AppendUint32(k, uint32(e.N))
		k = binary.NativeEndian.AppendUint32(k, uint32(e.Index))
	}
	return k
}

func decodeElement(m string, e nftables.SetElement) (nftrules.Element, bool) {
	el := nftrules.Element{Map: m}
	l := nftrules.LayoutOf(m)
	k := e.Key
	if l.IP || l.Hairpin {
		if len(k) < 4 {
			return el, false
		}
		el.IP = netip.AddrFrom4([4]byte(k[:4]))
		k = k[4:]
	}
	if l.Hairpin {
		return el, len(k) == 4 && netip.AddrFrom4([4]byte(k)) == el.IP
	}
	if len(k) < 8 {
		return el, false
	}
	el.Proto = model.Proto(k[0])
	el.Port = binary.BigEndian.Uint16(k[4:6])
	k = k[8:]
	switch {
	case l.Endpoint:
		if len(k) < 8 || len(e.Val) < 6 {
			return el, false
		}
		el.N, el.Index = int(binary.NativeEndian.Uint32(k)), int(binary.NativeEndian.Uint32(k[4:]))
		el.Endpoint = netip.AddrPortFrom(netip.AddrFrom4([4]byte(e.Val[:4])), binary.BigEndian.Uint16(e.Val[4:6]))
	case l.Verdict:
		el.Goto = verdictChain(e)
		return el, el.Goto != ""
	}
	return el, true
}

// verdictChain reads the chain of a vmap element: the library leaves the
// nested verdict attributes (code, chain) undecoded in Val.
func verdictChain(e nftables.SetElement) string {
	if e.VerdictData != nil {
		return e.VerdictData.Chain
	}
	ad, err := netlink.NewAttributeDecoder(e.Val)
	if err != nil {
		return ""
	}
	var chain string
	for ad.Next() {
		if ad.Type() == unix.NFTA_VERDICT_CHAIN {
			chain = ad.String()
		}
	}
	return chain
}

func (c *Conn) sharedSet(name string) *nftables.Set {
	l := nftrules.LayoutOf(name)
	s := &nftables.Set{Table: c.table, Name: name, Concatenation: true}
	var key []nftables.SetDatatype
	switch {
	case l.Hairpin:
		key = []nftables.SetDatatype{nftables.TypeIPAddr, nftables.TypeIPAddr}
	case l.IP:
		key = []nftables.SetDatatype{nftables.TypeIPAddr, nftables.TypeInetProto, nftables.TypeInetService}
	default:
		key = []nftables.SetDatatype{nftables.TypeInetProto, nftables.TypeInetService}
	}
	if l.Endpoint {
		key = append(key, nftables.TypeMark, nftables.TypeMark) // 32-bit, host order; nft lists "integer" keys of unknown size badly
		s.IsMap = true
		s.DataType, _ = nftables.ConcatSetType(nftables.TypeIPAddr, nftables.TypeInetService)
	}
	if l.Verdict {
		s.IsMap, s.DataType = true, nftables.TypeVerdict
	}
	s.KeyType, _ = nftables.ConcatSetType(key...)
	return s
}

// sameType reports whether a fixed set found in the kernel has the key and
// data types this layout gives it (a verdict map's key type does not read
// back: only its kind is compared).
func (c *Conn) sameType(s *nftables.Set) bool {
	want := c.sharedSet(s.Name)
	if s.IsMap != want.IsMap {
		return false
	}
	if want.DataType.Name == nftables.TypeVerdict.Name {
		return true
	}
	return s.KeyType.Name == want.KeyType.Name && s.KeyType.Bytes == want.KeyType.Bytes &&
		(!want.IsMap || s.DataType.Name == want.DataType.Name && s.DataType.Bytes == want.DataType.Bytes)
}

func (c *Conn) serviceSet(s nftrules.Set) *nftables.Set {
	if s.Kind == nftrules.AffinitySet {
		return &nftables.Set{Table: c.table, Name: s.Name, KeyType: nftables.TypeIPAddr, HasTimeout: true, Dynamic: true}
	}
	return &nftables.Set{Table: c.table, Name: s.Name, IsMap: true, KeyType: nftables.TypeInteger, DataType: nftables.TypeVerdict}
}

// ensureBase (re)creates the table, the fixed chains and shared maps, and
// rewrites the fixed chains' rules.
func (c *Conn) ensureBase(clusterCIDR netip.Prefix) {
	c.nft.AddTable(c.table)
	for _, m := range nftrules.SharedMaps {
		_ = c.nft.AddSet(c.sharedSet(m), nil)
	}
	regular := func(name string, rules ...[]expr.Any) {
		ch := c.nft.AddChain(&nftables.Chain{Name: name, Table: c.table})
		c.nft.FlushChain(ch)
		for _, r := range rules {
			c.nft.AddRule(&nftables.Rule{Table: c.table, Chain: ch, Exprs: r})
		}
	}
	base := func(name string, typ nftables.ChainType, hook *nftables.ChainHook, prio int32, rules ...[]expr.Any) {
		accept := nftables.ChainPolicyAccept
		ch := c.nft.AddChain(&nftables.Chain{Name: name, Table: c.table, Type: typ, Hooknum: hook,
			Priority: nftables.ChainPriorityRef(nftables.ChainPriority(prio)), Policy: &accept})
		c.nft.FlushChain(ch)
		for _, r := range rules {
			c.nft.AddRule(&nftables.Rule{Table: c.table, Chain: ch, Exprs: r})
		}
	}
	jump := func(chain string) []expr.Any { return []expr.Any{&expr.Verdict{Kind: expr.VerdictJump, Chain: chain}} }
	markJump := jump(nftrules.ChainMarkMasquerade)
	lookup := func(set string) *expr.Lookup { return &expr.Lookup{SourceRegister: 1, SetName: set} }
	rule := func(parts ...[]expr.Any) []expr.Any { return slices.Concat(parts...) }
	one := func(e ...expr.Any) []expr.Any { return e }
	// Regular chains first: base chains jump to them. The endpoints chain
	// is written by its own op (rules per endpoint count).
	c.nft.AddChain(&nftables.Chain{Name: nftrules.ChainEndpoints, Table: c.table})
	regular(nftrules.ChainMarkMasquerade, setMark(^uint32(nftrules.MasqueradeMark), nftrules.MasqueradeMark))
	regular(nftrules.ChainMasquerading,
		rule(ctStatus(ipsDstNAT), // hairpin: DNATed back to its source
			one(saddr(), &expr.Payload{DestRegister: 9, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4}, lookup(nftrules.SetHairpin), &expr.Masq{FullyRandom: true})),
		[]expr.Any{
			&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: binaryutil.NativeEndian.PutUint32(nftrules.MasqueradeMark), Xor: make([]byte, 4)},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: make([]byte, 4)},
			&expr.Verdict{Kind: expr.VerdictReturn},
		},
		setMark(^uint32(0), nftrules.MasqueradeMark),
		[]expr.Any{&expr.Masq{FullyRandom: true}},
	)
	regular(nftrules.ChainReject,
		[]expr.Any{ // meta l4proto tcp reject with tcp reset
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
			&expr.Reject{Type: unix.NFT_REJECT_TCP_RST},
		},
		[]expr.Any{&expr.Reject{Type: unix.NFT_REJECT_ICMP_UNREACH, Code: 3}}, // port unreachable
	)
	fromOutside := markJump // no cluster CIDR: masquerade all
	if clusterCIDR.IsValid() {
		fromOutside = rule(one(saddr()), notIn(clusterCIDR), markJump)
	}
	regular(nftrules.ChainServices,
		rule(daddrProtoPort(), one(lookupVmap(nftrules.MapServiceIPs))),
		rule(fibLocal(), protoPort(1), one(lookupVmap(nftrules.MapServiceNodePorts))),
		rule(daddrProtoPort(), one(lookup(nftrules.SetClusterIPs)), fromOutside),
		rule(daddrProtoPort(), one(lookup(nftrules.SetExternalIPs)), markJump),
		rule(fibLocal(), protoPort(1), one(lookup(nftrules.SetNodePorts)), markJump),
		one(&expr.Verdict{Kind: expr.VerdictGoto, Chain: nftrules.ChainEndpoints}),
	)
	regular(nftrules.ChainEndpointsCheck,
		rule(daddrProtoPort(), one(lookup(nftrules.SetRejectIPs)), jump(nftrules.ChainReject)),
		rule(fibLocal(), protoPort(1), one(lookup(nftrules.SetRejectNodePorts)), jump(nftrules.ChainReject)),
	)
	newConn := []expr.Any{
		&expr.Ct{Key: expr.CtKeySTATE, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitNEW), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
		&expr.Verdict{Kind: expr.VerdictJump, Chain: nftrules.ChainEndpointsCheck},
	}
	base("nat-prerouting", nftables.ChainTypeNAT, nftables.ChainHookPrerouting, -100, jump(nftrules.ChainServices))
	base("nat-output", nftables.ChainTypeNAT, nftables.ChainHookOutput, -100, jump(nftrules.ChainServices))
	base("nat-postrouting", nftables.ChainTypeNAT, nftables.ChainHookPostrouting, 100, jump(nftrules.ChainMasquerading))
	base("filter-input", nftables.ChainTypeFilter, nftables.ChainHookInput, -110, newConn)
	base("filter-forward", nftables.ChainTypeFilter, nftables.ChainHookForward, -110, newConn)
	base("filter-output", nftables.ChainTypeFilter, nftables.ChainHookOutput, -110, newConn)
}

// ipsDstNAT is the conntrack status bit of a destination-NATed connection.
const ipsDstNAT = 1 << 5

// ctStatus matches connections with the conntrack status bit set.
func ctStatus(bit uint32) []expr.Any {
	return []expr.Any{
		&expr.Ct{Key: expr.CtKeySTATUS, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: binaryutil.NativeEndian.PutUint32(bit), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
	}
}

// notIn matches register 1 (an IPv4 address) outside prefix.
func notIn(prefix netip.Prefix) []expr.Any {
	net := prefix.Masked().Addr().As4()
	return []expr.Any{
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: maskBytes(prefix.Bits()), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: net[:]},
	}
}

// setMark is meta mark set meta mark & and ^ xor.
func setMark(and, xor uint32) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: binaryutil.NativeEndian.PutUint32(and), Xor: binaryutil.NativeEndian.PutUint32(xor)},
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1},
	}
}

// Registers: 1 is the first 128-bit register; 9 and 10 are the second and
// third 32-bit registers overlapping it, which concatenated keys use.
func daddrProtoPort() []expr.Any {
	return append([]expr.Any{&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4}}, protoPort(9)...)
}

// protoPort loads meta l4proto . th dport from 32-bit register reg on
// (reg 1 means the first).
func protoPort(reg uint32) []expr.Any {
	next := reg + 1
	if reg == 1 {
		next = 9
	}
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg},
		&expr.Payload{DestRegister: next, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
	}
}

func fibLocal() []expr.Any {
	return []expr.Any{
		&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
	}
}

func lookupVmap(set string) *expr.Lookup {
	return &expr.Lookup{SourceRegister: 1, SetName: set, DestRegister: 0, IsDestRegSet: true}
}

func saddr() *expr.Payload {
	return &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4}
}

func ruleExprs(r nftrules.Rule) []expr.Any {
	markJump := &expr.Verdict{Kind: expr.VerdictJump, Chain: nftrules.ChainMarkMasquerade}
	switch r.Kind {
	case nftrules.MasqueradeUnlessFrom:
		return slices.Concat([]expr.Any{saddr()}, notIn(r.Prefix), []expr.Any{markJump})
	case nftrules.MasqueradeAll:
		return []expr.Any{markJump}
	case nftrules.MasqueradeIfFrom:
		ip := r.IP.As4()
		return []expr.Any{saddr(), &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ip[:]}, markJump}
	case nftrules.AffinityGoto:
		return []expr.Any{saddr(), &expr.Lookup{SourceRegister: 1, SetName: r.Set},
			&expr.Verdict{Kind: expr.VerdictGoto, Chain: r.Chain}}
	case nftrules.Balance:
		return []expr.Any{&expr.Numgen{Register: 1, Modulus: uint32(r.N), Type: unix.NFT_NG_RANDOM},
			lookupVmap(r.Set)}
	case nftrules.AffinityUpdate:
		return []expr.Any{saddr(), &expr.Dynset{SrcRegKey: 1, SetName: r.Set, Operation: uint32(unix.NFT_DYNSET_OP_UPDATE), Timeout: r.Timeout}}
	case nftrules.DNAT:
		ip := r.IP.As4()
		return []expr.Any{
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{byte(r.Proto)}},
			&expr.Immediate{Register: 1, Data: ip[:]},
			&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(r.Port)},
			&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2, Specified: true},
		}
	case nftrules.Goto:
		return []expr.Any{&expr.Verdict{Kind: expr.VerdictGoto, Chain: r.Chain}}
	case nftrules.BalanceIPs:
		// Key in 32-bit registers 8..12: daddr . l4proto . dport . N . index.
		return slices.Concat(daddrProtoPort(), balance(11, r.N, nftrules.MapIPEndpoints))
	case nftrules.BalanceNodePorts:
		// Key in 32-bit registers 8..11: l4proto . dport . N . index.
		return slices.Concat(fibLocal(), protoPort(1), balance(10, r.N, nftrules.MapNodePortEndpoints))
	}
	return nil
}

// balance completes a key whose frontend fields end before 32-bit
// register reg: the endpoint count n and numgen random mod n follow, the
// endpoint map gives address . port in registers 8 and 9, and dnat sends
// the packet there.
func balance(reg uint32, n int, m string) []expr.Any {
	return []expr.Any{
		&expr.Immediate{Register: reg, Data: binaryutil.NativeEndian.PutUint32(uint32(n))},
		&expr.Numgen{Register: reg + 1, Modulus: uint32(n), Type: unix.NFT_NG_RANDOM},
		&expr.Lookup{SourceRegister: 1, SetName: m, DestRegister: 1, IsDestRegSet: true},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 9, Specified: true},
	}
}

func maskBytes(bits int) []byte {
	m := ^uint32(0) << (32 - bits)
	if bits == 0 {
		m = 0
	}
	return binary.BigEndian.AppendUint32(nil, m)
}
