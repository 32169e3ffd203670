package capture

import (
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strings"
)

// ResolveDevices turns a NET_DEVICE value into libpcap device names. It accepts an
// interface name, an IP address held by an interface, a "prefix*" pattern, or a comma
// list of these. Empty means every interface that is up: on Linux that is the "any"
// device, one handle that sees each packet once per interface it crosses (a packet on a
// bridge and on its veth arrives twice, and TCP reassembly drops the second copy as a
// retransmission). Elsewhere it opens each interface that is up.
func ResolveDevices(spec string) ([]string, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		if runtime.GOOS == "linux" {
			return []string{"any"}, nil
		}
		return matchInterfaces(func(net.Interface) bool { return true }, "every interface that is up")
	}
	var out []string
	seen := map[string]bool{}
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		var names []string
		var err error
		switch {
		case strings.HasSuffix(part, "*"):
			prefix := strings.TrimSuffix(part, "*")
			names, err = matchInterfaces(func(i net.Interface) bool { return strings.HasPrefix(i.Name, prefix) }, "pattern "+part)
		default:
			if ip, perr := netip.ParseAddr(part); perr == nil {
				names, err = matchInterfaces(func(i net.Interface) bool { return hasAddr(i, ip) }, "address "+part)
			} else {
				names = []string{part}
			}
		}
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			if !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("NET_DEVICE %q names no device", spec)
	}
	return out, nil
}

func matchInterfaces(match func(net.Interface) bool, what string) ([]string, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("listing interfaces: %v", err)
	}
	var out []string
	for _, i := range ifs {
		if i.Flags&net.FlagUp != 0 && match(i) {
			out = append(out, i.Name)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no interface that is up matches %s (list them with: ip -br addr)", what)
	}
	return out, nil
}

func hasAddr(i net.Interface, ip netip.Addr) bool {
	addrs, err := i.Addrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Unmap() == ip.Unmap() {
			return true
		}
	}
	return false
}
