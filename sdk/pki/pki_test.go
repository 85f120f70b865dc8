package pki

import (
	"crypto/tls"
	"crypto/x509"
	"testing"
)

func TestEnsureServingMakesAVerifiableChain(t *testing.T) {
	dir := t.TempDir()
	ca, serving, err := EnsureServing(dir, "apiserver", "10.0.0.1", "api.example")
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca.CertPEM) {
		t.Fatal("CA PEM not accepted")
	}
	pair, err := tls.X509KeyPair(serving.CertPEM, serving.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"localhost", "127.0.0.1", "10.0.0.1", "api.example"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: host}); err != nil {
			t.Errorf("verify for %s: %v", host, err)
		}
	}
	// A second call reuses what is there rather than minting a new CA.
	ca2, _, err := EnsureServing(dir, "apiserver")
	if err != nil {
		t.Fatal(err)
	}
	if string(ca2.CertPEM) != string(ca.CertPEM) {
		t.Error("EnsureServing replaced an existing CA")
	}
}
