package vxlan

import "strconv"

// FilterExpr returns the libpcap (BPF) filter for user-space mirror capture on the
// given UDP port (0 or less means 4789), e.g. "udp port 4789".
//
// It matches either port so that a capture on a host that also sends mirrored traffic
// sees it too. Outer IP fragments after the first carry no UDP header and are not
// matched: mirror sources avoid fragmenting (AWS truncates to the target's MTU), and
// a reassembled outer packet would need IP defragmentation before Decap anyway.
func FilterExpr(port int) string {
	if port <= 0 {
		port = DefaultPort
	}
	return "udp port " + strconv.Itoa(port)
}
