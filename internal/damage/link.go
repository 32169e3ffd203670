package damage

import (
	"encoding/binary"
	"fmt"

	"github.com/gopacket/gopacket/layers"
)

// Ethertypes of the VLAN tags a frame may carry before its network layer.
const (
	etherTypeIPv4   = 0x0800
	etherTypeIPv6   = 0x86dd
	etherTypeVLAN   = 0x8100 // 802.1Q C-tag
	etherTypeQinQ   = 0x88a8 // 802.1ad S-tag
	etherTypeQinQv1 = 0x9100 // pre-standard QinQ
)

// networkOffset is where the network layer (IPv4 or IPv6) of a frame of link type lt starts.
func networkOffset(lt layers.LinkType, data []byte) (int, bool) {
	off, _, ok := networkLayer(lt, data)
	return off, ok
}

// networkLayer finds a frame's network layer: its offset and ethertype. VLAN tags are skipped.
func networkLayer(lt layers.LinkType, data []byte) (off int, etherType uint16, ok bool) {
	switch lt {
	case layers.LinkTypeEthernet:
		off = 12
		for off+2 <= len(data) {
			et := binary.BigEndian.Uint16(data[off:])
			switch et {
			case etherTypeVLAN, etherTypeQinQ, etherTypeQinQv1:
				off += 4
				continue
			}
			return off + 2, et, true
		}
		return 0, 0, false
	case layers.LinkTypeLinuxSLL:
		if len(data) < 16 {
			return 0, 0, false
		}
		return 16, binary.BigEndian.Uint16(data[14:]), true
	case layers.LinkTypeLinuxSLL2:
		if len(data) < 20 {
			return 0, 0, false
		}
		return 20, binary.BigEndian.Uint16(data), true
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		if len(data) < 4 {
			return 0, 0, false
		}
		return 4, ipEtherType(data[4:]), true
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6, 12, 14:
		return 0, ipEtherType(data), true
	case layers.LinkTypeC_HDLC: // address, control, ethertype
		if len(data) < 4 {
			return 0, 0, false
		}
		return 4, binary.BigEndian.Uint16(data[2:]), true
	}
	return 0, 0, false
}

// ipEtherType is the ethertype of an IP packet judged by its version nibble (0 if neither).
func ipEtherType(ip []byte) uint16 {
	if len(ip) == 0 {
		return 0
	}
	switch ip[0] >> 4 {
	case 4:
		return etherTypeIPv4
	case 6:
		return etherTypeIPv6
	}
	return 0
}

// Fixed addresses for frames given an Ethernet header they did not have (locally administered).
var (
	fakeDst = []byte{0x02, 0, 0, 0, 0, 0x02}
	fakeSrc = []byte{0x02, 0, 0, 0, 0, 0x01}
)

// ToEthernet rewrites every frame of c with an Ethernet header in place of its own link layer
// (Linux cooked, BSD loopback, raw IP, Cisco HDLC), so tags can be pushed and tunnels can carry it.
func ToEthernet(c *Capture) error {
	if c.LinkType == layers.LinkTypeEthernet {
		return nil
	}
	for i, p := range c.Packets {
		off, et, ok := networkLayer(c.LinkType, p.Data)
		if !ok || et == 0 {
			return fmt.Errorf("packet %d: cannot find the network layer of a %s frame to give it an Ethernet header", p.Orig+1, c.LinkType)
		}
		eth := make([]byte, 0, 14+len(p.Data)-off)
		eth = append(eth, fakeDst...)
		eth = append(eth, fakeSrc...)
		eth = binary.BigEndian.AppendUint16(eth, et)
		eth = append(eth, p.Data[off:]...)
		grow := len(eth) - len(p.Data)
		c.Packets[i].Data = eth
		c.Packets[i].CI.Length += grow
	}
	if c.Snaplen > 0 {
		c.Snaplen += 14
	}
	c.LinkType = layers.LinkTypeEthernet
	return nil
}
