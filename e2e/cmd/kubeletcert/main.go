// Command kubeletcert signs a kubelet's serving certificate with the cluster
// CA, so the apiserver verifies the kubelet it reaches for logs, exec and
// stats (apiserver --kubelet-certificate-authority) instead of trusting any
// certificate. The kubelet never holds the CA key. hack/up.sh runs it for
// each local node; an existing certificate is kept.
//
//	go run ./e2e/cmd/kubeletcert --ca-dir .state/pki --out .state/kubelet/node-0/pki --node node-0 --hosts 192.0.2.2,127.0.0.1
package main

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"flotilla.io/sdk/pki"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "kubeletcert:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("kubeletcert", flag.ContinueOnError)
	caDir := fs.String("ca-dir", "", "directory holding the cluster CA (ca.crt, ca.key)")
	out := fs.String("out", "", "directory to write kubelet.crt and kubelet.key to")
	node := fs.String("node", "", "the node name (the certificate's common name)")
	hosts := fs.String("hosts", "", "the kubelet's addresses and names, comma separated")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for flagName, v := range map[string]string{"--ca-dir": *caDir, "--out": *out, "--node": *node} {
		if v == "" {
			return fmt.Errorf("%s: Required value", flagName)
		}
	}
	ca, err := pki.Read(*caDir, "ca")
	if err != nil {
		return fmt.Errorf("cluster CA: %w", err)
	}
	// Keep a certificate the cluster CA signed; replace any other (a
	// kubelet's self-signed one from before).
	if cur, err := pki.Read(*out, "kubelet"); err == nil && signedBy(cur, ca) {
		return nil
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	var hs []string
	for _, h := range strings.Split(*hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			hs = append(hs, h)
		}
	}
	cert, err := pki.Sign(ca, pki.ServingRequest(*node, hs...))
	if err != nil {
		return err
	}
	if err := cert.Write(*out, "kubelet"); err != nil {
		return err
	}
	fmt.Println(filepath.Join(*out, "kubelet.crt"))
	return nil
}

// signedBy reports whether p's certificate chains to ca's.
func signedBy(p, ca *pki.Pair) bool {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca.CertPEM) {
		return false
	}
	b, _ := pem.Decode(p.CertPEM)
	if b == nil {
		return false
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return false
	}
	_, err = c.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	return err == nil
}
