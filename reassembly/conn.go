package reassembly

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"time"

	"sniffer/http1"
	"sniffer/model"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	tcp "github.com/gopacket/gopacket/reassembly"
)

// exchange is a call under construction: a request waiting for, or receiving, its response.
type exchange struct {
	call    *model.Call
	resp    *model.Response // the final response being read
	reqDone bool
	reqEnd  time.Time
	// The request's TCP numbers (see pair.go): where it starts in the client's sequence
	// space, and the server sequence number the client had acknowledged when it sent it.
	reqSeq, sentAck, reqEndSeq tcp.Sequence
	seqOK, sentAckOK, endOK    bool
	// nextSeq is where the request parsed after this one starts, once there is one;
	// holeAfter is set when request bytes were lost before it (see answersLater).
	nextSeq   tcp.Sequence
	nextOK    bool
	holeAfter bool
	// prevAck is the acknowledgement the client byte before it was sent with.
	prevAck   tcp.Sequence
	prevAckOK bool
	holes     int // conn.reqHoles when it was parsed
}

// conn is one TCP connection: two half-stream parsers and the FIFO of requests waiting
// for their responses. It implements gopacket's reassembly.Stream.
type conn struct {
	a       *Assembler
	halves  [2]half // indexed by gopacket's direction: 0 client-to-server as first seen
	ends    [2]netip.AddrPort
	vni     int
	pending []*exchange
	// respGap is set when response bytes were lost (or skipped as malformed): the next
	// response may belong to a later request than the oldest pending one.
	respGap bool
	// reqHoles counts the places where request bytes were lost (or skipped as
	// malformed) where the parser could not keep the framing: each may have held
	// requests the server answers. pairedHoles is its value when the request last paired
	// was parsed. uncounted is set once a response went by without being attributed to
	// a request (since the last pairing). See conn.counted.
	reqHoles, pairedHoles int
	uncounted             bool
	// pipelined is set once the client is seen sending a request before it had all of
	// the previous response; unproven once a response could not be proven to answer any
	// one request (see pair.go). lastReq is the latest request parsed.
	pipelined, unproven bool
	lastReq             *exchange
	// owed holds where the requests given up because of MaxPending start, oldest first,
	// while their responses have not come: the next that many responses answer them and
	// are discarded, not paired with later requests. Once a later request is paired (or a
	// response is proven to answer a later one) the older entries are dropped: their
	// responses went by, or were lost in the hole that made the pairing needed.
	owed []owedReq
	// late is set once a response was parsed without a request to answer while the
	// client half had not parsed every byte the response acknowledged (it was held
	// behind a hole, or the response could wait no longer): the request it answered may
	// come later, and lateAck is the furthest such acknowledgement. A request that
	// starts before it may have had its response go by, so it is not paired.
	late    bool
	lateAck tcp.Sequence
	src     source   // where the bytes being parsed came from
	sgs     sgSource // src while ReassembledSG delivers a chunk
	lastAt  time.Time
	closed  bool
	key     connKey
	id      uint64 // the Assembler's number for it, in the order connections open
	// syn holds the sequence numbers of the SYN and the SYN-ACK, when seen: copies of
	// them after the connection ended are not a new connection.
	syn ended
	// hole tracks, per direction, whether segments arrived ahead of a hole, and since
	// when (see watchHoles); lost keeps each hole's mark, to skip it once the other
	// side's acknowledgement proves the capture lost it (holes.go).
	hole      [2]bool
	holeSince [2]time.Time
	lost      [2]holeMarks
	// start is the sequence number of each direction's first byte, once known;
	// fromStart tells that the direction was read from there (its SYN, or where the
	// SYN-ACK said it starts), not from wherever the capture first showed it.
	start     [2]tcp.Sequence
	startOK   [2]bool
	fromStart [2]bool
	// kind is isHTTP unless Config.Detect asks to decide it from the first bytes
	// (detect.go); sawData tells an empty connection from one that carried no HTTP.
	kind    verdict
	sawData bool
	// fed is set once either direction's parser was given bytes.
	fed     bool
	scanned int // bytes searched for a start line while undecided (midstream)
	// ackOf is the first sequence number of each direction as the other side's SYN-ACK
	// named it; held describes a direction whose data came before its start was known
	// (see mayStart).
	ackOf   [2]tcp.Sequence
	ackOfOK [2]bool
	held    [2]heldStart
}

// owedReq is a request given up because of MaxPending: where it starts (ok: known),
// and its method, which frames its response.
type owedReq struct {
	seq    tcp.Sequence
	ok     bool
	method string
}

// heldStart is a direction held back from starting: since when (packet count, capture
// time) and its lowest sequence number seen.
type heldStart struct {
	pkt uint64
	at  time.Time
	low tcp.Sequence
}

func endpoint(n, t gopacket.Endpoint) netip.AddrPort {
	ip, _ := netip.AddrFromSlice(n.Raw())
	var port uint16
	if r := t.Raw(); len(r) == 2 {
		port = binary.BigEndian.Uint16(r)
	}
	return netip.AddrPortFrom(ip.Unmap(), port)
}

func newConn(a *Assembler, netFlow, tcpFlow gopacket.Flow, t *layers.TCP, vni int) *conn {
	c := &conn{a: a, vni: vni, kind: isHTTP}
	if a.cfg.Detect {
		c.kind = undecided
	}
	c.ends[0] = endpoint(netFlow.Src(), tcpFlow.Src())
	c.ends[1] = endpoint(netFlow.Dst(), tcpFlow.Dst())
	roles := [2]http1.Role{}
	switch {
	case t.SYN && !t.ACK: // the first packet seen opens the connection: its sender is the client
		roles = [2]http1.Role{http1.Client, http1.Server}
	case t.SYN && t.ACK: // handshake seen from its answer (reordered capture)
		roles = [2]http1.Role{http1.Server, http1.Client}
	}
	for i := range c.halves {
		h := &c.halves[i]
		h.c = c
		h.p.Init(h, roles[i], &a.limits, &a.stats.Counters)
	}
	return c
}

func (c *conn) clientServer() (client, server netip.AddrPort) {
	if c.halves[0].role() == http1.Server {
		return c.ends[1], c.ends[0]
	}
	return c.ends[0], c.ends[1]
}

// at is the capture time of the byte at off in the bytes being parsed.
func (c *conn) at(off int) time.Time {
	if c.src != nil {
		if ci, ok := c.src.captureInfo(off); ok {
			return ci.Timestamp
		}
	}
	return c.lastAt
}

// seg is the segment that carried the byte at off in the bytes being parsed, or nil.
func (c *conn) seg(off int) *context {
	if c.src != nil {
		if ci, ok := c.src.captureInfo(off); ok {
			return segmentOf(ci)
		}
	}
	return nil
}

// url builds the absolute URL of a request: http:// + Host (or the server address) + target.
func (c *conn) url(r *model.Request) string {
	t := r.Target
	// absolute-form, as sent to proxies; the scheme is case-insensitive ("HTTP://").
	if len(t) > 7 && strings.EqualFold(t[:7], "http://") {
		return "http://" + t[7:]
	}
	if len(t) > 8 && strings.EqualFold(t[:8], "https://") {
		return "https://" + t[8:]
	}
	host := r.Get("Host")
	if host == "" {
		_, server := c.clientServer()
		host = server.String()
		if server.Port() == 80 {
			host = server.Addr().String()
			if server.Addr().Is6() {
				host = "[" + host + "]"
			}
		}
	}
	if r.Method == "CONNECT" || t == "*" {
		return "http://" + host
	}
	if !strings.HasPrefix(t, "/") {
		// A malformed target ("OPTIONS HTTP/1.1" read leniently) must not be glued
		// to the host name: it is a path.
		t = "/" + t
	}
	return "http://" + host + t
}

func (c *conn) newExchange(start time.Time) *exchange {
	call := &model.Call{Start: start, VNI: c.vni}
	call.Client, call.Server = c.clientServer()
	x := &exchange{call: call, holes: c.reqHoles}
	if max := c.a.cfg.MaxPending; max > 0 && len(c.pending) >= max && !c.makeRoom(max) {
		// Pipelining with no answers: give up the oldest not being answered (with
		// -max-pending 1, none while that one is: one more waits).
		i := 0
		if c.server().x == c.pending[0] {
			i = 1
		}
		if i < len(c.pending) {
			old := c.pending[i]
			c.pending = append(c.pending[:i], c.pending[i+1:]...)
			old.call.Incomplete = TooManyPending
			c.finish(old)
			c.owed = append(c.owed, owedReq{old.reqSeq, old.seqOK, old.call.Request.Method})
		}
	}
	c.pending = append(c.pending, x)
	return x
}

// makeRoom tries to make room for one more request on a connection with max waiting,
// and tells whether there is room. Many requests wait without pipelining when the
// capture holds their responses back: giving up the oldest would lose calls no lost
// packet touched, and every response after it would find no request.
//   - A response may wait for the request it answers (see half.waits) while the client
//     half parses a long run of requests in one delivery (gopacket hands over all the
//     bytes held behind a hole at once). Every request before the one starting now has
//     been parsed: the response goes on if it waited for no more.
//   - The server's bytes may wait behind a hole (a segment lost or late) while the
//     client, which had every response, goes on sending. The first hole (the first the
//     client acknowledged past, by its mark, when there is one) is skipped once the
//     packet being assembled is in (the reorder window cut short: a segment later than
//     max requests is taken for lost), and up to max more requests wait until then.
func (c *conn) makeRoom(max int) bool {
	s := c.server()
	if cl := s.other(); s.waiting != nil && cl.role() == http1.Client && cl.seqOK && cl.headSeq.Difference(cl.next) < 0 {
		cl.next = cl.headSeq // parsed up to the head being read; set again when the delivery ends
		s.resume(false)
		if len(c.pending) < max {
			return true
		}
	}
	d := s.dirIndex()
	if len(c.pending) >= 2*max {
		return false
	}
	if c.skipLost(d, true) {
		// The first hole the client acknowledged past: after one is skipped, the
		// next is found by its mark (one clock for the direction found none until
		// another segment came, and gave the requests waiting behind it up).
		return true
	}
	if !c.hole[d] || c.holeSince[d].IsZero() {
		return false
	}
	c.a.skipStart(c.holeSince[d])
	return true
}

func (c *conn) server() *half {
	if c.halves[0].role() == http1.Server {
		return &c.halves[0]
	}
	return &c.halves[1]
}

func (c *conn) requestDone(x *exchange, at time.Time) {
	x.reqDone, x.reqEnd = true, at
}

// requestBroken marks a request whose bytes were lost or malformed. It stays pending:
// the server still answers it, and that answer must not go to the next request.
func (c *conn) requestBroken(x *exchange, reason string) {
	if x.call.Incomplete == "" {
		x.call.Incomplete = reason
	}
	x.reqDone, x.reqEnd = true, c.lastAt
}

func (c *conn) responseDone(x *exchange, at time.Time, end tcp.Sequence, endOK bool) {
	c.answered(x, end, endOK)
	x.call.Response, x.call.End = x.resp, at
	c.remove(x)
	if !x.reqDone {
		// The server answered before the request ended (an early error, say): the
		// rest of the request body is not kept.
		x.call.Request.Truncated = true
		c.detach(x)
	}
	c.finish(x)
}

func (c *conn) responseBroken(x *exchange, reason string) {
	if x.call.Incomplete == "" {
		x.call.Incomplete = reason
	}
	x.call.Response, x.call.End = x.resp, c.lastAt
	c.remove(x)
	c.detach(x)
	c.finish(x)
}

// detach stops the parsers reading into x's call, which is about to be handed on.
func (c *conn) detach(x *exchange) {
	for i := range c.halves {
		if h := &c.halves[i]; h.x == x {
			h.x = nil
			h.p.Detach()
		}
	}
}

// client is the half whose role is the client's, or nil while neither is known.
func (c *conn) client() *half {
	for i := range c.halves {
		if h := &c.halves[i]; h.role() == http1.Client {
			return h
		}
	}
	return nil
}

func (c *conn) remove(x *exchange) {
	for i, p := range c.pending {
		if p == x {
			c.pending = append(c.pending[:i], c.pending[i+1:]...)
			return
		}
	}
}

// finish hands a call on: complete calls always, incomplete ones when asked to.
func (c *conn) finish(x *exchange) {
	call := x.call
	if call.End.IsZero() {
		call.End = x.reqEnd
		if call.End.IsZero() {
			call.End = c.lastAt
		}
	}
	if call.End.Before(call.Start) {
		// The packet with the first byte was captured after the one with the last
		// (reordered on the way to the capture point): no negative durations.
		call.End = call.Start
	}
	if call.Incomplete == "" {
		c.a.stats.Calls.Add(1)
		c.a.out(c, call)
		return
	}
	c.a.stats.countIncomplete(call.Incomplete)
	if c.a.cfg.KeepIncomplete {
		c.a.stats.IncompleteOut.Add(1)
		c.a.out(c, call)
		return
	}
	c.a.stats.Unemitted.Add(call.Anomalies)
}

// --- gopacket reassembly.Stream ---

// Accept takes every segment. A direction whose start was not seen (the connection was
// open before the capture) is started at its first segment; the parser then
// resynchronises on the next start line.
func (c *conn) Accept(t *layers.TCP, ci gopacket.CaptureInfo, dir tcp.TCPFlowDirection, nextSeq tcp.Sequence, start *bool, ac tcp.AssemblerContext) bool {
	if t.SYN {
		c.syn.saw(t)
	}
	d, r := 0, 1
	if dir == tcp.TCPDirServerToClient {
		d, r = 1, 0
	}
	if t.SYN && !c.fed && c.halves[d].role() == http1.Unknown {
		// The connection was opened by a segment the capture shows before the handshake
		// (reordered): the SYN names the client, the SYN-ACK the server, as when the
		// handshake comes first, and the parsers read the first bytes as start lines
		// rather than looking for one (a lenient request line is not taken mid-stream).
		roles := [2]http1.Role{http1.Client, http1.Server}
		if t.ACK {
			roles[0], roles[1] = http1.Server, http1.Client
		}
		c.halves[d].p.Init(&c.halves[d], roles[0], &c.a.limits, &c.a.stats.Counters)
		c.halves[r].p.Init(&c.halves[r], roles[1], &c.a.limits, &c.a.stats.Counters)
	}
	if t.SYN && t.ACK {
		// A SYN-ACK names the first sequence number of the other direction: bytes
		// there start it, and nothing comes before them.
		c.ackOf[r], c.ackOfOK[r] = tcp.Sequence(t.Ack), true
		if h := &c.held[r]; h.pkt != 0 && h.low == tcp.Sequence(t.Ack) {
			c.a.skipStart(h.at)
		}
	}
	if !*start && !t.SYN && nextSeq == tcp.Sequence(-1) {
		*start = c.mayStart(t, ci, d)
	}
	if nextSeq == tcp.Sequence(-1) && (t.SYN || *start) {
		c.start[d], c.startOK[d] = tcp.Sequence(t.Seq), true
		if t.SYN {
			c.start[d] = c.start[d].Add(1)
		}
		c.fromStart[d] = t.SYN || c.ackOfOK[d] && c.ackOf[d] == tcp.Sequence(t.Seq)
	}
	c.watchHoles(t, ci, dir, nextSeq)
	if !t.SYN {
		c.lost[d].seen(tcp.Sequence(t.Seq), len(t.Payload), nextSeq, c.a.packets, ci.Timestamp)
	}
	if t.ACK {
		c.lost[r].ack(tcp.Sequence(t.Ack))
	}
	c.skipLost(0, false)
	c.skipLost(1, false)
	return true
}

// skipLost asks for the holes of direction d that the other side's acknowledgement proves
// lost to be skipped once the packet being assembled is in: those that have waited out the
// reorder window, or the first one at once when now is set. It tells whether there were
// any.
func (c *conn) skipLost(d int, now bool) bool {
	at, n := c.lost[d].lost(c.a, now)
	if n == 0 {
		return false
	}
	c.a.skipStart(at)
	if !c.a.skipHole.Before(at) {
		c.lost[d].forget(n) // else an earlier hole is skipped first, and these wait
	}
	return true
}

// mayStart tells whether the first segment seen of direction d (no SYN) may start it.
// Started there, the direction would drop any earlier bytes the capture shows later
// (reordered), so a segment starts it only where the SYN-ACK says the direction starts;
// otherwise gopacket holds it, and the direction starts at the lowest bytes held once the
// SYN-ACK names them or the reorder window has passed (a capture started mid-connection).
func (c *conn) mayStart(t *layers.TCP, ci gopacket.CaptureInfo, d int) bool {
	seq := tcp.Sequence(t.Seq)
	h := &c.held[d]
	if h.pkt == 0 || seq.Difference(h.low) >= 0 {
		// Nothing held before it: it may start the direction where the SYN-ACK says
		// the direction starts.
		if c.ackOfOK[d] && c.ackOf[d] == seq || c.a.cfg.ReorderPackets == 0 && c.a.cfg.ReorderWindow == 0 {
			return true
		}
	}
	if len(t.Payload) == 0 {
		// A RST ends the direction where it stands; a FIN is held like data (gopacket
		// ends the direction when the bytes before it are in); a bare ACK has nothing
		// to start with.
		return t.RST && h.pkt == 0
	}
	if h.pkt == 0 {
		h.pkt, h.at, h.low = c.a.packets, ci.Timestamp, seq
	} else if seq.Difference(h.low) > 0 {
		h.low = seq
	}
	if c.a.reorderOver(h.pkt, h.at) {
		c.a.skipStart(h.at)
	}
	return false
}

// watchHoles notes, per direction, whether segments arrived ahead of a hole and since
// when (makeRoom skips a response-side hole early with it). Holes the other side's
// acknowledgement proves lost are skipped by their marks (holes.go, c.lost).
func (c *conn) watchHoles(t *layers.TCP, ci gopacket.CaptureInfo, dir tcp.TCPFlowDirection, nextSeq tcp.Sequence) {
	d := 0
	if dir == tcp.TCPDirServerToClient {
		d = 1
	}
	if nextSeq != tcp.Sequence(-1) && !t.SYN {
		seq := tcp.Sequence(t.Seq)
		switch diff := nextSeq.Difference(seq); {
		case diff > 0:
			// holeSince is the first segment with data past the hole: gopacket keeps
			// such segments with their capture time, which the flush compares.
			if !c.hole[d] || c.holeSince[d].IsZero() && len(t.Payload) > 0 {
				c.hole[d], c.holeSince[d] = true, time.Time{}
				if len(t.Payload) > 0 {
					c.holeSince[d] = ci.Timestamp
				}
			}
		case diff == 0 || diff > -len(t.Payload):
			// In order (or overlapping the edge): the direction reaches past it.
			c.hole[d] = false
		}
	}
}

// ReassembledSG receives the next contiguous bytes of one direction.
func (c *conn) ReassembledSG(sg tcp.ScatterGather, ac tcp.AssemblerContext) {
	dir, _, end, skip := sg.Info()
	h := &c.halves[0]
	if dir == tcp.TCPDirServerToClient {
		h = &c.halves[1]
	}
	n, _ := sg.Lengths()
	c.sgs = sgSource{sg: sg, n: n}
	c.src = &c.sgs
	h.locate(skip, n)
	if d := h.dirIndex(); !c.startOK[d] && h.seqOK {
		c.start[d], c.startOK[d] = h.seq, true
		// Held until the SYN-ACK named where it starts, it starts there.
		c.fromStart[d] = c.ackOfOK[d] && c.ackOf[d] == h.seq
	}
	c.held[h.dirIndex()] = heldStart{}
	if skip != 0 {
		h.lastAckOK = false // the byte before these is lost (or not known)
	}
	if skip > 0 {
		c.hole[h.dirIndex()] = false
		if h.waiting != nil {
			h.waiting.gap(skip, h.seq) // after what the waiting response side holds
		} else {
			h.gap(skip)
		}
	}
	h.p.SetOffset(0)
	if n > 0 {
		c.fed = true
		last := sg.CaptureInfo(n - 1)
		c.lastAt = last.Timestamp
		h.feed(sg.Fetch(n))
		h.lastAckOK = false
		if g := segmentOf(last); g != nil && g.ackOK {
			h.lastAck, h.lastAckOK = g.ack, true
		}
	} else if ac != nil {
		c.lastAt = ac.GetCaptureInfo().Timestamp
	}
	h.next = h.seq.Add(n)
	if h.seqOK {
		c.lost[h.dirIndex()].drop(h.next)
	}
	c.src, c.sgs = nil, sgSource{}
	if end && !h.ended {
		if h.waiting != nil {
			h.waiting.fin = true
		} else {
			h.ended = true
			h.p.End(true)
		}
	}
	h.other().resume(false) // the request side moved: a waiting response may go on
}

// locate sets the sequence number of the first byte of a chunk of n bytes that follows
// skip lost bytes: counted on from the direction's start, checked against the segment
// the byte came in (skip is -1 when gopacket does not know it).
func (h *half) locate(skip, n int) {
	d := h.dirIndex()
	seq, ok := h.next, h.seqOK
	switch {
	case ok && skip > 0:
		seq = seq.Add(skip)
	case ok && skip == 0:
	case h.c.startOK[d] && !ok && skip >= 0:
		seq, ok = h.c.start[d], true
	default:
		ok = false
	}
	if n > 0 {
		if seg := h.c.seg(0); seg != nil && (!ok || seg.seq.Difference(seq) < 0 || seq.Difference(seg.seq.Add(seg.len)) <= 0) {
			seq, ok = seg.seq, true
		}
	}
	h.seq, h.seqOK = seq, ok
}

// ReassemblyComplete ends the connection: whatever is still open is incomplete.
func (c *conn) ReassemblyComplete(ac tcp.AssemblerContext) bool {
	if c.closed {
		return true
	}
	c.closed = true
	// The server first: a close-delimited response ends here. A response still waiting
	// for its request goes on now: nothing more will come.
	c.halves[0].resume(true)
	c.halves[1].resume(true)
	s := c.server()
	for _, h := range []*half{s, s.other()} {
		if !h.ended {
			h.p.End(false)
		}
	}
	if c.kind != isHTTP {
		if c.sawData {
			c.a.stats.NotHTTP.Add(1)
		}
		c.pending = nil // request lines read leniently that nothing confirmed
	}
	for _, x := range c.pending {
		if x.call.Incomplete == "" {
			x.call.Incomplete = NoResponse
		}
		c.finish(x)
	}
	c.pending = nil
	c.a.stats.StreamsOpen.Add(-1)
	delete(c.a.tracked, c.key)
	if len(c.a.closed) < maxClosed && !c.lastAt.IsZero() {
		c.syn.at = c.lastAt
		c.a.rememberClosed(c.key, c.syn)
	}
	return true
}
