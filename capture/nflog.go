package capture

import (
	"encoding/binary"

	"github.com/gopacket/gopacket/layers"
)

// LinkTypeNFLOG is libpcap's DLT_NFLOG (239): packets an iptables or nftables NFLOG rule hands
// to user space, read live from the nflog:GROUP device or from a capture file of it. gopacket
// names no such link type and has no decoder for it.
const LinkTypeNFLOG layers.LinkType = 239

// nflogPayload returns the IP packet an NFLOG record carries. The record is a 4-byte header
// (address family, version 0, resource id) and TLVs whose length and type are in the
// capturing host's byte order (libpcap swaps them when it reads a file written on a host of
// the other order); the packet is the NFULA_PAYLOAD TLV (type 9). ok is false when there is
// none (a rule with a zero copy range) or the record is malformed.
func nflogPayload(data []byte) (ip []byte, ok bool) {
	if len(data) < 4 || data[1] != 0 {
		return nil, false
	}
	for p := data[4:]; len(p) >= 4; {
		n := int(binary.NativeEndian.Uint16(p[0:2]))
		typ := binary.NativeEndian.Uint16(p[2:4]) & 0x7fff
		if n < 4 || n > len(p) {
			return nil, false
		}
		if typ == 9 {
			return p[4:n], true
		}
		n = (n + 3) &^ 3
		if n >= len(p) {
			break
		}
		p = p[n:]
	}
	return nil, false
}
