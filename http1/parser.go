package http1

import (
	"bytes"
	"slices"
	"sync/atomic"

	"sniffer/internal/bufpool"
	"sniffer/model"
)

// Role is what a direction of a connection carries: requests (Client) or responses
// (Server). A direction whose start was not captured has no role until a start line
// tells it.
type Role uint8

const (
	Unknown Role = iota
	Client
	Server
)

// Cause says why a message was given up.
type Cause uint8

const (
	Malformed Cause = iota // its bytes are no HTTP/1.x message
	Gap                    // bytes of it were lost (a hole in the stream)
	Closed                 // the direction ended (FIN or RST) inside it
	Flushed                // the direction was flushed inside it (idle timeout, end of the capture)
)

// Limits bound what a Parser keeps. One Limits is shared by every connection.
type Limits struct {
	MaxBodyBytes   int64 // body bytes kept per message; the rest is counted, not kept
	MaxHeaderBytes int   // largest head (start line + headers) accepted
	MaxHeaders     int   // most header lines per message
	// MaxHeadBytes bounds the bytes held in partial heads and lines over every Parser
	// that shares the Counters (Counters.HeadBytes): a slowloris bound.
	MaxHeadBytes int64
}

// Counters are what the parsers count, shared by every connection (atomics: safe to
// read from other goroutines).
type Counters struct {
	ParseErrors   atomic.Int64 // malformed messages skipped (the stream resynchronises)
	Tunnels       atomic.Int64 // CONNECT/Upgrade streams whose rest was skipped
	SkippedBytes  atomic.Int64 // bytes skipped while looking for the next message
	TruncatedBody atomic.Int64 // bodies cut at the body limit
	HeadBytes     atomic.Int64 // bytes held now in partial heads and lines, over all connections
}

// Conn is what a Parser needs from the connection whose direction it parses: the
// parser knows HTTP/1.x, the connection knows TCP (capture times, sequence numbers,
// which request a response answers). Offsets are those of the bytes being fed (see
// Parser.SetOffset); a negative one is a byte fed in an earlier call.
type Conn interface {
	// HeadStart says a message head begins: the parser is at off, and the head's
	// first byte is at first (before off when the head began in bytes kept earlier).
	HeadStart(off, first int)
	// Request takes a request head and returns the call it begins.
	Request(r model.Request) *model.Call
	// Response pairs a final response head (r), or an interim one (r nil), with its
	// request: it returns that request's call, or nil when there is none, and the
	// request's method when known even without a call (a response counted off against a
	// request given up): a HEAD's response has no body whatever its headers say.
	Response(r *model.Response) (*model.Call, string)
	// WaitForRequest tells whether the response head at off (begun in bytes kept
	// earlier when begun) must wait for the other direction: Feed then stops before it.
	WaitForRequest(off int, begun bool) bool
	// Done says the message ended with its byte at last.
	Done(last int)
	// Tunnel says the response just done turned the connection into a tunnel: the
	// other direction carries no more HTTP either.
	Tunnel()
	// Hole says bytes of the message's body were lost; its framing survives.
	Hole()
	// Abandon says the message being read (if any) was given up, and why; the parser
	// resynchronises on the next start line.
	Abandon(why Cause)
	// HeadCut says the direction ended (why) inside a head no call was made for;
	// startLike tells whether its first line starts a message of this direction.
	HeadCut(why Cause, startLike bool)
}

// state is where a half-stream parser stands in the HTTP/1.x grammar.
type state uint8

const (
	sSync      state = iota // looking for a start line (mid-stream start, after a gap or an error)
	sHead                   // reading a start line and headers
	sBody                   // reading a Content-Length body
	sChunkSize              // reading a chunk-size line
	sChunkData              // reading chunk data
	sChunkEnd               // reading the CRLF after chunk data
	sTrailer                // reading the trailer section
	sCloseBody              // reading a body that ends with the connection
	sTunnel                 // CONNECT or Upgrade: the rest is not HTTP
)

// maxLine bounds a chunk-size line and the partial line kept while resynchronising.
const maxLine = 4096

// Parser parses the bytes of one direction of a connection. A client direction
// produces requests, a server direction responses; one whose role is not known yet
// (capture started mid-connection) takes it from the first start line it finds.
type Parser struct {
	conn Conn
	lim  *Limits
	ctr  *Counters
	role Role
	st   state
	buf  []byte // a head, chunk line or partial line not complete yet
	held int    // cap(buf) as counted in Counters.HeadBytes
	// remaining is the number of bytes left in a fixed body or chunk; frame the
	// framing of the current body.
	remaining int64
	frame     framing
	call      *model.Call    // the call of the message being read; nil when none or discarding
	msg       *model.Message // where body bytes go; nil discards them
	// alt is the length to read a body said to be chunked by when its first line is no
	// chunk size (see responseFraming); lines counts the lines of a chunked body.
	alt   int64
	lines int
	// off is the offset in the bytes being fed of the byte being looked at.
	off int
}

// Init readies p for a direction with the given role (Unknown: to be learnt from the
// first start line, which is then looked for). lim and ctr are shared.
func (p *Parser) Init(conn Conn, role Role, lim *Limits, ctr *Counters) {
	p.conn, p.lim, p.ctr = conn, lim, ctr
	p.role = role
	if role != Unknown {
		p.st = sHead
	}
}

// Role is the direction's role, Unknown until learnt.
func (p *Parser) Role() Role { return p.role }

// SetRole sets the direction's role (the other direction's start line told it).
func (p *Parser) SetRole(r Role) { p.role = r }

// Syncing tells whether the parser is looking for a start line.
func (p *Parser) Syncing() bool { return p.st == sSync }

// Offset is the offset, in the bytes being fed, of the next byte; SetOffset sets it
// (to 0 before a new run of bytes is fed).
func (p *Parser) Offset() int       { return p.off }
func (p *Parser) SetOffset(off int) { p.off = off }

// Feed parses data, the next contiguous bytes of this direction, and returns how many
// it took: all of them, unless the connection asked a response to wait
// (Conn.WaitForRequest).
func (p *Parser) Feed(data []byte) int {
	defer p.hold()
	used := 0
	for len(data) > 0 {
		if p.st == sHead && p.mayRespond(data) && p.conn.WaitForRequest(p.off, len(p.buf) > 0) {
			break
		}
		n := p.step(data)
		data = data[n:]
		p.off += n
		used += n
	}
	return used
}

// mayRespond tells whether the head about to be read (in buf, or starting data) can be
// a response: the direction carries responses, or its role is unknown and it starts
// like a status line.
func (p *Parser) mayRespond(data []byte) bool {
	start := data
	if len(p.buf) > 0 {
		start = p.buf
	}
	return p.role == Server || p.role == Unknown && bytes.HasPrefix(start, []byte("HTTP/"))
}

// step consumes a prefix of data and returns its length.
func (p *Parser) step(data []byte) int {
	switch p.st {
	case sSync:
		return p.sync(data)
	case sHead:
		return p.head(data)
	case sBody, sChunkData:
		n := int(min(p.remaining, int64(len(data))))
		p.body(data[:n])
		p.remaining -= int64(n)
		if p.remaining == 0 {
			if p.st == sBody {
				p.done(p.off + n - 1)
			} else {
				p.st = sChunkEnd
			}
		}
		return n
	case sChunkSize:
		return p.chunkSize(data)
	case sChunkEnd:
		// CRLF (or a bare LF) after the chunk data.
		switch data[0] {
		case '\r':
			return 1
		case '\n':
			p.st = sChunkSize
			return 1
		}
		// Firefox does not look for the CRLF: it reads the next line as the next
		// chunk size (Chromium fails the response).
		p.mark(model.ChunkEndJunk)
		p.st = sChunkSize
		return 0
	case sTrailer:
		return p.trailer(data)
	case sCloseBody:
		p.body(data)
		return len(data)
	default: // sTunnel
		return len(data)
	}
}

// hold lets an empty buffer go and counts what the buffer holds in Counters.HeadBytes.
// The head cap bounds one connection; without a bound on the total, slowloris clients
// (each holding a head just under the cap, adding a line now and then) took memory in
// proportion to their number: 1,000 of them held 127 MiB, and max-streams of them
// could hold gigabytes. Buffers are counted by capacity, which is what they cost, and
// released when empty so that idle connections hold none.
func (p *Parser) hold() {
	if len(p.buf) == 0 {
		p.buf = nil
	}
	if d := cap(p.buf) - p.held; d != 0 {
		p.ctr.HeadBytes.Add(int64(d))
		p.held = cap(p.buf)
	}
}

// overBudget tells whether holding n bytes in this parser's buffer would take the bytes
// held over all connections past MaxHeadBytes.
func (p *Parser) overBudget(n int) bool {
	return p.ctr.HeadBytes.Load()+int64(n-p.held) > p.lim.MaxHeadBytes
}

// sync looks for the next start line of the kind this direction carries. Only whole
// lines are tested; a partial last line is kept (bounded) for the next call.
func (p *Parser) sync(data []byte) int {
	wantReq, wantResp := p.role != Server, p.role != Client
	carried := len(p.buf)
	b := data
	if carried > 0 {
		p.buf = append(p.buf, data...)
		b = p.buf
	}
	var blank blankLine
	for start := 0; start < len(b); {
		nl := bytes.IndexByte(b[start:], '\n')
		if nl < 0 {
			rest := b[start:]
			p.ctr.SkippedBytes.Add(int64(start))
			if len(rest) > maxLine || p.overBudget(len(rest)) {
				p.ctr.SkippedBytes.Add(int64(len(rest)))
				p.buf = p.buf[:0]
			} else {
				p.buf = append(p.buf[:0], rest...)
			}
			return len(data)
		}
		k := startIn(TrimEOL(b[start:start+nl+1]), wantReq, wantResp)
		if k < 0 || !p.plausibleHead(b, start+k, k > 0, &blank) {
			start += nl + 1
			continue
		}
		start += k
		p.ctr.SkippedBytes.Add(int64(start))
		p.st = sHead
		if start >= carried {
			p.buf = p.buf[:0]
			return start - carried
		}
		// The start line began in the carried bytes: keep them as the head's start.
		p.buf = append(p.buf[:0], p.buf[start:carried]...)
		p.conn.HeadStart(p.off, p.off-(carried-start))
		return 0
	}
	p.ctr.SkippedBytes.Add(int64(len(b)))
	p.buf = p.buf[:0]
	return len(data)
}

// plausibleHead tells whether b[at:], which starts with a start line, holds a head that
// parses, or (unless whole is asked for) not all of it yet: resynchronisation must not
// take body content that looks like a start line (a JSON value "HTTP/1.1 200 OK") when
// what follows is not a head. A start line found inside a line (after the tail of a
// body) must come with its whole head.
//
// sync asks this of every start-like line of what it searches, at growing offsets, and
// blank remembers where the first blank line after them is: looking for it from each
// line again read the rest of b once a line (and parseFields counted the lines to it
// again), so that a segment of 64 KiB of start-like lines ("A B HTTP/1.1\n", then a
// blank line) took 0.4-0.5 s to search; 1.5 ms now (TestSyncLinear).
func (p *Parser) plausibleHead(b []byte, at int, whole bool, blank *blankLine) bool {
	end := blank.find(b, at)
	if end < 0 {
		return !whole
	}
	_, _, err := parseHead(b[at:end], p.lim.MaxHeaders, false, nil)
	return err == nil
}

// blankLine is where headEnd found the end of a head in one buffer, searching from
// from: the first blank line after from ends at end (-1: there is none). A head starting
// further on, but before that blank line, ends there too.
type blankLine struct {
	from, end int
	known     bool
}

// find returns headEnd(b, at): the end of the head that starts at at, or -1. It reads b
// again only past the blank line, or for an offset before the last one.
func (bl *blankLine) find(b []byte, at int) int {
	// The blank line's LF pair begins at end-3 ("\n\r\n") or end-2 ("\n\n"): a head
	// that starts before end-3 holds its first LF.
	if !bl.known || at < bl.from || bl.end >= 0 && at >= bl.end-3 {
		bl.from, bl.end, bl.known = at, headEnd(b, at), true
	}
	return bl.end
}

// head gathers a message head and acts on it once the blank line is there.
func (p *Parser) head(data []byte) int {
	if len(p.buf) == 0 {
		p.conn.HeadStart(p.off, p.off)
		// Common case: the whole head is in this chunk; parse it in place.
		if end := headEnd(data, 0); end >= 0 && (data[0] != '\r' && data[0] != '\n') {
			if !p.onHead(data[:end], p.off+end-1) {
				p.badHead(nil)
				return 1
			}
			return end
		}
		// Stray blank lines between messages are allowed (RFC 9112 2.2).
		if data[0] == '\n' || data[0] == '\r' {
			return 1
		}
	}
	head, used := p.gather(data)
	if head != nil && !p.onHead(head, p.off+used-1) {
		p.badHead(head)
	}
	return used
}

// badHead gives up a head that does not parse and resynchronises from its second byte,
// not from its end: the start line of the next message can be inside it, glued to the
// tail of a body whose length was wrong ("xyzHTTP/1.1 200 OK"). kept is the head when
// it was gathered from earlier segments (it is searched again), nil when it is still in
// the data being fed (the caller takes only its first byte).
func (p *Parser) badHead(kept []byte) {
	p.fail(Malformed)
	p.ctr.SkippedBytes.Add(1)
	if len(kept) > 1 {
		p.buf = append(p.buf[:0], kept[1:]...)
	}
}

// gather keeps the bytes of a head or a trailer section that arrives in pieces. Once
// the blank line that ends it is there, it returns the section (valid until p.buf is
// next used) and how many bytes of data it took; until then it takes all of data, and
// gives the message up past the head limits.
func (p *Parser) gather(data []byte) (block []byte, used int) {
	from := max(0, len(p.buf)-3)
	p.buf = append(p.buf, data...)
	end := headEnd(p.buf, from)
	if end < 0 {
		if len(p.buf) > p.lim.MaxHeaderBytes || p.overBudget(cap(p.buf)) {
			p.fail(Malformed)
		}
		return nil, len(data)
	}
	used = end - (len(p.buf) - len(data))
	block = p.buf[:end]
	p.buf = p.buf[:0]
	return block, used
}

// onHead acts on a complete head; last is the offset of its final byte. It reports
// false, doing nothing, when the head does not parse as a message of this direction.
func (p *Parser) onHead(b []byte, last int) bool {
	var odd oddities
	sl, hs, err := parseHead(b, p.lim.MaxHeaders, p.role != Unknown, &odd)
	if err != nil || (sl.request && p.role == Server) || (!sl.request && p.role == Client) {
		return false
	}
	if sl.request {
		p.role = Client
		p.onRequest(sl, hs, last, odd)
	} else {
		p.role = Server
		p.onResponse(sl, hs, last, odd)
	}
	return true
}

// mark records an anomaly of the message being read on its call.
func (p *Parser) mark(names ...string) {
	if p.call == nil {
		return
	}
	side := "response"
	if p.role == Client {
		side = "request"
	}
	for _, n := range names {
		p.call.Mark(side, n)
	}
}

func (p *Parser) onRequest(sl startLine, hs []model.Header, last int, odd oddities) {
	call := p.conn.Request(model.Request{Method: sl.method, Target: sl.target, Message: model.Message{Proto: sl.proto, Headers: hs}})
	p.call, p.msg = call, &call.Request.Message
	fr, n := requestFraming(sl.proto, hs, &odd)
	p.mark(odd...)
	p.startBody(fr, n, last)
}

func (p *Parser) onResponse(sl startLine, hs []model.Header, last int, odd oddities) {
	if interim(sl.status) {
		// The final response is still to come.
		if call, _ := p.conn.Response(nil); call != nil {
			call.Interim = append(call.Interim, sl.status)
			for _, a := range odd {
				call.Mark("response", a)
			}
		}
		return
	}
	resp := &model.Response{Status: sl.status, Reason: sl.reason, Message: model.Message{Proto: sl.proto, Headers: hs}}
	call, method := p.conn.Response(resp)
	p.call, p.msg = call, nil
	if call != nil {
		p.msg = &resp.Message
	}
	fr, n := responseFraming(method, sl.status, sl.proto, hs, &odd)
	p.mark(odd...)
	p.startBody(fr, n, last)
}

func (p *Parser) startBody(fr framing, n int64, last int) {
	p.frame = fr
	switch fr {
	case noBody:
		p.done(last)
	case fixedBody:
		p.st, p.remaining = sBody, n
		if p.msg != nil {
			p.msg.Body = bufpool.Get(int(min(n, p.lim.MaxBodyBytes)))
		}
	case chunkedBody:
		p.st, p.alt, p.lines = sChunkSize, n, 0
	case closeBody:
		p.st = sCloseBody
	case tunnelBody:
		p.done(last)
	}
}

// body keeps body bytes up to the body limit and counts the rest.
func (p *Parser) body(b []byte) {
	m := p.msg
	if m == nil {
		return
	}
	m.BodySize += int64(len(b))
	room := p.lim.MaxBodyBytes - int64(len(m.Body))
	if room >= int64(len(b)) {
		m.Body = append(m.Body, b...)
		return
	}
	if room > 0 {
		m.Body = append(m.Body, b[:room]...)
	}
	if !m.Truncated {
		m.Truncated = true
		p.ctr.TruncatedBody.Add(1)
	}
}

// reserve makes room in the body for n bytes about to come (a chunk's size), within the
// body limit, so that a chunked body grows once a chunk rather than by append's steps as
// its segments come (a copy and a cleared tail each time: 7% of a -decode=false run's
// CPU on the bench capture, whose gzip bodies come as one chunk). A chunk size is
// trusted no further than a Content-Length is (startBody): at most the body limit.
func (p *Parser) reserve(n int64) {
	m := p.msg
	if m == nil {
		return
	}
	if room := min(n, p.lim.MaxBodyBytes-int64(len(m.Body))); room > int64(cap(m.Body)-len(m.Body)) {
		if m.Body == nil {
			m.Body = bufpool.Get(int(room))
			return
		}
		m.Body = slices.Grow(m.Body, int(room))
	}
}

// cut ends the message being read at a point no client reads past (a chunk size that is
// no number): the call keeps the body up to there, marked truncated and with the
// anomaly, and the parser resynchronises on the next message.
func (p *Parser) cut(anomaly string) {
	p.mark(anomaly)
	if p.msg != nil {
		p.msg.Truncated = true
	}
	p.done(p.off - 1)
	p.st = sSync
}

// done ends the current message; last is the offset of its final byte.
func (p *Parser) done(last int) {
	fr := p.frame
	p.call, p.msg, p.st, p.frame = nil, nil, sHead, noBody
	p.conn.Done(last)
	if fr == tunnelBody && p.role != Client {
		p.ctr.Tunnels.Add(1)
		p.st = sTunnel
		p.conn.Tunnel()
	}
}

// fail abandons the message being read and looks for the next one.
func (p *Parser) fail(why Cause) {
	if why == Malformed {
		p.ctr.ParseErrors.Add(1)
	}
	p.call, p.msg, p.st, p.frame = nil, nil, sSync, noBody
	p.ctr.SkippedBytes.Add(int64(len(p.buf))) // a partial head or line, given up
	p.buf = p.buf[:0]
	p.conn.Abandon(why)
}

// Tunnel stops parsing: the other direction turned the connection into a tunnel.
func (p *Parser) Tunnel() {
	p.st = sTunnel
	p.call, p.msg = nil, nil
}

// Detach lets go of the message being read: its call was finished without it (the
// response came before the request ended). Its bytes are still parsed, not kept.
func (p *Parser) Detach() {
	p.call, p.msg = nil, nil
}

// Reset gives up whatever this direction held and looks for a start line: it is not
// (or not yet known to be) HTTP.
func (p *Parser) Reset() {
	p.ctr.SkippedBytes.Add(int64(len(p.buf)))
	p.buf = p.buf[:0]
	p.call, p.msg, p.st = nil, nil, sSync
	p.hold()
}

// Gap handles skip lost bytes before the data about to be fed. Inside a body whose
// length is known (Content-Length, or a chunk) the framing survives the hole: the
// message is marked incomplete, its body is kept only up to the hole, and parsing goes
// on at the right byte, so that the next message on the connection is not lost with it
// (its start line would otherwise follow the body's tail on one line, and resync would
// never find it). Elsewhere the message is abandoned and the parser resynchronises.
func (p *Parser) Gap(skip int) {
	defer p.hold()
	switch p.st {
	case sTunnel:
		return
	case sSync:
		p.buf = p.buf[:0]
		return
	}
	switch {
	case (p.st == sBody || p.st == sChunkData) && int64(skip) <= p.remaining:
		p.holed()
		p.remaining -= int64(skip)
		if p.remaining == 0 {
			if p.st == sBody {
				p.done(-1)
			} else {
				p.st = sChunkEnd
			}
		}
		return
	case p.st == sCloseBody:
		p.holed()
		return
	}
	p.fail(Gap)
}

// holed marks the message being read as incomplete, a hole in its body: the body bytes
// after the hole are counted, not kept, so that no body is ever the bytes before a hole
// glued to the bytes after it.
func (p *Parser) holed() {
	p.conn.Hole()
	if p.msg != nil {
		p.msg.Truncated = true
	}
	p.msg = nil
}

// End handles the end of this direction: a FIN or RST was reached (fin), or the stream
// was flushed without one (idle timeout, end of the capture).
func (p *Parser) End(fin bool) {
	defer func() {
		// Nothing more comes this way: a partial line still kept goes, counted.
		p.ctr.SkippedBytes.Add(int64(len(p.buf)))
		p.buf = p.buf[:0]
		p.hold()
	}()
	if p.st == sCloseBody && fin {
		p.done(p.off - 1)
		return
	}
	if fin && p.chunkedEnd() {
		return
	}
	if p.st == sSync || p.st == sTunnel || (p.st == sHead && len(p.buf) == 0) {
		return
	}
	why := Closed
	if !fin {
		why = Flushed
	}
	if p.call == nil && p.st == sHead {
		// A head that never ended: a message cut short (slowloris, a snap length that
		// cut its segments, the end of the capture) or bytes that never were HTTP (TLS,
		// SSH) held while waiting for a blank line. No call was made for it, so the
		// connection counts it.
		nl := bytes.IndexByte(p.buf, '\n')
		p.conn.HeadCut(why, nl >= 0 && LooksLikeStart(TrimEOL(p.buf[:nl+1]), p.role != Server, p.role != Client))
	}
	p.fail(why)
}

// DefaultLimits are the limits sniffer uses unless told otherwise.
func DefaultLimits() Limits {
	return Limits{MaxBodyBytes: 1 << 20, MaxHeaderBytes: 64 << 10, MaxHeaders: 256, MaxHeadBytes: 64 << 20}
}
