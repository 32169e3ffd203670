package reassembly

import (
	"time"

	tcp "github.com/gopacket/gopacket/reassembly"
)

// Holes proven lost. A segment that starts past every byte its direction has shown may
// follow a hole; when the other side acknowledges up to that segment, the receiver had
// every byte before it, so a hole there was lost by the capture and no retransmission
// will fill it. Once the reorder window has passed since the segment came (the missing
// one was sent before it, so it is not merely late), the hole is skipped.
//
// Each such segment is kept as a mark, so that every hole has its own clock. With one
// clock per direction, a hole found behind the one just skipped (its data long buffered)
// waited a whole window again from the next segment to come, so a direction with a hole
// every few segments (a capture filter that cuts the small ones) lagged by up to two
// windows; and the proof asked for bytes seen in order before the hole, which a
// direction whose handshake was cut too never showed, so its holes waited for the gap
// timeout. The responses waiting for such a request side outgrew the per-connection
// buffer, were parsed without their requests, and the requests went out as "pairing
// unproven".

// holeMark is a segment that began a run of bytes past a hole (or past a direction's
// unknown start): its first sequence number, and the packet count and capture time it
// came at.
type holeMark struct {
	seq tcp.Sequence
	pkt uint64
	at  time.Time
}

// maxHoleMarks bounds the marks kept per direction. A hole whose mark was not kept is
// skipped with a later hole's (a flush skips every hole before data seen earlier), or
// after the gap timeout.
const maxHoleMarks = 32

// holeMarks tracks one direction: its marks in sequence order (oldest first), how far it
// has shown bytes, and how far the other side has acknowledged it.
type holeMarks struct {
	marks        []holeMark
	top, acked   tcp.Sequence // the end of the furthest bytes seen; the furthest acknowledgement
	topOK, ackOK bool
}

// seen notes a segment of this direction: seq and n bytes of payload, where gopacket
// expects next (-1 before the direction starts).
func (m *holeMarks) seen(seq tcp.Sequence, n int, next tcp.Sequence, pkt uint64, at time.Time) {
	if n <= 0 {
		return
	}
	if next != tcp.Sequence(-1) {
		m.drop(next)
	}
	newRun := !m.topOK || m.top.Difference(seq) > 0
	pastNext := next == tcp.Sequence(-1) || next.Difference(seq) > 0
	if newRun && pastNext && len(m.marks) < maxHoleMarks {
		m.marks = append(m.marks, holeMark{seq: seq, pkt: pkt, at: at})
	}
	if end := seq.Add(n); !m.topOK || m.top.Difference(end) > 0 {
		m.top, m.topOK = end, true
	}
}

// ack notes an acknowledgement of this direction by the other side.
func (m *holeMarks) ack(ack tcp.Sequence) {
	if !m.ackOK || m.acked.Difference(ack) > 0 {
		m.acked, m.ackOK = ack, true
	}
}

// drop forgets the marks at or before next: their bytes were delivered.
func (m *holeMarks) drop(next tcp.Sequence) {
	i := 0
	for i < len(m.marks) && next.Difference(m.marks[i].seq) <= 0 {
		i++
	}
	if i > 0 {
		m.marks = append(m.marks[:0], m.marks[i:]...)
	}
}

// lost returns the capture time of the latest mark whose hole is proven lost and has
// waited out a's reorder window, and how many marks, from the oldest, that flush covers:
// flushing what was seen before that time skips their holes (gopacket lets no page wait
// longer than one after it). n is 0 when there is none. With now set it returns the
// oldest mark alone when its hole is proven lost, however recent: the flush skips holes
// of every connection seen before it, and the others' have their window to wait out.
func (m *holeMarks) lost(a *Assembler, now bool) (at time.Time, n int) {
	if !m.ackOK {
		return at, 0
	}
	for i, k := range m.marks {
		if k.seq.Difference(m.acked) < 0 {
			break // the receiver may not have every byte before it yet
		}
		if now {
			return k.at, 1
		}
		if a.reorderOver(k.pkt, k.at) {
			if n == 0 || k.at.After(at) {
				at = k.at
			}
			n = i + 1
		}
	}
	return at, n
}

// forget drops the n oldest marks: their holes are being skipped.
func (m *holeMarks) forget(n int) {
	m.marks = append(m.marks[:0], m.marks[n:]...)
}
