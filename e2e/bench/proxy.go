package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
	"google.golang.org/protobuf/proto"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	discoveryv1 "flotilla.io/proto/flotilla/discovery/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
	"flotilla.io/sdk/client"

	"flotilla.io/proxy"
)

// ProxyCase is the network programming latency at one service count.
type ProxyCase struct {
	Services int
	Latency  Latencies // EndpointSlice change to rules programmed
}

// ProxyResult is what the proxy benchmark measured.
type ProxyResult struct {
	Skipped   string
	Endpoints int
	Cases     []ProxyCase
	// FullSync is one full sync at the largest size: rewriting an existing
	// table (a restart) and building it into an empty namespace.
	FullSyncRewrite, FullSyncEmpty time.Duration
	Rules, Elements                int
}

// Print writes the results as a table.
func (r *ProxyResult) Print(w io.Writer) {
	fmt.Fprintf(w, "proxy benchmark (nftables in a scratch network namespace; etcd + apiserver processes; %d endpoints per service)\n", r.Endpoints)
	if r.Skipped != "" {
		fmt.Fprintf(w, "  skipped: %s\n", r.Skipped)
		return
	}
	for _, c := range r.Cases {
		fmt.Fprintf(w, "  %-58s %s\n", fmt.Sprintf("network programming latency p50 / p99, %d services", c.Services), c.Latency)
	}
	last := r.Cases[len(r.Cases)-1].Services
	fmt.Fprintf(w, "  %-58s %.2fs (%d rules, %d map elements)\n", fmt.Sprintf("full sync of %d services, rewriting the table", last), r.FullSyncRewrite.Seconds(), r.Rules, r.Elements)
	fmt.Fprintf(w, "  %-58s %.2fs\n", fmt.Sprintf("full sync of %d services, into an empty namespace", last), r.FullSyncEmpty.Seconds())
}

const benchEndpoints = 5

// Proxy measures the nftables proxy on a fresh cluster: network
// programming latency of single EndpointSlice changes with 1,000 and
// 10,000 services, and the full sync at 10,000. The proxy runs in this
// process against a network namespace the benchmark creates and removes.
func Proxy(ctx context.Context, binDir string, sizes []int, changes int, progress io.Writer) (*ProxyResult, error) {
	r := &ProxyResult{Endpoints: benchEndpoints}
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	ns := "flt-bench-" + hex.EncodeToString(b)
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		r.Skipped = fmt.Sprintf("cannot create a network namespace (needs root): %v %s", err, strings.TrimSpace(string(out)))
		return r, nil
	}
	defer func() { _ = exec.Command("ip", "netns", "del", ns).Run() }()
	nsPath := "/run/netns/" + ns

	c, err := StartCluster(ctx, binDir)
	if err != nil {
		return nil, err
	}
	defer c.Stop()
	cli, err := client.New(ctx, c.Config)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	if _, err := cli.Dynamic().Create(ctx, &corev1.Namespace{Metadata: &metav1.ObjectMeta{Name: "bench-svc"}}); err != nil {
		return nil, err
	}

	w := &programWatcher{waiting: map[string]chan time.Duration{}}
	stopProxy, reg, err := startProxy(ctx, c, nsPath, w.observe)
	if err != nil {
		return nil, err
	}
	created := 0
	for _, size := range sizes {
		fmt.Fprintf(progress, "proxy: creating services %d..%d ...\n", created, size-1)
		if err := createServices(ctx, cli, created, size); err != nil {
			stopProxy()
			return nil, err
		}
		created = size
		if err := waitProgrammed(ctx, reg, size); err != nil {
			stopProxy()
			return nil, err
		}
		fmt.Fprintf(progress, "proxy: %d single-service changes at %d services ...\n", changes, size)
		lat, err := measureChanges(ctx, cli, w, size, changes)
		if err != nil {
			stopProxy()
			return nil, err
		}
		r.Cases = append(r.Cases, ProxyCase{Services: size, Latency: lat})
	}
	stopProxy()
	_, rules := gauge(reg, "flotilla_proxy_programmed", "rules")
	_, elems := gauge(reg, "flotilla_proxy_programmed", "map_elements")
	r.Rules, r.Elements = int(rules), int(elems)

	fmt.Fprintln(progress, "proxy: full sync rewriting the table ...")
	if r.FullSyncRewrite, err = fullSync(ctx, c, nsPath, created); err != nil {
		return nil, err
	}
	if err := proxy.Cleanup(nsPath); err != nil {
		return nil, err
	}
	fmt.Fprintln(progress, "proxy: full sync into an empty namespace ...")
	if r.FullSyncEmpty, err = fullSync(ctx, c, nsPath, created); err != nil {
		return nil, err
	}
	return r, proxy.Cleanup(nsPath)
}

func startProxy(ctx context.Context, c *Cluster, nsPath string, observe func(string, time.Duration)) (stop func(), reg *prometheus.Registry, err error) {
	zc := zap.NewProductionConfig()
	zc.OutputPaths = []string{filepath.Join(c.Dir, "proxy.log")}
	log, err := zc.Build()
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	reg = prometheus.NewRegistry()
	done := make(chan error, 1)
	go func() {
		done <- proxy.Run(ctx, proxy.Config{Client: c.Config, Log: log, Mode: proxy.ModeNFTables, NetNS: nsPath, ClusterCIDR: "10.244.0.0/16",
			SyncPeriod: time.Hour, Registry: reg, OnProgrammed: observe})
	}()
	select {
	case err := <-done:
		cancel()
		return nil, nil, fmt.Errorf("proxy: %w", err)
	case <-time.After(100 * time.Millisecond):
	}
	return func() { cancel(); <-done }, reg, nil
}

// fullSync starts a proxy with services already in place and returns how
// long its first (full) sync took.
func fullSync(ctx context.Context, c *Cluster, nsPath string, services int) (time.Duration, error) {
	stop, reg, err := startProxy(ctx, c, nsPath, nil)
	if err != nil {
		return 0, err
	}
	defer stop()
	if err := waitProgrammed(ctx, reg, services); err != nil {
		return 0, err
	}
	sum, _ := histogram(reg, "flotilla_proxy_sync_duration_seconds", "full")
	return time.Duration(sum * float64(time.Second)), nil
}

func serviceIP(i int) string {
	return netip.AddrFrom4([4]byte{10, 100 + byte(i>>16), byte(i >> 8), byte(i)}).String()
}

func endpointIP(svc, k int) string {
	return netip.AddrFrom4([4]byte{10, 128 + byte(k), byte(svc >> 8), byte(svc)}).String()
}

func benchSlice(i int, gen int) *discoveryv1.EndpointSlice {
	name := fmt.Sprintf("s-%05d", i)
	s := &discoveryv1.EndpointSlice{
		Metadata: &metav1.ObjectMeta{Name: name + "-x", Namespace: "bench-svc", Labels: map[string]string{"kubernetes.io/service-name": name},
			Annotations: map[string]string{"endpoints.kubernetes.io/last-change-trigger-time": time.Now().Format(time.RFC3339Nano)}},
		AddressType: "IPv4",
		Ports:       []*discoveryv1.EndpointPort{{Name: proto.String("http"), Protocol: proto.String("TCP"), Port: proto.Int32(8080)}},
	}
	for k := range benchEndpoints {
		ip := endpointIP(i, k)
		if k == 0 && gen > 0 {
			// Every change replaces the first endpoint: 10.200 and 10.201
			// alternate, both differ from the original.
			ip = netip.AddrFrom4([4]byte{10, 200 + byte(gen%2), byte(i >> 8), byte(i)}).String()
		}
		s.Endpoints = append(s.Endpoints, &discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: &discoveryv1.EndpointConditions{Ready: proto.Bool(true)}})
	}
	return s
}

func createServices(ctx context.Context, cli *client.Client, from, to int) error {
	svcs := client.For[*corev1.Service](cli)
	slices := client.For[*discoveryv1.EndpointSlice](cli)
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i := from; i < to; i++ {
		g.Go(func() error {
			ip := serviceIP(i)
			if _, err := svcs.Create(ctx, &corev1.Service{
				Metadata: &metav1.ObjectMeta{Name: fmt.Sprintf("s-%05d", i), Namespace: "bench-svc"},
				Spec: &corev1.ServiceSpec{ClusterIp: ip, ClusterIps: []string{ip}, Selector: map[string]string{"app": "x"},
					Ports: []*corev1.ServicePort{{Name: "http", Protocol: "TCP", Port: 80, TargetPort: &metav1.IntOrString{IntVal: 8080}}}},
			}); err != nil {
				return err
			}
			_, err := slices.Create(ctx, benchSlice(i, 0))
			return err
		})
	}
	return g.Wait()
}

func waitProgrammed(ctx context.Context, reg *prometheus.Registry, services int) error {
	deadline := time.Now().Add(10 * time.Minute)
	for {
		// Every service programmed with all its endpoints.
		if _, n := gauge(reg, "flotilla_proxy_programmed", "endpoints"); int(n) >= services*benchEndpoints {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("proxy did not program %d services in 10 minutes", services)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// measureChanges changes one endpoint of a service at a time and waits for
// the proxy to report it programmed.
func measureChanges(ctx context.Context, cli *client.Client, w *programWatcher, services, changes int) (Latencies, error) {
	res := client.For[*discoveryv1.EndpointSlice](cli)
	var lat Latencies
	for n := range changes {
		i := (n * 7919) % services
		key := fmt.Sprintf("bench-svc/s-%05d", i)
		cur, err := res.Get(ctx, "bench-svc", fmt.Sprintf("s-%05d-x", i))
		if err != nil {
			return nil, err
		}
		s := benchSlice(i, n+1)
		s.Metadata.ResourceVersion = cur.GetMetadata().GetResourceVersion()
		ch := w.wait(key)
		if _, err := res.Update(ctx, s); err != nil {
			return nil, err
		}
		select {
		case d := <-ch:
			lat = append(lat, d)
		case <-time.After(60 * time.Second):
			return nil, fmt.Errorf("change to %s not programmed in 60s", key)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return lat, nil
}

// programWatcher hands the proxy's per-service programming latencies to
// whoever waits for that service.
type programWatcher struct {
	mu      sync.Mutex
	waiting map[string]chan time.Duration
}

func (w *programWatcher) wait(key string) chan time.Duration {
	ch := make(chan time.Duration, 1)
	w.mu.Lock()
	w.waiting[key] = ch
	w.mu.Unlock()
	return ch
}

func (w *programWatcher) observe(key string, d time.Duration) {
	w.mu.Lock()
	ch := w.waiting[key]
	delete(w.waiting, key)
	w.mu.Unlock()
	if ch != nil {
		ch <- d
	}
}

// gauge reads a gauge from reg with one label value matched (any label).
func gauge(reg *prometheus.Registry, name, label string) (bool, float64) {
	mfs, err := reg.Gather()
	if err != nil {
		return false, 0
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetValue() == label {
					return true, m.GetGauge().GetValue()
				}
			}
		}
	}
	return false, 0
}

// histogram reads a histogram's sum and count with one label value.
func histogram(reg *prometheus.Registry, name, label string) (float64, uint64) {
	mfs, err := reg.Gather()
	if err != nil {
		return 0, 0
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetValue() == label {
					return m.GetHistogram().GetSampleSum(), m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	return 0, 0
}
