package reassembly

import (
	"bytes"
	"slices"
	"time"

	tcp "github.com/gopacket/gopacket/reassembly"

	"sniffer/model"
)

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

type role uint8

const (
	roleUnknown role = iota
	roleClient
	roleServer
)

// maxLine bounds a chunk-size line and the partial line kept while resynchronising.
const maxLine = 4096

// half parses the bytes of one direction of a connection. A client half produces
// requests, a server half responses; a half whose role is not known yet (capture started
// mid-connection) takes it from the first start line it finds.
type half struct {
	c    *conn
	role role
	st   state
	buf  []byte // a head, chunk line or partial line not complete yet
	held int    // cap(buf) as counted in Stats.HeadBytes
	// headAt is the capture time of the first byte of the head being read.
	headAt    time.Time
	remaining int64          // bytes left in a fixed body or chunk
	frame     framing        // framing of the current body
	x         *exchange      // the exchange this half works on; nil when none or discarding
	msg       *model.Message // where body bytes go; nil discards them
	ended     bool           // FIN or RST seen
	// alt is the length to read a body said to be chunked by when its first line is no
	// chunk size (see responseFraming); lines counts the lines of a chunked body.
	alt   int64
	lines int
	// off is the offset in the bytes being parsed (conn.src) of the byte being looked
	// at, used to find capture times and TCP numbers; seq is the sequence number of the
	// byte at offset 0 (when seqOK), next that of the first byte not delivered yet.
	off       int
	seq, next tcp.Sequence
	seqOK     bool
	// headSeq and headSeg are the sequence number of the head being read and the
	// segment that carried its first byte.
	headSeq tcp.Sequence
	headSeg *context
	// waiting is what a server half keeps while a response waits for its request (see
	// waits); resuming is set while it is parsed, noWait when it must not wait again.
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

// feed parses data, the next contiguous bytes of this direction.
func (h *half) feed(data []byte) {
	if h.c.kind != isHTTP && !h.sniff(data) {
		return
	}
	defer h.hold()
	if h.waiting != nil {
		h.stall(h.off, data) // a response before these bytes waits: keep the order
		return
	}
	for len(data) > 0 {
		if h.waits(h.off, data) {
			h.stall(h.off, data)
			return
		}
		n := h.step(data)
		data = data[n:]
		h.off += n
	}
}

// step consumes a prefix of data and returns its length.
func (h *half) step(data []byte) int {
	switch h.st {
	case sSync:
		return h.sync(data)
	case sHead:
		return h.head(data)
	case sBody, sChunkData:
		n := int(min(h.remaining, int64(len(data))))
		h.body(data[:n])
		h.remaining -= int64(n)
		if h.remaining == 0 {
			if h.st == sBody {
				h.done(h.off + n - 1)
			} else {
				h.st = sChunkEnd
			}
		}
		return n
	case sChunkSize:
		return h.chunkSize(data)
	case sChunkEnd:
		// CRLF (or a bare LF) after the chunk data.
		switch data[0] {
		case '\r':
			return 1
		case '\n':
			h.st = sChunkSize
			return 1
		}
		// Firefox does not look for the CRLF: it reads the next line as the next
		// chunk size (Chromium fails the response).
		h.mark(model.ChunkEndJunk)
		h.st = sChunkSize
		return 0
	case sTrailer:
		return h.trailer(data)
	case sCloseBody:
		h.body(data)
		return len(data)
	default: // sTunnel
		return len(data)
	}
}

// hold lets an empty buffer go and counts what the buffer holds in Stats.HeadBytes.
// The head cap bounds one connection; without a bound on the total, slowloris clients
// (each holding a head just under the cap, adding a line now and then) took memory in
// proportion to their number: 1,000 of them held 127 MiB, and max-streams of them
// could hold gigabytes. Buffers are counted by capacity, which is what they cost, and
// released when empty so that idle connections hold none.
func (h *half) hold() {
	if len(h.buf) == 0 {
		h.buf = nil
	}
	if d := cap(h.buf) - h.held; d != 0 {
		h.c.a.stats.HeadBytes.Add(int64(d))
		h.held = cap(h.buf)
	}
}

// overBudget tells whether holding n bytes in this half's buffer would take the bytes
// held over all connections past MaxHeadBytes.
func (h *half) overBudget(n int) bool {
	return h.c.a.stats.HeadBytes.Load()+int64(n-h.held) > h.c.a.cfg.MaxHeadBytes
}

// sync looks for the next start line of the kind this half carries. Only whole lines
// are tested; a partial last line is kept (bounded) for the next call.
func (h *half) sync(data []byte) int {
	wantReq, wantResp := h.role != roleServer, h.role != roleClient
	carried := len(h.buf)
	p := data
	if carried > 0 {
		h.buf = append(h.buf, data...)
		p = h.buf
	}
	for start := 0; start < len(p); {
		nl := bytes.IndexByte(p[start:], '\n')
		if nl < 0 {
			rest := p[start:]
			h.c.a.stats.SkippedBytes.Add(int64(start))
			if len(rest) > maxLine || h.overBudget(len(rest)) {
				h.c.a.stats.SkippedBytes.Add(int64(len(rest)))
				h.buf = h.buf[:0]
			} else {
				h.buf = append(h.buf[:0], rest...)
			}
			return len(data)
		}
		k := startIn(trimEOL(p[start:start+nl+1]), wantReq, wantResp)
		if k < 0 || !h.plausibleHead(p[start+k:], k > 0) {
			start += nl + 1
			continue
		}
		start += k
		h.c.a.stats.SkippedBytes.Add(int64(start))
		h.st = sHead
		if start >= carried {
			h.buf = h.buf[:0]
			return start - carried
		}
		// The start line began in the carried bytes: keep them as the head's start.
		h.buf = append(h.buf[:0], h.buf[start:carried]...)
		h.headAt = h.c.at(h.off)
		h.headSeq, h.headSeg = h.seq.Add(h.off-(carried-start)), h.c.seg(h.off)
		return 0
	}
	h.c.a.stats.SkippedBytes.Add(int64(len(p)))
	h.buf = h.buf[:0]
	return len(data)
}

// plausibleHead tells whether b, which starts with a start line, holds a head that
// parses, or (unless whole is asked for) not all of it yet: resynchronisation must not
// take body content that looks like a start line (a JSON value "HTTP/1.1 200 OK") when
// what follows is not a head. A start line found inside a line (after the tail of a
// body) must come with its whole head.
func (h *half) plausibleHead(b []byte, whole bool) bool {
	end := headEnd(b, 0)
	if end < 0 {
		return !whole
	}
	_, _, err := parseHead(b[:end], h.c.a.cfg.MaxHeaders, false, nil)
	return err == nil
}

// head gathers a message head and acts on it once the blank line is there.
func (h *half) head(data []byte) int {
	if len(h.buf) == 0 {
		h.headAt = h.c.at(h.off)
		h.headSeq, h.headSeg = h.seq.Add(h.off), h.c.seg(h.off)
		// Common case: the whole head is in this chunk; parse it in place.
		if end := headEnd(data, 0); end >= 0 && (data[0] != '\r' && data[0] != '\n') {
			if !h.onHead(data[:end], h.off+end-1) {
				h.badHead(nil)
				return 1
			}
			return end
		}
		// Stray blank lines between messages are allowed (RFC 9112 2.2).
		if data[0] == '\n' || data[0] == '\r' {
			return 1
		}
	}
	head, used := h.gather(data)
	if head != nil && !h.onHead(head, h.off+used-1) {
		h.badHead(head)
	}
	return used
}

// badHead gives up a head that does not parse and resynchronises from its second byte,
// not from its end: the start line of the next message can be inside it, glued to the
// tail of a body whose length was wrong ("xyzHTTP/1.1 200 OK"). kept is the head when
// it was gathered from earlier segments (it is searched again), nil when it is still in
// the data being fed (the caller takes only its first byte).
func (h *half) badHead(kept []byte) {
	h.fail(nil)
	h.c.a.stats.SkippedBytes.Add(1)
	if len(kept) > 1 {
		h.buf = append(h.buf[:0], kept[1:]...)
	}
}

// gather keeps the bytes of a head or a trailer section that arrives in pieces. Once
// the blank line that ends it is there, it returns the section (valid until h.buf is
// next used) and how many bytes of data it took; until then it takes all of data, and
// gives the message up past the head limits.
func (h *half) gather(data []byte) (block []byte, used int) {
	from := max(0, len(h.buf)-3)
	h.buf = append(h.buf, data...)
	end := headEnd(h.buf, from)
	if end < 0 {
		if len(h.buf) > h.c.a.cfg.MaxHeaderBytes || h.overBudget(cap(h.buf)) {
			h.fail(nil)
		}
		return nil, len(data)
	}
	used = end - (len(h.buf) - len(data))
	block = h.buf[:end]
	h.buf = h.buf[:0]
	return block, used
}

// onHead acts on a complete head; last is the offset of its final byte. It reports
// false, doing nothing, when the head does not parse as a message of this direction.
func (h *half) onHead(b []byte, last int) bool {
	var odd oddities
	sl, hs, err := parseHead(b, h.c.a.cfg.MaxHeaders, h.role != roleUnknown, &odd)
	if err != nil || (sl.request && h.role == roleServer) || (!sl.request && h.role == roleClient) {
		return false
	}
	if h.role == roleUnknown {
		h.c.setRoles(h, sl.request)
	}
	if h.kind != maybeHTTP {
		h.c.kind = isHTTP
	}
	if sl.request {
		h.onRequest(sl, hs, last, odd)
	} else {
		h.onResponse(sl, hs, last, odd)
	}
	return true
}

// mark records an anomaly of the message being read on its call.
func (h *half) mark(names ...string) {
	if h.x == nil {
		return
	}
	side := "response"
	if h.role == roleClient {
		side = "request"
	}
	for _, n := range names {
		h.x.call.Mark(side, n)
	}
}

func (h *half) onRequest(sl startLine, hs []model.Header, last int, odd oddities) {
	c := h.c
	x := c.newExchange(h.headAt)
	x.reqSeq, x.seqOK = h.headSeq, h.seqOK
	if g := h.headSeg; g != nil && g.ackOK {
		x.sentAck, x.sentAckOK = g.ack, true
	}
	c.sentAfter(x)
	call := x.call
	call.Request = model.Request{Method: sl.method, Target: sl.target, Message: model.Message{Proto: sl.proto, Headers: hs}}
	call.URL = c.url(&call.Request)
	h.x, h.msg = x, &call.Request.Message
	fr, n := requestFraming(sl.proto, hs, &odd)
	h.mark(odd...)
	h.startBody(fr, n, last)
}

func (h *half) onResponse(sl startLine, hs []model.Header, last int, odd oddities) {
	c := h.c
	m := respMeta{seq: h.headSeq, seqOK: h.seqOK}
	if g := h.headSeg; g != nil && g.ackOK {
		m.ack, m.ackOK = g.ack, true
	}
	x := c.pairResponse(h.headAt, m)
	method := ""
	if x != nil {
		method = x.call.Request.Method
	}
	if sl.status/100 == 1 && sl.status != 101 {
		// An interim response: the final one is still to come.
		if x != nil {
			x.call.Interim = append(x.call.Interim, sl.status)
			for _, a := range odd {
				x.call.Mark("response", a)
			}
		}
		return
	}
	resp := &model.Response{Status: sl.status, Reason: sl.reason, Message: model.Message{Proto: sl.proto, Headers: hs}}
	h.x, h.msg = x, nil
	if x != nil {
		x.resp = resp
		h.msg = &resp.Message
	}
	fr, n := responseFraming(method, sl.status, sl.proto, hs, &odd)
	h.mark(odd...)
	h.startBody(fr, n, last)
}

func (h *half) startBody(fr framing, n int64, last int) {
	h.frame = fr
	switch fr {
	case noBody:
		h.done(last)
	case fixedBody:
		h.st, h.remaining = sBody, n
		if h.msg != nil {
			h.msg.Body = make([]byte, 0, min(n, h.c.a.cfg.MaxBodyBytes))
		}
	case chunkedBody:
		h.st, h.alt, h.lines = sChunkSize, n, 0
	case closeBody:
		h.st = sCloseBody
	case tunnelBody:
		h.done(last)
	}
}

// body keeps body bytes up to the body limit and counts the rest.
func (h *half) body(p []byte) {
	m := h.msg
	if m == nil {
		return
	}
	m.BodySize += int64(len(p))
	room := h.c.a.cfg.MaxBodyBytes - int64(len(m.Body))
	if room >= int64(len(p)) {
		m.Body = append(m.Body, p...)
		return
	}
	if room > 0 {
		m.Body = append(m.Body, p[:room]...)
	}
	if !m.Truncated {
		m.Truncated = true
		h.c.a.stats.TruncatedBody.Add(1)
	}
}

func (h *half) chunkSize(data []byte) int {
	nl := bytes.IndexByte(data, '\n')
	if nl < 0 {
		h.buf = append(h.buf, data...)
		if len(h.buf) > maxLine || h.overBudget(cap(h.buf)) {
			h.fail(nil)
		}
		return len(data)
	}
	line := data[:nl+1]
	carried := len(h.buf)
	if carried > 0 {
		h.buf = append(h.buf, line...)
		line = h.buf
	}
	if line[0] == '\n' || line[0] == '\r' && len(line) == 2 {
		// An empty line where a size was due: Firefox skips it (Chromium fails).
		h.buf = h.buf[:0]
		h.mark(model.ChunkBlankLine)
		h.lines++
		return nl + 1
	}
	var odd oddities
	if line[len(line)-2] != '\r' {
		odd.add(model.BareLF)
	}
	size, ok := parseChunkSize(line, &odd)
	if !ok {
		h.buf = h.buf[:carried] // what reframe reads as body; data is read again
		if h.lines == 0 && h.reframe() {
			return 0
		}
		h.buf = h.buf[:0]
		h.cut(model.BadChunk)
		return 0
	}
	h.buf = h.buf[:0]
	h.mark(odd...)
	h.lines++
	if size == 0 {
		h.st = sTrailer
	} else {
		h.st, h.remaining = sChunkData, size
	}
	return nl + 1
}

// trailer reads the trailer section after the last chunk, up to its blank line.
func (h *half) trailer(data []byte) int {
	if len(h.buf) == 0 {
		if data[0] == '\n' {
			h.done(h.off)
			return 1
		}
		if data[0] == '\r' && len(data) > 1 && data[1] == '\n' {
			h.done(h.off + 1)
			return 2
		}
	}
	if len(h.buf) == 1 && h.buf[0] == '\r' && data[0] == '\n' {
		// An empty trailer section whose CRLF was split between two chunks.
		h.buf = h.buf[:0]
		h.done(h.off)
		return 1
	}
	block, used := h.gather(data)
	if block == nil {
		return used
	}
	h.trailers(block)
	h.done(h.off + used - 1)
	return used
}

// trailers keeps the trailer fields of the message being read. Lines after the last
// chunk that are no fields ("0\r\nfoobar\r\n") are skipped by both browsers.
func (h *half) trailers(block []byte) {
	var odd oddities
	tr, err := parseFields(block, h.c.a.cfg.MaxHeaders, true, &odd)
	if i := slices.Index(odd, model.HeaderJunk); i >= 0 {
		odd[i] = model.TrailerJunk
	}
	h.mark(odd...)
	if err == nil && h.msg != nil {
		h.msg.Trailers = tr
	}
}

// reframe reads a body said to be chunked whose first line is no chunk size by its
// Content-Length, or, for a response without one on a connection that closes after it,
// until the close: servers
// that name chunked without chunking exist (HTTP/1.0 ones, and evasions rely on it), and
// this keeps their body where a browser that ignores the header (Chromium on HTTP/1.0)
// shows it. Bytes of the line kept from an earlier segment are read as body first.
func (h *half) reframe() bool {
	switch {
	case h.alt > 0:
		h.st, h.frame, h.remaining = sBody, fixedBody, h.alt
	case h.alt == 0:
		h.mark(model.NotChunked)
		h.c.a.stats.SkippedBytes.Add(int64(len(h.buf)))
		h.buf = h.buf[:0]
		h.done(h.off - 1)
		return true
	case h.alt == -1 && h.role != roleClient:
		h.st, h.frame = sCloseBody, closeBody
	default:
		return false
	}
	h.mark(model.NotChunked)
	carried := slices.Clone(h.buf)
	h.buf = h.buf[:0]
	for len(carried) > 0 && (h.st == sBody || h.st == sCloseBody) {
		carried = carried[h.step(carried):]
	}
	h.c.a.stats.SkippedBytes.Add(int64(len(carried)))
	return true
}

// cut ends the message being read at a point no client reads past (a chunk size that is
// no number): the call keeps the body up to there, marked truncated and with the
// anomaly, and the parser resynchronises on the next message.
func (h *half) cut(anomaly string) {
	h.mark(anomaly)
	if h.msg != nil {
		h.msg.Truncated = true
	}
	h.done(h.off - 1)
	h.st = sSync
}

// done ends the current message; last is the offset of its final byte.
func (h *half) done(last int) {
	at := h.c.at(last)
	x, fr := h.x, h.frame
	h.x, h.msg, h.st, h.frame = nil, nil, sHead, noBody
	if h.role == roleClient {
		if x != nil {
			h.c.requestDone(x, at)
			x.reqEndSeq, x.endOK = h.seq.Add(last+1), h.seqOK && last >= 0
		}
		return
	}
	if x != nil {
		h.c.responseDone(x, at, h.seq.Add(last+1), h.seqOK && last >= 0)
	}
	if fr == tunnelBody {
		h.c.a.stats.Tunnels.Add(1)
		h.st = sTunnel
		h.other().st = sTunnel
		h.other().x, h.other().msg = nil, nil
	}
}

// fail abandons the message being read (malformed) and looks for the next one.
// reason, when set, marks the exchange incomplete; without it this is a parse error.
func (h *half) fail(reason *string) {
	if reason == nil {
		h.c.a.stats.ParseErrors.Add(1)
	}
	x := h.x
	h.x, h.msg, h.st, h.frame = nil, nil, sSync, noBody
	if h.role == roleServer && reason == nil {
		// Bytes skipped while resynchronising may hold responses.
		h.c.respGap, h.c.respGapEndOK = true, false
	}
	h.c.a.stats.SkippedBytes.Add(int64(len(h.buf))) // a partial head or line, given up
	h.buf = h.buf[:0]
	if x == nil {
		return
	}
	r := "malformed"
	if reason != nil {
		r = *reason
	}
	if h.role == roleClient {
		h.c.requestBroken(x, r)
	} else {
		h.c.responseBroken(x, r)
	}
}

// gap handles skip lost bytes before the data about to be fed. Inside a body whose
// length is known (Content-Length, or a chunk) the framing survives the hole: the
// message is marked incomplete, its body is kept only up to the hole, and parsing goes
// on at the right byte, so that the next message on the connection is not lost with it
// (its start line would otherwise follow the body's tail on one line, and resync would
// never find it). Elsewhere the message is abandoned and the parser resynchronises.
func (h *half) gap(skip int) {
	defer h.hold()
	h.c.a.stats.Gaps.Add(1)
	if h.c.kind != isHTTP { // what follows a hole is no first line
		h.line, h.midstream = nil, true
	}
	switch h.st {
	case sTunnel:
		return
	case sSync:
		h.buf = h.buf[:0]
		return
	}
	r := GapInResponse
	if h.role == roleClient {
		r = GapInRequest
	}
	switch {
	case (h.st == sBody || h.st == sChunkData) && int64(skip) <= h.remaining:
		h.holed(r)
		h.remaining -= int64(skip)
		if h.remaining == 0 {
			if h.st == sBody {
				h.done(-1)
			} else {
				h.st = sChunkEnd
			}
		}
		return
	case h.st == sCloseBody:
		h.holed(r)
		return
	}
	if h.role != roleClient {
		h.c.respGap = true
		h.c.respGapEnd, h.c.respGapEndOK = h.seq, h.seqOK
	}
	h.fail(&r)
}

// holed marks the message being read as incomplete for reason, a hole in its body:
// the body bytes after the hole are counted, not kept, so that no body is ever the
// bytes before a hole glued to the bytes after it.
func (h *half) holed(reason string) {
	if h.x != nil && h.x.call.Incomplete == "" {
		h.x.call.Incomplete = reason
	}
	if h.msg != nil {
		h.msg.Truncated = true
	}
	h.msg = nil
}

// chunkedEnd ends a chunked body the connection closed where no byte the framing
// announced is missing: between chunks, right after the last-chunk line, or in the
// trailer section. Browsers show such a body (Chromium flags the transfer as incomplete
// after showing it); the call is emitted, marked.
func (h *half) chunkedEnd() bool {
	switch h.st {
	case sChunkSize:
		size, ok := parseChunkSize(h.buf, nil)
		if len(h.buf) > 0 && !ok && h.lines == 0 && h.reframe() {
			switch h.st {
			case sCloseBody:
				h.done(h.off - 1)
			case sBody:
				return false // shorter than its Content-Length: incomplete
			}
			return true
		}
		if len(h.buf) > 0 && (!ok || size != 0) {
			return false
		}
	case sTrailer:
		h.trailers(h.buf)
	case sChunkEnd:
	default:
		return false
	}
	h.buf = h.buf[:0]
	h.mark(model.ChunkedUnterminated)
	h.done(h.off - 1)
	return true
}

// end handles the end of this direction: a FIN or RST was reached (fin), or the stream
// was flushed without one (idle timeout, end of the capture).
func (h *half) end(fin bool) {
	defer func() {
		// Nothing more comes this way: a partial line still kept goes, counted.
		h.c.a.stats.SkippedBytes.Add(int64(len(h.buf)))
		h.buf = h.buf[:0]
		h.hold()
	}()
	if h.st == sCloseBody && fin {
		h.done(h.off - 1)
		return
	}
	if fin && h.chunkedEnd() {
		return
	}
	if h.st == sSync || h.st == sTunnel || (h.st == sHead && len(h.buf) == 0) {
		return
	}
	var r string
	switch {
	case !fin:
		r = CaptureEnded
	case h.role == roleClient:
		r = ClosedInRequest
	default:
		r = ClosedInResp
	}
	if h.x == nil && h.st == sHead {
		// A head that never ended: a message cut short (slowloris, a snap length that
		// cut its segments, the end of the capture) or bytes that never were HTTP (TLS,
		// SSH) held while waiting for a blank line. No exchange was made for it, so
		// count it here, or the summary would not account for it: incomplete when it
		// starts like a message, malformed otherwise. A response head cut short belongs
		// to the oldest pending request, which is counted when the connection ends; with
		// none pending it is a response without request.
		nl := bytes.IndexByte(h.buf, '\n')
		switch {
		case h.role == roleServer && len(h.c.pending) > 0:
			if x := h.c.pending[0]; x.call.Incomplete == "" {
				x.call.Incomplete = r
			}
		case nl < 0 || !looksLikeStart(trimEOL(h.buf[:nl+1]), h.role != roleServer, h.role != roleClient):
			h.c.a.stats.ParseErrors.Add(1)
		case h.role == roleServer:
			h.c.a.stats.Orphans.Add(1) // its request was lost or cut short too
		default:
			h.c.a.stats.countIncomplete(r)
		}
	}
	h.fail(&r)
}
