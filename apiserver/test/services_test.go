package test

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
	"flotilla.io/sdk/client"

	"flotilla.io/apiserver/testserver"
)

func service(name, typ, ip string, nodePort int32) *corev1.Service {
	return &corev1.Service{
		Metadata: &metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: &corev1.ServiceSpec{Type: typ, ClusterIp: ip, Selector: map[string]string{"app": name},
			Ports: []*corev1.ServicePort{{Name: "http", Port: 80, NodePort: nodePort}}},
	}
}

func TestServiceAllocation(t *testing.T) {
	_, c := start(t)
	ctx := ctxFor(t, 30*time.Second)
	svcs := client.For[*corev1.Service](c)
	a, err := svcs.Create(ctx, service("a", "ClusterIP", "", 0))
	if err != nil {
		t.Fatal(err)
	}
	ip, err := netip.ParseAddr(a.Spec.ClusterIp)
	if err != nil || !netip.MustParsePrefix("10.96.0.0/12").Contains(ip) || len(a.Spec.ClusterIps) != 1 || a.Spec.IpFamilies[0] != "IPv4" {
		t.Fatalf("allocated %q %v %v", a.Spec.ClusterIp, a.Spec.ClusterIps, a.Spec.IpFamilies)
	}
	// A requested IP is honoured, and refused when taken.
	if _, err := svcs.Create(ctx, service("dns", "ClusterIP", "10.96.0.10", 0)); err != nil {
		t.Fatal(err)
	}
	_, err = svcs.Create(ctx, service("dns2", "ClusterIP", "10.96.0.10", 0))
	if !client.IsInvalid(err) || !strings.Contains(err.Error(), `spec.clusterIP: Invalid value: "10.96.0.10": provided value is already allocated`) {
		t.Fatalf("taken IP: %v", err)
	}
	_, err = svcs.Create(ctx, service("far", "ClusterIP", "192.168.0.1", 0))
	if !client.IsInvalid(err) || !strings.Contains(err.Error(), "not in the valid range") {
		t.Fatalf("IP out of range: %v", err)
	}
	// NodePort services get a port; a requested one is unique.
	np, err := svcs.Create(ctx, service("np", "NodePort", "", 0))
	if err != nil {
		t.Fatal(err)
	}
	port := np.Spec.Ports[0].NodePort
	if port < 30000 || port > 32767 {
		t.Fatalf("node port %d", port)
	}
	_, err = svcs.Create(ctx, service("np2", "NodePort", "", port))
	if !client.IsInvalid(err) || !strings.Contains(err.Error(), "spec.ports[0].nodePort") {
		t.Fatalf("taken node port: %v", err)
	}
	// An update that leaves the allocations out keeps them.
	np.Spec.ClusterIp, np.Spec.ClusterIps, np.Spec.Ports[0].NodePort = "", nil, 0
	np.Metadata.Labels = map[string]string{"x": "y"}
	up, err := svcs.Update(ctx, np)
	if err != nil {
		t.Fatal(err)
	}
	if up.Spec.Ports[0].NodePort != port || up.Spec.ClusterIp == "" {
		t.Fatalf("update lost allocations: %v", up.Spec)
	}
	// Switching to ClusterIP releases the node port; deleting releases the IP.
	up.Spec.Type = "ClusterIP"
	if _, err := svcs.Update(ctx, up); err != nil {
		t.Fatal(err)
	}
	if _, err := svcs.Create(ctx, service("np3", "NodePort", "", port)); err != nil {
		t.Fatalf("released node port not reusable: %v", err)
	}
	if err := svcs.Delete(ctx, "default", "dns", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := svcs.Create(ctx, service("dns3", "ClusterIP", "10.96.0.10", 0)); err != nil {
		t.Fatalf("released IP not reusable: %v", err)
	}
	// Headless and ExternalName services hold nothing.
	if h, err := svcs.Create(ctx, service("headless", "ClusterIP", "None", 0)); err != nil || h.Spec.ClusterIp != "None" {
		t.Fatalf("headless: %v %v", h, err)
	}
}

// Two apiservers allocating at once never hand out one IP twice.
func TestServiceIPsUniqueAcrossServers(t *testing.T) {
	a := testserver.StartWith(t, testserver.Options{ServiceClusterIPRange: "10.96.0.0/26"})
	b := testserver.StartAPIServer(t, a.Etcd, testserver.Options{ServiceClusterIPRange: "10.96.0.0/26"})
	ctx := ctxFor(t, 60*time.Second)
	var wg sync.WaitGroup
	ips := make(chan string, 60)
	errs := make(chan error, 60)
	for n := 0; n < 60; n++ { // 60 of the 62 usable addresses
		srv := a
		if n%2 == 1 {
			srv = b
		}
		svcs := client.For[*corev1.Service](srv.Client(srv.Config))
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := svcs.Create(ctx, service(fmt.Sprintf("s%d", n), "ClusterIP", "", 0))
			if err != nil {
				errs <- err
				return
			}
			ips <- s.Spec.ClusterIp
		}()
	}
	wg.Wait()
	close(ips)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	seen := map[string]bool{}
	for ip := range ips {
		if seen[ip] {
			t.Fatalf("%s allocated twice", ip)
		}
		seen[ip] = true
	}
}
