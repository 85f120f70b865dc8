package node

import (
	"context"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"

	coordinationv1 "flotilla.io/proto/flotilla/coordination/v1"
	corev1 "flotilla.io/proto/flotilla/core/v1"

	"flotilla.io/sdk/client"
	"flotilla.io/sdk/fakeserver"
)

type fakeRuntime struct{}

func (fakeRuntime) Version(context.Context) (string, error) { return "containerd://1.6.20", nil }
func (fakeRuntime) Images(context.Context) ([]Image, error) {
	return []Image{{Names: []string{"docker.io/library/busybox:1.35"}, Size: 1 << 20}}, nil
}

func TestReservedAndAllocatable(t *testing.T) {
	sys, err := ParseReserved("cpu=500m, memory=1Gi")
	if err != nil {
		t.Fatal(err)
	}
	kube, err := ParseReserved("memory=512Mi,ephemeral-storage=1Gi")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseReserved("cpu"); err == nil {
		t.Error("accepted cpu without a quantity")
	}
	capacity := map[string]resource.Quantity{"cpu": resource.MustParse("2"), "memory": resource.MustParse("4Gi"), "pods": resource.MustParse("110"), "ephemeral-storage": resource.MustParse("512Mi")}
	a := Allocatable(capacity, AddReserved(sys, kube))
	for k, want := range map[string]string{"cpu": "1500m", "memory": "2560Mi", "pods": "110", "ephemeral-storage": "0"} {
		got := a[k]
		if got.Cmp(resource.MustParse(want)) != 0 {
			t.Errorf("allocatable %s = %s, want %s", k, got.String(), want)
		}
	}
}

func TestRegisterStatusAndLease(t *testing.T) {
	_, c := fakeserver.Start(t)
	ctx := context.Background()
	a := New(Config{Name: "n1", Client: c, Runtime: fakeRuntime{}, RootDir: t.TempDir(), PodCIDR: "10.244.1.0/24", NodeIP: "10.0.0.1", Port: 10250,
		Reserved: map[string]resource.Quantity{"memory": resource.MustParse("100Mi")}})
	if err := a.Register(ctx); err != nil {
		t.Fatal(err)
	}
	n, err := client.For[*corev1.Node](c).Get(ctx, "", "n1")
	if err != nil {
		t.Fatal(err)
	}
	if n.GetSpec().GetPodCidr() != "10.244.1.0/24" || n.GetMetadata().GetLabels()["kubernetes.io/os"] != "linux" || n.GetMetadata().GetLabels()["kubernetes.io/hostname"] != "n1" {
		t.Errorf("node %v", n)
	}
	st := n.GetStatus()
	if st.GetDaemonEndpoints().GetKubeletEndpoint().GetPort() != 10250 || st.GetNodeInfo().GetContainerRuntimeVersion() != "containerd://1.6.20" ||
		len(st.GetImages()) != 1 || st.GetAddresses()[0].GetAddress() != "10.0.0.1" || st.GetCapacity()["pods"].GetString_() != "110" {
		t.Errorf("status %v", st)
	}
	capMem := resource.MustParse(st.GetCapacity()["memory"].GetString_())
	allocMem := resource.MustParse(st.GetAllocatable()["memory"].GetString_())
	capMem.Sub(resource.MustParse("100Mi"))
	if capMem.Cmp(allocMem) != 0 {
		t.Errorf("allocatable memory %s", allocMem.String())
	}
	types := map[string]string{}
	for _, c := range st.GetConditions() {
		types[c.GetType()] = c.GetStatus()
		if c.GetLastHeartbeatTime() == nil || c.GetLastTransitionTime() == nil {
			t.Errorf("condition %s without times", c.GetType())
		}
	}
	if types["Ready"] != "True" || types["MemoryPressure"] == "" || types["DiskPressure"] == "" || types["PIDPressure"] == "" {
		t.Errorf("conditions %v", types)
	}

	// A second kubelet run adopts the node.
	if err := New(Config{Name: "n1", Client: c, Runtime: fakeRuntime{}, RootDir: t.TempDir(), NodeIP: "10.0.0.1"}).Register(ctx); err != nil {
		t.Fatal(err)
	}

	if err := a.renewLease(ctx); err != nil {
		t.Fatal(err)
	}
	l, err := client.For[*coordinationv1.Lease](c).Get(ctx, LeaseNamespace, "n1")
	if err != nil {
		t.Fatal(err)
	}
	first := l.GetSpec().GetRenewTime().AsTime()
	if l.GetSpec().GetHolderIdentity() != "n1" || l.GetSpec().GetLeaseDurationSeconds() != 40 {
		t.Errorf("lease %v", l)
	}
	if err := a.renewLease(ctx); err != nil {
		t.Fatal(err)
	}
	l, _ = client.For[*coordinationv1.Lease](c).Get(ctx, LeaseNamespace, "n1")
	if l.GetSpec().GetRenewTime().AsTime().Before(first) {
		t.Errorf("lease not renewed")
	}
}
