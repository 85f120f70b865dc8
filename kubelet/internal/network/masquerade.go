package network

import (
	"fmt"
	"net"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
)

// IPv4 header offsets of the source and destination addresses.
const (
	ipSaddrOffset = 12
	ipDaddrOffset = 16
)

// masqTable is the node's own nftables table (one per bridge, so several
// kubelets can share a namespace).
func (m *Manager) masqTable() *nftables.Table {
	return &nftables.Table{Family: nftables.TableFamilyIPv4, Name: "flotilla-" + m.cfg.BridgeName}
}

// ensureMasquerade makes pod traffic leaving the node for anything but a pod
// carry the node's address, as CNI's bridge plugin does with ipMasq: hosts
// outside (another container, the apiserver's machine) have no route back to
// pod addresses. Traffic to our own podCIDR, to the peers' podCIDRs and to
// Config.ClusterCIDR keeps the pod's address. Only packets routed in from
// our bridge qualify: on a host where bridge-nf-call-iptables is on (as
// dockerd sets it), frames merely bridged elsewhere (between the containers
// on a docker bridge, say another cluster's node containers using the same
// pod addresses) pass this hook too, with no input interface. The rule is
// rewritten in one transaction:
//
//	table ip flotilla-<bridge> { chain postrouting { type nat hook postrouting priority srcnat;
//	  iifname <bridge> ip saddr <podCIDR> oifname != <bridge> ip daddr != <each pod CIDR> masquerade } }
func (m *Manager) ensureMasquerade(peers []*net.IPNet) error {
	conn, err := m.nftConn()
	if err != nil {
		return fmt.Errorf("network: masquerade: %w", err)
	}
	table := conn.AddTable(m.masqTable())
	chain := conn.AddChain(&nftables.Chain{
		Name: "postrouting", Table: table, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource,
	})
	conn.FlushChain(chain)
	exprs := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(m.cfg.BridgeName)},
	}
	exprs = append(exprs, cidrMatch(ipSaddrOffset, m.subnet, expr.CmpOpEq)...)
	exprs = append(exprs,
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: ifname(m.cfg.BridgeName)},
	)
	exclude := append([]*net.IPNet{m.subnet}, peers...)
	if m.clusterCIDR != nil {
		exclude = append(exclude, m.clusterCIDR)
	}
	for _, n := range exclude {
		exprs = append(exprs, cidrMatch(ipDaddrOffset, n, expr.CmpOpNeq)...)
	}
	exprs = append(exprs, &expr.Counter{}, &expr.Masq{})
	conn.AddRule(&nftables.Rule{Table: table, Chain: chain, Exprs: exprs})
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("network: masquerade rule: %w", err)
	}
	return nil
}

// cidrMatch compares the address at offset of the IPv4 header with n.
func cidrMatch(offset uint32, n *net.IPNet, op expr.CmpOp) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: []byte(n.Mask), Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: op, Register: 1, Data: []byte(n.IP.To4())},
	}
}

// nftConn opens nftables in the node's namespace.
func (m *Manager) nftConn() (*nftables.Conn, error) {
	if m.nodeNS.IsOpen() {
		return nftables.New(nftables.WithNetNSFd(int(m.nodeNS)))
	}
	return nftables.New()
}
