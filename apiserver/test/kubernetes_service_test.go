package test

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	discoveryv1 "flotilla.io/proto/flotilla/discovery/v1"
	"flotilla.io/sdk/client"

	"flotilla.io/apiserver/testserver"
)

// sliceAddrs waits until the kubernetes EndpointSlice lists want.
func sliceAddrs(ctx context.Context, t *testing.T, c *client.Client, want []string) *discoveryv1.EndpointSlice {
	t.Helper()
	var got []string
	for ctx.Err() == nil {
		es, err := client.For[*discoveryv1.EndpointSlice](c).Get(ctx, "default", "kubernetes")
		if err == nil {
			got = got[:0]
			for _, e := range es.GetEndpoints() {
				got = append(got, e.GetAddresses()...)
			}
			if slices.Equal(got, want) {
				return es
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("kubernetes endpointslice addresses %v, want %v", got, want)
	return nil
}

// The default/kubernetes Service points at every live apiserver: each
// publishes its advertised address, and one that stops is dropped.
func TestKubernetesService(t *testing.T) {
	a := testserver.StartWith(t, testserver.Options{AdvertiseAddress: "10.1.0.1", EndpointReconcileInterval: time.Second})
	c := a.Client(a.Config)
	ctx := ctxFor(t, 60*time.Second)

	svc, err := client.For[*corev1.Service](c).Get(ctx, "default", "kubernetes")
	if err != nil {
		t.Fatal(err)
	}
	p := svc.GetSpec().GetPorts()
	if svc.Spec.ClusterIp != "10.96.0.1" || len(svc.Spec.Selector) != 0 || len(p) != 1 || p[0].Port != 443 || p[0].Name != "https" {
		t.Fatalf("kubernetes service %v", svc.Spec)
	}
	es := sliceAddrs(ctx, t, c, []string{"10.1.0.1"})
	ap, err := netip.ParseAddrPort(a.Addr)
	if err != nil {
		t.Fatal(err)
	}
	port := int32(ap.Port())
	if es.Ports[0].GetPort() != port || es.Metadata.Labels["kubernetes.io/service-name"] != "kubernetes" {
		t.Fatalf("endpointslice %v", es)
	}
	ep, err := client.For[*corev1.Endpoints](c).Get(ctx, "default", "kubernetes")
	if err != nil || len(ep.Subsets) != 1 || ep.Subsets[0].Addresses[0].Ip != "10.1.0.1" || ep.Subsets[0].Ports[0].Port != port {
		t.Fatalf("endpoints %v, %v", ep, err)
	}

	// A second apiserver on the same port (another loopback address) joins;
	// when it stops it leaves.
	b := testserver.StartAPIServer(t, a.Etcd, testserver.Options{Listen: fmt.Sprintf("127.0.0.2:%d", port),
		AdvertiseAddress: "10.1.0.2", EndpointReconcileInterval: time.Second})
	sliceAddrs(ctx, t, c, []string{"10.1.0.1", "10.1.0.2"})
	b.Stop()
	sliceAddrs(ctx, t, c, []string{"10.1.0.1"})

	// Someone changing the port is put right.
	svc, _ = client.For[*corev1.Service](c).Get(ctx, "default", "kubernetes")
	svc.Spec.Ports[0].Port = 8443
	if _, err := client.For[*corev1.Service](c).Update(ctx, svc); err != nil {
		t.Fatal(err)
	}
	for ctx.Err() == nil {
		svc, err = client.For[*corev1.Service](c).Get(ctx, "default", "kubernetes")
		if err == nil && svc.Spec.Ports[0].Port == 443 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if svc.GetSpec().GetPorts()[0].GetPort() != 443 {
		t.Fatalf("port not restored: %v", svc.Spec.Ports)
	}
}
