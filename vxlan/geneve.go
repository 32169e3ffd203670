package vxlan

import (
	"encoding/binary"
	"fmt"

	"github.com/gopacket/gopacket/layers"
)

// GenevePort is the IANA port for Geneve (RFC 8926), which AWS Gateway Load Balancer uses
// to hand traffic to its appliances.
const GenevePort = 6081

// genevePrefix is the fixed part of the Geneve header; options follow it.
const genevePrefix = 8

// Geneve's protocol types (EtherTypes) for the inner packet.
const (
	protoEthernet = 0x6558 // Transparent Ethernet Bridging: an Ethernet frame
	protoIPv4     = 0x0800 // a bare IPv4 packet (AWS Gateway Load Balancer)
	protoIPv6     = 0x86dd
)

// Geneve strips Geneve headers (RFC 8926) from UDP payloads, as Decapsulator does for
// VXLAN: the VNI selector applies alike, options are skipped whatever they say (sniffer
// only reads, so even critical options change nothing for it), and control (OAM)
// messages are counted and skipped. The inner packet is an Ethernet frame or, as AWS
// Gateway Load Balancer sends it, a bare IP packet; Decap says which.
//
// Like Decapsulator it is safe for concurrent use, must not be copied after first use,
// never allocates in Decap, and weighs 2 MiB for the exact set of VNIs seen.
type Geneve struct {
	port uint16
	sel  Selector
	tally
}

// NewGeneve returns a Geneve decapsulator for the given UDP port (0 means 6081) that
// decapsulates the VNIs sel matches.
func NewGeneve(port int, sel Selector) (*Geneve, error) {
	if port == 0 {
		port = GenevePort
	}
	if port < 1 || port > 65535 {
		return nil, fmt.Errorf("geneve: port %d is out of range; set SNIFFER_MIRROR_GENEVEPORT to 1-65535 (default %d, 0 for off)", port, GenevePort)
	}
	return &Geneve{port: uint16(port), sel: sel}, nil
}

// Port is the UDP destination port that carries Geneve.
func (g *Geneve) Port() uint16 {
	if g.port == 0 {
		return GenevePort
	}
	return g.port
}

// Decap checks the Geneve header at the start of udpPayload and returns the VNI, the inner
// packet (aliasing udpPayload) and its link type: Ethernet, IPv4 or IPv6. ok is false,
// and the packet counted, for a header that is bad (too short, version not 0, options
// longer than the packet, a protocol other than Ethernet or IP, an inner packet too short
// to hold its first header), a control message, or a VNI the selector rejects.
func (g *Geneve) Decap(udpPayload []byte) (vni uint32, inner []byte, lt layers.LinkType, ok bool) {
	g.encapsulated.Add(1)
	p := udpPayload
	if len(p) < genevePrefix || p[0]>>6 != 0 {
		g.badHeader.Add(1)
		return 0, nil, 0, false
	}
	start := genevePrefix + int(p[0]&0x3f)*4
	need := 0
	switch binary.BigEndian.Uint16(p[2:4]) {
	case protoEthernet:
		lt, need = layers.LinkTypeEthernet, minInnerLen
	case protoIPv4:
		lt, need = layers.LinkTypeIPv4, 20
	case protoIPv6:
		lt, need = layers.LinkTypeIPv6, 40
	}
	if need == 0 || len(p) < start+need {
		g.badHeader.Add(1)
		return 0, nil, 0, false
	}
	if p[1]&0x80 != 0 { // O: a control message for the tunnel endpoints
		g.control.Add(1)
		return 0, nil, 0, false
	}
	vni = uint32(p[4])<<16 | uint32(p[5])<<8 | uint32(p[6])
	g.markSeen(vni)
	if !g.sel.Match(vni) {
		g.filteredVNI.Add(1)
		return vni, nil, 0, false
	}
	g.decapsulated.Add(1)
	return vni, p[start:], lt, true
}

// Stats returns the counters so far.
func (g *Geneve) Stats() Stats { return g.stats("geneve") }
