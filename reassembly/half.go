package reassembly

import (
	"time"

	tcp "github.com/gopacket/gopacket/reassembly"

	"sniffer/http1"
	"sniffer/model"
)

// half is one direction of a connection: the HTTP/1.x parser of its bytes (package
// http1) and the TCP bookkeeping around it. It is the parser's http1.Conn: it turns the
// parser's offsets into capture times and sequence numbers, makes the exchanges and
// pairs the responses (pair.go), and holds a response back while its request is late
// (stall.go).
type half struct {
	p     http1.Parser
	c     *conn
	x     *exchange // the exchange the parser works on; nil when none or discarding
	ended bool      // FIN or RST seen
	// headAt is the capture time of the first byte of the head being read.
	headAt time.Time
	// seq is the sequence number of the byte at offset 0 of the bytes being parsed
	// (conn.src, when seqOK), next that of the first byte not delivered yet.
	seq, next tcp.Sequence
	seqOK     bool
	// headSeq and headSeg are the sequence number of the head being read and the
	// segment that carried its first byte.
	headSeq tcp.Sequence
	headSeg *context
	// prevAck is the acknowledgement the byte before the head being read was sent
	// with, when known (see conn.sentAfter); lastAck that of the last byte delivered,
	// when nothing was lost after it.
	prevAck, lastAck     tcp.Sequence
	prevAckOK, lastAckOK bool
	// waiting is what a server half keeps while a response waits for its request (see
	// WaitForRequest); resuming is set while it is parsed, noWait when it must not wait
	// again.
	waiting          *backlog
	resuming, noWait bool
	// Any-port detection (detect.go), while the connection is not known to be HTTP.
	kind      verdict // notHTTP once this direction's first bytes ruled HTTP out
	line      []byte  // the first line so far
	midstream bool    // the direction's start was not captured
}

// dirIndex is this half's index in conn.halves (gopacket's direction).
func (h *half) dirIndex() int {
	if h == &h.c.halves[0] {
		return 0
	}
	return 1
}

func (h *half) other() *half {
	if h == &h.c.halves[0] {
		return &h.c.halves[1]
	}
	return &h.c.halves[0]
}

func (h *half) role() http1.Role { return h.p.Role() }

// feed parses data, the next contiguous bytes of this direction.
func (h *half) feed(data []byte) {
	undecided := h.c.kind != isHTTP
	if undecided && !h.sniff(data) {
		return
	}
	if h.waiting != nil {
		h.stall(h.p.Offset(), data) // a response before these bytes waits: keep the order
		return
	}
	if room := maxMidstreamScan - h.c.scanned; undecided && h.midstream && room > 0 && len(data) > room {
		// Search no further than the bound: the rest is fed once what comes before
		// it has decided (or given up on) the connection.
		off := h.p.Offset()
		h.feed(data[:room])
		h.p.SetOffset(off + room)
		h.feed(data[room:])
		return
	}
	n := h.p.Feed(data)
	if undecided && h.midstream {
		// What the parser searched for a start line (detect.go). Bytes held for a
		// response that waits are not searched yet: they count when they are parsed,
		// once. A direction whose start was held back (a capture filter cut the
		// handshake) comes in one delivery of all that was held, and its first
		// response waits for the request side: counting all of it then, and again
		// when it was parsed, took connections with a status line at their first
		// byte for something else.
		h.c.scanned += n
	}
	if n < len(data) {
		h.stall(h.p.Offset(), data[n:])
	}
}

// gap handles skip bytes lost before the data about to be fed.
func (h *half) gap(skip int) {
	h.c.a.stats.Gaps.Add(1)
	if h.c.kind != isHTTP { // what follows a hole is no first line
		h.line, h.midstream = nil, true
	}
	h.p.Gap(skip)
}

// --- http1.Conn ---

// HeadStart notes the capture time, sequence number and segment of a head's first byte.
func (h *half) HeadStart(off, first int) {
	h.headAt = h.c.at(off)
	h.headSeq, h.headSeg = h.seq.Add(first), h.c.seg(off)
	h.prevAckOK = false
	switch {
	case first > 0:
		if g := h.c.seg(first - 1); g != nil && g.ackOK {
			h.prevAck, h.prevAckOK = g.ack, true
		}
	case first == 0:
		h.prevAck, h.prevAckOK = h.lastAck, h.lastAckOK
	}
}

// Request makes the exchange a request head begins.
func (h *half) Request(r model.Request) *model.Call {
	c := h.c
	h.other().p.SetRole(http1.Server)
	if h.kind != maybeHTTP {
		c.kind = isHTTP
	}
	x := c.newExchange(h.headAt)
	x.reqSeq, x.seqOK = h.headSeq, h.seqOK
	if g := h.headSeg; g != nil && g.ackOK {
		x.sentAck, x.sentAckOK = g.ack, true
	}
	x.prevAck, x.prevAckOK = h.prevAck, h.prevAckOK
	c.sentAfter(x)
	call := x.call
	call.Request = r
	call.URL = c.url(&call.Request)
	h.x = x
	return call
}

// Response pairs a response head with its request (pair.go).
func (h *half) Response(r *model.Response) (*model.Call, string) {
	c := h.c
	h.other().p.SetRole(http1.Client)
	if h.kind != maybeHTTP {
		c.kind = isHTTP
	}
	m := respMeta{seq: h.headSeq, seqOK: h.seqOK, interim: r == nil}
	if g := h.headSeg; g != nil && g.ackOK {
		m.ack, m.ackOK = g.ack, true
		m.behind = h.other().behind(g.ack)
	}
	x, method := c.pairResponse(h.headAt, m)
	if r != nil { // a final response
		h.x = x
		if x != nil {
			x.resp = r
		}
	}
	if x == nil {
		return nil, method
	}
	return x.call, x.call.Request.Method
}

// Done ends the exchange's request or response; last is the offset of its final byte.
func (h *half) Done(last int) {
	at := h.c.at(last)
	x := h.x
	h.x = nil
	if x == nil {
		return
	}
	if h.role() == http1.Client {
		h.c.requestDone(x, at)
		x.reqEndSeq, x.endOK = h.seq.Add(last+1), h.seqOK && last >= 0
		return
	}
	h.c.responseDone(x, at, h.seq.Add(last+1), h.seqOK && last >= 0)
}

// Tunnel stops the other direction's parser: the connection is no HTTP any more.
func (h *half) Tunnel() {
	o := h.other()
	o.p.Tunnel()
	o.x = nil
}

// Hole marks the exchange incomplete: bytes of its body were lost.
func (h *half) Hole() {
	if h.x != nil && h.x.call.Incomplete == "" {
		h.x.call.Incomplete = h.reason(http1.Gap)
	}
}

// Abandon gives the exchange being read up (see conn.requestBroken, responseBroken).
// Response bytes lost or skipped as malformed may hold responses: pairing then needs
// the TCP numbers (pair.go).
func (h *half) Abandon(why http1.Cause) {
	x := h.x
	h.x = nil
	switch {
	case why == http1.Gap && h.role() != http1.Client:
		h.c.respGap = true
	case why == http1.Gap:
		h.c.reqHoles++
		if r := h.c.lastReq; r != nil && !r.nextOK {
			r.holeAfter = true
		}
	case why == http1.Malformed && h.role() == http1.Server:
		h.c.respGap = true
	case why == http1.Malformed:
		h.c.reqHoles++ // the server answers what it makes of those bytes too
	}
	if x == nil {
		return
	}
	if h.role() == http1.Client {
		h.c.requestBroken(x, h.reason(why))
	} else {
		h.c.responseBroken(x, h.reason(why))
	}
}

// HeadCut counts a head the direction ended inside, which no exchange was made for:
// incomplete when it starts like a message, malformed otherwise. A response head cut
// short belongs to the oldest pending request, which is counted when the connection
// ends; with none pending it is a response without request.
func (h *half) HeadCut(why http1.Cause, startLike bool) {
	switch {
	case h.role() == http1.Server && len(h.c.pending) > 0:
		if x := h.c.pending[0]; x.call.Incomplete == "" {
			x.call.Incomplete = h.reason(why)
		}
	case !startLike:
		h.c.a.stats.ParseErrors.Add(1)
	case h.role() == http1.Server:
		h.c.a.stats.Orphans.Add(1) // its request was lost or cut short too
	default:
		h.c.a.stats.countIncomplete(h.reason(why))
	}
}

// reason is the Call.Incomplete reason for a message of this direction given up.
func (h *half) reason(why http1.Cause) string {
	client := h.role() == http1.Client
	switch why {
	case http1.Gap:
		if client {
			return GapInRequest
		}
		return GapInResponse
	case http1.Closed:
		if client {
			return ClosedInRequest
		}
		return ClosedInResp
	case http1.Flushed:
		return CaptureEnded
	}
	return "malformed"
}
