package kubernetesservice

import (
	"net/netip"
	"testing"
)

func TestFirstIP(t *testing.T) {
	for cidr, want := range map[string]string{
		"10.96.0.0/12": "10.96.0.1", "10.96.5.7/16": "10.96.0.1", "fd00::/108": "fd00::1", "bad": "",
	} {
		got, err := FirstIP(cidr)
		if got != want || (err != nil) != (want == "") {
			t.Errorf("FirstIP(%q) = %q, %v; want %q", cidr, got, err, want)
		}
	}
}

func TestAdvertiseAddress(t *testing.T) {
	for _, tc := range []struct {
		explicit, bind string
		want           string // "" invalid, "*" any non-loopback address
		err            bool
	}{
		{explicit: "10.0.0.5", bind: "127.0.0.1:6443", want: "10.0.0.5"},
		{explicit: "nope", bind: "127.0.0.1:6443", err: true},
		{bind: "192.168.1.2:6443", want: "192.168.1.2"},
		{bind: "127.0.0.1:6443", want: "127.0.0.1"},
		{bind: "localhost:6443", want: ""},
		{bind: "no-port", err: true},
		{bind: "0.0.0.0:6443", want: "*"},
		{bind: ":6443", want: "*"},
	} {
		got, err := AdvertiseAddress(tc.explicit, tc.bind)
		if (err != nil) != tc.err {
			t.Errorf("%+v: error %v", tc, err)
			continue
		}
		switch tc.want {
		case "*": // the default route's address, when this machine has one
			if got.IsValid() && (got.IsLoopback() || got.IsUnspecified()) {
				t.Errorf("%+v: %v", tc, got)
			}
		case "":
			if got.IsValid() {
				t.Errorf("%+v: %v, want none", tc, got)
			}
		default:
			if got != netip.MustParseAddr(tc.want) {
				t.Errorf("%+v: %v", tc, got)
			}
		}
	}
}

func TestObjects(t *testing.T) {
	es := EndpointSlice([]string{"10.0.0.1", "10.0.0.2"}, 6443)
	if es.AddressType != "IPv4" || len(es.Endpoints) != 2 || es.Ports[0].GetPort() != 6443 || es.Metadata.Labels["endpointslice.kubernetes.io/managed-by"] != ManagedBy {
		t.Errorf("slice %v", es)
	}
	if ep := Endpoints(nil, 6443); len(ep.Subsets) != 0 {
		t.Errorf("no addresses: %v", ep)
	}
	svc := Service("10.96.0.1", 6443)
	if svc.Spec.Ports[0].Port != 443 || svc.Spec.Ports[0].TargetPort.GetIntVal() != 6443 || len(svc.Spec.Selector) != 0 {
		t.Errorf("service %v", svc)
	}
}
