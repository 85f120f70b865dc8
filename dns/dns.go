// Package dns is the cluster DNS add-on: it answers for the cluster domain
// from an informer cache of Services, EndpointSlices and Namespaces, over
// UDP and TCP, and forwards other names to upstream resolvers. Run is the
// whole daemon; cmd/dns is a thin main around it.
//
// Pods reach it at the cluster DNS Service IP the kubelet writes into
// resolv.conf: a Service "flotilla-dns" in flotilla-system with a fixed
// clusterIP (10.96.0.10) and ports 53/UDP and 53/TCP named "dns" and
// "dns-tcp", whose EndpointSlice (written by make up, selector-less)
// points at the node address where this server listens; the proxy's DNAT
// delivers the queries.
package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	discoveryv1 "flotilla.io/proto/flotilla/discovery/v1"
	"flotilla.io/sdk/client"
	"flotilla.io/sdk/component"
	"flotilla.io/sdk/informer"

	"flotilla.io/dns/internal/resolver"
)

// Config is what Run needs.
type Config struct {
	Client *client.Config
	// Listen is the UDP and TCP address (default 127.0.0.1:10053).
	Listen string
	// Domain is the cluster domain (default cluster.local).
	Domain string
	// Upstreams are resolvers (host:port) for names outside the cluster;
	// with none, such questions are REFUSED.
	Upstreams []string
	// TTL of answers in seconds (default 5).
	TTL      uint32
	Log      *zap.Logger
	Registry *prometheus.Registry
	Admin    *component.Admin
	// Ready, when set, is called once both listeners serve.
	Ready func()
}

// Run serves DNS until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:10053"
	}
	if cfg.Domain == "" {
		cfg.Domain = "cluster.local"
	}
	if cfg.TTL == 0 {
		cfg.TTL = 5
	}
	cli, err := client.New(ctx, cfg.Client)
	if err != nil {
		return err
	}
	defer cli.Close()
	factory := informer.NewFactory(cli, informer.Options{Logger: cfg.Log.Named("informer")})
	src, err := newCache(factory)
	if err != nil {
		return err
	}
	h := &handler{
		res:       &resolver.Resolver{Domain: dns.Fqdn(strings.ToLower(cfg.Domain)), TTL: cfg.TTL, Source: src},
		upstreams: cfg.Upstreams,
		log:       cfg.Log,
		m:         newMetrics(cfg.Registry),
		synced:    func() bool { return factory.WaitForSync(canceled()) },
	}
	var g component.Group
	if cfg.Admin != nil {
		cfg.Admin.AddReadyz("informers-synced", func(context.Context) error {
			if !h.synced() {
				return errors.New("informers not synced")
			}
			return nil
		})
		g.Add(cfg.Admin)
	}
	g.Add(factory, component.RunnableFunc(func(ctx context.Context) error {
		return serve(ctx, cfg, h)
	}))
	return g.Run(ctx)
}

func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

func serve(ctx context.Context, cfg Config, h *handler) error {
	pc, err := net.ListenPacket("udp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("dns udp: %w", err)
	}
	lis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		pc.Close()
		return fmt.Errorf("dns tcp: %w", err)
	}
	var started sync.WaitGroup
	started.Add(2)
	servers := []*dns.Server{
		{PacketConn: pc, Handler: h, NotifyStartedFunc: started.Done},
		{Listener: lis, Handler: h, NotifyStartedFunc: started.Done, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second},
	}
	errs := make(chan error, len(servers))
	for _, s := range servers {
		go func() { errs <- s.ActivateAndServe() }()
	}
	go func() {
		started.Wait()
		cfg.Log.Info("dns serving", zap.String("address", cfg.Listen), zap.String("domain", cfg.Domain), zap.Strings("upstreams", cfg.Upstreams))
		if cfg.Ready != nil {
			cfg.Ready()
		}
	}()
	var first error
	select {
	case <-ctx.Done():
	case first = <-errs:
	}
	for _, s := range servers {
		_ = s.Shutdown()
	}
	return first
}

type handler struct {
	res       *resolver.Resolver
	upstreams []string
	log       *zap.Logger
	m         *metrics
	synced    func() bool
}

func (h *handler) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	start := time.Now()
	resp := h.answer(w, req)
	if err := w.WriteMsg(resp); err != nil {
		h.log.Debug("write answer", zap.Error(err))
	}
	qtype := "none"
	if len(req.Question) == 1 {
		qtype = typeLabel(req.Question[0].Qtype)
	}
	h.m.requests.WithLabelValues(w.LocalAddr().Network(), qtype, dns.RcodeToString[resp.Rcode]).Inc()
	h.m.duration.WithLabelValues(qtype).Observe(time.Since(start).Seconds())
}

func (h *handler) answer(w dns.ResponseWriter, req *dns.Msg) *dns.Msg {
	resp := new(dns.Msg)
	if req.Opcode != dns.OpcodeQuery || len(req.Question) != 1 {
		return resp.SetRcode(req, dns.RcodeNotImplemented)
	}
	resp.SetReply(req)
	if !h.synced() {
		return resp.SetRcode(req, dns.RcodeServerFailure)
	}
	r := h.res.Resolve(req.Question[0])
	if !r.Authoritative {
		return h.forward(w, req)
	}
	resp.Authoritative = true
	resp.Rcode = r.Rcode
	resp.Answer, resp.Ns, resp.Extra = r.Answer, r.Ns, r.Extra
	if _, udp := w.LocalAddr().(*net.UDPAddr); udp {
		size := dns.MinMsgSize
		if opt := req.IsEdns0(); opt != nil {
			size = int(opt.UDPSize())
			resp.SetEdns0(opt.UDPSize(), false)
		}
		resp.Truncate(size)
	}
	return resp
}

// forward asks the upstream resolvers in turn; with none the question is
// refused, and if none answers it is a server failure.
func (h *handler) forward(w dns.ResponseWriter, req *dns.Msg) *dns.Msg {
	if len(h.upstreams) == 0 {
		return new(dns.Msg).SetRcode(req, dns.RcodeRefused)
	}
	network := "udp"
	if _, tcp := w.LocalAddr().(*net.TCPAddr); tcp {
		network = "tcp"
	}
	c := &dns.Client{Net: network, Timeout: 2 * time.Second}
	for _, up := range h.upstreams {
		resp, _, err := c.Exchange(req, up)
		if err == nil && resp.Truncated && network == "udp" {
			resp, _, err = (&dns.Client{Net: "tcp", Timeout: 2 * time.Second}).Exchange(req, up)
		}
		if err == nil {
			return resp
		}
		h.log.Debug("upstream failed", zap.String("upstream", up), zap.Error(err))
	}
	return new(dns.Msg).SetRcode(req, dns.RcodeServerFailure)
}

func typeLabel(t uint16) string {
	switch t {
	case dns.TypeA, dns.TypeAAAA, dns.TypeSRV, dns.TypePTR, dns.TypeCNAME, dns.TypeSOA, dns.TypeNS, dns.TypeTXT, dns.TypeMX, dns.TypeANY:
		return dns.TypeToString[t]
	}
	return "other"
}

type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flotilla_dns_requests_total", Help: "DNS questions answered, by transport, type and response code.",
		}, []string{"proto", "type", "rcode"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "flotilla_dns_request_duration_seconds", Help: "Time to answer one DNS question (forwarded ones included).",
			Buckets: prometheus.ExponentialBuckets(0.00005, 4, 10),
		}, []string{"type"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

// cache is the informer-backed Source.
type cache struct {
	services   *informer.Informer[*corev1.Service]
	slices     *informer.Informer[*discoveryv1.EndpointSlice]
	namespaces *informer.Informer[*corev1.Namespace]
}

const (
	byService = "service"
	byIP      = "ip"
)

func newCache(f *informer.Factory) (*cache, error) {
	c := &cache{
		services:   informer.For[*corev1.Service](f),
		slices:     informer.For[*discoveryv1.EndpointSlice](f),
		namespaces: informer.For[*corev1.Namespace](f),
	}
	err := errors.Join(
		c.services.AddIndex(byIP, func(s *corev1.Service) []string {
			ips := s.GetSpec().GetClusterIps()
			if len(ips) == 0 && s.GetSpec().GetClusterIp() != "" {
				ips = []string{s.GetSpec().GetClusterIp()}
			}
			return ips
		}),
		c.slices.AddIndex(byService, func(s *discoveryv1.EndpointSlice) []string {
			if name := s.GetMetadata().GetLabels()["kubernetes.io/service-name"]; name != "" {
				return []string{s.GetMetadata().GetNamespace() + "/" + name}
			}
			return nil
		}),
		c.slices.AddIndex(byIP, func(s *discoveryv1.EndpointSlice) []string {
			var ips []string
			for _, e := range s.GetEndpoints() {
				ips = append(ips, e.GetAddresses()...)
			}
			return ips
		}),
	)
	return c, err
}

func (c *cache) Service(ns, name string) *corev1.Service {
	s, err := c.services.Lister().Get(ns, name)
	if err != nil {
		return nil
	}
	return s
}

func (c *cache) Slices(ns, svc string) []*discoveryv1.EndpointSlice {
	s, _ := c.slices.Lister().ByIndex(byService, ns+"/"+svc)
	return s
}

func (c *cache) NamespaceExists(ns string) bool {
	_, err := c.namespaces.Lister().Get("", ns)
	return err == nil
}

func (c *cache) ServicesByIP(ip string) []*corev1.Service {
	s, _ := c.services.Lister().ByIndex(byIP, ip)
	return s
}

func (c *cache) SlicesByIP(ip string) []*discoveryv1.EndpointSlice {
	s, _ := c.slices.Lister().ByIndex(byIP, ip)
	return s
}
