package damage

import (
	"fmt"
	"math/rand/v2"

	"sniffer/ipfrag"
)

// Fragment cuts every IPv4 and IPv6 packet longer than mtu (its IP header and payload) into IP
// fragments, as a router on a smaller link, or a tunnel endpoint sending over one, would. Each
// fragment keeps the link-layer header, the timestamp and the Orig of its packet, in order, so
// a later Shuffle can reorder them. IPv4 fragments keep the packet's identification (and lose
// the Don't Fragment bit, which a router would have answered with an ICMP error instead);
// IPv6 fragments get identifications counted from 1. With rng set, the fragments of each packet
// come in a random order (Linux 2.4 sent the last first; two paths or queues mix them). Packets
// cut by the snap length cannot be split and stay as they are; it returns how many.
func Fragment(c *Capture, mtu int, rng *rand.Rand) (uncut int, err error) {
	if mtu < 68 {
		return 0, fmt.Errorf("MTU %d: the smallest IP link MTU is 68 (IPv6 needs 1280 on a real link)", mtu)
	}
	out := make([]Packet, 0, len(c.Packets))
	id := uint32(0)
	for _, p := range c.Packets {
		off, et, ok := networkLayer(c.LinkType, p.Data)
		if !ok || (et != etherTypeIPv4 && et != etherTypeIPv6) || len(p.Data)-off <= mtu {
			out = append(out, p)
			continue
		}
		id++
		frags, err := ipfrag.Split(p.Data[off:], mtu, id)
		if err != nil { // cut by the snap length, or not IP after all
			uncut++
			out = append(out, p)
			continue
		}
		if rng != nil {
			rng.Shuffle(len(frags), func(i, j int) { frags[i], frags[j] = frags[j], frags[i] })
		}
		for _, f := range frags {
			d := make([]byte, 0, off+len(f))
			d = append(append(d, p.Data[:off]...), f...)
			q := p
			q.Data = d
			q.CI.CaptureLength, q.CI.Length = len(d), len(d)
			out = append(out, q)
		}
	}
	c.Packets = out
	return uncut, nil
}
