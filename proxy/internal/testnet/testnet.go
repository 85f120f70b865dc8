// Package testnet builds throw-away network topologies for the proxy's
// tests: a "node" network namespace with a bridge, "pod" namespaces on it
// and an "outside" namespace wired to the node, all with unique names and
// removed when the test ends. Nothing outside what it creates is touched.
package testnet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"flotilla.io/proxy/internal/netnsutil"
)

// Skip skips the test unless the process may create namespaces and program
// netfilter (CAP_NET_ADMIN and CAP_SYS_ADMIN).
func Skip(t testing.TB) {
	t.Helper()
	var hdr = unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		t.Skipf("capget: %v", err)
	}
	for _, c := range []uint{unix.CAP_NET_ADMIN, unix.CAP_SYS_ADMIN} {
		if data[c/32].Effective&(1<<(c%32)) == 0 {
			t.Skipf("needs CAP_NET_ADMIN and CAP_SYS_ADMIN (run as root) to build network namespaces")
		}
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs the ip command (iproute2)")
	}
}

// Net is one node with its bridge.
type Net struct {
	t      testing.TB
	id     string
	Node   string // network namespace name of the node
	Bridge string
	// Subnet is 10.244.<n>.0/24; the bridge holds .1.
	Subnet  int
	Gateway string
	pods    int
}

// Run runs a command, failing the test on error.
func Run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Path is the namespace's bind-mount path.
func Path(ns string) string { return "/run/netns/" + ns }

// New builds a node namespace with a bridge on 10.244.<subnet>.0/24, IP
// forwarding on and the service CIDR routed to the bridge.
func New(t testing.TB, subnet int) *Net {
	t.Helper()
	Skip(t)
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	n := &Net{t: t, id: id, Node: "flt-" + id + "-node", Bridge: "flb" + id, Subnet: subnet, Gateway: fmt.Sprintf("10.244.%d.1", subnet)}
	Run(t, "ip", "netns", "add", n.Node)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", n.Node).Run() })
	n.Exec("ip", "link", "set", "lo", "up")
	n.Exec("ip", "link", "add", n.Bridge, "type", "bridge")
	n.Exec("ip", "addr", "add", n.Gateway+"/24", "dev", n.Bridge)
	n.Exec("ip", "link", "set", n.Bridge, "up")
	n.Exec("ip", "route", "add", "10.96.0.0/12", "dev", n.Bridge)
	n.Exec("sysctl", "-qw", "net.ipv4.ip_forward=1")
	return n
}

// Exec runs a command inside the node namespace.
func (n *Net) Exec(args ...string) string {
	n.t.Helper()
	return Run(n.t, append([]string{"ip", "netns", "exec", n.Node}, args...)...)
}

// Pod adds a pod namespace on the bridge and returns its name and IP.
func (n *Net) Pod() (ns, ip string) {
	n.t.Helper()
	n.pods++
	k := n.pods
	ns = fmt.Sprintf("flt-%s-pod%d", n.id, k)
	ip = fmt.Sprintf("10.244.%d.%d", n.Subnet, 10+k)
	host, peer := fmt.Sprintf("flv%s%d", n.id, k), fmt.Sprintf("flp%s%d", n.id, k)
	Run(n.t, "ip", "netns", "add", ns)
	n.t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	n.Exec("ip", "link", "add", host, "type", "veth", "peer", "name", peer)
	n.Exec("ip", "link", "set", peer, "netns", ns)
	n.Exec("ip", "link", "set", host, "master", n.Bridge)
	n.Exec("ip", "link", "set", host, "type", "bridge_slave", "hairpin", "on")
	n.Exec("ip", "link", "set", host, "up")
	Run(n.t, "ip", "-n", ns, "link", "set", "lo", "up")
	Run(n.t, "ip", "-n", ns, "link", "set", peer, "name", "eth0")
	Run(n.t, "ip", "-n", ns, "addr", "add", ip+"/24", "dev", "eth0")
	Run(n.t, "ip", "-n", ns, "link", "set", "eth0", "up")
	Run(n.t, "ip", "-n", ns, "route", "add", "default", "via", n.Gateway)
	return ns, ip
}

// Outside adds a namespace standing for a machine off the node, linked to
// it on 192.168.<subnet>.0/24; it returns the namespace and the node's
// address on that link.
func (n *Net) Outside() (ns, nodeIP string) {
	n.t.Helper()
	ns = "flt-" + n.id + "-out"
	nodeIP = fmt.Sprintf("192.168.%d.1", n.Subnet)
	host, peer := "flo"+n.id+"a", "flo"+n.id+"b"
	Run(n.t, "ip", "netns", "add", ns)
	n.t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	n.Exec("ip", "link", "add", host, "type", "veth", "peer", "name", peer)
	n.Exec("ip", "link", "set", peer, "netns", ns)
	n.Exec("ip", "addr", "add", nodeIP+"/24", "dev", host)
	n.Exec("ip", "link", "set", host, "up")
	Run(n.t, "ip", "-n", ns, "link", "set", "lo", "up")
	Run(n.t, "ip", "-n", ns, "addr", "add", fmt.Sprintf("192.168.%d.2/24", n.Subnet), "dev", peer)
	Run(n.t, "ip", "-n", ns, "link", "set", peer, "up")
	Run(n.t, "ip", "-n", ns, "route", "add", "default", "via", nodeIP)
	return ns, nodeIP
}

// Serve runs an HTTP server in namespace ns on port; it answers
// "<name> <client address>". It stops when the test ends.
func Serve(t testing.TB, ns, name string, port int) {
	t.Helper()
	var lis net.Listener
	err := netnsutil.Do(Path(ns), func() (err error) {
		lis, err = net.Listen("tcp", fmt.Sprintf(":%d", port))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		fmt.Fprintf(w, "%s %s", name, host)
	})}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(func() { _ = srv.Close() })
}

// ServeUDP runs a UDP echo server in ns that answers "<name>".
func ServeUDP(t testing.TB, ns, name string, port int) {
	t.Helper()
	var pc net.PacketConn
	err := netnsutil.Do(Path(ns), func() (err error) {
		pc, err = net.ListenPacket("udp", fmt.Sprintf(":%d", port))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		buf := make([]byte, 1500)
		for {
			_, addr, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo([]byte(name), addr)
		}
	}()
	t.Cleanup(func() { _ = pc.Close() })
}

// Client makes HTTP requests from namespace ns, one connection each.
func Client(ns string) *http.Client {
	return &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{
			DisableKeepAlives: true,
			DialContext: func(_ context.Context, network, addr string) (net.Conn, error) {
				return Dial(ns, network, addr)
			},
		},
	}
}

// Dial connects from namespace ns.
func Dial(ns, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := netnsutil.Do(Path(ns), func() (err error) {
		c, err = net.DialTimeout(network, addr, 3*time.Second)
		return err
	})
	return c, err
}

// Get fetches http://addr/ from ns and returns the body.
func Get(ns, addr string) (string, error) {
	resp, err := Client(ns).Get("http://" + addr + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// Exists reports whether a path exists (for namespaces).
func Exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
