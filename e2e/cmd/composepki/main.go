// Command composepki writes the credentials of the docker-compose dev cluster
// into a directory (mounted read-only at /pki in every container): the
// cluster CA, the apiserver's serving certificate for the given names, the
// service account key, the apiserver's client certificate for kubelets, a
// token file with one identity per component, and each component's token in
// NAME.token. Files already present are kept, so it is safe to run again.
//
//	go run ./e2e/cmd/composepki --dir .state/compose/pki --san apiserver,localhost,127.0.0.1
package main

import (
	"crypto/rand"
	"encoding/base64"
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
		fmt.Fprintln(os.Stderr, "composepki:", err)
		os.Exit(1)
	}
}

// identities are the token file's users: name (file NAME.token), user, groups.
var identities = [][3]string{
	{"admin", "admin", "system:masters"},
	{"scheduler", "system:scheduler", "system:components"},
	{"controller-manager", "system:controller-manager", "system:components"},
	{"cloud-controller-manager", "system:cloud-controller-manager", "system:components"},
	{"proxy", "system:proxy", "system:components"},
	{"dns", "system:dns", "system:components"},
	// Kubelets are nodes: the bootstrap policy binds system:node to this group.
	{"kubelet", "system:kubelet", "system:nodes"},
}

func run(args []string) error {
	fs := flag.NewFlagSet("composepki", flag.ContinueOnError)
	dir := fs.String("dir", "", "output directory")
	san := fs.String("san", "apiserver,localhost,127.0.0.1", "names and addresses of the apiserver, comma separated")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("--dir: Required value")
	}
	// Pods reach the apiserver as the kubernetes Service, 10.96.0.1.
	hosts := append(strings.Split(*san, ","), pki.KubernetesServiceNames("cluster.local")...)
	if _, _, err := pki.EnsureServing(*dir, "apiserver", append(hosts, "10.96.0.1")...); err != nil {
		return err
	}
	if _, err := pki.EnsureKey(*dir, "sa"); err != nil {
		return err
	}
	if _, err := pki.EnsureClient(*dir, "apiserver-kubelet-client", "apiserver-kubelet-client", "system:masters"); err != nil {
		return err
	}
	tokensPath := filepath.Join(*dir, "tokens.csv")
	if _, err := os.Stat(tokensPath); err == nil {
		return nil
	}
	var csv strings.Builder
	for _, id := range identities {
		b := make([]byte, 24)
		if _, err := rand.Read(b); err != nil {
			return err
		}
		tok := strings.NewReplacer("/", "", "+", "", "=", "").Replace(base64.StdEncoding.EncodeToString(b))
		fmt.Fprintf(&csv, "%s,%s,%s,%s\n", tok, id[1], id[0], id[2])
		// Daemons in the containers run as root; 0644 lets any of them read it
		// whatever uid a future image uses. The directory itself is 0700.
		if err := os.WriteFile(filepath.Join(*dir, id[0]+".token"), []byte(tok), 0o644); err != nil {
			return err
		}
	}
	if err := os.Chmod(*dir, 0o700); err != nil {
		return err
	}
	return os.WriteFile(tokensPath, []byte(csv.String()), 0o600)
}
