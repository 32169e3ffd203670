package reassembly

import (
	"time"

	tcp "github.com/gopacket/gopacket/reassembly"
)

// Pairing is proven on TCP's numbers, not on the order messages were parsed in. Each
// request keeps where it starts in the client's sequence space and how far the client had
// received the server's bytes when it sent it; each response keeps where it starts in the
// server's sequence space and how far the server had received the client's bytes when it
// sent it. A response can answer a request only if
//
//   - the server had received the request's first byte when it sent the response
//     (the response's acknowledgement is past the request's start), and
//   - the client sent the request before it received the response's first byte
//     (the request's acknowledgement is not past the response's start).
//
// With nothing lost on either side since the last pairing, the response answers the
// oldest request waiting (HTTP/1 answers in order) if it can by these numbers, and is
// an orphan otherwise. After lost response bytes, the responses of some waiting requests
// may have been lost: on a connection whose client waits for each response before it
// sends the next request (every request acknowledges more of the server's bytes than the
// one before, and all of a response seen before it), the response answers the newest
// request it can answer and the older ones lost theirs. On a pipelined connection the
// numbers cannot tell how many responses a hole held: the waiting requests are then
// incomplete ("pairing unproven") rather than paired by position, and so is every later
// call on that connection, since no later request's numbers prove which response is its
// own either (see sentForIt). A connection is taken for a pipelining one only on a
// request's own numbers (sentAfter, answered), never because of where a hole fell: a
// hole across the end of one response and the start of the next looks like a request
// sent before the client had the bytes lost, and on a client that waits for each
// response that made the responses be counted off by position.
//
// On a client that waits for each response, a response whose acknowledgement is past the
// end of the request it would answer (the server had received more of the client's bytes
// when it sent it) answers a later request: one the capture lost, gave up or has not
// parsed yet (answersLater).

// A response parsed while the client half is behind (it has not parsed every byte the
// response acknowledges: the server half could not wait longer, see half.stall) may
// answer a request parsed only later. When it finds no request to answer, the requests
// that start before its acknowledgement are not paired with later responses: their own
// may be the one that went by (see conn.late). When it finds some, it answers the newest
// it may answer only if its acknowledgement goes no further than that request's end.

// respMeta is what a response head carries for pairing.
type respMeta struct {
	seq, ack     tcp.Sequence // its first byte; the acknowledgement sent with it
	seqOK, ackOK bool
	behind       bool // the client half has yet to parse bytes before ack
}

// mayAnswer tells whether a response that started at t with m can answer x.
func (c *conn) mayAnswer(x *exchange, t time.Time, m respMeta) bool {
	if m.ackOK && x.seqOK {
		if x.reqSeq.Difference(m.ack) <= 0 {
			return false // the server had not received the request
		}
	} else if x.call.Start.After(t) {
		return false
	}
	if m.seqOK && x.sentAckOK && x.sentAck.Difference(m.seq) < 0 {
		return false // the client had received the response before it sent the request
	}
	return true
}

// pairResponse finds the request a response that started at t answers, or nil.
func (c *conn) pairResponse(t time.Time, m respMeta) *exchange {
	if c.owed > 0 && !c.respGap {
		c.owed--
		return nil
	}
	c.dropLate()
	n := 0 // the waiting requests this response may answer (a prefix: they are in order)
	for _, x := range c.pending {
		if !c.mayAnswer(x, t, m) {
			break
		}
		n++
	}
	if n == 0 {
		if m.behind {
			c.noteLate(m.ack)
		}
		c.a.stats.Orphans.Add(1)
		if c.pipelined {
			// Its request was not seen: on a pipelining connection the responses that
			// follow can no longer be counted off against the requests.
			c.respGap = true
		}
		return nil
	}
	if !c.respGap && !c.unproven && (n == 1 || c.pipelined) {
		if !c.pipelined && c.answersLater(c.pending[0], m) {
			return c.laterAnswered(1, m)
		}
		return c.pending[0]
	}
	// More than one request it may answer from a client that waits for each response
	// (the older ones' responses were lost or came without their request parsed), or
	// response bytes were lost.
	k := n - 1
	x := c.pending[k]
	if c.pipelined || ((c.unproven || m.behind) && !c.sentForIt(x, m)) {
		if m.behind {
			c.noteLate(m.ack)
		}
		c.unproven = true
		c.giveUpUnproven(n)
		c.a.stats.Orphans.Add(1)
		return nil
	}
	if c.answersLater(x, m) {
		return c.laterAnswered(n, m)
	}
	for _, x := range c.pending[:k] {
		if x.call.Incomplete == "" {
			x.call.Incomplete = ResponseLost
		}
		c.finish(x)
	}
	c.pending = c.pending[k:]
	c.respGap, c.unproven = false, false
	return x
}

// answersLater tells whether a response with m, from a client that waits for each
// response, answers a request after x: the server had received bytes the client sent
// after x when it sent the response (more than the CR LF some clients send after a body;
// the next request's start, or bytes the capture lost or the client half has not parsed
// yet, which may hold one), and such a client sends the next request only once it has all
// of x's response. Without this a response whose own request was lost, given up
// (-max-pending) or not parsed yet went to the oldest request waiting.
func (c *conn) answersLater(x *exchange, m respMeta) bool {
	switch {
	case !m.ackOK:
		return false
	case x.nextOK && x.nextSeq.Difference(m.ack) > 0:
		return true
	case x.endOK:
		return x.reqEndSeq.Add(2).Difference(m.ack) > 0
	}
	return m.behind
}

// laterAnswered handles a response that answers a request after the n oldest waiting:
// their responses went by unpaired (or may have), so they are given up, and while the
// request it answers is not parsed yet no request starting before its acknowledgement is
// paired with a later response.
func (c *conn) laterAnswered(n int, m respMeta) *exchange {
	if m.behind {
		c.noteLate(m.ack)
	}
	c.giveUpUnproven(n)
	c.a.stats.Orphans.Add(1)
	return nil
}

// giveUpUnproven finishes the n oldest waiting requests as "pairing unproven", detached
// from the parser first: no response may be paired with them any more.
func (c *conn) giveUpUnproven(n int) {
	for _, x := range c.pending[:n] {
		if x.call.Incomplete == "" {
			x.call.Incomplete = Unproven
		}
		c.detach(x)
		c.finish(x)
	}
	c.pending = c.pending[n:]
}

// noteLate notes a response that may answer a request not parsed yet: the requests
// that start before ack are not paired from now on.
func (c *conn) noteLate(ack tcp.Sequence) {
	if !c.late || c.lateAck.Difference(ack) > 0 {
		c.late, c.lateAck = true, ack
	}
}

// dropLate gives up the waiting requests that start before lateAck (or where unknown):
// their response may have gone by unpaired. They are the oldest, pending being in order.
func (c *conn) dropLate() {
	if !c.late {
		return
	}
	n := 0
	for _, x := range c.pending {
		if x.seqOK && x.reqSeq.Difference(c.lateAck) <= 0 {
			break
		}
		n++
	}
	c.giveUpUnproven(n)
	if cl := c.client(); cl != nil && !cl.behind(c.lateAck) {
		// Every request from here on starts at or after lateAck.
		c.late = false
	}
}

// sentForIt tells whether the numbers single out x as the request a response with m
// answers on a connection whose client waits for each response, after a response that
// could not be paired or while the client half is behind: the client sent x once it had
// every byte the server sent before the response, and the server had all of x before it
// answered. Then the older requests' responses were all sent before this one, so they
// are lost. On a pipelining connection they single out nothing: the client may have sent
// x while the response to an earlier request was still to come, at exactly that byte.
func (c *conn) sentForIt(x *exchange, m respMeta) bool {
	return x.sentAckOK && m.seqOK && x.sentAck == m.seq && x.endOK && m.ackOK && x.reqEndSeq.Difference(m.ack) >= 0
}

// sentAfter notes a new request x: one sent before the client received anything more
// from the server than with the previous request shows a pipelining client.
func (c *conn) sentAfter(x *exchange) {
	if p := c.lastReq; p != nil && p.sentAckOK && x.sentAckOK && x.sentAck.Difference(p.sentAck) >= 0 {
		c.pipelined = true
	}
	if p := c.lastReq; p != nil && x.seqOK {
		p.nextSeq, p.nextOK = x.reqSeq, true
	}
	c.lastReq = x
}

// answered notes that the response to x ended before end: a request waiting behind x
// that was sent before the client had all of that response shows a pipelining client.
func (c *conn) answered(x *exchange, end tcp.Sequence, endOK bool) {
	if !endOK {
		return
	}
	for _, y := range c.pending {
		if y != x && y.seqOK && x.seqOK && x.reqSeq.Difference(y.reqSeq) > 0 {
			if y.sentAckOK && y.sentAck.Difference(end) > 0 {
				c.pipelined = true
			}
			return
		}
	}
}
