package http1

import (
	"bytes"
	"slices"

	"sniffer/model"
)

// parseChunkSize reads a chunk-size line (hex size, optional extensions) as Firefox
// does (nsHttpChunkedDecoder: strtoul base 16 on the line cut at ';'): white space
// before the size, a 0x prefix, leading zeros and bytes after the hex digits are read
// past, and the odd ones marked. Chromium (HttpChunkedDecoder::ParseChunkSize) takes
// only hex digits followed by spaces and fails the response otherwise: the two disagree,
// and Firefox's reading keeps the body.
func parseChunkSize(line []byte, odd *oddities) (int64, bool) {
	line = TrimEOL(line)
	ext := bytes.IndexByte(line, ';')
	if ext >= 0 {
		line = line[:ext]
	}
	i := 0
	for i < len(line) && isSpaceByte(line[i]) {
		i++
	}
	if i > 0 {
		odd.add(model.ChunkSizeSpace)
	}
	if len(line) > i+2 && line[i] == '0' && (line[i+1] == 'x' || line[i+1] == 'X') && isHex(line[i+2]) {
		odd.add(model.ChunkSize0x)
		i += 2
	}
	start := i
	for i < len(line) && isHex(line[i]) {
		i++
	}
	digits := bytes.TrimLeft(line[start:i], "0")
	if i == start || len(digits) > 15 {
		return 0, false
	}
	switch rest := line[i:]; {
	case len(rest) == 0:
	case len(bytes.Trim(rest, " \t")) > 0:
		odd.add(model.ChunkSizeJunk)
	case ext < 0: // white space before a ';' is allowed (RFC 9112 BWS)
		odd.add(model.ChunkSizeSpace)
	}
	var n int64
	for _, c := range digits {
		n = n<<4 | int64(unhex(c))
	}
	return n, true
}

func isSpaceByte(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f' }

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

func (p *Parser) chunkSize(data []byte) int {
	nl := bytes.IndexByte(data, '\n')
	if nl < 0 {
		p.buf = append(p.buf, data...)
		if len(p.buf) > maxLine || p.overBudget(cap(p.buf)) {
			p.fail(Malformed)
		}
		return len(data)
	}
	line := data[:nl+1]
	carried := len(p.buf)
	if carried > 0 {
		p.buf = append(p.buf, line...)
		line = p.buf
	}
	if line[0] == '\n' || line[0] == '\r' && len(line) == 2 {
		// An empty line where a size was due: Firefox skips it (Chromium fails).
		p.buf = p.buf[:0]
		p.mark(model.ChunkBlankLine)
		p.lines++
		return nl + 1
	}
	var odd oddities
	if line[len(line)-2] != '\r' {
		odd.add(model.BareLF)
	}
	size, ok := parseChunkSize(line, &odd)
	if !ok {
		p.buf = p.buf[:carried] // what reframe reads as body; data is read again
		if p.lines == 0 && p.reframe() {
			return 0
		}
		p.buf = p.buf[:0]
		p.cut(model.BadChunk)
		return 0
	}
	p.buf = p.buf[:0]
	p.mark(odd...)
	p.lines++
	if size == 0 {
		p.st = sTrailer
	} else {
		p.st, p.remaining = sChunkData, size
		p.reserve(size)
	}
	return nl + 1
}

// trailer reads the trailer section after the last chunk, up to its blank line.
func (p *Parser) trailer(data []byte) int {
	if len(p.buf) == 0 {
		if data[0] == '\n' {
			p.done(p.off)
			return 1
		}
		if data[0] == '\r' && len(data) > 1 && data[1] == '\n' {
			p.done(p.off + 1)
			return 2
		}
	}
	if len(p.buf) == 1 && p.buf[0] == '\r' && data[0] == '\n' {
		// An empty trailer section whose CRLF was split between two chunks.
		p.buf = p.buf[:0]
		p.done(p.off)
		return 1
	}
	block, used := p.gather(data)
	if block == nil {
		return used
	}
	p.trailers(block)
	p.done(p.off + used - 1)
	return used
}

// trailers keeps the trailer fields of the message being read. Lines after the last
// chunk that are no fields ("0\r\nfoobar\r\n") are skipped by both browsers.
func (p *Parser) trailers(block []byte) {
	var odd oddities
	tr, err := parseFields(block, p.lim.MaxHeaders, true, &odd)
	if i := slices.Index(odd, model.HeaderJunk); i >= 0 {
		odd[i] = model.TrailerJunk
	}
	p.mark(odd...)
	if err == nil && p.msg != nil {
		p.msg.Trailers = tr
	}
}

// reframe reads a body said to be chunked whose first line is no chunk size by its
// Content-Length, or, for a response without one on a connection that closes after it,
// until the close: servers
// that name chunked without chunking exist (HTTP/1.0 ones, and evasions rely on it), and
// this keeps their body where a browser that ignores the header (Chromium on HTTP/1.0)
// shows it. Bytes of the line kept from an earlier segment are read as body first.
func (p *Parser) reframe() bool {
	switch {
	case p.alt > 0:
		p.st, p.frame, p.remaining = sBody, fixedBody, p.alt
	case p.alt == 0:
		p.mark(model.NotChunked)
		p.ctr.SkippedBytes.Add(int64(len(p.buf)))
		p.buf = p.buf[:0]
		p.done(p.off - 1)
		return true
	case p.alt == -1 && p.role != Client:
		p.st, p.frame = sCloseBody, closeBody
	default:
		return false
	}
	p.mark(model.NotChunked)
	carried := slices.Clone(p.buf)
	p.buf = p.buf[:0]
	for len(carried) > 0 && (p.st == sBody || p.st == sCloseBody) {
		carried = carried[p.step(carried):]
	}
	p.ctr.SkippedBytes.Add(int64(len(carried)))
	return true
}

// chunkedEnd ends a chunked body the connection closed where no byte the framing
// announced is missing: between chunks, right after the last-chunk line, or in the
// trailer section. Browsers show such a body (Chromium flags the transfer as incomplete
// after showing it); the call is emitted, marked.
func (p *Parser) chunkedEnd() bool {
	switch p.st {
	case sChunkSize:
		size, ok := parseChunkSize(p.buf, nil)
		if len(p.buf) > 0 && !ok && p.lines == 0 && p.reframe() {
			switch p.st {
			case sCloseBody:
				p.done(p.off - 1)
			case sBody:
				return false // shorter than its Content-Length: incomplete
			}
			return true
		}
		if len(p.buf) > 0 && (!ok || size != 0) {
			return false
		}
	case sTrailer:
		p.trailers(p.buf)
	case sChunkEnd:
	default:
		return false
	}
	p.buf = p.buf[:0]
	p.mark(model.ChunkedUnterminated)
	p.done(p.off - 1)
	return true
}
