package vxlan

import (
	"strconv"

	"sniffer/ipfrag"
)

// FilterExpr returns the libpcap (BPF) filter for user-space mirror capture on the
// given UDP port (0 or less means 4789): "udp port 4789" and fragments of UDP datagrams.
//
// It matches either port so that a capture on a host that also sends mirrored traffic
// sees it too. A Linux VXLAN tunnel sends a 1,500-byte inner frame in a 1,500-byte
// underlay as two IP fragments, and only the first carries the UDP header: the filter
// lets every UDP fragment through (ipfrag.BPF) and the decoder reassembles them, keeping
// only the datagrams to the port.
func FilterExpr(port int) string {
	if port <= 0 {
		port = DefaultPort
	}
	return "udp port " + strconv.Itoa(port) + " or " + ipfrag.BPF(17)
}
