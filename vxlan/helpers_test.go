package vxlan

import (
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

var (
	macA = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0a}
	macB = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0b}
)

// serialize builds a packet from layers with lengths and checksums computed.
func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		t.Fatalf("serializing: %v", err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// innerTCP4 is an inner Ethernet/IPv4/TCP frame carrying payload between fixed
// private addresses, the way a mirrored VPC packet looks.
func innerTCP4(t testing.TB, payload string) []byte {
	t.Helper()
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP,
		SrcIP: net.IP{172, 16, 11, 201}, DstIP: net.IP{172, 16, 0, 80}}
	tcp := &layers.TCP{SrcPort: 40354, DstPort: 80, Seq: 1000, Ack: 1, PSH: true, ACK: true, Window: 502}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	return serialize(t,
		&layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4},
		ip, tcp, gopacket.Payload(payload))
}

// vxlanHeader is an RFC 7348 header with the I flag and the given VNI.
func vxlanHeader(vni uint32) []byte {
	return []byte{0x08, 0, 0, 0, byte(vni >> 16), byte(vni >> 8), byte(vni), 0}
}

// outerIPv4 wraps a UDP payload in Ethernet/IPv4/UDP to port 4789, as a mirror
// source sends it.
func outerIPv4(t testing.TB, udpPayload []byte) []byte {
	t.Helper()
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP,
		SrcIP: net.IP{10, 1, 200, 131}, DstIP: net.IP{10, 1, 1, 172}}
	udp := &layers.UDP{SrcPort: 50000, DstPort: DefaultPort}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	return serialize(t,
		&layers.Ethernet{SrcMAC: macB, DstMAC: macA, EthernetType: layers.EthernetTypeIPv4},
		ip, udp, gopacket.Payload(udpPayload))
}

// udpPayloadOf decodes an outer frame with gopacket and returns its UDP payload, the
// way capture/ will hand it to Decap.
func udpPayloadOf(t testing.TB, frame []byte) []byte {
	t.Helper()
	p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.NoCopy)
	udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
	if udp == nil {
		t.Fatalf("no UDP layer in outer frame: %v", p)
	}
	return udp.Payload
}
