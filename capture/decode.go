package capture

import (
	"encoding/binary"
	"sync/atomic"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"sniffer/ipfrag"
)

// SegmentFunc receives one decoded TCP segment. tcp and its payload are only valid
// during the call. vni is the VXLAN network identifier, or -1 for traffic that was not
// encapsulated.
type SegmentFunc func(netFlow gopacket.Flow, tcp *layers.TCP, ci gopacket.CaptureInfo, vni int)

// Decapsulator unwraps a VXLAN UDP payload into its inner Ethernet frame; the vxlan
// package provides it. ok is false for a bad header or a VNI that is not wanted.
type Decapsulator interface {
	Decap(udpPayload []byte) (vni uint32, inner []byte, ok bool)
}

// LinkDecapsulator unwraps a Geneve UDP payload into its inner packet, an Ethernet frame or
// a bare IP packet as lt says; the vxlan package's Geneve provides it.
type LinkDecapsulator interface {
	Decap(udpPayload []byte) (vni uint32, inner []byte, lt layers.LinkType, ok bool)
}

// DecodeStats counts what the decoder saw and what it skipped, and why.
type DecodeStats struct {
	Packets   atomic.Int64 // packets handed to Decode
	Bytes     atomic.Int64 // their captured bytes
	TCP       atomic.Int64 // TCP segments passed on
	NotTCP    atomic.Int64 // packets that are not TCP, or TCP on none of the wanted ports (inside VXLAN, or with Ports)
	Undecoded atomic.Int64 // packets no decoder could read down to TCP
	Fragments atomic.Int64 // IP fragments held for reassembly or dropped; a datagram they complete is counted by what it holds
	Truncated atomic.Int64 // packets cut by the snap length (the stream sees a gap)
	Frag      ipfrag.Stats // IPv4/IPv6 reassembly, outer and inner
}

// Decoder turns link-layer frames into TCP segments. It uses gopacket's
// DecodingLayerParser for the common stacks (Ethernet, 802.1Q, Linux cooked v1/v2,
// BSD loopback, raw IP) and falls back to gopacket's full decoder for the rest
// (MPLS, PPPoE, IPv6 extension headers, ...). Not safe for concurrent use.
type Decoder struct {
	// VXLANPort, when non-zero, makes UDP packets to that port be decapsulated with
	// Decap and their inner frames decoded, keeping only TCP on InnerPorts.
	VXLANPort  uint16
	Decap      Decapsulator
	InnerPorts PortSet
	// GenevePort, when non-zero, does the same for Geneve with Geneve (VNIs as VXLAN's).
	GenevePort uint16
	Geneve     LinkDecapsulator
	// Ports, when set, keeps only TCP to or from these ports outside VXLAN too: the
	// application ports applied in user space when no kernel filter does it
	// (SNIFFER_NOFILTER, as network-sniffer's GoReplay still filters its --input-raw ports).
	Ports PortSet
	Stats DecodeStats
	// counts is where this decoder counts: &Stats, or the first decoder's Stats for a
	// Sibling, so that decoders reading one capture's fanout members add up in one place.
	counts *DecodeStats
	// FragLimits bounds IP reassembly (zero fields: ipfrag.DefaultLimits); set it before
	// the first Decode.
	FragLimits ipfrag.Limits

	frag      *ipfrag.Defragmenter
	fragDepth int // reassembled datagrams being decoded: an outer and an inner at most
	parsers   map[gopacket.LayerType]*gopacket.DecodingLayerParser
	decoded   []gopacket.LayerType
	eth       layers.Ethernet
	dot1q     layers.Dot1Q
	sll       layers.LinuxSLL
	sll2      layers.LinuxSLL2
	loop      layers.Loopback
	ip4       layers.IPv4
	ip6       layers.IPv6
	tcp       layers.TCP
	udp       layers.UDP
}

// NewDecoder returns a decoder ready for any link type.
func NewDecoder() *Decoder {
	d := &Decoder{parsers: map[gopacket.LayerType]*gopacket.DecodingLayerParser{}}
	d.decoded = make([]gopacket.LayerType, 0, 12)
	d.counts = &d.Stats
	return d
}

// Sibling returns a decoder with d's settings that counts into d's Stats, for another
// goroutine: each member of an AF_PACKET fanout group (OpenGroup) decodes on its own.
// Its IP reassembly is its own (the fanout hash defragments first, so a datagram's
// fragments reach one member).
func (d *Decoder) Sibling() *Decoder {
	s := NewDecoder()
	s.VXLANPort, s.Decap, s.InnerPorts = d.VXLANPort, d.Decap, d.InnerPorts
	s.GenevePort, s.Geneve, s.Ports, s.FragLimits = d.GenevePort, d.Geneve, d.Ports, d.FragLimits
	s.counts = d.counts
	return s
}

// parser returns the fast parser that starts at the given layer; they share the layers.
func (d *Decoder) parser(first gopacket.LayerType) *gopacket.DecodingLayerParser {
	p := d.parsers[first]
	if p == nil {
		p = gopacket.NewDecodingLayerParser(first,
			&d.eth, &d.dot1q, &d.sll, &d.sll2, &d.loop, &d.ip4, &d.ip6, &d.tcp, &d.udp)
		p.IgnoreUnsupported = true
		d.parsers[first] = p
	}
	return p
}

// Decode decodes one frame and calls fn for the TCP segment it carries, if any.
func (d *Decoder) Decode(data []byte, ci gopacket.CaptureInfo, lt layers.LinkType, fn SegmentFunc) {
	d.counts.Packets.Add(1)
	d.counts.Bytes.Add(int64(len(data)))
	if ci.CaptureLength < ci.Length {
		d.counts.Truncated.Add(1)
	}
	d.decode(data, ci, lt, -1, -1, fn)
}

// decode decodes one frame; vni is the tunnel's network identifier (-1 outside one) and
// ctx keeps IP fragments of different tunnels apart (-1 outside one).
func (d *Decoder) decode(data []byte, ci gopacket.CaptureInfo, lt layers.LinkType, vni int, ctx int64, fn SegmentFunc) {
	if lt == LinkTypeNFLOG {
		ip, ok := nflogPayload(data)
		if !ok {
			d.counts.Undecoded.Add(1)
			return
		}
		data, lt = ip, layers.LinkTypeRaw
	}
	if lt == layers.LinkTypeC_HDLC {
		ip, et, ok := chdlcPayload(data)
		switch {
		case !ok:
			d.counts.Undecoded.Add(1)
			return
		case et != layers.EthernetTypeIPv4 && et != layers.EthernetTypeIPv6:
			d.counts.NotTCP.Add(1) // SLARP keepalives, CDP
			return
		}
		data, lt = ip, layers.LinkTypeRaw
	}
	first, ok := firstLayer(lt, data)
	if !ok {
		d.slow(data, ci, lt.LayerType(), vni, ctx, fn)
		return
	}
	err := d.parser(first).DecodeLayers(data, &d.decoded)
	if err != nil || len(d.decoded) == 0 {
		d.slow(data, ci, first, vni, ctx, fn)
		return
	}
	var netFlow gopacket.Flow
	for _, t := range d.decoded {
		switch t {
		case layers.LayerTypeIPv4:
			if d.ip4.Flags&layers.IPv4MoreFragments != 0 || d.ip4.FragOffset != 0 {
				d.fragment(data, d.ip4.Contents, false, ci, vni, ctx, fn)
				return
			}
			netFlow = d.ip4.NetworkFlow()
		case layers.LayerTypeIPv6:
			if nh := d.ip6.NextHeader; nh != layers.IPProtocolTCP && nh != layers.IPProtocolUDP && d.fragment(data, d.ip6.Contents, true, ci, vni, ctx, fn) {
				return
			}
			netFlow = d.ip6.NetworkFlow()
		case layers.LayerTypeTCP:
			d.emit(netFlow, &d.tcp, ci, vni, fn)
			return
		case layers.LayerTypeUDP:
			d.udpPayload(d.udp.DstPort, d.udp.Payload, ci, vni, fn)
			return
		}
	}
	// The fast path stopped at a layer it does not know (MPLS, PPPoE, an IPv6
	// extension header...): the full decoder knows more.
	last := d.decoded[len(d.decoded)-1]
	if last == layers.LayerTypeIPv4 || last == layers.LayerTypeIPv6 {
		if next := d.nextAfterIP(last); next == layers.LayerTypeICMPv4 || next == layers.LayerTypeICMPv6 || next == gopacket.LayerTypePayload {
			d.counts.NotTCP.Add(1)
			return
		}
	}
	d.slow(data, ci, first, vni, ctx, fn)
}

// fragment hands the IP packet whose header ipHeader (a slice of data) starts to the
// defragmenter. It returns false for an IPv6 packet without a fragment header, which the
// caller decodes on; else the packet is taken: held or dropped (counted as a fragment),
// or, when it completed a datagram, the datagram is decoded in its place.
func (d *Decoder) fragment(data, ipHeader []byte, v6 bool, ci gopacket.CaptureInfo, vni int, ctx int64, fn SegmentFunc) bool {
	at := offsetIn(data, ipHeader)
	if at < 0 { // cannot happen with gopacket's layers, which slice the frame
		d.counts.Fragments.Add(1)
		return true
	}
	pkt := data[at:]
	if d.frag == nil {
		d.frag = ipfrag.New(d.FragLimits, &d.counts.Frag)
	}
	var whole []byte
	if v6 {
		var isFrag bool
		if whole, isFrag = d.frag.IPv6(pkt, ctx, ci.Timestamp); !isFrag {
			return false
		}
	} else {
		whole = d.frag.IPv4(pkt, ctx, ci.Timestamp)
	}
	// A datagram made of fragments that are themselves fragments after reassembly (an
	// IPv6 fragment header inside one) would recurse: two levels, outer and inner, are
	// all a tunnel needs.
	if whole == nil || d.fragDepth >= 2 {
		d.counts.Fragments.Add(1)
		return true
	}
	d.fragDepth++
	d.decode(whole, ci, layers.LinkTypeRaw, vni, ctx, fn)
	d.fragDepth--
	return true
}

func (d *Decoder) nextAfterIP(t gopacket.LayerType) gopacket.LayerType {
	if t == layers.LayerTypeIPv4 {
		return d.ip4.NextLayerType()
	}
	return d.ip6.NextLayerType()
}

func (d *Decoder) emit(netFlow gopacket.Flow, tcp *layers.TCP, ci gopacket.CaptureInfo, vni int, fn SegmentFunc) {
	ports := d.Ports
	if vni >= 0 {
		ports = d.InnerPorts
	}
	if (vni >= 0 || ports != nil) && !ports.Has(uint16(tcp.SrcPort)) && !ports.Has(uint16(tcp.DstPort)) {
		d.counts.NotTCP.Add(1)
		return
	}
	d.counts.TCP.Add(1)
	fn(netFlow, tcp, ci, vni)
}

// genevePlane keeps the IP fragments inside Geneve apart from those inside VXLAN with the
// same VNI (fragment keys carry the tunnel).
const genevePlane = 1 << 32

func (d *Decoder) udpPayload(dst layers.UDPPort, payload []byte, ci gopacket.CaptureInfo, vni int, fn SegmentFunc) {
	switch {
	case vni >= 0: // no tunnel in a tunnel
	case d.VXLANPort != 0 && uint16(dst) == d.VXLANPort && d.Decap != nil:
		id, inner, ok := d.Decap.Decap(payload)
		if ok { // else counted by the Decapsulator
			d.decode(inner, ci, layers.LinkTypeEthernet, int(id), int64(id), fn)
		}
		return
	case d.GenevePort != 0 && uint16(dst) == d.GenevePort && d.Geneve != nil:
		id, inner, lt, ok := d.Geneve.Decap(payload)
		if ok {
			d.decode(inner, ci, lt, int(id), int64(id)|genevePlane, fn)
		}
		return
	}
	d.counts.NotTCP.Add(1)
}

// slow decodes with gopacket's full decoder, which knows every encapsulation gopacket does.
func (d *Decoder) slow(data []byte, ci gopacket.CaptureInfo, first gopacket.Decoder, vni int, ctx int64, fn SegmentFunc) {
	pkt := gopacket.NewPacket(data, first, gopacket.DecodeOptions{Lazy: true, NoCopy: true})
	var netFlow gopacket.Flow
	if nl := pkt.NetworkLayer(); nl != nil {
		frag, v6 := false, false
		switch ip := nl.(type) {
		case *layers.IPv4:
			frag = ip.Flags&layers.IPv4MoreFragments != 0 || ip.FragOffset != 0
		case *layers.IPv6:
			frag, v6 = pkt.Layer(layers.LayerTypeIPv6Fragment) != nil, true
		}
		if frag {
			if !d.fragment(data, nl.LayerContents(), v6, ci, vni, ctx, fn) {
				d.counts.Fragments.Add(1) // a fragment header the defragmenter cannot reach
			}
			return
		}
		netFlow = nl.NetworkFlow()
	}
	switch tl := pkt.TransportLayer().(type) {
	case *layers.TCP:
		if netFlow == (gopacket.Flow{}) {
			d.counts.Undecoded.Add(1)
			return
		}
		d.emit(netFlow, tl, ci, vni, fn)
	case *layers.UDP:
		d.udpPayload(tl.DstPort, tl.Payload, ci, vni, fn)
	default:
		if pkt.ErrorLayer() != nil {
			d.counts.Undecoded.Add(1)
		} else { // ARP, LLDP and other frames without IP decode fine: they are not TCP
			d.counts.NotTCP.Add(1)
		}
	}
}

// offsetIn returns where sub, a slice of data, starts in data, or -1 if it is not one.
// gopacket's layers slice the frame they decode, so a layer's contents share its array.
func offsetIn(data, sub []byte) int {
	at := cap(data) - cap(sub)
	if len(sub) == 0 || at < 0 || at >= len(data) || &data[at] != &sub[0] {
		return -1
	}
	return at
}

// firstLayer picks the fast parser's first layer for a link type; ok is false when the
// fast parser does not handle that link type.
func firstLayer(lt layers.LinkType, data []byte) (gopacket.LayerType, bool) {
	switch lt {
	case layers.LinkTypeEthernet:
		return layers.LayerTypeEthernet, true
	case layers.LinkTypeLinuxSLL:
		return layers.LayerTypeLinuxSLL, true
	case layers.LinkTypeLinuxSLL2:
		return layers.LayerTypeLinuxSLL2, true
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		return layers.LayerTypeLoopback, true
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6, 12, 14:
		if len(data) > 0 && data[0]>>4 == 6 {
			return layers.LayerTypeIPv6, true
		}
		return layers.LayerTypeIPv4, true
	}
	return 0, false
}

// chdlcPayload returns the IPv4 or IPv6 packet of a Cisco HDLC frame (link type 104, as
// captured on serial WAN links and routers' span ports): an address byte (0x0f unicast,
// 0x8f broadcast), a control byte (0) and the payload's Ethernet type. gopacket has no
// decoder for it.
func chdlcPayload(data []byte) ([]byte, layers.EthernetType, bool) {
	if len(data) < 4 || data[0]&0x7f != 0x0f || data[1] != 0 {
		return nil, 0, false
	}
	return data[4:], layers.EthernetType(binary.BigEndian.Uint16(data[2:4])), true
}
