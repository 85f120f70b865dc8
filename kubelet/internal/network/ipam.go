package network

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// ipam hands out the addresses of one podCIDR. Each allocation is a file
// named after the address holding the pod UID, created with O_EXCL and synced
// before the address is used, so a restarted kubelet never hands out an
// address twice. Like CNI's host-local plugin it continues after the last
// address handed out (last_reserved_ip), so a released address is not
// reused at once.
type ipam struct {
	dir    string
	subnet *net.IPNet
	mu     sync.Mutex
}

const lastReservedFile = "last_reserved_ip"

func newIPAM(stateDir string, subnet *net.IPNet) (*ipam, error) {
	dir := filepath.Join(stateDir, strings.ReplaceAll(subnet.String(), "/", "_"))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("network: state dir: %w", err)
	}
	return &ipam{dir: dir, subnet: subnet}, nil
}

// nthIP is the n-th address of subnet (0 is the network address).
func nthIP(subnet *net.IPNet, n uint32) net.IP {
	out := make(net.IP, 4)
	binary.BigEndian.PutUint32(out, binary.BigEndian.Uint32(subnet.IP.To4())+n)
	return out
}

// size is the number of addresses in the subnet.
func (a *ipam) size() uint32 {
	ones, bits := a.subnet.Mask.Size()
	return uint32(1) << uint(bits-ones)
}

// allocate returns the pod's address, reserving a free one when it has none.
// Addresses 0 (network), 1 (the bridge) and the last (broadcast) are never
// handed out.
func (a *ipam) allocate(uid string) (net.IP, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	held, err := a.listLocked()
	if err != nil {
		return nil, err
	}
	if ip, ok := held[uid]; ok {
		return net.ParseIP(ip).To4(), nil
	}
	size := a.size()
	start := uint32(1)
	if b, err := os.ReadFile(filepath.Join(a.dir, lastReservedFile)); err == nil {
		if last := net.ParseIP(strings.TrimSpace(string(b))).To4(); last != nil && a.subnet.Contains(last) {
			start = binary.BigEndian.Uint32(last) - binary.BigEndian.Uint32(a.subnet.IP.To4())
		}
	}
	for i := uint32(1); i <= size; i++ {
		n := (start + i) % size
		if n < 2 || n == size-1 {
			continue
		}
		ip := nthIP(a.subnet, n)
		err := writeNew(filepath.Join(a.dir, ip.String()), uid)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reserve %s: %w", ip, err)
		}
		if err := os.WriteFile(filepath.Join(a.dir, lastReservedFile), []byte(ip.String()), 0o600); err != nil {
			return nil, fmt.Errorf("record last reserved address: %w", err)
		}
		return ip, nil
	}
	return nil, fmt.Errorf("no free address in %s", a.subnet)
}

// writeNew creates path exclusively with content and syncs it.
func writeNew(path, content string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(content); err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return err
	}
	return f.Close()
}

// release frees every address held by the pod.
func (a *ipam) release(uid string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	held, err := a.listLocked()
	if err != nil {
		return err
	}
	if ip, ok := held[uid]; ok {
		if err := os.Remove(filepath.Join(a.dir, ip)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("release %s: %w", ip, err)
		}
	}
	return nil
}

// list maps pod UID -> address.
func (a *ipam) list() (map[string]string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.listLocked()
}

func (a *ipam) listLocked() (map[string]string, error) {
	entries, err := os.ReadDir(a.dir)
	if err != nil {
		return nil, fmt.Errorf("read address pool: %w", err)
	}
	out := map[string]string{}
	for _, e := range entries {
		ip := net.ParseIP(e.Name())
		if ip == nil || e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(a.dir, e.Name()))
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return nil, err
		}
		uid := strings.TrimSpace(string(b))
		if uid == "" {
			continue
		}
		out[uid] = e.Name()
	}
	return out, nil
}
