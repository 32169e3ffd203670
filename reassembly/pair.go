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
// Beyond these bounds a response is paired on one of two proofs:
//
//   - Counting (conn.counted): HTTP/1 answers in order, so while both streams were read
//     from their start and, since the last pairing, no response went by without a
//     request (lost in a hole, skipped as malformed, unpaired) and no request bytes were
//     lost or skipped before the oldest waiting request, the response answers that one,
//     whether the client waits for each response or pipelines.
//   - Numbers, on a client that waits for each response before it sends the next
//     request (every request acknowledges more of the server's bytes than the one
//     before, and all of a response seen before it): the response answers the newest
//     request it may answer, the older ones lost theirs, unless the server had received
//     more of the client's bytes than that request when it sent it, bytes that may hold
//     a later request (answersLater). After a response that could not be paired, or
//     while the client half is behind, the request must also have been sent exactly
//     when the client had every byte before the response (sentForIt).
//
// On a pipelining connection the numbers prove nothing once the counting is lost: how
// many responses a hole held, or which response a later request's is (see sentForIt).
// Its waiting requests are then incomplete ("pairing unproven") rather than paired by
// position, and so is every later call on that connection. A connection is taken for a
// pipelining one only on a request's own numbers (sentAfter, answered), never because of
// where a hole fell.
//
// A response parsed while the client half is behind (it has not parsed every byte the
// response acknowledges: the server half could not wait longer, see half.stall) may
// answer a request parsed only later. When it finds no request to answer, the requests
// that start before its acknowledgement are not paired with later responses: their own
// may be the one that went by (see conn.late).

// respMeta is what a response head carries for pairing.
type respMeta struct {
	seq, ack     tcp.Sequence // its first byte; the acknowledgement sent with it
	seqOK, ackOK bool
	behind       bool // the client half has yet to parse bytes before ack
	interim      bool // a 1xx: the final response to the same request is still to come
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

// pairResponse finds the request a response that started at t answers, or nil; a
// response counted off against a request given up (-max-pending) comes with that
// request's method, which frames it.
func (c *conn) pairResponse(t time.Time, m respMeta) (*exchange, string) {
	if len(c.owed) > 0 && !c.respGap {
		o := c.owed[0]
		if !m.interim {
			c.owed = c.owed[1:]
		}
		return nil, o.method
	}
	return c.pair(t, m), ""
}

// pair finds the request a response that started at t answers, or nil.
func (c *conn) pair(t time.Time, m respMeta) *exchange {
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
		// Its request was not seen: the responses that follow can no longer be
		// counted off against the requests.
		c.uncounted = true
		return nil
	}
	if x := c.pending[0]; c.counted(x) {
		c.pairedHoles = x.holes
		return x
	}
	// Responses or requests went by uncounted: on a client that waits for each response
	// the numbers single out the request (the newest it may answer; the older ones'
	// responses were lost or came without their request parsed); on a pipelining one
	// nothing does.
	k := n - 1
	x := c.pending[k]
	if c.pipelined || ((c.unproven || m.behind) && !c.sentForIt(x, m)) {
		if m.behind {
			c.noteLate(m.ack)
		}
		c.unproven, c.uncounted = true, true
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
	c.respGap, c.unproven, c.uncounted = false, false, false
	c.pairedHoles = x.holes
	c.settleOwed(x.reqSeq, x.seqOK)
	return x
}

// counted tells whether the response being paired answers x, the oldest request
// waiting, because the two streams have been counted off against each other since the
// last pairing: both were read from their start, no response went by without a request
// (lost, skipped, or unpaired), and no request bytes were lost or skipped before x.
// HTTP/1 answers in order, so the response is then the next request's, whether the
// client waits for each response or pipelines.
func (c *conn) counted(x *exchange) bool {
	return c.fromStart[0] && c.fromStart[1] && !c.respGap && !c.unproven && !c.uncounted && x.holes == c.pairedHoles
}

// settleOwed drops the requests given up because of MaxPending that start before seq:
// their responses came before the one being handled, unpaired or lost. Where a request's
// start is unknown, all are dropped.
func (c *conn) settleOwed(seq tcp.Sequence, ok bool) {
	n := 0
	for _, o := range c.owed {
		if ok && o.ok && o.seq.Difference(seq) <= 0 {
			break
		}
		n++
	}
	c.owed = c.owed[n:]
}

// answersLater tells whether a response with m, from a client that waits for each
// response, answers a request after x: the server had received the next request's first
// byte when it sent it, or bytes after x's end (more than the CR LF some clients send
// after a body) that the capture lost or the client half has not parsed yet, which may
// hold a request; such a client sends the next request only once it has all of x's
// response. Without this a response whose own request was lost, given up (-max-pending)
// or not parsed yet went to the oldest request waiting. Bytes after x that were parsed and
// are no request (a malformed one, which the server answers after x) do not count: the
// client sent them before it had x's response.
func (c *conn) answersLater(x *exchange, m respMeta) bool {
	switch {
	case !m.ackOK:
		return false
	case x.nextOK && x.nextSeq.Difference(m.ack) > 0:
		return true
	case m.behind || x.holeAfter:
		return !x.endOK || x.reqEndSeq.Add(2).Difference(m.ack) > 0
	}
	return false
}

// laterAnswered handles a response that answers a request after the n oldest waiting:
// their responses went by unpaired (or may have), so they are given up, and while the
// request it answers is not parsed yet no request starting before its acknowledgement is
// paired with a later response.
func (c *conn) laterAnswered(n int, m respMeta) *exchange {
	if m.behind {
		c.noteLate(m.ack)
	}
	c.settleOwed(m.ack, true)
	c.uncounted = true
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
// from the server than with the previous request, or with the byte before it, shows a
// pipelining client.
func (c *conn) sentAfter(x *exchange) {
	if p := c.lastReq; p != nil && p.sentAckOK && x.sentAckOK && x.sentAck.Difference(p.sentAck) >= 0 {
		c.pipelined = true
	}
	if x.prevAckOK && x.sentAckOK && x.sentAck.Difference(x.prevAck) >= 0 {
		// The bytes before it (a request the capture lost in part, or one not parsed)
		// went with no more of the server's bytes received: a client that waits has a
		// whole response between them.
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
