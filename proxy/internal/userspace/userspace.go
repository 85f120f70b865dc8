// Package userspace is the proxy's fallback data plane for kernels without
// usable nftables: it forwards connections itself.
//
// Nothing routes a cluster IP to a user-space process without packet
// filtering rules, so the proxy makes each service address local instead:
// it adds every cluster IP and external IP as a /32 on the node's loopback
// device (label "lo:flp") and listens on VIP:port. Pods reach it through
// their default route to the node; the node reaches it directly. Node ports
// listen on every address. A service without endpoints has its address but
// no listener, so connections are refused at once. Balancing is round
// robin; ClientIP affinity keeps a client on its endpoint until the
// timeout passes without traffic.
package userspace

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"go.uber.org/zap"

	"flotilla.io/proxy/internal/model"
	"flotilla.io/proxy/internal/netnsutil"
)

// AddrLabel marks the loopback addresses the proxy added.
const AddrLabel = "lo:flp"

// UDPIdleTimeout ends a UDP session without traffic.
const UDPIdleTimeout = 30 * time.Second

// Options configure the user-space proxy.
type Options struct {
	// NetNS is the namespace to listen and dial in ("" is the process's).
	NetNS string
	// NodePortAddress is where node ports listen (default all addresses).
	NodePortAddress string
	Log             *zap.Logger
}

// Proxier forwards service traffic in user space.
type Proxier struct {
	opts   Options
	log    *zap.Logger
	handle *netlink.Handle
	lo     netlink.Link
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	ports    map[string]*servicePort // by ServicePort.Name
	services map[string][]string     // service key -> port names
	addrs    map[netip.Addr]int      // references to loopback addresses
}

// New starts an empty proxier.
func New(ctx context.Context, opts Options) (*Proxier, error) {
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	h, err := handle(opts.NetNS)
	if err != nil {
		return nil, err
	}
	lo, err := h.LinkByName("lo")
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("loopback device: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	return &Proxier{opts: opts, log: opts.Log, handle: h, lo: lo, ctx: ctx, cancel: cancel,
		ports: map[string]*servicePort{}, services: map[string][]string{}, addrs: map[netip.Addr]int{}}, nil
}

func handle(path string) (*netlink.Handle, error) {
	if path == "" {
		return netlink.NewHandle()
	}
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return nil, fmt.Errorf("network namespace %s: %w", path, err)
	}
	defer ns.Close()
	return netlink.NewHandleAt(ns)
}

// Cleanup removes the loopback addresses a proxier added in the namespace.
func Cleanup(path string) error {
	h, err := handle(path)
	if err != nil {
		return err
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		return err
	}
	addrs, err := h.AddrList(lo, netlink.FAMILY_V4)
	if err != nil {
		return err
	}
	var errs []error
	for _, a := range addrs {
		if a.Label == AddrLabel {
			errs = append(errs, h.AddrDel(lo, &a))
		}
	}
	return errors.Join(errs...)
}

// Close stops every listener and connection and removes the addresses.
func (p *Proxier) Close() {
	p.mu.Lock()
	for _, sp := range p.ports {
		p.stop(sp)
	}
	p.ports = map[string]*servicePort{}
	p.mu.Unlock()
	p.cancel()
	p.wg.Wait()
	p.handle.Close()
}

// Counts reports services, listeners and endpoints (twice: as elements
// and as endpoints).
func (p *Proxier) Counts() (services, rules, elements, endpoints int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, sp := range p.ports {
		rules += len(sp.closers)
		elements += len(sp.lb.endpoints())
	}
	return len(p.services), rules, elements, elements
}

// Full replaces every service.
func (p *Proxier) Full(desired map[string][]model.ServicePort) error {
	p.mu.Lock()
	changes := map[string][]model.ServicePort{}
	for key := range p.services {
		changes[key] = nil
	}
	p.mu.Unlock()
	for key, ports := range desired {
		changes[key] = ports
	}
	return p.Update(changes)
}

// Update applies changed services.
func (p *Proxier) Update(changes map[string][]model.ServicePort) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	for key, ports := range changes {
		want := map[string]model.ServicePort{}
		for _, sp := range ports {
			want[sp.Name] = sp
		}
		for _, name := range p.services[key] {
			if _, ok := want[name]; !ok {
				p.stop(p.ports[name])
				delete(p.ports, name)
			}
		}
		names := make([]string, 0, len(ports))
		for _, sp := range ports {
			names = append(names, sp.Name)
			if err := p.set(sp); err != nil {
				errs = append(errs, err)
			}
		}
		if len(names) == 0 {
			delete(p.services, key)
		} else {
			p.services[key] = names
		}
	}
	return errors.Join(errs...)
}

// servicePort is one service port's listeners and balancer.
type servicePort struct {
	sp      model.ServicePort
	lb      *balancer
	closers []io.Closer
	addrs   []netip.Addr
}

// sameShape reports whether a and b listen on the same sockets.
func sameShape(a, b model.ServicePort) bool {
	return a.ClusterIP == b.ClusterIP && a.Port == b.Port && a.Proto == b.Proto && a.NodePort == b.NodePort &&
		slices.Equal(a.ExternalIPs, b.ExternalIPs) && (len(a.Endpoints) == 0) == (len(b.Endpoints) == 0)
}

func (p *Proxier) set(sp model.ServicePort) error {
	if cur, ok := p.ports[sp.Name]; ok {
		if sameShape(cur.sp, sp) {
			cur.sp = sp
			cur.lb.set(sp.Endpoints, sp.Affinity)
			return nil
		}
		p.stop(cur)
		delete(p.ports, sp.Name)
	}
	s := &servicePort{sp: sp, lb: &balancer{}}
	s.lb.set(sp.Endpoints, sp.Affinity)
	p.ports[sp.Name] = s
	var vips []netip.Addr
	if sp.ClusterIP.IsValid() {
		vips = append(vips, sp.ClusterIP)
	}
	vips = append(vips, sp.ExternalIPs...)
	for _, ip := range vips {
		if err := p.addAddr(ip); err != nil {
			return err
		}
		s.addrs = append(s.addrs, ip)
	}
	if sp.Proto != model.TCP && sp.Proto != model.UDP {
		return nil // SCTP is not forwarded in user space
	}
	if len(sp.Endpoints) == 0 {
		return nil // refused: the address is local, nothing listens
	}
	var addrs []string
	for _, ip := range vips {
		addrs = append(addrs, netip.AddrPortFrom(ip, sp.Port).String())
	}
	if sp.NodePort != 0 {
		addrs = append(addrs, net.JoinHostPort(p.opts.NodePortAddress, fmt.Sprint(sp.NodePort)))
	}
	for _, a := range addrs {
		c, err := p.listen(s, a)
		if err != nil {
			return fmt.Errorf("service %s: %w", sp.Name, err)
		}
		s.closers = append(s.closers, c)
	}
	return nil
}

func (p *Proxier) stop(s *servicePort) {
	if s == nil {
		return
	}
	for _, c := range s.closers {
		_ = c.Close()
	}
	s.closers = nil
	for _, ip := range s.addrs {
		p.delAddr(ip)
	}
	s.addrs = nil
}

func (p *Proxier) addAddr(ip netip.Addr) error {
	p.addrs[ip]++
	if p.addrs[ip] > 1 {
		return nil
	}
	a := &netlink.Addr{IPNet: &net.IPNet{IP: ip.AsSlice(), Mask: net.CIDRMask(32, 32)}, Label: AddrLabel}
	if err := p.handle.AddrReplace(p.lo, a); err != nil {
		return fmt.Errorf("add %s to loopback: %w", ip, err)
	}
	return nil
}

func (p *Proxier) delAddr(ip netip.Addr) {
	p.addrs[ip]--
	if p.addrs[ip] > 0 {
		return
	}
	delete(p.addrs, ip)
	a := &netlink.Addr{IPNet: &net.IPNet{IP: ip.AsSlice(), Mask: net.CIDRMask(32, 32)}, Label: AddrLabel}
	if err := p.handle.AddrDel(p.lo, a); err != nil {
		p.log.Warn("remove loopback address", zap.Stringer("ip", ip), zap.Error(err))
	}
}

func (p *Proxier) listen(s *servicePort, addr string) (io.Closer, error) {
	if s.sp.Proto == model.UDP {
		var pc net.PacketConn
		err := netnsutil.Do(p.opts.NetNS, func() (err error) {
			pc, err = net.ListenPacket("udp4", addr)
			return err
		})
		if err != nil {
			return nil, err
		}
		p.wg.Go(func() { p.serveUDP(s, pc) })
		return pc, nil
	}
	var lis net.Listener
	err := netnsutil.Do(p.opts.NetNS, func() (err error) {
		lis, err = net.Listen("tcp4", addr)
		return err
	})
	if err != nil {
		return nil, err
	}
	p.wg.Go(func() { p.serveTCP(s, lis) })
	return lis, nil
}

func (p *Proxier) dial(network string, ep model.Endpoint) (net.Conn, error) {
	var c net.Conn
	err := netnsutil.Do(p.opts.NetNS, func() (err error) {
		c, err = net.DialTimeout(network, ep.String(), 3*time.Second)
		return err
	})
	return c, err
}

func clientIP(a net.Addr) netip.Addr {
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

func (p *Proxier) serveTCP(s *servicePort, lis net.Listener) {
	for {
		in, err := lis.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				p.log.Warn("accept", zap.String("service", s.sp.Name), zap.Error(err))
			}
			return
		}
		p.wg.Go(func() { p.forwardTCP(s, in) })
	}
}

func (p *Proxier) forwardTCP(s *servicePort, in net.Conn) {
	defer in.Close()
	client := clientIP(in.RemoteAddr())
	var out net.Conn
	for range max(1, len(s.lb.endpoints())) {
		ep, ok := s.lb.pick(client)
		if !ok {
			return
		}
		var err error
		if out, err = p.dial("tcp4", ep); err == nil {
			break
		}
		s.lb.failed(client, ep)
		p.log.Debug("dial endpoint", zap.Stringer("endpoint", ep), zap.Error(err))
	}
	if out == nil {
		return
	}
	defer out.Close()
	stop := context.AfterFunc(p.ctx, func() { in.Close(); out.Close() })
	defer stop()
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(out, in)
		if tc, ok := out.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		close(done)
	}()
	_, _ = io.Copy(in, out)
	if tc, ok := in.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	<-done
}

type udpSession struct {
	out  net.Conn
	last time.Time
}

func (p *Proxier) serveUDP(s *servicePort, pc net.PacketConn) {
	var mu sync.Mutex
	sessions := map[string]*udpSession{}
	defer func() {
		mu.Lock()
		for _, us := range sessions {
			_ = us.out.Close()
		}
		mu.Unlock()
	}()
	buf := make([]byte, 65535)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		mu.Lock()
		us := sessions[from.String()]
		if us == nil {
			ep, ok := s.lb.pick(clientIP(from))
			if !ok {
				mu.Unlock()
				continue
			}
			out, err := p.dial("udp4", ep)
			if err != nil {
				mu.Unlock()
				s.lb.failed(clientIP(from), ep)
				continue
			}
			us = &udpSession{out: out}
			sessions[from.String()] = us
			p.wg.Go(func() {
				defer func() {
					mu.Lock()
					delete(sessions, from.String())
					mu.Unlock()
					_ = out.Close()
				}()
				rb := make([]byte, 65535)
				for {
					_ = out.SetReadDeadline(time.Now().Add(UDPIdleTimeout))
					n, err := out.Read(rb)
					if err != nil {
						return
					}
					if _, err := pc.WriteTo(rb[:n], from); err != nil {
						return
					}
				}
			})
		}
		us.last = time.Now()
		mu.Unlock()
		_, _ = us.out.Write(buf[:n])
	}
}

// balancer picks endpoints round robin, keeping a client on its endpoint
// while ClientIP affinity lasts.
type balancer struct {
	mu       sync.Mutex
	eps      []model.Endpoint
	next     int
	affinity time.Duration
	sticky   map[netip.Addr]stick
	now      func() time.Time
}

type stick struct {
	ep   model.Endpoint
	last time.Time
}

func (b *balancer) set(eps []model.Endpoint, affinity time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.eps, b.affinity = slices.Clone(eps), affinity
	if affinity == 0 {
		b.sticky = nil
		return
	}
	for c, s := range b.sticky {
		if !slices.Contains(eps, s.ep) {
			delete(b.sticky, c) // its endpoint is gone
		}
	}
}

func (b *balancer) endpoints() []model.Endpoint {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.eps
}

func (b *balancer) clock() time.Time {
	if b.now != nil {
		return b.now()
	}
	return time.Now()
}

func (b *balancer) pick(client netip.Addr) (model.Endpoint, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.eps) == 0 {
		return model.Endpoint{}, false
	}
	now := b.clock()
	if b.affinity > 0 {
		if s, ok := b.sticky[client]; ok && now.Sub(s.last) < b.affinity {
			b.sticky[client] = stick{s.ep, now}
			return s.ep, true
		}
	}
	ep := b.eps[b.next%len(b.eps)]
	b.next = (b.next + 1) % len(b.eps)
	if b.affinity > 0 {
		if b.sticky == nil {
			b.sticky = map[netip.Addr]stick{}
		}
		if len(b.sticky) > 4096 {
			for c, s := range b.sticky {
				if now.Sub(s.last) >= b.affinity {
					delete(b.sticky, c)
				}
			}
		}
		b.sticky[client] = stick{ep, now}
	}
	return ep, true
}

// failed forgets a client's affinity to an endpoint that did not answer.
func (b *balancer) failed(client netip.Addr, ep model.Endpoint) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if s, ok := b.sticky[client]; ok && s.ep == ep {
		delete(b.sticky, client)
	}
}
