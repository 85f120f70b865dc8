package stats

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	kubeletv1 "flotilla.io/proto/flotilla/kubelet/v1"
)

const uidA = "0b5a7f1e-2f3c-4d5e-8f90-123456789abc"

// fakeCgroup writes a cgroup's files in both hierarchies under root.
func fakeCgroup(t *testing.T, root, cg string, cpuNs, memUsage, inactive uint64) {
	t.Helper()
	cpu := filepath.Join(root, "cpuacct", cg)
	mem := filepath.Join(root, "memory", cg)
	for _, d := range []string{cpu, mem} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(cpu, "cpuacct.usage"), fmt.Sprintf("%d\n", cpuNs))
	write(filepath.Join(mem, "memory.usage_in_bytes"), fmt.Sprintf("%d\n", memUsage))
	write(filepath.Join(mem, "memory.stat"), fmt.Sprintf("cache 10\ninactive_file 1\nactive_file 2\ntotal_cache 10\ntotal_inactive_file %d\n", inactive))
}

func TestReadAndContainers(t *testing.T) {
	root := t.TempDir()
	fakeCgroup(t, root, "/", 5e9, 8<<30, 2<<30)
	fakeCgroup(t, root, "/flotilla/n1", 3e9, 300<<20, 100<<20)
	pod := "/flotilla/n1/burstable/pod" + uidA
	fakeCgroup(t, root, pod, 3e9, 300<<20, 100<<20)
	fakeCgroup(t, root, pod+"/"+uidA+"-web-server-0", 1e9, 100<<20, 50<<20) // an old attempt, still there
	fakeCgroup(t, root, pod+"/"+uidA+"-web-server-2", 2e9, 200<<20, 150<<20)
	fakeCgroup(t, root, pod+"/"+uidA+"-sidecar-0", 5e8, 10<<20, 20<<20) // more inactive than usage
	fakeCgroup(t, root, pod+"/not-a-container", 1, 1, 0)
	fakeCgroup(t, root, "/flotilla/n2/besteffort/pod"+uidA+"/"+uidA+"-other-node-0", 1, 1, 0)

	p := New(Config{NodeName: "n1", CgroupRoot: root, Pods: func() map[string]PodRef {
		return map[string]PodRef{uidA: {Namespace: "default", Name: "web"}}
	}})
	u, err := p.Read("/")
	if err != nil {
		t.Fatal(err)
	}
	if u.CPUNanoSeconds != 5e9 || u.MemoryUsage != 8<<30 || u.MemoryWorkingSet != 6<<30 {
		t.Errorf("root usage %+v", u)
	}
	ctrs, err := p.Containers()
	if err != nil {
		t.Fatal(err)
	}
	if len(ctrs) != 2 {
		t.Fatalf("containers %+v", ctrs)
	}
	side, web := ctrs[0], ctrs[1]
	if web.Container != "web-server" || web.Pod != "web" || web.Namespace != "default" || web.CPUNanoSeconds != 2e9 || web.MemoryWorkingSet != 50<<20 {
		t.Errorf("web: %+v (want the latest attempt)", web)
	}
	if side.Container != "sidecar" || side.MemoryWorkingSet != 0 {
		t.Errorf("sidecar: %+v", side)
	}

	if _, err := New(Config{NodeName: "none", CgroupRoot: root}).Containers(); err != nil {
		t.Errorf("a node without cgroups: %v", err)
	}
}

func TestParseContainerID(t *testing.T) {
	for id, want := range map[string]struct {
		name    string
		attempt int
		ok      bool
	}{
		uidA + "-web-3":      {"web", 3, true},
		uidA + "-my-app-12":  {"my-app", 12, true},
		uidA + "-web":        {"", 0, false},
		"other-web-0":        {"", 0, false},
		uidA + "-web-x":      {"", 0, false},
		uidA + "--0":         {"", 0, false},
		uidA + "-a-b-c-1000": {"a-b-c", 1000, true},
	} {
		name, attempt, ok := ParseContainerID(uidA, id)
		if name != want.name || attempt != want.attempt || ok != want.ok {
			t.Errorf("%s: %s %d %v", id, name, attempt, ok)
		}
	}
}

func TestStatsRatesAndFilters(t *testing.T) {
	root := t.TempDir()
	fakeCgroup(t, root, "/", 5e9, 8<<30, 2<<30)
	fakeCgroup(t, root, "/flotilla/n1", 0, 0, 0)
	cg := "/flotilla/n1/guaranteed/pod" + uidA + "/" + uidA + "-c-0"
	fakeCgroup(t, root, cg, 1e9, 64<<20, 0)
	p := New(Config{NodeName: "n1", CgroupRoot: root, Pods: func() map[string]PodRef {
		return map[string]PodRef{uidA: {Namespace: "ns1", Name: "p1"}}
	}})
	t0 := time.Now()
	if _, cold := p.sample(t0, nil); !cold {
		t.Error("first sample has rates")
	}
	fakeCgroup(t, root, cg, 1e9+5e8, 64<<20, 0) // half a core over 1 s
	resp, cold := p.sample(t0.Add(time.Second), &kubeletv1.StatsRequest{Namespace: "ns1"})
	if cold {
		t.Error("second sample still cold")
	}
	if len(resp.Pods) != 1 || len(resp.Pods[0].Containers) != 1 {
		t.Fatalf("pods %v", resp.Pods)
	}
	c := resp.Pods[0].Containers[0]
	if c.Cpu.UsageNanoCores != 5e8 || c.Cpu.UsageCoreNanoSeconds != 1e9+5e8 || c.Memory.WorkingSetBytes != 64<<20 {
		t.Errorf("container stats %v", c)
	}
	if resp.Node.NodeName != "n1" || resp.Node.Memory.WorkingSetBytes != 6<<30 {
		t.Errorf("node %v", resp.Node)
	}
	// Within the window the last rate is kept.
	resp, _ = p.sample(t0.Add(1500*time.Millisecond), &kubeletv1.StatsRequest{})
	if got := resp.Pods[0].Containers[0].Cpu.UsageNanoCores; got != 5e8 {
		t.Errorf("rate within the window %d", got)
	}
	resp, _ = p.sample(t0.Add(2*time.Second), &kubeletv1.StatsRequest{Namespace: "other"})
	if len(resp.Pods) != 0 {
		t.Errorf("namespace filter: %v", resp.Pods)
	}
	resp, _ = p.sample(t0.Add(2*time.Second), &kubeletv1.StatsRequest{Namespace: "ns1", Pod: "nope"})
	if len(resp.Pods) != 0 {
		t.Errorf("pod filter: %v", resp.Pods)
	}
	// Stats on a cold provider samples twice.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := New(Config{NodeName: "n1", CgroupRoot: root}).Stats(ctx, &kubeletv1.StatsRequest{}); err != nil {
		t.Fatal(err)
	}
}

func TestCollector(t *testing.T) {
	root := t.TempDir()
	fakeCgroup(t, root, "/", 5e9, 8<<30, 2<<30)
	fakeCgroup(t, root, "/flotilla/n1/besteffort/pod"+uidA+"/"+uidA+"-c-0", 25e8, 64<<20, 0)
	p := New(Config{NodeName: "n1", CgroupRoot: root, Pods: func() map[string]PodRef {
		return map[string]PodRef{uidA: {Namespace: "ns1", Name: "p1"}}
	}})
	reg := prometheus.NewRegistry()
	reg.MustRegister(p)
	want := `
# HELP container_cpu_usage_seconds_total Cumulative CPU time consumed by the container in core-seconds.
# TYPE container_cpu_usage_seconds_total counter
container_cpu_usage_seconds_total{container="c",namespace="ns1",pod="p1"} 2.5
# HELP container_memory_working_set_bytes Current working set of the container in bytes.
# TYPE container_memory_working_set_bytes gauge
container_memory_working_set_bytes{container="c",namespace="ns1",pod="p1"} 6.7108864e+07
# HELP node_memory_working_set_bytes Current working set of the machine in bytes.
# TYPE node_memory_working_set_bytes gauge
node_memory_working_set_bytes 6.442450944e+09
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "container_cpu_usage_seconds_total", "container_memory_working_set_bytes", "node_memory_working_set_bytes"); err != nil {
		t.Error(err)
	}
}

// TestHostCgroups reads this machine's root cgroup when it is cgroup v1.
func TestHostCgroups(t *testing.T) {
	if _, err := os.Stat("/sys/fs/cgroup/cpuacct/cpuacct.usage"); err != nil {
		t.Skip("no cgroup v1 cpuacct hierarchy on this machine")
	}
	u, err := New(Config{NodeName: "n1"}).Read("/")
	if err != nil {
		t.Fatal(err)
	}
	if u.CPUNanoSeconds == 0 || u.MemoryUsage == 0 || u.MemoryWorkingSet > u.MemoryUsage {
		t.Errorf("host root cgroup %+v", u)
	}
}
