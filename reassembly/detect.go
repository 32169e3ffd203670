package reassembly

import "sniffer/http1"

// Any-port detection (Config.Detect). Reading a capture with no ports set, or with
// APP_PORTS=any, every TCP connection reaches the reassembler, most of them not HTTP
// (TLS, SSH, databases). Each is decided from its first bytes, as tshark's heuristic
// does: a connection is HTTP once one of its directions starts with an HTTP/1.x start
// line (a request line in the client's direction, a status line in the server's). A
// direction whose first bytes cannot start one is given up at once (a TLS record is
// refused at its first byte) and its bytes are ignored instead of being scanned for
// start lines; a connection none of whose directions proved HTTP is counted in
// Stats.NotHTTP when it ends.

// verdict is what detection knows about a connection or one of its directions.
type verdict uint8

const (
	undecided verdict = iota
	isHTTP
	notHTTP
	// maybeHTTP is a direction whose first line is a request line only when read
	// leniently ("GET /", "OPTIONS HTTP/1.1": servers answer them 400): it is parsed,
	// and the connection is HTTP once the server's answer is a status line.
	maybeHTTP
)

// maxMidstreamScan bounds the bytes of a connection open before the capture (the
// start of a direction was not captured) that are searched for a start line before
// the connection is taken for something else: a capture that starts inside a long body
// finds the next message well within it, and a binary stream costs no more than this.
const maxMidstreamScan = 256 << 10

// sniff runs, while the connection is not yet known to be HTTP, before data is parsed.
// It returns false when data must not be parsed: this direction is not HTTP.
func (h *half) sniff(data []byte) bool {
	c := h.c
	switch h.kind {
	case notHTTP:
		return false
	case maybeHTTP:
		return true
	}
	c.sawData = true
	if h.midstream || h.p.Syncing() && h.role() == http1.Unknown && len(h.line) == 0 {
		// The direction's start was not seen: whatever comes first may be the tail of
		// a body. The normal resynchronisation looks for a start line, within a bound.
		h.midstream = true
		if c.scanned >= maxMidstreamScan {
			h.giveUp()
			if o := h.other(); o.kind != notHTTP {
				o.giveUp()
			}
			return false
		}
		return true // counted as searched by half.feed
	}
	wantReq, wantResp := h.role() != http1.Server, h.role() != http1.Client
	for _, b := range data {
		if len(h.line) == 0 && (b == '\r' || b == '\n') {
			continue // blank lines before a request are allowed (RFC 9112 2.2)
		}
		if b == '\n' {
			line := http1.TrimEOL(h.line)
			switch {
			case http1.LooksLikeStart(line, wantReq, wantResp):
				c.kind = isHTTP
			case wantReq && h.other().kind != notHTTP && http1.LenientRequest(line):
				h.kind = maybeHTTP
			default:
				h.giveUp()
				return false
			}
			h.line = nil
			return true
		}
		if len(h.line) >= h.c.a.cfg.MaxHeaderBytes || !http1.CouldStart(h.line, b, wantReq, wantResp) {
			h.giveUp()
			return false
		}
		h.line = append(h.line, b)
	}
	return true
}

// giveUp marks this direction as not HTTP: what it held is dropped, and once the other
// direction proves the connection HTTP (a 400 answering a request line no parser takes)
// it resynchronises on the next start line from there.
func (h *half) giveUp() {
	h.kind = notHTTP
	h.line = nil
	h.p.Reset()
	h.x = nil
	if o := h.other(); o.kind == maybeHTTP {
		// Neither side speaks HTTP: the requests read leniently were none.
		o.giveUp()
		h.c.pending = nil
	}
}
