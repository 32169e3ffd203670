package reassembly

import "bytes"

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

// maxMethod is the longest method token taken for a request line's first word.
const maxMethod = 32

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
	if h.midstream || h.st == sSync && h.role == roleUnknown && len(h.line) == 0 {
		// The direction's start was not seen: whatever comes first may be the tail of
		// a body. The normal resynchronisation looks for a start line, within a bound.
		h.midstream = true
		c.scanned += len(data)
		if c.scanned > maxMidstreamScan {
			h.giveUp()
			if o := h.other(); o.kind != notHTTP {
				o.giveUp()
			}
			return false
		}
		return true
	}
	wantReq, wantResp := h.role != roleServer, h.role != roleClient
	for _, b := range data {
		if len(h.line) == 0 && (b == '\r' || b == '\n') {
			continue // blank lines before a request are allowed (RFC 9112 2.2)
		}
		if b == '\n' {
			line := trimEOL(h.line)
			switch {
			case looksLikeStart(line, wantReq, wantResp):
				c.kind = isHTTP
			case wantReq && h.other().kind != notHTTP && lenientRequest(line):
				h.kind = maybeHTTP
			default:
				h.giveUp()
				return false
			}
			h.line = nil
			return true
		}
		if !h.mayStart(b, wantReq, wantResp) {
			h.giveUp()
			return false
		}
		h.line = append(h.line, b)
	}
	return true
}

// mayStart tells whether the first line read so far (h.line) followed by b can still
// be the start of an HTTP/1.x message of the wanted kind.
func (h *half) mayStart(b byte, wantReq, wantResp bool) bool {
	n := len(h.line)
	if n >= h.c.a.cfg.MaxHeaderBytes {
		return false
	}
	const proto = "HTTP/1."
	if wantResp && n < len(proto) && bytes.HasPrefix([]byte(proto), append(h.line[:n:n], b)) {
		return true // a status line so far (and "HTTP" is also a method token)
	}
	if wantResp && !wantReq {
		return n >= len(proto) && (b >= ' ' && b < 0x7f || b == '\t' || b == '\r')
	}
	if sp := bytes.IndexByte(h.line, ' '); sp < 0 {
		// Still in the first word: a method token, then a space.
		return isTchar(b) && n < maxMethod || b == ' ' && n > 0
	}
	// The target and the protocol: no control bytes (a raw UTF-8 target passes).
	return b >= ' ' && b != 0x7f || b == '\t' || b == '\r'
}

// lenientRequest tells whether line is a request line when read leniently, with a
// method in upper case as methods are in practice ("SSH-2.0-OpenSSH_9.6 x" is not).
func lenientRequest(line []byte) bool {
	sl, err := parseStartLine(line, true, nil)
	return err == nil && sl.request && upperMethod(line)
}

// giveUp marks this direction as not HTTP: what it held is dropped, and once the other
// direction proves the connection HTTP (a 400 answering a request line no parser takes)
// it resynchronises on the next start line from there.
func (h *half) giveUp() {
	h.kind = notHTTP
	h.line = nil
	h.c.a.stats.SkippedBytes.Add(int64(len(h.buf)))
	h.buf = h.buf[:0]
	h.x, h.msg, h.st = nil, nil, sSync
	h.hold()
	if o := h.other(); o.kind == maybeHTTP {
		// Neither side speaks HTTP: the requests read leniently were none.
		o.giveUp()
		h.c.pending = nil
	}
}
