package damage

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"

	"github.com/gopacket/gopacket/layers"

	"sniffer/ipfrag"
)

// Tunnels Wrap knows: VXLAN (UDP 4789), Geneve carrying Ethernet, and Geneve carrying bare IP
// as AWS Gateway Load Balancer sends it (both UDP 6081, with AWS's option block).
const (
	TunnelVXLAN    = "vxlan"
	TunnelGeneve   = "geneve"
	TunnelGeneveIP = "geneve-ip"
)

// The underlay Wrap puts the frames on (documentation addresses, locally administered MACs).
var (
	underlaySrc = []byte{192, 0, 2, 1}
	underlayDst = []byte{192, 0, 2, 2}
	underlayMAC = []byte{0x02, 0, 0, 0, 0, 0x10}
)

// awsGeneveOptions is the option block AWS Gateway Load Balancer puts in its Geneve headers
// (class 0x0108: endpoint id, attachment id, flow cookie): 32 bytes a decapsulator must skip.
var awsGeneveOptions = []byte{
	0x01, 0x08, 0x01, 0x02, 0, 0, 0, 0, 0, 0, 0, 1,
	0x01, 0x08, 0x02, 0x02, 0, 0, 0, 0, 0, 0, 0, 2,
	0x01, 0x08, 0x03, 0x01, 0xca, 0xfe, 0xf0, 0x0d,
}

// Wrap puts every frame in a tunnel, as a mirror session or a load balancer delivers it:
// Ethernet/IPv4/UDP and a VXLAN or Geneve header with the VNI around the frame (made Ethernet
// first; for geneve-ip, its IP packet alone: frames that carry no IP right after the link
// header (ARP, PPPoE) are left out, as such a load balancer never sees them, and listed in
// c.Dropped). The UDP source port is a hash of the inner frame's
// addresses, as Linux picks it, so one flow keeps one port; the outer IPv4 identification
// counts up. The capture becomes Ethernet. Wrap does not fragment: Fragment afterwards cuts the
// outer datagrams at the underlay's MTU, as the tunnel's sender does.
func Wrap(c *Capture, tunnel string, vni uint32) error {
	if vni > 1<<24-1 {
		return fmt.Errorf("VNI %d: VXLAN and Geneve VNIs have 24 bits", vni)
	}
	var port uint16
	switch tunnel {
	case TunnelVXLAN:
		port = 4789
	case TunnelGeneve, TunnelGeneveIP:
		port = 6081
	default:
		return fmt.Errorf("tunnel %q: want %s, %s or %s", tunnel, TunnelVXLAN, TunnelGeneve, TunnelGeneveIP)
	}
	if err := ToEthernet(c); err != nil {
		return err
	}
	v := []byte{byte(vni >> 16), byte(vni >> 8), byte(vni)}
	kept := c.Packets[:0]
	for i, p := range c.Packets {
		inner := p.Data
		var hdr []byte
		switch tunnel {
		case TunnelVXLAN:
			hdr = []byte{0x08, 0, 0, 0, v[0], v[1], v[2], 0}
		case TunnelGeneve:
			hdr = append([]byte{byte(len(awsGeneveOptions) / 4), 0, 0x65, 0x58, v[0], v[1], v[2], 0}, awsGeneveOptions...)
		case TunnelGeneveIP:
			off, et, ok := networkLayer(layers.LinkTypeEthernet, inner)
			if !ok || (et != etherTypeIPv4 && et != etherTypeIPv6) {
				c.Dropped = append(c.Dropped, p.Orig)
				continue
			}
			inner = inner[off:]
			hdr = append([]byte{byte(len(awsGeneveOptions) / 4), 0, byte(et >> 8), byte(et), v[0], v[1], v[2], 0}, awsGeneveOptions...)
		}
		udpLen := 8 + len(hdr) + len(inner)
		d := make([]byte, 0, 14+20+udpLen)
		d = append(d, underlayMAC...)
		d = append(d, fakeSrc...)
		d = binary.BigEndian.AppendUint16(d, etherTypeIPv4)
		ip := []byte{0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0}
		binary.BigEndian.PutUint16(ip[2:], uint16(20+udpLen))
		binary.BigEndian.PutUint16(ip[4:], uint16(i+1))
		ip = append(append(ip, underlaySrc...), underlayDst...)
		binary.BigEndian.PutUint16(ip[10:], ipfrag.Checksum(ip))
		d = append(d, ip...)
		d = binary.BigEndian.AppendUint16(d, flowPort(inner))
		d = binary.BigEndian.AppendUint16(d, port)
		d = binary.BigEndian.AppendUint16(d, uint16(udpLen))
		d = append(d, 0, 0) // no UDP checksum, as Linux VXLAN over IPv4 sends
		d = append(append(d, hdr...), inner...)
		if 20+udpLen > 65535 {
			return fmt.Errorf("packet %d: %d bytes do not fit an IPv4 datagram once wrapped", p.Orig+1, len(p.Data))
		}
		p.CI.Length += len(d) - len(p.Data)
		p.CI.CaptureLength = len(d)
		p.Data = d
		kept = append(kept, p)
	}
	c.Packets = kept
	if c.Snaplen > 0 {
		c.Snaplen += uint32(14 + 20 + 8 + 8 + len(awsGeneveOptions))
	}
	return nil
}

// flowPort is an ephemeral UDP source port hashed from the inner frame's IP addresses, so
// that one flow keeps one port, as a tunnel sender hashing its flows does.
func flowPort(inner []byte) uint16 {
	h := fnv.New32a()
	lt := layers.LinkTypeEthernet
	if len(inner) > 0 && (inner[0]>>4 == 4 || inner[0]>>4 == 6) && len(inner) >= 20 && inner[0]&0x0f >= 5 {
		lt = layers.LinkTypeRaw // geneve-ip: a bare IP packet
	}
	if off, et, ok := networkLayer(lt, inner); ok {
		switch {
		case et == etherTypeIPv4 && len(inner) >= off+20:
			h.Write(inner[off+12 : off+20])
		case et == etherTypeIPv6 && len(inner) >= off+40:
			h.Write(inner[off+8 : off+40])
		}
	}
	return 49152 + uint16(h.Sum32()%16384)
}
