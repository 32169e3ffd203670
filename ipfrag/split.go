package ipfrag

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Split cuts one IPv4 or IPv6 packet (starting at its IP header, no link layer) into
// fragments of at most mtu bytes, as a router or the sending host would, for tests and
// the damage tool. A packet that fits is returned as it is.
//
// IPv4 fragments keep the packet's identification; the Don't Fragment bit is cleared and
// later fragments carry the 20-byte header without options. An IPv4 packet that is already
// a fragment is cut further (offsets and More Fragments follow the original). IPv6
// fragments get a fragment header right after the fixed header with identification id;
// extension headers in the packet travel in the fragmentable part.
func Split(pkt []byte, mtu int, id uint32) ([][]byte, error) {
	if len(pkt) < 1 {
		return nil, errors.New("ipfrag: empty packet")
	}
	switch pkt[0] >> 4 {
	case 4:
		return split4(pkt, mtu)
	case 6:
		return split6(pkt, mtu, id)
	}
	return nil, fmt.Errorf("ipfrag: IP version %d: not an IP packet", pkt[0]>>4)
}

func split4(pkt []byte, mtu int) ([][]byte, error) {
	if len(pkt) < 20 {
		return nil, errors.New("ipfrag: IPv4 packet shorter than its header")
	}
	ihl := int(pkt[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(pkt[2:4]))
	if ihl < 20 || total < ihl || total > len(pkt) {
		return nil, fmt.Errorf("ipfrag: IPv4 header length %d, total length %d, %d bytes captured: cannot split", ihl, total, len(pkt))
	}
	pkt = pkt[:total]
	if total <= mtu {
		return [][]byte{pkt}, nil
	}
	if mtu < ihl+8 {
		return nil, fmt.Errorf("ipfrag: MTU %d leaves no room for data after a %d-byte IPv4 header", mtu, ihl)
	}
	fo := binary.BigEndian.Uint16(pkt[6:8])
	base, lastMore := int(fo&0x1fff)*8, fo&0x2000 != 0
	data := pkt[ihl:]
	var out [][]byte
	for off := 0; off < len(data); {
		hl := 20
		if off == 0 {
			hl = ihl
		}
		n := min(len(data)-off, (mtu-hl)&^7)
		more := off+n < len(data) || lastMore
		f := make([]byte, hl+n)
		copy(f, pkt[:hl])
		f[0] = 0x40 | byte(hl/4)
		copy(f[hl:], data[off:off+n])
		binary.BigEndian.PutUint16(f[2:4], uint16(len(f)))
		v := uint16((base + off) / 8)
		if more {
			v |= 0x2000
		}
		binary.BigEndian.PutUint16(f[6:8], v)
		f[10], f[11] = 0, 0
		binary.BigEndian.PutUint16(f[10:12], Checksum(f[:hl]))
		out = append(out, f)
		off += n
	}
	return out, nil
}

func split6(pkt []byte, mtu int, id uint32) ([][]byte, error) {
	if len(pkt) < 40 {
		return nil, errors.New("ipfrag: IPv6 packet shorter than its header")
	}
	total := 40 + int(binary.BigEndian.Uint16(pkt[4:6]))
	if total > len(pkt) {
		return nil, fmt.Errorf("ipfrag: IPv6 payload length %d, %d bytes captured: cannot split", total-40, len(pkt)-40)
	}
	pkt = pkt[:total]
	if total <= mtu {
		return [][]byte{pkt}, nil
	}
	step := (mtu - 48) &^ 7
	if step < 8 {
		return nil, fmt.Errorf("ipfrag: MTU %d leaves no room for data after the IPv6 and fragment headers", mtu)
	}
	data := pkt[40:]
	var out [][]byte
	for off := 0; off < len(data); off += step {
		n := min(len(data)-off, step)
		f := make([]byte, 48+n)
		copy(f, pkt[:40])
		f[6] = 44
		binary.BigEndian.PutUint16(f[4:6], uint16(8+n))
		f[40] = pkt[6]
		v := uint16(off)
		if off+n < len(data) {
			v |= 1
		}
		binary.BigEndian.PutUint16(f[42:44], v)
		binary.BigEndian.PutUint32(f[44:48], id)
		copy(f[48:], data[off:off+n])
		out = append(out, f)
	}
	return out, nil
}

// BPF is a libpcap filter expression matching IP fragments of the given IP protocol (6
// TCP, 17 UDP): IPv4 packets with More Fragments or an offset, and IPv6 packets whose
// first extension header is a fragment header. libpcap's "tcp port N" and "udp port N"
// test the port only at offset 0 and, for IPv6, with no extension header, so a port
// filter alone lets no fragment but the first through; add this alternative to it.
func BPF(proto int) string {
	return fmt.Sprintf("(ip[6:2] & 0x3fff != 0 and ip[9] = %d) or (ip6[6] = 44 and ip6[40] = %d)", proto, proto)
}
