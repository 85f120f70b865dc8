package cli

import (
	"bytes"
	"testing"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	kubeletv1 "flotilla.io/proto/flotilla/kubelet/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
)

func ctrStats(name string, milli, mi uint64) *kubeletv1.ContainerStats {
	return &kubeletv1.ContainerStats{Name: name,
		Cpu:    &kubeletv1.CPUStats{UsageNanoCores: milli * 1e6},
		Memory: &kubeletv1.MemoryStats{WorkingSetBytes: mi << 20}}
}

func TestPrintTopPods(t *testing.T) {
	pods := func() []*kubeletv1.PodStats {
		return []*kubeletv1.PodStats{
			{Namespace: "b", Name: "small", Containers: []*kubeletv1.ContainerStats{ctrStats("c", 1, 300)}},
			{Namespace: "a", Name: "big", Containers: []*kubeletv1.ContainerStats{ctrStats("y", 150, 10), ctrStats("x", 100, 20)}},
		}
	}
	cases := []struct {
		name string
		o    topPodsOptions
		want string
	}{
		{"plain", topPodsOptions{}, "NAME    CPU(cores)   MEMORY(bytes)\nbig     250m         30Mi\nsmall   1m           300Mi\n"},
		{"all namespaces by memory", topPodsOptions{allNamespaces: true, sortBy: "memory"},
			"NAMESPACE   NAME    CPU(cores)   MEMORY(bytes)\nb           small   1m           300Mi\na           big     250m         30Mi\n"},
		{"containers without headers", topPodsOptions{containers: true, noHeaders: true},
			"big     x   100m   20Mi\nbig     y   150m   10Mi\nsmall   c   1m     300Mi\n"},
	}
	for _, c := range cases {
		var b bytes.Buffer
		if err := printTopPods(&b, pods(), c.o); err != nil {
			t.Fatal(err)
		}
		if b.String() != c.want {
			t.Errorf("%s:\n%s\nwant:\n%s", c.name, b.String(), c.want)
		}
	}
}

func TestPrintTopNodes(t *testing.T) {
	node := func(name, cpu, mem string) *corev1.Node {
		return &corev1.Node{Metadata: &metav1.ObjectMeta{Name: name}, Status: &corev1.NodeStatus{
			Allocatable: map[string]*metav1.Quantity{"cpu": {String_: cpu}, "memory": {String_: mem}}}}
	}
	nodes := []*corev1.Node{node("n1", "2", "4Gi"), node("n2", "1500m", ""), node("n3", "1", "1Gi")}
	stats := []*kubeletv1.StatsResponse{
		{Node: &kubeletv1.NodeStats{NodeName: "n1", Cpu: &kubeletv1.CPUStats{UsageNanoCores: 500e6}, Memory: &kubeletv1.MemoryStats{WorkingSetBytes: 1 << 30}}},
		{Node: &kubeletv1.NodeStats{NodeName: "n2", PodsCpu: &kubeletv1.CPUStats{UsageNanoCores: 750e6}, PodsMemory: &kubeletv1.MemoryStats{WorkingSetBytes: 1 << 20}}},
	}
	var b bytes.Buffer
	if err := printTopNodes(&b, nodes, stats, "cpu", false); err != nil {
		t.Fatal(err)
	}
	want := "NAME   CPU(cores)   CPU(%)      MEMORY(bytes)   MEMORY(%)\n" +
		"n2     750m         50%         1Mi             <unknown>\n" +
		"n1     500m         25%         1024Mi          25%\n" +
		"n3     <unknown>    <unknown>   <unknown>       <unknown>\n"
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}
