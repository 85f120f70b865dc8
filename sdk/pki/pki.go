// Package pki makes the cluster's certificates: a self-signed CA and the
// certificates it signs (the apiserver's serving certificate, client
// certificates). Keys are ECDSA P-256.
package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Pair is a PEM certificate and its PEM private key.
type Pair struct {
	CertPEM []byte
	KeyPEM  []byte
}

// NewCA makes a self-signed CA valid for ten years.
func NewCA(commonName string) (*Pair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("sign CA: %w", err)
	}
	return encode(der, key)
}

// Request describes a certificate to sign.
type Request struct {
	CommonName   string
	Organization []string
	DNSNames     []string
	IPs          []net.IP
	Server       bool
	Client       bool
	Validity     time.Duration
}

// Sign issues a certificate for req signed by ca.
func Sign(ca *Pair, req Request) (*Pair, error) {
	caCert, caKey, err := parse(ca)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	if req.Validity == 0 {
		req.Validity = 365 * 24 * time.Hour
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: req.CommonName, Organization: req.Organization},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(req.Validity),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		DNSNames:     req.DNSNames,
		IPAddresses:  req.IPs,
	}
	if req.Server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	if req.Client {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("sign %s: %w", req.CommonName, err)
	}
	return encode(der, key)
}

// ServingRequest is the usual request for a server reachable on localhost and
// the given extra names and addresses.
func ServingRequest(commonName string, hosts ...string) Request {
	r := Request{CommonName: commonName, Server: true, DNSNames: []string{"localhost", commonName}, IPs: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			r.IPs = append(r.IPs, ip)
		} else if h != "" {
			r.DNSNames = append(r.DNSNames, h)
		}
	}
	return r
}

// KubernetesServiceNames are the names pods use for the apiserver (the
// default/kubernetes Service) in a cluster domain; the apiserver's serving
// certificate carries them, with the Service's cluster IP.
func KubernetesServiceNames(clusterDomain string) []string {
	return []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc." + clusterDomain}
}

// Write stores a pair as NAME.crt and NAME.key in dir (the key mode 0600).
func (p *Pair) Write(dir, name string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, name+".crt"), p.CertPEM, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, name+".key"), p.KeyPEM, 0o600)
}

// Read loads NAME.crt and NAME.key from dir.
func Read(dir, name string) (*Pair, error) {
	c, err := os.ReadFile(filepath.Join(dir, name+".crt"))
	if err != nil {
		return nil, err
	}
	k, err := os.ReadFile(filepath.Join(dir, name+".key"))
	if err != nil {
		return nil, err
	}
	return &Pair{CertPEM: c, KeyPEM: k}, nil
}

// EnsureServing makes sure dir holds ca.{crt,key} and NAME.{crt,key} signed by
// it, creating whatever is missing, and returns the CA and the serving pair.
func EnsureServing(dir, name string, hosts ...string) (ca, serving *Pair, err error) {
	ca, err = Read(dir, "ca")
	if errors.Is(err, os.ErrNotExist) {
		if ca, err = NewCA("flotilla-ca"); err == nil {
			err = ca.Write(dir, "ca")
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("CA in %s: %w", dir, err)
	}
	serving, err = Read(dir, name)
	if errors.Is(err, os.ErrNotExist) {
		if serving, err = Sign(ca, ServingRequest(name, hosts...)); err == nil {
			err = serving.Write(dir, name)
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("serving certificate in %s: %w", dir, err)
	}
	return ca, serving, nil
}

func parse(p *Pair) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	cb, _ := pem.Decode(p.CertPEM)
	kb, _ := pem.Decode(p.KeyPEM)
	if cb == nil || kb == nil {
		return nil, nil, errors.New("CA: not PEM")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("CA certificate: %w", err)
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("CA key: %w", err)
	}
	return cert, key, nil
}

func encode(der []byte, key *ecdsa.PrivateKey) (*Pair, error) {
	kd, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	return &Pair{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}),
	}, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n
}

// EnsureClient makes sure dir holds NAME.{crt,key}, a client certificate for
// commonName (and groups as organizations) signed by the CA in dir, which
// must exist.
func EnsureClient(dir, name, commonName string, groups ...string) (*Pair, error) {
	p, err := Read(dir, name)
	if err == nil {
		return p, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	ca, err := Read(dir, "ca")
	if err != nil {
		return nil, fmt.Errorf("CA in %s: %w", dir, err)
	}
	if p, err = Sign(ca, Request{CommonName: commonName, Organization: groups, Client: true}); err != nil {
		return nil, err
	}
	return p, p.Write(dir, name)
}

// EnsureKey makes sure dir holds NAME.key, an ECDSA P-256 private key (for
// signing service account tokens), and returns its path.
func EnsureKey(dir, name string) (string, error) {
	path := filepath.Join(dir, name+".key")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	return path, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600)
}
