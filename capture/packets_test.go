package capture

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"sniffer/ipfrag"
)

// pkt describes a test packet: addresses, transport and framing. Packets are built
// with gopacket's layer serialisation; Linux cooked headers, which gopacket cannot
// serialise, are written by hand.
type pkt struct {
	src, dst netip.AddrPort
	udp      bool
	payload  string
	frame    string // "ether", "vlan", "qinq", "sll", "sll2", "raw", "null", "mpls", "pppoe", "hopbyhop", "chdlc"
	frag     bool   // IPv4 "more fragments"
	id       uint16 // IPv4 identification (fragments of one datagram share it)
}

func (p pkt) lt() layers.LinkType {
	switch p.frame {
	case "sll":
		return layers.LinkTypeLinuxSLL
	case "sll2":
		return layers.LinkTypeLinuxSLL2
	case "raw":
		return layers.LinkTypeRaw
	case "null":
		return layers.LinkTypeNull
	case "chdlc":
		return layers.LinkTypeC_HDLC
	}
	return layers.LinkTypeEthernet
}

func (p pkt) bytes() []byte {
	v6 := p.src.Addr().Is6()
	var ip gopacket.NetworkLayer
	var ipl []gopacket.SerializableLayer
	et, fam := layers.EthernetTypeIPv4, layers.ProtocolFamilyIPv4
	proto := layers.IPProtocolTCP
	if p.udp {
		proto = layers.IPProtocolUDP
	}
	if v6 {
		et, fam = layers.EthernetTypeIPv6, layers.ProtocolFamilyIPv6Linux
		ip6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto, SrcIP: p.src.Addr().AsSlice(), DstIP: p.dst.Addr().AsSlice()}
		ip = ip6
		if p.frame == "hopbyhop" {
			ip6.NextHeader = layers.IPProtocolIPv6HopByHop
			hbh := &layers.IPv6HopByHop{}
			hbh.NextHeader = proto
			hbh.Options = []*layers.IPv6HopByHopOption{{OptionType: 1, OptionLength: 4, OptionData: []byte{0, 0, 0, 0}}}
			ipl = append(ipl, ip6, hbh)
		} else {
			ipl = append(ipl, ip6)
		}
	} else {
		ip4 := &layers.IPv4{Version: 4, TTL: 64, Id: p.id, Protocol: proto, SrcIP: p.src.Addr().AsSlice(), DstIP: p.dst.Addr().AsSlice()}
		if p.frag {
			ip4.Flags = layers.IPv4MoreFragments
		}
		ip = ip4
		ipl = append(ipl, ip4)
	}
	var tl gopacket.SerializableLayer
	if p.udp {
		u := &layers.UDP{SrcPort: layers.UDPPort(p.src.Port()), DstPort: layers.UDPPort(p.dst.Port())}
		u.SetNetworkLayerForChecksum(ip)
		tl = u
	} else {
		t := &layers.TCP{SrcPort: layers.TCPPort(p.src.Port()), DstPort: layers.TCPPort(p.dst.Port()), Seq: 1, Ack: 1, ACK: true, PSH: true, Window: 1000}
		t.SetNetworkLayerForChecksum(ip)
		tl = t
	}
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	var ls []gopacket.SerializableLayer
	switch p.frame {
	case "ether", "hopbyhop":
		ls = append(ls, &layers.Ethernet{SrcMAC: mac, DstMAC: mac, EthernetType: et})
	case "vlan":
		ls = append(ls, &layers.Ethernet{SrcMAC: mac, DstMAC: mac, EthernetType: layers.EthernetTypeDot1Q}, &layers.Dot1Q{VLANIdentifier: 7, Type: et})
	case "qinq":
		ls = append(ls, &layers.Ethernet{SrcMAC: mac, DstMAC: mac, EthernetType: layers.EthernetTypeQinQ},
			&layers.Dot1Q{VLANIdentifier: 100, Type: layers.EthernetTypeDot1Q}, &layers.Dot1Q{VLANIdentifier: 7, Type: et})
	case "mpls":
		ls = append(ls, &layers.Ethernet{SrcMAC: mac, DstMAC: mac, EthernetType: layers.EthernetTypeMPLSUnicast}, &layers.MPLS{Label: 17, StackBottom: true, TTL: 64})
	case "pppoe":
		ls = append(ls, &layers.Ethernet{SrcMAC: mac, DstMAC: mac, EthernetType: layers.EthernetTypePPPoESession},
			&layers.PPPoE{Version: 1, Type: 1, Code: layers.PPPoECodeSession, SessionId: 9}, &layers.PPP{PPPType: layers.PPPTypeIPv4})
	case "null":
		ls = append(ls, &layers.Loopback{Family: fam})
	}
	ls = append(ls, ipl...)
	ls = append(ls, tl, gopacket.Payload(p.payload))
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		panic(err)
	}
	out := buf.Bytes()
	switch p.frame {
	case "chdlc":
		out = append([]byte{0x0f, 0, byte(et >> 8), byte(et)}, out...)
	case "sll":
		h := make([]byte, 16)
		binary.BigEndian.PutUint16(h[2:], 1)
		binary.BigEndian.PutUint16(h[4:], 6)
		copy(h[6:], mac)
		binary.BigEndian.PutUint16(h[14:], uint16(et))
		out = append(h, out...)
	case "sll2":
		h := make([]byte, 20)
		binary.BigEndian.PutUint16(h[0:], uint16(et))
		binary.BigEndian.PutUint32(h[4:], 2)
		binary.BigEndian.PutUint16(h[8:], 1)
		h[11] = 6
		copy(h[12:], mac)
		out = append(h, out...)
	}
	return out
}

func ci(data []byte) gopacket.CaptureInfo {
	return gopacket.CaptureInfo{CaptureLength: len(data), Length: len(data)}
}

// linkLen is the length of the link-layer header bytes() puts in front of IP.
func (p pkt) linkLen() int {
	return map[string]int{"ether": 14, "hopbyhop": 14, "vlan": 18, "qinq": 22, "mpls": 18, "sll": 16, "sll2": 20, "null": 4}[p.frame]
}

// fragments builds the packet and cuts its IP datagram at mtu, each fragment behind a
// copy of the link-layer header.
func (p pkt) fragments(t testing.TB, mtu int) [][]byte {
	t.Helper()
	b := p.bytes()
	n := p.linkLen()
	frags, err := ipfrag.Split(b[n:], mtu, uint32(p.id))
	if err != nil {
		t.Fatal(err)
	}
	out := make([][]byte, len(frags))
	for i, f := range frags {
		out[i] = append(append([]byte(nil), b[:n]...), f...)
	}
	return out
}
