package vxlan

import (
	"strconv"

	"sniffer/ipfrag"
)

// FilterExpr returns the libpcap (BPF) filter for user-space mirror capture of VXLAN on
// the given UDP port (0 or less means 4789): "udp port 4789" and fragments of UDP
// datagrams. MirrorFilter adds Geneve.
func FilterExpr(port int) string { return MirrorFilter(port, 0) }

// MirrorFilter returns the libpcap (BPF) filter for user-space mirror capture of VXLAN on
// vxlanPort (0 or less means 4789) and, when genevePort is above 0, Geneve on it, e.g.
// "udp port 4789 or udp port 6081 or <UDP fragments>".
//
// It matches either port so that a capture on a host that also sends mirrored traffic
// sees it too. A Linux VXLAN tunnel sends a 1,500-byte inner frame in a 1,500-byte
// underlay as two IP fragments, and only the first carries the UDP header: the filter
// lets every UDP fragment through (ipfrag.BPF) and the decoder reassembles them, keeping
// only the datagrams to the ports.
func MirrorFilter(vxlanPort, genevePort int) string {
	if vxlanPort <= 0 {
		vxlanPort = DefaultPort
	}
	f := "udp port " + strconv.Itoa(vxlanPort)
	if genevePort > 0 {
		f += " or udp port " + strconv.Itoa(genevePort)
	}
	return f + " or " + ipfrag.BPF(17)
}
