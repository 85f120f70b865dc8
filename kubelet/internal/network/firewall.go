package network

import (
	"bytes"
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"go.uber.org/zap"
)

// ensureForwardAccept opens forward-hook filter chains whose policy is DROP
// (what dockerd does to FORWARD) for traffic entering or leaving the bridge.
//
// nftables evaluates every base chain on a hook and a packet must be
// accepted by all of them, so a table of our own cannot override Docker's
// policy: the rules go into the dropping chain itself (iptables-nft's
// "filter FORWARD"), inserted first, as `iifname BR counter accept` and
// `oifname BR counter accept`, the encoding `iptables -I FORWARD -i BR -j
// ACCEPT` produces. They carry a user-data tag so they are added once. A
// Docker using iptables-legacy is not seen here; a fresh namespace (tests,
// simulated nodes) has no such chain and nothing is added. When nftables is
// unavailable the check is skipped with a warning.
func (m *Manager) ensureForwardAccept() error {
	conn, err := m.nftConn()
	if err != nil {
		m.log.Warn("cannot inspect the FORWARD policy (nftables)", zap.Error(err))
		return nil
	}
	chains, err := conn.ListChains()
	if err != nil {
		m.log.Warn("cannot inspect the FORWARD policy (nftables)", zap.Error(err))
		return nil
	}
	for _, c := range chains {
		if c.Hooknum == nil || *c.Hooknum != *nftables.ChainHookForward || c.Type != nftables.ChainTypeFilter {
			continue
		}
		if c.Policy == nil || *c.Policy != nftables.ChainPolicyDrop {
			continue
		}
		if c.Table.Family != nftables.TableFamilyIPv4 && c.Table.Family != nftables.TableFamilyINet {
			continue
		}
		rules, err := conn.GetRules(c.Table, c)
		if err != nil {
			return fmt.Errorf("network: rules of %s %s: %w", c.Table.Name, c.Name, err)
		}
		for _, key := range []expr.MetaKey{expr.MetaKeyIIFNAME, expr.MetaKeyOIFNAME} {
			tag := m.ruleTag(key)
			if hasRuleTag(rules, tag) {
				continue
			}
			conn.InsertRule(&nftables.Rule{
				Table: c.Table,
				Chain: c,
				Exprs: []expr.Any{
					&expr.Meta{Key: key, Register: 1},
					&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(m.cfg.BridgeName)},
					&expr.Counter{},
					&expr.Verdict{Kind: expr.VerdictAccept},
				},
				UserData: tag,
			})
			m.log.Info("accepting bridge traffic in a FORWARD chain with policy drop",
				zap.String("table", c.Table.Name), zap.String("chain", c.Name))
		}
	}
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("network: FORWARD accept rules for %s: %w", m.cfg.BridgeName, err)
	}
	return nil
}

func (m *Manager) ruleTag(key expr.MetaKey) []byte {
	dir := "in"
	if key == expr.MetaKeyOIFNAME {
		dir = "out"
	}
	return []byte("flotilla:" + dir + ":" + m.cfg.BridgeName)
}

func hasRuleTag(rules []*nftables.Rule, tag []byte) bool {
	for _, r := range rules {
		if bytes.Equal(r.UserData, tag) {
			return true
		}
	}
	return false
}

// ifname is an interface name as iptables-nft compares it for an exact
// match: the name and its NUL.
func ifname(name string) []byte {
	return append([]byte(name), 0)
}
