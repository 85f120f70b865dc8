package network

import (
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/zap"

	corev1 "flotilla.io/proto/flotilla/core/v1"
	metav1 "flotilla.io/proto/flotilla/meta/v1"
)

const hostResolv = `# host
nameserver 192.0.2.53
nameserver 192.0.2.54
search corp.example lab.example
options rotate timeout:2
`

func TestPodFiles(t *testing.T) {
	dir := t.TempDir()
	hostResolvPath := filepath.Join(dir, "host-resolv.conf")
	hostHostsPath := filepath.Join(dir, "host-hosts")
	if err := os.WriteFile(hostResolvPath, []byte(hostResolv), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(hostHostsPath, []byte("127.0.0.1 localhost\n10.0.0.5 build-host"), 0o644); err != nil {
		t.Fatal(err)
	}
	str := func(s string) *string { return &s }
	nodeHostname, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	yes := true
	const localhost = "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n"
	for _, tc := range []struct {
		name       string
		clusterDNS []string
		spec       *corev1.PodSpec
		podName    string
		resolv     string
		hosts      string
		hostname   string
	}{{
		name:       "cluster first (default policy)",
		clusterDNS: []string{"10.96.0.10"},
		spec:       &corev1.PodSpec{},
		resolv:     "nameserver 10.96.0.10\nsearch ns1.svc.cluster.local svc.cluster.local cluster.local corp.example lab.example\noptions ndots:5\n",
		hosts:      localhost + "10.1.0.7\tweb-0\n",
		hostname:   "web-0\n",
	}, {
		name:       "cluster first without cluster DNS falls back to the host's",
		clusterDNS: nil,
		spec:       &corev1.PodSpec{DnsPolicy: "ClusterFirst"},
		resolv:     "nameserver 192.0.2.53\nnameserver 192.0.2.54\nsearch corp.example lab.example\noptions rotate timeout:2\n",
		hosts:      localhost + "10.1.0.7\tweb-0\n",
		hostname:   "web-0\n",
	}, {
		name:       "default copies the host",
		clusterDNS: []string{"10.96.0.10"},
		spec:       &corev1.PodSpec{DnsPolicy: "Default"},
		resolv:     "nameserver 192.0.2.53\nnameserver 192.0.2.54\nsearch corp.example lab.example\noptions rotate timeout:2\n",
		hosts:      localhost + "10.1.0.7\tweb-0\n",
		hostname:   "web-0\n",
	}, {
		name:       "none uses dnsConfig only",
		clusterDNS: []string{"10.96.0.10"},
		spec: &corev1.PodSpec{DnsPolicy: "None", DnsConfig: &corev1.PodDNSConfig{
			Nameservers: []string{"1.1.1.1"},
			Searches:    []string{"a.example", "a.example"},
			Options:     []*corev1.PodDNSConfigOption{{Name: "ndots", Value: str("2")}, {Name: "edns0"}},
		}},
		resolv:   "nameserver 1.1.1.1\nsearch a.example\noptions ndots:2 edns0\n",
		hosts:    localhost + "10.1.0.7\tweb-0\n",
		hostname: "web-0\n",
	}, {
		name:       "dnsConfig merged into cluster first",
		clusterDNS: []string{"10.96.0.10"},
		spec: &corev1.PodSpec{DnsConfig: &corev1.PodDNSConfig{
			Nameservers: []string{"10.96.0.10", "1.1.1.1", "8.8.8.8", "9.9.9.9"},
			Searches:    []string{"extra.example"},
			Options:     []*corev1.PodDNSConfigOption{{Name: "ndots", Value: str("1")}, {Name: "single-request"}},
		}},
		resolv:   "nameserver 10.96.0.10\nnameserver 1.1.1.1\nnameserver 8.8.8.8\nsearch ns1.svc.cluster.local svc.cluster.local cluster.local corp.example lab.example extra.example\noptions ndots:1 single-request\n",
		hosts:    localhost + "10.1.0.7\tweb-0\n",
		hostname: "web-0\n",
	}, {
		name:       "hostname, subdomain and host aliases",
		clusterDNS: []string{"10.96.0.10"},
		spec: &corev1.PodSpec{Hostname: "db", Subdomain: "backend", HostAliases: []*corev1.HostAlias{
			{Ip: "10.9.9.9", Hostnames: []string{"foo.local", "bar.local"}},
		}},
		resolv:   "nameserver 10.96.0.10\nsearch ns1.svc.cluster.local svc.cluster.local cluster.local corp.example lab.example\noptions ndots:5\n",
		hosts:    localhost + "10.1.0.7\tdb.backend.ns1.svc.cluster.local\tdb\n\n# Entries added by HostAliases.\n10.9.9.9\tfoo.local\tbar.local\n",
		hostname: "db\n",
	}, {
		name:       "setHostnameAsFQDN",
		clusterDNS: []string{"10.96.0.10"},
		spec:       &corev1.PodSpec{Subdomain: "sub", SetHostnameAsFqdn: &yes},
		resolv:     "nameserver 10.96.0.10\nsearch ns1.svc.cluster.local svc.cluster.local cluster.local corp.example lab.example\noptions ndots:5\n",
		hosts:      localhost + "10.1.0.7\tweb-0.sub.ns1.svc.cluster.local\tweb-0\n",
		hostname:   "web-0.sub.ns1.svc.cluster.local\n",
	}, {
		name:       "long pod names are cut to 63 characters",
		clusterDNS: []string{"10.96.0.10"},
		podName:    "a-very-long-pod-name-that-goes-on-and-on-and-on-for-ever-and-e-ver",
		spec:       &corev1.PodSpec{},
		resolv:     "nameserver 10.96.0.10\nsearch ns1.svc.cluster.local svc.cluster.local cluster.local corp.example lab.example\noptions ndots:5\n",
		hosts:      localhost + "10.1.0.7\ta-very-long-pod-name-that-goes-on-and-on-and-on-for-ever-and-e\n",
		hostname:   "a-very-long-pod-name-that-goes-on-and-on-and-on-for-ever-and-e\n",
	}, {
		name:       "host network: cluster first means the host's resolver and hosts",
		clusterDNS: []string{"10.96.0.10"},
		spec:       &corev1.PodSpec{HostNetwork: true, HostAliases: []*corev1.HostAlias{{Ip: "10.9.9.9", Hostnames: []string{"foo"}}}},
		resolv:     "nameserver 192.0.2.53\nnameserver 192.0.2.54\nsearch corp.example lab.example\noptions rotate timeout:2\n",
		hosts:      "# Kubernetes-managed hosts file (host network).\n127.0.0.1 localhost\n10.0.0.5 build-host\n\n# Entries added by HostAliases.\n10.9.9.9\tfoo\n",
		hostname:   nodeHostname + "\n",
	}, {
		name:       "host network with ClusterFirstWithHostNet",
		clusterDNS: []string{"10.96.0.10"},
		spec:       &corev1.PodSpec{HostNetwork: true, DnsPolicy: "ClusterFirstWithHostNet"},
		resolv:     "nameserver 10.96.0.10\nsearch ns1.svc.cluster.local svc.cluster.local cluster.local corp.example lab.example\noptions ndots:5\n",
		hosts:      "# Kubernetes-managed hosts file (host network).\n127.0.0.1 localhost\n10.0.0.5 build-host\n",
		hostname:   nodeHostname + "\n",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			m := &Manager{log: zap.NewNop(), cfg: Config{
				ClusterDNS: tc.clusterDNS, ClusterDomain: "cluster.local",
				HostResolvConf: hostResolvPath, HostHosts: hostHostsPath,
			}}
			name := tc.podName
			if name == "" {
				name = "web-0"
			}
			pod := &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: name, Namespace: "ns1", Uid: "u1"}, Spec: tc.spec}
			out := filepath.Join(t.TempDir(), "pods", "u1")
			resolv, hosts, hostname, err := m.PodFiles(pod, "10.1.0.7", out)
			if err != nil {
				t.Fatal(err)
			}
			if resolv != filepath.Join(out, "resolv.conf") || hosts != filepath.Join(out, "etc-hosts") || hostname != filepath.Join(out, "hostname") {
				t.Errorf("paths %s %s %s", resolv, hosts, hostname)
			}
			for _, f := range []struct{ path, want string }{{resolv, tc.resolv}, {hosts, tc.hosts}, {hostname, tc.hostname}} {
				b, err := os.ReadFile(f.path)
				if err != nil {
					t.Fatal(err)
				}
				if string(b) != f.want {
					t.Errorf("%s:\n%s\nwant:\n%s", filepath.Base(f.path), b, f.want)
				}
			}
		})
	}
}

func TestParseResolvConf(t *testing.T) {
	rc := parseResolvConf([]byte("domain old.example\nsearch a b ; comment\nnameserver 1.1.1.1 # x\noptions ndots:2\noptions edns0\nbogus\n"))
	if len(rc.nameservers) != 1 || rc.nameservers[0] != "1.1.1.1" {
		t.Errorf("nameservers %v", rc.nameservers)
	}
	if len(rc.searches) != 2 || rc.searches[0] != "a" {
		t.Errorf("searches %v", rc.searches)
	}
	if len(rc.options) != 2 {
		t.Errorf("options %v", rc.options)
	}
}
