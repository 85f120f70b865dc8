// Package stats reads CPU and memory usage of the kubelet's containers from
// cgroup v1 files on the host, for the Stats RPC (`flotctl top`) and for
// /metrics with upstream's names (the kubelet's /metrics/resource:
// container_cpu_usage_seconds_total, container_memory_working_set_bytes,
// pod_*, node_*).
//
// Containers are found by walking the kubelet's cgroup subtree
// /flotilla/<node>/<qos>/pod<uid>/<container id>, where the container id is
// `<pod uid>-<container name>-<attempt>`; the pod's namespace and name come
// from Config.Pods.
package stats

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/timestamppb"

	kubeletv1 "flotilla.io/proto/flotilla/kubelet/v1"
)

// RateWindow is the shortest interval a CPU rate is computed over.
const RateWindow = time.Second

// SampleInterval is how often Run samples, so rates are ready when asked.
const SampleInterval = 10 * time.Second

// PodRef names a pod.
type PodRef struct{ Namespace, Name string }

// Config wires the provider.
type Config struct {
	NodeName string
	// CgroupRoot is where the v1 hierarchies are mounted (default
	// /sys/fs/cgroup): CPU from cpuacct/, memory from memory/.
	CgroupRoot string
	// Pods maps the UIDs of the kubelet's pods to their names; cgroups of
	// unknown pods are reported with an empty name.
	Pods func() map[string]PodRef
}

// Provider reads usage. It is a prometheus.Collector.
type Provider struct {
	cfg Config

	mu    sync.Mutex
	rates map[string]rate // by cgroup path
}

type rate struct {
	at    time.Time
	cpuNs uint64
	nanoC uint64 // usage rate in nanocores, from the sample before
	valid bool
}

// New makes a provider.
func New(cfg Config) *Provider {
	if cfg.CgroupRoot == "" {
		cfg.CgroupRoot = "/sys/fs/cgroup"
	}
	return &Provider{cfg: cfg, rates: map[string]rate{}}
}

// Usage is one cgroup's figures.
type Usage struct {
	CPUNanoSeconds   uint64 // cumulative
	MemoryUsage      uint64
	MemoryWorkingSet uint64
}

// ContainerUsage is one container's usage.
type ContainerUsage struct {
	PodUID, Namespace, Pod, Container string
	Cgroup                            string // relative to each hierarchy
	Usage
}

// NodeCgroup is the kubelet's cgroup, the parent of its pods'.
func (p *Provider) NodeCgroup() string { return "/flotilla/" + p.cfg.NodeName }

// Read reads one cgroup: cpuacct.usage, memory.usage_in_bytes, and
// memory.stat's total_inactive_file for the working set.
func (p *Provider) Read(cgroup string) (Usage, error) {
	var u Usage
	var err error
	cpuDir := filepath.Join(p.cfg.CgroupRoot, "cpuacct", cgroup)
	memDir := filepath.Join(p.cfg.CgroupRoot, "memory", cgroup)
	if u.CPUNanoSeconds, err = readUint(filepath.Join(cpuDir, "cpuacct.usage")); err != nil {
		return u, err
	}
	if u.MemoryUsage, err = readUint(filepath.Join(memDir, "memory.usage_in_bytes")); err != nil {
		return u, err
	}
	inactive, err := inactiveFile(filepath.Join(memDir, "memory.stat"))
	if err != nil {
		return u, err
	}
	u.MemoryWorkingSet = u.MemoryUsage - min(inactive, u.MemoryUsage)
	return u, nil
}

func readUint(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseUint(string(bytes.TrimSpace(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

// inactiveFile is total_inactive_file (hierarchical), else inactive_file.
func inactiveFile(path string) (uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var local uint64
	haveTotal := false
	var total uint64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		switch k {
		case "total_inactive_file":
			total, err = strconv.ParseUint(v, 10, 64)
			haveTotal = err == nil
		case "inactive_file":
			local, _ = strconv.ParseUint(v, 10, 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	if haveTotal {
		return total, nil
	}
	return local, nil
}

// Containers walks the kubelet's cgroups and reads every container's
// usage. When a container has cgroups of several attempts, the latest wins.
func (p *Provider) Containers() ([]ContainerUsage, error) {
	base := filepath.Join(p.cfg.CgroupRoot, "cpuacct", p.NodeCgroup())
	qosDirs, err := os.ReadDir(base)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var pods map[string]PodRef
	if p.cfg.Pods != nil {
		pods = p.cfg.Pods()
	}
	type key struct{ uid, container string }
	latest := map[key]int{} // index into out
	attempts := map[key]int{}
	var out []ContainerUsage
	for _, q := range qosDirs {
		if !q.IsDir() {
			continue
		}
		podDirs, _ := os.ReadDir(filepath.Join(base, q.Name()))
		for _, pd := range podDirs {
			uid, ok := strings.CutPrefix(pd.Name(), "pod")
			if !pd.IsDir() || !ok {
				continue
			}
			ctrDirs, _ := os.ReadDir(filepath.Join(base, q.Name(), pd.Name()))
			for _, cd := range ctrDirs {
				name, attempt, ok := ParseContainerID(uid, cd.Name())
				if !cd.IsDir() || !ok {
					continue
				}
				k := key{uid, name}
				if a, seen := attempts[k]; seen && a > attempt {
					continue
				}
				cg := filepath.Join(p.NodeCgroup(), q.Name(), pd.Name(), cd.Name())
				u, err := p.Read(cg)
				if err != nil {
					continue // exited meanwhile
				}
				ref := pods[uid]
				c := ContainerUsage{PodUID: uid, Namespace: ref.Namespace, Pod: ref.Name, Container: name, Cgroup: cg, Usage: u}
				if i, seen := latest[k]; seen {
					out[i] = c
				} else {
					latest[k] = len(out)
					out = append(out, c)
				}
				attempts[k] = attempt
			}
		}
	}
	slices.SortFunc(out, func(a, b ContainerUsage) int {
		return strings.Compare(a.Namespace+"/"+a.Pod+"/"+a.Container, b.Namespace+"/"+b.Pod+"/"+b.Container)
	})
	return out, nil
}

// ParseContainerID splits `<pod uid>-<container name>-<attempt>`.
func ParseContainerID(podUID, id string) (container string, attempt int, ok bool) {
	rest, ok := strings.CutPrefix(id, podUID+"-")
	if !ok {
		return "", 0, false
	}
	i := strings.LastIndexByte(rest, '-')
	if i <= 0 {
		return "", 0, false
	}
	attempt, err := strconv.Atoi(rest[i+1:])
	if err != nil {
		return "", 0, false
	}
	return rest[:i], attempt, true
}

// cpuRate returns the CPU rate of a cgroup in nanocores from its previous
// sample, recording this one when the window is long enough.
func (p *Provider) cpuRate(cgroup string, now time.Time, cpuNs uint64) (uint64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	prev, ok := p.rates[cgroup]
	if !ok || cpuNs < prev.cpuNs {
		p.rates[cgroup] = rate{at: now, cpuNs: cpuNs}
		return 0, false
	}
	dt := now.Sub(prev.at)
	if dt < RateWindow {
		return prev.nanoC, prev.valid
	}
	nc := uint64(float64(cpuNs-prev.cpuNs) / dt.Seconds())
	p.rates[cgroup] = rate{at: now, cpuNs: cpuNs, nanoC: nc, valid: true}
	return nc, true
}

// forget drops rate samples of cgroups not seen in the last pass.
func (p *Provider) forget(seen map[string]bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k := range p.rates {
		if !seen[k] {
			delete(p.rates, k)
		}
	}
}

// Run samples every SampleInterval until ctx ends, so Stats has rates at
// once.
func (p *Provider) Run(ctx context.Context) error {
	t := time.NewTicker(SampleInterval)
	defer t.Stop()
	for {
		_, _ = p.sample(time.Now(), nil)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Stats answers the Stats RPC. When a rate has no earlier sample it
// samples again after RateWindow.
func (p *Provider) Stats(ctx context.Context, req *kubeletv1.StatsRequest) (*kubeletv1.StatsResponse, error) {
	resp, cold := p.sample(time.Now(), req)
	if cold {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(RateWindow):
		}
		resp, _ = p.sample(time.Now(), req)
	}
	return resp, nil
}

// sample reads everything once; cold reports a rate without an earlier
// sample.
func (p *Provider) sample(now time.Time, req *kubeletv1.StatsRequest) (*kubeletv1.StatsResponse, bool) {
	cold := false
	ts := timestamppb.New(now)
	seen := map[string]bool{}
	convert := func(cg string, u Usage) (*kubeletv1.CPUStats, *kubeletv1.MemoryStats) {
		seen[cg] = true
		nc, ok := p.cpuRate(cg, now, u.CPUNanoSeconds)
		cold = cold || !ok
		return &kubeletv1.CPUStats{Time: ts, UsageNanoCores: nc, UsageCoreNanoSeconds: u.CPUNanoSeconds},
			&kubeletv1.MemoryStats{Time: ts, UsageBytes: u.MemoryUsage, WorkingSetBytes: u.MemoryWorkingSet}
	}
	node := &kubeletv1.NodeStats{NodeName: p.cfg.NodeName}
	if u, err := p.Read("/"); err == nil {
		node.Cpu, node.Memory = convert("/", u)
	}
	if u, err := p.Read(p.NodeCgroup()); err == nil {
		node.PodsCpu, node.PodsMemory = convert(p.NodeCgroup(), u)
	}
	resp := &kubeletv1.StatsResponse{Node: node}
	ctrs, _ := p.Containers()
	byPod := map[string]*kubeletv1.PodStats{}
	for _, c := range ctrs {
		if req.GetNamespace() != "" && c.Namespace != req.GetNamespace() {
			continue
		}
		if req.GetPod() != "" && c.Pod != req.GetPod() {
			continue
		}
		ps := byPod[c.PodUID]
		if ps == nil {
			ps = &kubeletv1.PodStats{Namespace: c.Namespace, Name: c.Pod, Uid: c.PodUID}
			byPod[c.PodUID] = ps
			resp.Pods = append(resp.Pods, ps)
		}
		cpu, mem := convert(c.Cgroup, c.Usage)
		ps.Containers = append(ps.Containers, &kubeletv1.ContainerStats{Name: c.Container, Cpu: cpu, Memory: mem})
	}
	if req == nil { // a full pass: forget gone cgroups
		p.forget(seen)
	}
	return resp, cold
}

var (
	containerCPU = prometheus.NewDesc("container_cpu_usage_seconds_total",
		"Cumulative CPU time consumed by the container in core-seconds.", []string{"namespace", "pod", "container"}, nil)
	containerMem = prometheus.NewDesc("container_memory_working_set_bytes",
		"Current working set of the container in bytes.", []string{"namespace", "pod", "container"}, nil)
	podCPU = prometheus.NewDesc("pod_cpu_usage_seconds_total",
		"Cumulative CPU time consumed by the pod's containers in core-seconds.", []string{"namespace", "pod"}, nil)
	podMem = prometheus.NewDesc("pod_memory_working_set_bytes",
		"Current working set of the pod's containers in bytes.", []string{"namespace", "pod"}, nil)
	nodeCPU = prometheus.NewDesc("node_cpu_usage_seconds_total",
		"Cumulative CPU time consumed by the machine in core-seconds.", nil, nil)
	nodeMem = prometheus.NewDesc("node_memory_working_set_bytes",
		"Current working set of the machine in bytes.", nil, nil)
)

// Describe implements prometheus.Collector.
func (p *Provider) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{containerCPU, containerMem, podCPU, podMem, nodeCPU, nodeMem} {
		ch <- d
	}
}

// Collect implements prometheus.Collector with fresh reads.
func (p *Provider) Collect(ch chan<- prometheus.Metric) {
	if u, err := p.Read("/"); err == nil {
		ch <- prometheus.MustNewConstMetric(nodeCPU, prometheus.CounterValue, float64(u.CPUNanoSeconds)/1e9)
		ch <- prometheus.MustNewConstMetric(nodeMem, prometheus.GaugeValue, float64(u.MemoryWorkingSet))
	}
	ctrs, _ := p.Containers()
	type pod struct{ ns, name string }
	cpu, mem := map[pod]float64{}, map[pod]float64{}
	for _, c := range ctrs {
		ch <- prometheus.MustNewConstMetric(containerCPU, prometheus.CounterValue, float64(c.CPUNanoSeconds)/1e9, c.Namespace, c.Pod, c.Container)
		ch <- prometheus.MustNewConstMetric(containerMem, prometheus.GaugeValue, float64(c.MemoryWorkingSet), c.Namespace, c.Pod, c.Container)
		k := pod{c.Namespace, c.Pod}
		cpu[k] += float64(c.CPUNanoSeconds) / 1e9
		mem[k] += float64(c.MemoryWorkingSet)
	}
	for k, v := range cpu {
		ch <- prometheus.MustNewConstMetric(podCPU, prometheus.CounterValue, v, k.ns, k.name)
		ch <- prometheus.MustNewConstMetric(podMem, prometheus.GaugeValue, mem[k], k.ns, k.name)
	}
}
