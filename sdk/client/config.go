package client

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"sigs.k8s.io/yaml"
)

// ConfigEnv names the environment variable that overrides DefaultPath.
const ConfigEnv = "FLOTILLA_CONFIG"

// Config says how to reach and authenticate to the apiserver. The YAML form
// (the $HOME/.flotilla/config file) carries server, certificateAuthorityData
// and token; the other fields are for daemons and tests.
type Config struct {
	// Server is the apiserver's host:port.
	Server string `json:"server"`
	// CAData is the PEM bundle that signs the server certificate; in YAML it is
	// base64, like kubeconfig's certificate-authority-data.
	CAData []byte `json:"certificateAuthorityData,omitempty"`
	// CAFile is a PEM file read when CAData is empty. With neither, the
	// system roots verify the server.
	CAFile string `json:"certificateAuthority,omitempty"`
	// CertData and KeyData (or CertFile and KeyFile) are a client
	// certificate signed by the cluster CA: its CN is the user, its O the
	// groups. Base64 in YAML, like kubeconfig's client-certificate-data.
	CertData []byte `json:"clientCertificateData,omitempty"`
	KeyData  []byte `json:"clientKeyData,omitempty"`
	CertFile string `json:"clientCertificate,omitempty"`
	KeyFile  string `json:"clientKey,omitempty"`
	// Token is sent as "authorization: Bearer <token>" on every call.
	Token string `json:"token,omitempty"`
	// TokenFile is read when Token is empty (mounted service-account tokens).
	TokenFile string `json:"tokenFile,omitempty"`
	// ServerName overrides the name checked against the server certificate.
	ServerName string `json:"serverName,omitempty"`
	// Insecure dials without TLS. Only for tests and local fakes.
	Insecure bool `json:"insecure,omitempty"`
}

// The service account files the kubelet mounts into every pod that has
// automountServiceAccountToken, as upstream.
const (
	ServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"
	// The environment the kubelet sets in every container: the address of
	// the default/kubernetes Service.
	ServiceHostEnv = "KUBERNETES_SERVICE_HOST"
	ServicePortEnv = "KUBERNETES_SERVICE_PORT"
)

// ErrNotInCluster is returned by InClusterConfig outside a pod.
var ErrNotInCluster = errors.New("not running in a pod: " + ServiceHostEnv + " and " + ServicePortEnv + " are not set")

// InClusterConfig is the config of a process in a pod: the kubernetes
// Service's address from the environment, the pod's service account token
// (re-read as the kubelet rotates it) and the cluster CA next to it, like
// client-go's rest.InClusterConfig.
func InClusterConfig() (*Config, error) {
	host, port := os.Getenv(ServiceHostEnv), os.Getenv(ServicePortEnv)
	if host == "" || port == "" {
		return nil, ErrNotInCluster
	}
	token := filepath.Join(ServiceAccountDir, "token")
	if _, err := os.Stat(token); err != nil {
		return nil, fmt.Errorf("in-cluster config: service account token: %w", err)
	}
	return &Config{
		Server:    net.JoinHostPort(host, port),
		TokenFile: token,
		CAFile:    filepath.Join(ServiceAccountDir, "ca.crt"),
		// The serving certificate names the Service, not its IP's users.
		ServerName: "kubernetes.default.svc",
	}, nil
}

// DefaultPath is $HOME/.flotilla/config.
func DefaultPath() string {
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(".flotilla", "config")
	}
	return filepath.Join(home, ".flotilla", "config")
}

// ResolvePath picks the config file the way every binary does: an explicit
// flag value first, then $FLOTILLA_CONFIG, then DefaultPath.
func ResolvePath(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if p := os.Getenv(ConfigEnv); p != "" {
		return p
	}
	return DefaultPath()
}

// LoadFile reads a YAML config file.
func LoadFile(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	var c Config
	if err := yaml.UnmarshalStrict(b, &c); err != nil {
		return nil, fmt.Errorf("parse config %s: %w", path, err)
	}
	return &c, nil
}

// Save writes the config as YAML, readable only by its owner because it holds
// a token.
func (c *Config) Save(path string) error {
	b, err := yaml.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode config: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	// Rename so a crash never leaves a half-written config behind.
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	return nil
}
