package userspace

import (
	"net/netip"
	"testing"
	"time"

	"flotilla.io/proxy/internal/model"
)

func TestBalancer(t *testing.T) {
	a := model.Endpoint{IP: netip.MustParseAddr("10.0.0.1"), Port: 80}
	b := model.Endpoint{IP: netip.MustParseAddr("10.0.0.2"), Port: 80}
	c1, c2 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	now := time.Unix(1000, 0)
	lb := &balancer{now: func() time.Time { return now }}
	if _, ok := lb.pick(c1); ok {
		t.Fatal("picked from no endpoints")
	}
	lb.set([]model.Endpoint{a, b}, 0)
	got := map[model.Endpoint]int{}
	for range 10 {
		ep, _ := lb.pick(c1)
		got[ep]++
	}
	if got[a] != 5 || got[b] != 5 {
		t.Errorf("round robin: %v", got)
	}

	lb.set([]model.Endpoint{a, b}, time.Minute)
	first, _ := lb.pick(c1)
	other, _ := lb.pick(c2)
	if first == other {
		t.Errorf("two new clients got the same endpoint %v", first)
	}
	for range 5 {
		now = now.Add(50 * time.Second) // each use renews the timeout
		if ep, _ := lb.pick(c1); ep != first {
			t.Fatalf("affinity lost: %v then %v", first, ep)
		}
	}
	lb.failed(c1, first)
	if _, ok := lb.sticky[c1]; ok {
		t.Errorf("affinity to the failed endpoint %v kept", first)
	}
	// The endpoint going away ends affinity to it.
	stuck, _ := lb.pick(c2)
	lb.set([]model.Endpoint{otherOf(stuck, a, b)}, time.Minute)
	if ep, _ := lb.pick(c2); ep == stuck {
		t.Errorf("affinity outlived its endpoint %v", ep)
	}
	// Expiry.
	lb.set([]model.Endpoint{a, b}, time.Minute)
	x, _ := lb.pick(c1)
	now = now.Add(2 * time.Minute)
	y, _ := lb.pick(c1)
	z, _ := lb.pick(c1)
	if y != z {
		t.Errorf("new affinity after expiry not kept: %v %v", y, z)
	}
	_ = x
}

func otherOf(ep, a, b model.Endpoint) model.Endpoint {
	if ep == a {
		return b
	}
	return a
}
