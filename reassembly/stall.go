package reassembly

import (
	"sort"
	"time"

	"github.com/gopacket/gopacket"
	tcp "github.com/gopacket/gopacket/reassembly"
)

// source tells, for the bytes a half is parsing, which packet carried the byte at an
// offset: gopacket's ScatterGather while a chunk is delivered, a held backlog when a
// stalled response is parsed later.
type source interface {
	captureInfo(off int) (gopacket.CaptureInfo, bool)
}

// sgSource is gopacket's ScatterGather of the chunk being delivered, its length (n) and the
// last offset asked for with what it gave: the parser asks for the same offset more than
// once (a head's start: its segment, then its time), and each answer walks the chunk's
// pieces (ScatterGather.CaptureInfo, Lengths).
type sgSource struct {
	sg  tcp.ScatterGather
	n   int
	off int
	ci  gopacket.CaptureInfo
	hit bool // ci is what off gave
}

func (s *sgSource) captureInfo(off int) (gopacket.CaptureInfo, bool) {
	if off < 0 || off >= s.n {
		return gopacket.CaptureInfo{}, false
	}
	if !s.hit || s.off != off {
		s.off, s.ci, s.hit = off, s.sg.CaptureInfo(off), true
	}
	return s.ci, true
}

// mark says that the backlog bytes from off on came in the packet of ci.
type mark struct {
	off int
	ci  gopacket.CaptureInfo
}

// backlogSource is a piece's marks; the piece's byte at offset 0 is the one marked at
// offset base (a piece taken over from another one's tail, see half.stall).
type backlogSource struct {
	marks []mark
	base  int
}

func (b backlogSource) captureInfo(off int) (gopacket.CaptureInfo, bool) {
	if off < 0 {
		return gopacket.CaptureInfo{}, false
	}
	off += b.base
	i := sort.Search(len(b.marks), func(i int) bool { return b.marks[i].off > off }) - 1
	if i < 0 {
		return gopacket.CaptureInfo{}, false
	}
	return b.marks[i].ci, true
}

// backlog is what a server half holds while it waits for the request side (see
// WaitForRequest):
// runs of contiguous bytes, each after the bytes the capture lost before it.
type backlog struct {
	pieces []piece
	size   int
	fin    bool // the direction's end came while waiting
	// pkt and at are the packet count and capture time the wait began at.
	pkt uint64
	at  time.Time
}

// pieceBytes is the size past which a backlog's bytes go on in a new piece rather than
// growing the last one.
const pieceBytes = 64 << 10

// piece is a run of contiguous bytes that follows skip lost bytes (0: none).
type piece struct {
	skip  int
	data  []byte
	marks backlogSource
	seq   tcp.Sequence // of data[0]
	taken bool         // data and marks are another piece's tail (see half.stall)
}

// gap notes skip lost bytes; the bytes after them start at seq.
func (b *backlog) gap(skip int, seq tcp.Sequence) {
	b.pieces = append(b.pieces, piece{skip: skip, seq: seq})
}

// add appends data, whose byte at offset 0 is the source's offset from and has sequence
// number seq, keeping where each packet's bytes start (found by bisection on the packet
// each offset leads back to).
func (b *backlog) add(src source, from int, data []byte, seq tcp.Sequence) {
	if n := len(b.pieces); n == 0 || b.pieces[n-1].taken || len(b.pieces[n-1].data) >= pieceBytes && len(b.pieces[n-1].data)+len(data) > cap(b.pieces[n-1].data) {
		// A piece taken over from an earlier backlog is not grown, nor one that is
		// big and full: appending would copy what it holds again (a backlog of
		// megabytes grown by append copied each byte four times over). The bytes
		// go on in a piece of their own.
		var buf []byte
		if n > 0 && len(b.pieces[n-1].data) >= pieceBytes {
			buf = make([]byte, 0, max(pieceBytes, len(data))) // a big backlog: room for more
		}
		b.pieces = append(b.pieces, piece{seq: seq, data: buf})
	}
	p := &b.pieces[len(b.pieces)-1]
	base := len(p.data) + p.marks.base
	p.data = append(p.data, data...)
	b.size += len(data)
	for off := 0; off < len(data); {
		ci, ok := src.captureInfo(from + off)
		if !ok {
			break
		}
		p.marks.marks = append(p.marks.marks, mark{base + off, ci})
		seg := segmentOf(ci)
		// Find the first offset that came in another packet.
		lo, hi := off+1, len(data)
		for lo < hi {
			mid := (lo + hi) / 2
			if c, ok := src.captureInfo(from + mid); ok && (seg != nil && segmentOf(c) == seg || seg == nil && c.Timestamp.Equal(ci.Timestamp)) {
				lo = mid + 1
			} else {
				hi = mid
			}
		}
		off = lo
	}
}

// WaitForRequest tells whether the response head at offset off (begun in earlier bytes
// when begun) must wait for the request side: the segment that carries the response's
// first byte acknowledges request bytes the client half has not parsed yet (they are
// late, behind a hole, or lost). Pairing the response now would pair it with what was
// parsed so far, so the response waits until the client half reaches that
// acknowledgement, skips a hole past it, or ends. A half whose role is not known yet
// (no handshake seen) waits too when a response starts here.
func (h *half) WaitForRequest(off int, begun bool) bool {
	if h.noWait {
		return false
	}
	// A head begun in earlier bytes waits on the segment that began it.
	seg := h.headSeg
	if !begun {
		ci, ok := h.c.src.captureInfo(off)
		if !ok {
			return false
		}
		seg = segmentOf(ci)
	}
	return h.mustWait(seg, h.c.a.packets, h.c.a.now)
}

// mustWait tells whether a response whose first byte came in seg, waiting since packet
// pkt and time at, must wait on for the request side.
func (h *half) mustWait(seg *context, pkt uint64, at time.Time) bool {
	if seg == nil || !seg.ackOK {
		return false
	}
	o := h.other()
	if o.ended {
		return false
	}
	if !o.seqOK && !h.c.startOK[o.dirIndex()] {
		// Nothing of the request side yet (a capture started mid-connection): its
		// packets may only be late, so wait for the reorder window.
		return !h.c.a.reorderOver(pkt, at)
	}
	return !o.reached(seg.ack)
}

// reached tells whether this (client) half has parsed every byte before seq, or will
// parse no more.
func (h *half) reached(seq tcp.Sequence) bool {
	next, ok := h.next, h.seqOK
	if d := h.dirIndex(); !ok && h.c.startOK[d] {
		next, ok = h.c.start[d], true // started, nothing delivered yet
	}
	return h.ended || !ok || seq.Difference(next) >= 0
}

// behind tells whether this (client) half has yet to parse bytes before seq: it has
// not reached seq and will parse more (unknown counts as behind).
func (h *half) behind(seq tcp.Sequence) bool {
	next, ok := h.next, h.seqOK
	if d := h.dirIndex(); !ok && h.c.startOK[d] {
		next, ok = h.c.start[d], true
	}
	return !h.ended && (!ok || seq.Difference(next) < 0)
}

// stall holds data (from offset off of the current source on) until resume.
func (h *half) stall(off int, data []byte) {
	if h.waiting == nil {
		h.waiting = &backlog{pkt: h.c.a.packets, at: h.c.a.now}
		h.c.a.stats.Stalls.Add(1)
		h.c.a.waiters = append(h.c.a.waiters, h)
		if src, ok := h.c.src.(backlogSource); ok && h.resuming {
			// A response waits again while what waited is parsed: the rest of the
			// piece being parsed is the new backlog's first, taken over with its
			// marks instead of copied (resume drops the old backlog). Copying it
			// made each response let go cost the bytes still held: quadratic when
			// many wait behind a request side far behind.
			src.base += off
			h.waiting.pieces = append(h.waiting.pieces, piece{data: data, marks: src, seq: h.seq.Add(off), taken: true})
			h.waiting.size = len(data)
			h.stallCap()
			return
		}
	}
	h.waiting.add(h.c.src, off, data, h.seq.Add(off))
	h.stallCap()
}

// stallCap lets the held bytes go when they are more than a connection may buffer.
func (h *half) stallCap() {
	if max := h.c.a.cfg.MaxConnBuffered; max > 0 && int64(h.waiting.size) > max {
		// The request side is too far behind: parse on; the pairing checks still hold.
		h.resume(true)
	}
}

// resume parses what the half held once the request side has caught up, or at once
// when forced (the connection ends, the hold is too big).
func (h *half) resume(force bool) {
	b := h.waiting
	if b == nil || h.resuming || len(b.pieces) == 0 {
		return
	}
	if !force {
		if ci, ok := b.pieces[0].marks.captureInfo(0); ok && h.mustWait(segmentOf(ci), b.pkt, b.at) {
			return
		}
	}
	h.waiting = nil
	h.resuming, h.noWait = true, force
	pkt, at := b.pkt, b.at
	src, seq, off := h.c.src, h.seq, h.p.Offset()
	for i, p := range b.pieces {
		if h.waiting != nil {
			// Waiting again, for a later response: keep the rest in order.
			h.waiting.pkt, h.waiting.at = pkt, at
			h.waiting.pieces = append(h.waiting.pieces, b.pieces[i:]...)
			for _, q := range b.pieces[i:] {
				h.waiting.size += len(q.data)
			}
			break
		}
		h.c.src, h.seq = p.marks, p.seq
		h.p.SetOffset(0)
		if p.skip > 0 {
			h.gap(p.skip)
		}
		h.feed(p.data)
	}
	h.c.src, h.seq = src, seq
	h.p.SetOffset(off)
	h.resuming, h.noWait = false, false
	if b.fin {
		if h.waiting != nil {
			h.waiting.fin = true
			return
		}
		if !h.ended {
			h.ended = true
			h.p.End(true)
		}
	}
}

// checkWaiters lets go the responses that waited out the reorder window for a request
// side that never showed (every packet while few wait, else every 64th).
func (a *Assembler) checkWaiters() {
	if len(a.waiters) == 0 || len(a.waiters) > 16 && a.packets%64 != 0 {
		return
	}
	kept := a.waiters[:0]
	for _, h := range a.waiters {
		if h.waiting != nil {
			h.resume(false)
		}
		if h.waiting != nil {
			kept = append(kept, h)
		}
	}
	clear(a.waiters[len(kept):])
	a.waiters = kept
}
