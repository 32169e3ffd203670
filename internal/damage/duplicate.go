package damage

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"

	"github.com/gopacket/gopacket/layers"

	"sniffer/ipfrag"
)

// Duplicate sends each packet again with probability fraction, 1..delay packets later (delay 0
// means 3), as a retransmitting sender or a mirror session that sees a packet on two ports
// would. The copy takes the timestamp of the packet before its new place, so it is later than
// its original and the clock still only moves forward. With rewriteIP the copy's IPv4 id and TTL
// (IPv6 hop limit) differ from the original's, as a sender's retransmission's do.
func Duplicate(c *Capture, fraction float64, delay int, rewriteIP bool, rng *rand.Rand) error {
	if delay <= 0 {
		delay = 3
	}
	// due[i] holds the copies to emit right after input packet i.
	due := make(map[int][]Packet)
	out := make([]Packet, 0, len(c.Packets)+int(float64(len(c.Packets))*fraction)+1)
	for i, p := range c.Packets {
		out = append(out, p)
		for _, d := range due[i] {
			d.CI.Timestamp = out[len(out)-1].CI.Timestamp
			out = append(out, d)
		}
		delete(due, i)
		if rng.Float64() >= fraction {
			continue
		}
		d := p
		d.Data = bytes.Clone(p.Data)
		if rewriteIP {
			if err := rewriteIPHeader(c.LinkType, d.Data, uint16(1+rng.IntN(0xfffe))); err != nil {
				return fmt.Errorf("packet %d: %w", p.Orig+1, err)
			}
		}
		at := min(i+1+rng.IntN(delay), len(c.Packets)-1)
		if at == i {
			d.CI.Timestamp = p.CI.Timestamp
			out = append(out, d)
			continue
		}
		due[at] = append(due[at], d)
	}
	c.Packets = out
	return nil
}

// rewriteIPHeader changes an IPv4 packet's id (by idDelta) and TTL and fixes its header
// checksum, or an IPv6 packet's hop limit. Frames that carry no IP are left alone.
func rewriteIPHeader(lt layers.LinkType, data []byte, idDelta uint16) error {
	off, ok := networkOffset(lt, data)
	if !ok || off >= len(data) {
		return nil
	}
	ip := data[off:]
	switch ip[0] >> 4 {
	case 4:
		ihl := int(ip[0]&0x0f) * 4
		if ihl < 20 || len(ip) < ihl {
			return nil
		}
		binary.BigEndian.PutUint16(ip[4:], binary.BigEndian.Uint16(ip[4:])+idDelta)
		ip[8] = ip[8] - 1 - byte(idDelta%3)
		binary.BigEndian.PutUint16(ip[10:], 0)
		binary.BigEndian.PutUint16(ip[10:], ipfrag.Checksum(ip[:ihl]))
	case 6:
		if len(ip) >= 40 {
			ip[7] = ip[7] - 1 - byte(idDelta%3)
		}
	}
	return nil
}
