package network

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.uber.org/zap"

	corev1 "flotilla.io/proto/flotilla/core/v1"
)

// Resolver limits, as upstream's kubelet applies them.
const (
	maxNameservers = 3
	maxSearches    = 32
	maxSearchChars = 2048
	maxHostnameLen = 63
)

// PodFiles writes resolv.conf, hosts and hostname for the pod under dir and
// returns their host paths, to be bind-mounted at /etc/resolv.conf,
// /etc/hosts and /etc/hostname. Files are rewritten in place, so a container
// that already mounts them sees the new content.
func (m *Manager) PodFiles(pod *corev1.Pod, ip, dir string) (resolv, hosts, hostname string, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", "", fmt.Errorf("network: pod files: %w", err)
	}
	host, err := readResolvConf(m.cfg.HostResolvConf)
	if err != nil {
		return "", "", "", fmt.Errorf("network: host resolver config: %w", err)
	}
	dns := podDNS(pod, m.cfg.ClusterDNS, m.cfg.ClusterDomain, host)
	if dns.fallback {
		m.log.Warn("pod asks for dnsPolicy ClusterFirst but no cluster DNS is configured: using the host's resolver",
			zap.String("pod", pod.GetMetadata().GetNamespace()+"/"+pod.GetMetadata().GetName()))
	}
	name, domain := podHostname(pod, m.cfg.ClusterDomain)
	var hostHosts []byte
	if pod.GetSpec().GetHostNetwork() {
		if hostHosts, err = os.ReadFile(m.cfg.HostHosts); err != nil {
			return "", "", "", fmt.Errorf("network: host hosts file: %w", err)
		}
	}
	hostnameContent := name
	if pod.GetSpec().GetSetHostnameAsFqdn() && domain != "" {
		hostnameContent = name + "." + domain
	}
	if pod.GetSpec().GetHostNetwork() {
		// The pod shares the node's UTS namespace, hence its name.
		if hostnameContent, err = os.Hostname(); err != nil {
			return "", "", "", fmt.Errorf("network: hostname: %w", err)
		}
	}
	resolv = filepath.Join(dir, "resolv.conf")
	hosts = filepath.Join(dir, "etc-hosts")
	hostname = filepath.Join(dir, "hostname")
	for _, f := range []struct {
		path    string
		content []byte
	}{
		{resolv, dns.render()},
		{hosts, hostsFile(pod, ip, name, domain, hostHosts)},
		{hostname, []byte(hostnameContent + "\n")},
	} {
		if err := os.WriteFile(f.path, f.content, 0o644); err != nil {
			return "", "", "", fmt.Errorf("network: pod files: %w", err)
		}
	}
	return resolv, hosts, hostname, nil
}

// resolvConf is the part of a resolver config a pod's is made of.
type resolvConf struct {
	nameservers, searches, options []string
	// fallback: ClusterFirst asked but no cluster DNS configured.
	fallback bool
}

func readResolvConf(path string) (resolvConf, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return resolvConf{}, nil
		}
		return resolvConf{}, err
	}
	return parseResolvConf(b), nil
}

// parseResolvConf reads nameserver, search (or domain) and options lines;
// the last search/domain line wins, as in resolv.conf(5).
func parseResolvConf(b []byte) resolvConf {
	var rc resolvConf
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexAny(line, "#;"); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "nameserver":
			if len(f) > 1 {
				rc.nameservers = append(rc.nameservers, f[1])
			}
		case "search", "domain":
			rc.searches = append([]string(nil), f[1:]...)
		case "options":
			rc.options = append(rc.options, f[1:]...)
		}
	}
	return rc
}

// podDNS builds the pod's resolver config as upstream's kubelet does:
// ClusterFirst (the default; for hostNetwork pods only
// ClusterFirstWithHostNet) gives the cluster DNS servers, the search path
// <ns>.svc.<domain> svc.<domain> <domain> followed by the host's, and
// ndots:5; Default copies the host's; None starts empty. dnsConfig is then
// merged in: nameservers and searches appended without duplicates, options
// overriding by name.
func podDNS(pod *corev1.Pod, clusterDNS []string, domain string, host resolvConf) resolvConf {
	spec := pod.GetSpec()
	policy := spec.GetDnsPolicy()
	var rc resolvConf
	cluster := false
	switch policy {
	case "None":
	case "Default":
		rc = host
	case "ClusterFirstWithHostNet":
		cluster = true
	default: // ClusterFirst
		cluster = !spec.GetHostNetwork()
		if !cluster {
			rc = host
		}
	}
	if cluster {
		if len(clusterDNS) == 0 {
			rc = host
			rc.fallback = true
		} else {
			rc.nameservers = append([]string(nil), clusterDNS...)
			ns := pod.GetMetadata().GetNamespace()
			if ns == "" {
				ns = "default"
			}
			rc.searches = append([]string{ns + ".svc." + domain, "svc." + domain, domain}, host.searches...)
			rc.options = []string{"ndots:5"}
		}
	}
	if c := spec.GetDnsConfig(); c != nil {
		rc.nameservers = appendUnique(rc.nameservers, c.GetNameservers()...)
		rc.searches = appendUnique(rc.searches, c.GetSearches()...)
		for _, o := range c.GetOptions() {
			opt := o.GetName()
			if o.Value != nil {
				opt += ":" + o.GetValue()
			}
			rc.options = mergeOption(rc.options, o.GetName(), opt)
		}
	}
	rc.searches = appendUnique(nil, rc.searches...)
	if len(rc.nameservers) > maxNameservers {
		rc.nameservers = rc.nameservers[:maxNameservers]
	}
	if len(rc.searches) > maxSearches {
		rc.searches = rc.searches[:maxSearches]
	}
	for len(rc.searches) > 0 && len(strings.Join(rc.searches, " ")) > maxSearchChars {
		rc.searches = rc.searches[:len(rc.searches)-1]
	}
	return rc
}

func appendUnique(list []string, add ...string) []string {
	seen := map[string]bool{}
	out := list[:0:0]
	for _, s := range append(append([]string(nil), list...), add...) {
		if s == "" || seen[s] {
			continue
		}
		seen[s] = true
		out = append(out, s)
	}
	return out
}

// mergeOption replaces the option called name (either "name" or
// "name:value") by opt, or appends it.
func mergeOption(options []string, name, opt string) []string {
	out := make([]string, 0, len(options)+1)
	replaced := false
	for _, o := range options {
		if n, _, _ := strings.Cut(o, ":"); n == name {
			if !replaced {
				out = append(out, opt)
				replaced = true
			}
			continue
		}
		out = append(out, o)
	}
	if !replaced {
		out = append(out, opt)
	}
	return out
}

func (rc resolvConf) render() []byte {
	var b strings.Builder
	for _, ns := range rc.nameservers {
		fmt.Fprintf(&b, "nameserver %s\n", ns)
	}
	if len(rc.searches) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(rc.searches, " "))
	}
	if len(rc.options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(rc.options, " "))
	}
	return []byte(b.String())
}

// podHostname is the pod's hostname and domain as upstream computes them:
// spec.hostname or the pod name cut to 63 characters; the domain
// <subdomain>.<ns>.svc.<cluster domain> when spec.subdomain is set.
// spec.hostnameOverride, when set, wins and has no domain.
func podHostname(pod *corev1.Pod, clusterDomain string) (name, domain string) {
	spec := pod.GetSpec()
	if spec.HostnameOverride != nil && spec.GetHostnameOverride() != "" {
		return spec.GetHostnameOverride(), ""
	}
	name = pod.GetMetadata().GetName()
	if len(name) > maxHostnameLen {
		name = strings.TrimRight(name[:maxHostnameLen], "-.")
	}
	if spec.GetHostname() != "" {
		name = spec.GetHostname()
	}
	if spec.GetSubdomain() != "" {
		ns := pod.GetMetadata().GetNamespace()
		if ns == "" {
			ns = "default"
		}
		domain = spec.GetSubdomain() + "." + ns + ".svc." + clusterDomain
	}
	return name, domain
}

// hostsFile is the pod's /etc/hosts: upstream's managed content (localhost
// lines and the pod's own address) or, for hostNetwork pods, the host's
// file; then the pod's hostAliases.
func hostsFile(pod *corev1.Pod, ip, name, domain string, hostHosts []byte) []byte {
	var b strings.Builder
	if pod.GetSpec().GetHostNetwork() {
		b.WriteString("# Kubernetes-managed hosts file (host network).\n")
		b.Write(hostHosts)
		if len(hostHosts) > 0 && hostHosts[len(hostHosts)-1] != '\n' {
			b.WriteByte('\n')
		}
	} else {
		b.WriteString("# Kubernetes-managed hosts file.\n")
		b.WriteString("127.0.0.1\tlocalhost\n")
		b.WriteString("::1\tlocalhost ip6-localhost ip6-loopback\n")
		b.WriteString("fe00::0\tip6-localnet\n")
		b.WriteString("fe00::0\tip6-mcastprefix\n")
		b.WriteString("fe00::1\tip6-allnodes\n")
		b.WriteString("fe00::2\tip6-allrouters\n")
		if ip != "" {
			if domain != "" {
				fmt.Fprintf(&b, "%s\t%s.%s\t%s\n", ip, name, domain, name)
			} else {
				fmt.Fprintf(&b, "%s\t%s\n", ip, name)
			}
		}
	}
	if aliases := pod.GetSpec().GetHostAliases(); len(aliases) > 0 {
		b.WriteString("\n# Entries added by HostAliases.\n")
		for _, a := range aliases {
			fmt.Fprintf(&b, "%s\t%s\n", a.GetIp(), strings.Join(a.GetHostnames(), "\t"))
		}
	}
	return []byte(b.String())
}
