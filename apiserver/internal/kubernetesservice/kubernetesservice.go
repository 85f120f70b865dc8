// Package kubernetesservice keeps the default/kubernetes Service, its
// Endpoints and its EndpointSlice pointing at the live apiservers, so pods
// reach the API at a stable cluster IP (upstream's "bootstrap controller"
// with the lease endpoint reconciler).
//
// Each apiserver holds an etcd key with its advertised address under a
// lease it keeps alive; the addresses of all live keys are the endpoints.
// An apiserver that dies stops renewing, its key expires, and the next
// reconcile by any other apiserver drops it.
package kubernetesservice

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	apiv1 "flotilla.io/proto/flotilla/api/v1"
	corev1 "flotilla.io/proto/flotilla/core/v1"
	discoveryv1 "flotilla.io/proto/flotilla/discovery/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
)

// Name and Namespace of the Service; PortName of its one port.
const (
	Name      = "kubernetes"
	Namespace = "default"
	PortName  = "https"
	// ManagedBy marks the EndpointSlice as the apiserver's, so the
	// endpointslice controller leaves it alone.
	ManagedBy = "flotilla-apiserver"
)

// API is the part of the apiserver the reconciler writes through, so the
// objects get the same validation, defaults and allocation as any other.
type API interface {
	Create(context.Context, *apiv1.CreateRequest) (*apiv1.CreateResponse, error)
	Get(context.Context, *apiv1.GetRequest) (*apiv1.GetResponse, error)
	Update(context.Context, *apiv1.UpdateRequest) (*apiv1.UpdateResponse, error)
}

// Config says where this apiserver is reached and how to publish it.
type Config struct {
	API  API
	Etcd *clientv3.Client
	// KeyPrefix holds one key per live apiserver ("<prefix><ip>:<port>").
	KeyPrefix string
	// ServiceIP is the Service's cluster IP: the first address of the
	// service range, as upstream.
	ServiceIP string
	// Address is this apiserver's advertised IP and Port its serving port;
	// an unspecified or loopback Address publishes nothing (pods could not
	// reach it), but the Service is still made.
	Address netip.Addr
	Port    int
	// Interval between reconciles (default 10s); the lease lives 3×Interval.
	Interval time.Duration
	Log      *zap.Logger
}

// FirstIP is the first usable address of cidr (its network address + 1).
func FirstIP(cidr string) (string, error) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return "", fmt.Errorf("service cluster IP range %q: %w", cidr, err)
	}
	return p.Masked().Addr().Next().String(), nil
}

// AdvertiseAddress picks the address to publish for a listener on bind:
// explicit wins; then a specific bind IP; then, for a wildcard bind, the
// host's address on its default route, as upstream does.
func AdvertiseAddress(explicit, bind string) (netip.Addr, error) {
	if explicit != "" {
		a, err := netip.ParseAddr(explicit)
		if err != nil {
			return netip.Addr{}, fmt.Errorf("--advertise-address %q: not an IP address", explicit)
		}
		return a, nil
	}
	host, _, err := net.SplitHostPort(bind)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("bind address %q: %w", bind, err)
	}
	if a, err := netip.ParseAddr(host); err == nil && !a.IsUnspecified() {
		return a, nil
	}
	if host != "" && host != "0.0.0.0" && host != "::" {
		return netip.Addr{}, nil // a host name: nothing to publish
	}
	// The source address of a (never sent) UDP "connection" out of the
	// default route.
	c, err := net.Dial("udp4", "192.0.2.1:9")
	if err != nil {
		return netip.Addr{}, nil
	}
	defer c.Close()
	ap, err := netip.ParseAddrPort(c.LocalAddr().String())
	if err != nil {
		return netip.Addr{}, nil
	}
	return ap.Addr(), nil
}

// Reconciler publishes this apiserver and keeps the objects current.
type Reconciler struct {
	cfg   Config
	lease clientv3.LeaseID
}

// New checks cfg.
func New(cfg Config) (*Reconciler, error) {
	if cfg.API == nil || cfg.Etcd == nil || cfg.KeyPrefix == "" {
		return nil, fmt.Errorf("kubernetes service reconciler: API, Etcd and KeyPrefix are required")
	}
	if _, err := netip.ParseAddr(cfg.ServiceIP); err != nil {
		return nil, fmt.Errorf("kubernetes service IP %q: %w", cfg.ServiceIP, err)
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 10 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	return &Reconciler{cfg: cfg}, nil
}

func (r *Reconciler) publishes() bool {
	return r.cfg.Address.IsValid() && !r.cfg.Address.IsLoopback() && !r.cfg.Address.IsUnspecified() && r.cfg.Port > 0
}

func (r *Reconciler) myKey() string {
	return r.cfg.KeyPrefix + net.JoinHostPort(r.cfg.Address.String(), strconv.Itoa(r.cfg.Port))
}

// Run reconciles every Interval until ctx ends, then withdraws this
// apiserver's key so the others drop it at once.
func (r *Reconciler) Run(ctx context.Context) {
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	for {
		if err := r.Reconcile(ctx); err != nil && ctx.Err() == nil {
			r.cfg.Log.Warn("kubernetes service", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			if r.publishes() && r.lease != 0 {
				c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
				_, _ = r.cfg.Etcd.Revoke(c, r.lease)
				cancel()
			}
			return
		case <-t.C:
		}
	}
}

// Reconcile renews this apiserver's key and makes the Service, Endpoints
// and EndpointSlice match the live keys.
func (r *Reconciler) Reconcile(ctx context.Context) error {
	if err := r.ensureService(ctx); err != nil {
		return err
	}
	if !r.publishes() {
		return nil
	}
	if err := r.renew(ctx); err != nil {
		return err
	}
	resp, err := r.cfg.Etcd.Get(ctx, r.cfg.KeyPrefix, clientv3.WithPrefix())
	if err != nil {
		return fmt.Errorf("list apiserver endpoints: %w", err)
	}
	// Endpoints carry one port for all addresses: publish the apiservers on
	// this one's port (all of them, in any sane deployment).
	var addrs []string
	others := false
	for _, kv := range resp.Kvs {
		ap, err := netip.ParseAddrPort(strings.TrimPrefix(string(kv.Key), r.cfg.KeyPrefix))
		switch {
		case err != nil:
		case int(ap.Port()) == r.cfg.Port:
			addrs = append(addrs, ap.Addr().String())
		default:
			others = true
		}
	}
	if others {
		r.cfg.Log.Warn("apiservers serve on different ports; publishing only those on this one's", zap.Int("port", r.cfg.Port))
	}
	slices.Sort(addrs)
	addrs = slices.Compact(addrs)
	if err := r.apply(ctx, "Endpoints", Endpoints(addrs, r.cfg.Port)); err != nil {
		return err
	}
	return r.apply(ctx, "EndpointSlice", EndpointSlice(addrs, r.cfg.Port))
}

func (r *Reconciler) renew(ctx context.Context) error {
	if r.lease != 0 {
		if _, err := r.cfg.Etcd.KeepAliveOnce(ctx, r.lease); err == nil {
			return nil
		}
		r.lease = 0 // expired (etcd was away too long): take a new one
	}
	ttl := int64(3 * r.cfg.Interval / time.Second)
	lease, err := r.cfg.Etcd.Grant(ctx, max(ttl, 5))
	if err != nil {
		return fmt.Errorf("grant endpoint lease: %w", err)
	}
	if _, err := r.cfg.Etcd.Put(ctx, r.myKey(), "", clientv3.WithLease(lease.ID)); err != nil {
		return fmt.Errorf("publish endpoint: %w", err)
	}
	r.lease = lease.ID
	return nil
}

// Service is the default/kubernetes Service: no selector (the apiserver
// writes its endpoints), port 443 to the apiservers' serving port.
func Service(ip string, port int) *corev1.Service {
	return &corev1.Service{
		Metadata: &metav1.ObjectMeta{Name: Name, Namespace: Namespace,
			Labels: map[string]string{"component": "apiserver", "provider": "flotilla"}},
		Spec: &corev1.ServiceSpec{
			Type: "ClusterIP", ClusterIp: ip, ClusterIps: []string{ip}, SessionAffinity: "None",
			Ports: []*corev1.ServicePort{{Name: PortName, Protocol: "TCP", Port: 443,
				TargetPort: &metav1.IntOrString{IntVal: int32(port)}}},
		},
	}
}

// Endpoints lists addrs on port.
func Endpoints(addrs []string, port int) *corev1.Endpoints {
	ep := &corev1.Endpoints{Metadata: &metav1.ObjectMeta{Name: Name, Namespace: Namespace,
		Labels: map[string]string{"endpointslice.kubernetes.io/skip-mirror": "true"}}}
	if len(addrs) > 0 {
		sub := &corev1.EndpointSubset{Ports: []*corev1.EndpointPort{{Name: PortName, Port: int32(port), Protocol: "TCP"}}}
		for _, a := range addrs {
			sub.Addresses = append(sub.Addresses, &corev1.EndpointAddress{Ip: a})
		}
		ep.Subsets = []*corev1.EndpointSubset{sub}
	}
	return ep
}

// EndpointSlice lists addrs on port, all ready.
func EndpointSlice(addrs []string, port int) *discoveryv1.EndpointSlice {
	es := &discoveryv1.EndpointSlice{
		Metadata: &metav1.ObjectMeta{Name: Name, Namespace: Namespace, Labels: map[string]string{
			"kubernetes.io/service-name": Name, "endpointslice.kubernetes.io/managed-by": ManagedBy}},
		AddressType: "IPv4",
		Ports:       []*discoveryv1.EndpointPort{{Name: proto.String(PortName), Protocol: proto.String("TCP"), Port: proto.Int32(int32(port))}},
	}
	for _, a := range addrs {
		if ip, err := netip.ParseAddr(a); err == nil && ip.Is6() {
			es.AddressType = "IPv6"
		}
		es.Endpoints = append(es.Endpoints, &discoveryv1.Endpoint{Addresses: []string{a}, Conditions: &discoveryv1.EndpointConditions{Ready: proto.Bool(true)}})
	}
	return es
}

// ensureService creates the Service when missing and puts its port back
// when someone changed it; other fields (labels, annotations) are left.
func (r *Reconciler) ensureService(ctx context.Context) error {
	want := Service(r.cfg.ServiceIP, r.cfg.Port)
	cur, err := r.get(ctx, "Service")
	if status.Code(err) == codes.NotFound {
		return r.create(ctx, want)
	}
	if err != nil {
		return err
	}
	svc := cur.(*corev1.Service)
	if proto.Equal(&corev1.ServiceSpec{Ports: svc.GetSpec().GetPorts()}, &corev1.ServiceSpec{Ports: want.Spec.Ports}) {
		return nil
	}
	svc.Spec.Ports = want.Spec.Ports
	return r.update(ctx, svc)
}

// apply creates obj or replaces the current object's content with obj's.
func (r *Reconciler) apply(ctx context.Context, kind string, obj proto.Message) error {
	cur, err := r.get(ctx, kind)
	if status.Code(err) == codes.NotFound {
		return r.create(ctx, obj)
	}
	if err != nil {
		return err
	}
	switch c := cur.(type) {
	case *corev1.Endpoints:
		w := obj.(*corev1.Endpoints)
		if proto.Equal(&corev1.Endpoints{Subsets: c.Subsets}, &corev1.Endpoints{Subsets: w.Subsets}) && equalLabels(c.Metadata, w.Metadata) {
			return nil
		}
		c.Subsets, c.Metadata.Labels = w.Subsets, mergeLabels(c.Metadata, w.Metadata)
	case *discoveryv1.EndpointSlice:
		w := obj.(*discoveryv1.EndpointSlice)
		if proto.Equal(&discoveryv1.EndpointSlice{AddressType: c.AddressType, Endpoints: c.Endpoints, Ports: c.Ports},
			&discoveryv1.EndpointSlice{AddressType: w.AddressType, Endpoints: w.Endpoints, Ports: w.Ports}) && equalLabels(c.Metadata, w.Metadata) {
			return nil
		}
		c.AddressType, c.Endpoints, c.Ports, c.Metadata.Labels = w.AddressType, w.Endpoints, w.Ports, mergeLabels(c.Metadata, w.Metadata)
	}
	return r.update(ctx, cur)
}

// equalLabels reports whether cur carries every label of want.
func equalLabels(cur, want *metav1.ObjectMeta) bool {
	for k, v := range want.GetLabels() {
		if cur.GetLabels()[k] != v {
			return false
		}
	}
	return true
}

func mergeLabels(cur, want *metav1.ObjectMeta) map[string]string {
	out := map[string]string{}
	for k, v := range cur.GetLabels() {
		out[k] = v
	}
	for k, v := range want.GetLabels() {
		out[k] = v
	}
	return out
}

func (r *Reconciler) get(ctx context.Context, kind string) (proto.Message, error) {
	resp, err := r.cfg.API.Get(ctx, &apiv1.GetRequest{Kind: kind, Namespace: Namespace, Name: Name})
	if err != nil {
		return nil, err
	}
	obj, err := resp.GetObject().UnmarshalNew()
	if err != nil {
		return nil, fmt.Errorf("decode %s %s/%s: %w", kind, Namespace, Name, err)
	}
	return obj, nil
}

func (r *Reconciler) create(ctx context.Context, obj proto.Message) error {
	a, err := anypb.New(obj)
	if err != nil {
		return err
	}
	if _, err := r.cfg.API.Create(ctx, &apiv1.CreateRequest{Object: a}); err != nil && status.Code(err) != codes.AlreadyExists {
		return fmt.Errorf("create %T %s/%s: %w", obj, Namespace, Name, err)
	}
	return nil
}

func (r *Reconciler) update(ctx context.Context, obj proto.Message) error {
	a, err := anypb.New(obj)
	if err != nil {
		return err
	}
	if _, err := r.cfg.API.Update(ctx, &apiv1.UpdateRequest{Object: a}); err != nil && status.Code(err) != codes.Aborted {
		return fmt.Errorf("update %T %s/%s: %w", obj, Namespace, Name, err)
	}
	return nil
}
