package capture

import (
	"fmt"
	"strconv"
	"strings"

	"sniffer/ipfrag"
)

// ParsePorts reads a port list such as "80,8080" or "8000-8010,443".
func ParsePorts(s string) ([]PortRange, error) {
	var out []PortRange
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(f, "-")
		a, err := strconv.ParseUint(strings.TrimSpace(lo), 10, 16)
		if err != nil || a == 0 {
			return nil, fmt.Errorf("bad port %q in %q: want numbers 1-65535 or ranges like 8000-8010, comma separated", f, s)
		}
		b := a
		if isRange {
			b, err = strconv.ParseUint(strings.TrimSpace(hi), 10, 16)
			if err != nil || b < a {
				return nil, fmt.Errorf("bad port range %q in %q: want LOW-HIGH with LOW <= HIGH", f, s)
			}
		}
		out = append(out, PortRange{uint16(a), uint16(b)})
	}
	return out, nil
}

// PortRange is an inclusive range of TCP ports.
type PortRange struct{ Lo, Hi uint16 }

// PortSet answers "is this one of the application's ports" without allocating.
type PortSet []PortRange

// Has reports whether p is in the set. An empty set holds every port.
func (s PortSet) Has(p uint16) bool {
	if len(s) == 0 {
		return true
	}
	for _, r := range s {
		if r.Lo <= p && p <= r.Hi {
			return true
		}
	}
	return false
}

// Filter builds the BPF expression for TCP traffic to and from the given ports, over
// IPv4 and IPv6, with no VLAN tag, one (802.1Q) or two (QinQ: 802.1ad or 802.1Q outside,
// as mirror sessions of provider networks deliver). The "vlan" keyword moves the offsets
// of everything after it in the expression, so each depth is an alternative nested in
// the one before: untagged first, then one tag, then a second. Fragments of TCP
// datagrams are let through whatever their ports (ipfrag.BPF): all but the first carry
// no TCP header, and the decoder reassembles them.
func Filter(ports []PortRange) string {
	base := "tcp"
	if len(ports) > 0 {
		var terms []string
		for _, r := range ports {
			if r.Lo == r.Hi {
				terms = append(terms, fmt.Sprintf("tcp port %d", r.Lo))
			} else {
				terms = append(terms, fmt.Sprintf("tcp portrange %d-%d", r.Lo, r.Hi))
			}
		}
		base = "(" + strings.Join(terms, " or ") + " or " + ipfrag.BPF(6) + ")"
	}
	return tagged(base)
}

// tagged is base untagged, under one VLAN tag or under two.
func tagged(base string) string {
	return fmt.Sprintf("%s or (vlan and (%s or (vlan and %s)))", base, base, base)
}

// withoutVLAN returns the untagged part of an expression Filter generated, for link
// types libpcap has no VLAN support on; ok is false for any other expression.
func withoutVLAN(expr string) (string, bool) {
	base, _, found := strings.Cut(expr, " or (vlan and (")
	if !found || tagged(base) != expr {
		return "", false
	}
	return base, true
}
