package vxlan

import (
	"fmt"
	"sync/atomic"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// DefaultPort is the IANA port for VXLAN (RFC 7348), used by AWS and Azure mirroring.
const DefaultPort = 4789

// HeaderLen is the size of the VXLAN header in front of the inner Ethernet frame.
const HeaderLen = 8

// minInnerLen is the Ethernet header (two MACs and an EtherType): an inner frame
// shorter than that carries nothing reassembly could use.
const minInnerLen = 14

// Stats is a snapshot of a Decapsulator's (or Geneve's) counters, for the end-of-run summary.
type Stats struct {
	Protocol     string // "geneve", or "" for VXLAN
	Encapsulated uint64 // UDP payloads handed to Decap
	Decapsulated uint64 // inner frames returned (ok == true)
	BadHeader    uint64 // too short, I flag clear, reserved bits set, or inner frame shorter than an Ethernet header; Geneve: version not 0, a protocol other than Ethernet or IP
	FilteredVNI  uint64 // valid headers whose VNI the selector rejected
	VNIsSeen     uint64 // distinct VNIs among valid headers, filtered ones included
	Control      uint64 // Geneve control (OAM) messages, which carry no traffic
}

// Decapsulator strips VXLAN headers from UDP payloads captured with FilterExpr.
//
// The zero value is ready to use: port 4789, every VNI. It is safe for concurrent use
// (the counters are atomic), must not be copied after first use, and never allocates
// in Decap. It is about 2 MiB because it tracks which of the 2^24 possible VNIs were
// seen in a bitmap: that set is exact and bounded whatever the traffic, and the pages
// of VNIs never seen are never touched.
type Decapsulator struct {
	port uint16
	sel  Selector
	tally
}

// tally holds the counters and the set of VNIs seen, for VXLAN and Geneve alike.
type tally struct {
	encapsulated, decapsulated, badHeader, filteredVNI, vnisSeen, control atomic.Uint64
	seen                                                                  [(MaxVNI + 1) / 32]atomic.Uint32
}

// New returns a Decapsulator for VXLAN on the given UDP port (0 means 4789) that
// decapsulates the VNIs sel matches (the zero Selector matches all).
func New(port int, sel Selector) (*Decapsulator, error) {
	if port == 0 {
		port = DefaultPort
	}
	if port < 1 || port > 65535 {
		return nil, fmt.Errorf("vxlan: port %d is out of range; set SNIFFER_MIRROR_VXLANPORT to 1-65535 (default %d)", port, DefaultPort)
	}
	return &Decapsulator{port: uint16(port), sel: sel}, nil
}

// Port is the UDP destination port that carries VXLAN. Outer packets whose UDP
// destination port differs are not VXLAN (the source port is a flow hash) and should
// not be passed to Decap.
func (d *Decapsulator) Port() uint16 {
	if d.port == 0 {
		return DefaultPort
	}
	return d.port
}

// Selector returns the VNI selector the Decapsulator applies.
func (d *Decapsulator) Selector() Selector { return d.sel }

// Decap checks the VXLAN header at the start of udpPayload and returns the VNI and the
// inner Ethernet frame, which aliases udpPayload (no copy). ok is false, and the packet
// counted, when the header is bad or the VNI is not selected; vni is still set in the
// latter case.
//
// The header must have the I flag (0x08 in the first byte); the only other flags
// accepted are those of the Group Based Policy extension (G, D, A and the policy ID),
// which Cisco and Linux GBP peers set. Any other reserved bit, including the reserved
// byte after the VNI, marks the header bad, as the Linux kernel's own VXLAN receive
// path does: such packets are VXLAN-GPE or something else on port 4789, and parsing
// their payload as Ethernet would feed reassembly garbage.
//
// The inner frame may be shorter than its IP header claims when the mirror session
// truncates packets or the capture snap length cut the outer packet; reassembly is
// expected to treat that as truncation. Decap never panics, whatever the input.
func (d *Decapsulator) Decap(udpPayload []byte) (vni uint32, inner []byte, ok bool) {
	d.encapsulated.Add(1)
	if len(udpPayload) < HeaderLen+minInnerLen || !reservedClear(udpPayload) {
		d.badHeader.Add(1)
		return 0, nil, false
	}
	var vx layers.VXLAN
	// Cannot fail: the length was checked above, and it is the only error it returns.
	_ = vx.DecodeFromBytes(udpPayload, gopacket.NilDecodeFeedback)
	if !vx.ValidIDFlag {
		d.badHeader.Add(1)
		return 0, nil, false
	}
	d.markSeen(vx.VNI)
	if !d.sel.Match(vx.VNI) {
		d.filteredVNI.Add(1)
		return vx.VNI, nil, false
	}
	d.decapsulated.Add(1)
	return vx.VNI, vx.Payload, true
}

// reservedClear reports whether every bit that RFC 7348 reserves is zero, allowing the
// Group Based Policy bits (draft-smith-vxlan-group-policy) when G is set. layers.VXLAN
// decodes the flags it knows but ignores the reserved ones, hence this check.
func reservedClear(h []byte) bool {
	const (
		flagG = 0x80 // Group Based Policy extension
		flagI = 0x08 // VNI valid
		flagD = 0x40 // GBP: don't learn
		flagA = 0x08 // GBP: policy applied
	)
	if h[0]&^(flagG|flagI) != 0 || h[7] != 0 {
		return false
	}
	if h[0]&flagG == 0 {
		return h[1] == 0 && h[2] == 0 && h[3] == 0
	}
	return h[1]&^(flagD|flagA) == 0
}

// markSeen records vni in the bitmap and counts it the first time. The plain load
// first keeps the common case (a VNI seen before) free of atomic writes, so capture
// goroutines do not fight over the cache line.
func (d *tally) markSeen(vni uint32) {
	w := &d.seen[(vni&MaxVNI)/32]
	bit := uint32(1) << (vni % 32)
	if w.Load()&bit != 0 {
		return
	}
	if w.Or(bit)&bit == 0 {
		d.vnisSeen.Add(1)
	}
}

// Stats returns the counters so far. Each counter is read atomically; the set as a
// whole is not one instant, which does not matter for a summary.
func (d *Decapsulator) Stats() Stats { return d.stats("") }

func (d *tally) stats(protocol string) Stats {
	return Stats{
		Protocol:     protocol,
		Control:      d.control.Load(),
		Encapsulated: d.encapsulated.Load(),
		Decapsulated: d.decapsulated.Load(),
		BadHeader:    d.badHeader.Load(),
		FilteredVNI:  d.filteredVNI.Load(),
		VNIsSeen:     d.vnisSeen.Load(),
	}
}

// SeenVNIs returns up to limit of the VNIs seen so far, in ascending order, for the
// end-of-run summary (limit <= 0 means all of them). It scans the 2 MiB bitmap, so
// call it once at the end, not per packet.
func (d *tally) SeenVNIs(limit int) []uint32 {
	var out []uint32
	for i := range d.seen {
		w := d.seen[i].Load()
		for w != 0 {
			if limit > 0 && len(out) >= limit {
				return out
			}
			b := uint32(0)
			for w&(1<<b) == 0 {
				b++
			}
			out = append(out, uint32(i)*32+b)
			w &^= 1 << b
		}
	}
	return out
}

// String formats the counters for the end-of-run summary.
func (s Stats) String() string {
	p := s.Protocol
	if p == "" {
		p = "vxlan"
	}
	out := fmt.Sprintf("%s: %d encapsulated, %d decapsulated, %d bad headers, %d filtered by VNI, %d VNIs seen",
		p, s.Encapsulated, s.Decapsulated, s.BadHeader, s.FilteredVNI, s.VNIsSeen)
	if s.Control > 0 {
		out += fmt.Sprintf(", %d control messages", s.Control)
	}
	return out
}
