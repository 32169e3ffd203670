package reassembly

import (
	"bytes"
	"errors"
	"slices"
	"strconv"
	"strings"

	"sniffer/model"
)

// startLine is the first line of a message, split into its three parts.
type startLine struct {
	request bool
	method  string // request
	target  string // request
	proto   string
	status  int    // response
	reason  string // response
}

var errBadStart = errors.New("not an HTTP/1.x start line")

// isTchar reports whether c may appear in a token (RFC 9110 5.6.2), such as a method.
func isTchar(c byte) bool {
	if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func isProto(b []byte) bool {
	return len(b) == 8 && string(b[:7]) == "HTTP/1." && (b[7] == '0' || b[7] == '1')
}

// parseStartLine reads a request line (METHOD SP target SP HTTP/1.x) or a status line
// (HTTP/1.x SP 3DIGIT [SP reason]); line has no line ending. Request targets may hold
// spaces (some clients send them raw), so the protocol is taken from the end.
//
// lenient reads what clients read although it is malformed. It is used once the
// direction is known to carry that kind of message; resynchronisation stays strict.
// Requests: a damaged or missing protocol ("GET / HTTP/1.", "GET /path"). Responses:
// a line that starts with "HTTP/" in any case and a digit, as Chromium (HttpResponseHeaders::
// ParseStatusLine) and Firefox (nsHttpResponseHead::ParseStatusLine) both take it: the
// version is what comes before the first space (HTTP/1.10, HTTP/2.0, http/1.1,
// HTTP/1.1foobar: the framing stays HTTP/1's), spaces before the code are skipped, a
// missing code is 200, and a code that is not three digits ("2XX") is reported as 0.
// What was odd goes to odd.
func parseStartLine(line []byte, lenient bool, odd *oddities) (startLine, error) {
	if bytes.HasPrefix(line, []byte("HTTP/")) || lenient && browserVersion(line) {
		if len(line) < 12 || !isProto(line[:8]) || line[8] != ' ' || (len(line) > 12 && line[12] != ' ') {
			if lenient && browserVersion(line) {
				return browserStatusLine(line, odd), nil
			}
			return startLine{}, errBadStart
		}
		code := line[9:12]
		st, err := strconv.Atoi(string(code))
		if err != nil || code[0] < '0' || code[0] > '9' {
			if lenient {
				return browserStatusLine(line, odd), nil
			}
			return startLine{}, errBadStart
		}
		reason := ""
		if len(line) > 13 {
			reason = string(line[13:])
		}
		return startLine{proto: string(line[:8]), status: st, reason: reason}, nil
	}
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 || sp > 32 || sp+1 == len(line) {
		return startLine{}, errBadStart
	}
	for _, c := range line[:sp] {
		if !isTchar(c) {
			return startLine{}, errBadStart
		}
	}
	sl := startLine{request: true, method: string(line[:sp])}
	rest := line[sp+1:]
	last := bytes.LastIndexByte(rest, ' ')
	switch {
	case last > 0 && isProto(rest[last+1:]):
		sl.target, sl.proto = string(rest[:last]), string(rest[last+1:])
	case !lenient:
		return startLine{}, errBadStart
	case last > 0 && bytes.HasPrefix(rest[last+1:], []byte("HTTP/")):
		sl.target, sl.proto = string(rest[:last]), string(rest[last+1:])
		odd.add(model.OddVersion)
	default:
		sl.target = string(rest)
		odd.add(model.OddVersion)
	}
	return sl, nil
}

// browserVersion tells whether line starts with "HTTP/" in any case and a digit. The
// browsers take any line that starts with "HTTP" as a status line (with HTTP/1.0 for a
// version they cannot read: "HTTP/A.B", "HTTP\1.1"); those are left out here, since a
// line of body text that starts with "HTTP" must not become a response.
func browserVersion(line []byte) bool {
	return len(line) > 5 && bytes.EqualFold(line[:5], []byte("HTTP/")) && '0' <= line[5] && line[5] <= '9'
}

// browserStatusLine reads a status line that starts with "HTTP/" and a digit but is not
// HTTP/1.x SP 3DIGIT, the way both Chromium and Firefox read it.
func browserStatusLine(line []byte, odd *oddities) startLine {
	proto, rest := line, []byte(nil)
	if sp := bytes.IndexByte(line, ' '); sp >= 0 {
		proto, rest = line[:sp], line[sp+1:]
	}
	if !isProto(proto) {
		odd.add(model.OddVersion)
	}
	if n := len(rest) - len(bytes.TrimLeft(rest, " ")); n > 0 {
		odd.add(model.StatusLineSpacing)
		rest = rest[n:]
	}
	d := 0
	for d < len(rest) && '0' <= rest[d] && rest[d] <= '9' {
		d++
	}
	sl := startLine{proto: string(proto)}
	switch {
	case d == 0:
		odd.add(model.NoStatusCode)
		sl.status, sl.reason = 200, string(rest)
	case d == 3:
		sl.status, _ = strconv.Atoi(string(rest[:3]))
		if len(rest) > 3 && rest[3] != ' ' {
			odd.add(model.StatusLineSpacing)
		}
		sl.reason = string(bytes.TrimLeft(rest[3:], " \t"))
	default:
		odd.add(model.BadStatusCode)
		sl.reason = string(rest)
	}
	return sl
}

// oddities collects the anomalies found in one message, each once; a nil one collects
// nothing (resynchronisation, which only asks whether a head parses).
type oddities []string

func (o *oddities) add(name string) {
	if o != nil && !slices.Contains(*o, name) {
		*o = append(*o, name)
	}
}

// looksLikeStart reports whether line (without its ending) starts a message of the
// wanted kind: wantReq for requests, wantResp for responses.
func looksLikeStart(line []byte, wantReq, wantResp bool) bool {
	sl, err := parseStartLine(line, false, nil)
	if err != nil {
		return false
	}
	return sl.request && wantReq || !sl.request && wantResp
}

// knownMethods are the methods looked for inside a line while resynchronising.
var knownMethods = []string{"GET ", "POST ", "PUT ", "DELETE ", "PATCH ", "HEAD ", "OPTIONS ", "CONNECT ", "TRACE "}

// startIn returns where a start line of the wanted kind begins in line, or -1. After
// a hole or a mid-stream start the bytes before a start line are often the tail of
// the previous body with no line break of their own ("...}HTTP/1.1 200 OK"), and a
// request line glued to such a tail would even parse, its method token swallowing
// the tail ("abcGET /x HTTP/1.1"): so a line that does not start with the protocol or
// a method looking like one (upper case, '_' and '-': "GET", "CCM_POST", "M-SEARCH")
// is also searched for the protocol or a well-known method.
func startIn(line []byte, wantReq, wantResp bool) int {
	whole := looksLikeStart(line, wantReq, wantResp)
	if whole && (bytes.HasPrefix(line, []byte("HTTP/")) || upperMethod(line)) {
		return 0
	}
	for i := 1; i+8 < len(line); i++ {
		if c := line[i]; c != 'H' && c != 'G' && c != 'P' && c != 'D' && c != 'O' && c != 'C' && c != 'T' {
			continue
		}
		if (bytes.HasPrefix(line[i:], []byte("HTTP/1.")) || knownMethodAt(line[i:])) && looksLikeStart(line[i:], wantReq, wantResp) {
			return i
		}
	}
	if whole {
		return 0
	}
	return -1
}

// upperMethod reports whether the line's first token is made of upper-case letters,
// '_' and '-', as methods are in practice.
func upperMethod(line []byte) bool {
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 {
		return false
	}
	for _, c := range line[:sp] {
		if !('A' <= c && c <= 'Z' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func knownMethodAt(b []byte) bool {
	for _, m := range knownMethods {
		if len(b) >= len(m) && string(b[:len(m)]) == m {
			return true
		}
	}
	return false
}

// trimEOL drops a trailing "\n" or "\r\n".
func trimEOL(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

// headEnd finds the end of a message head (the blank line) in b, searching from
// 'from'; it returns the index just past the blank line, or -1. Bare LF endings are
// accepted, as most servers do.
func headEnd(b []byte, from int) int {
	for i := from; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1
		}
		i += j + 1
		if i < len(b) && b[i] == '\n' {
			return i + 1
		}
		if i+1 < len(b) && b[i] == '\r' && b[i+1] == '\n' {
			return i + 2
		}
		if i >= len(b) {
			return -1
		}
	}
}

var errBadHeader = errors.New("malformed header line")

// parseHead splits a complete head (start line, header lines, blank line) into its
// start line and headers in wire order; lenient and odd as for parseStartLine and
// parseFields. A lenient read ends the start line at a CR that is not before an LF, as
// Chromium does (HttpUtil::AssembleRawHeaders), so that a header hidden behind it
// ("HTTP/1.1 200 OK\rTransfer-Encoding: chunked") is read as the header it is to Chromium.
func parseHead(b []byte, maxHeaders int, lenient bool, odd *oddities) (startLine, []model.Header, error) {
	nl := bytes.IndexByte(b, '\n')
	if nl < 0 {
		return startLine{}, nil, errBadStart
	}
	line, rest := trimEOL(b[:nl+1]), b[nl+1:]
	if nl == 0 || b[nl-1] != '\r' {
		odd.add(model.BareLF)
	}
	if i := bytes.IndexByte(line, '\r'); lenient && i >= 0 {
		odd.add(model.BareCR)
		line, rest = line[:i], b[i+1:]
	}
	sl, err := parseStartLine(line, lenient, odd)
	if err != nil {
		return sl, nil, err
	}
	hs, err := parseFields(rest, maxHeaders, lenient, odd)
	return sl, hs, err
}

// parseFields reads header (or trailer) lines up to the blank line, in wire order.
//
// Strictly it takes name ":" value lines (the value trimmed of spaces and tabs), LF or
// CRLF line ends, and folded continuation lines joined to the value with a space.
//
// lenient reads what the browsers read, and odd names each kind of deviation:
//   - a CR not before an LF ends a line (Chromium splits head lines on [\r\n]+; Firefox
//     keeps the CR in the line, where it makes the name no token and the line ignored:
//     they disagree on "X: 1\rTransfer-Encoding: chunked", and Chromium's reading keeps
//     the header);
//   - spaces or tabs before the colon are dropped (both browsers);
//   - a line that starts with a space or tab continues the line before it, which is
//     joined before its colon is looked for, as Firefox does (Chromium only joins onto a
//     line that had a colon): "Content-Encoding\r\n :gzip" is Content-Encoding: gzip;
//   - a line with no colon or no name is skipped (both);
//   - a name with bytes a token may not hold (VT, FF, NUL, 8-bit) is kept as it came,
//     marked: both browsers ignore such a field, and here no framing or decoding
//     decision reads it either, since it names no known field.
func parseFields(b []byte, maxHeaders int, lenient bool, odd *oddities) ([]model.Header, error) {
	hs := make([]model.Header, 0, bytes.Count(b, []byte("\n")))
	var pending []byte // the logical line being gathered
	folded := false    // pending is a copy with continuations appended
	first := 0         // length of pending's first line
	flush := func() error {
		if pending == nil {
			return nil
		}
		h, ok, err := fieldLine(pending, first, lenient, odd)
		pending, folded = nil, false
		if err != nil || !ok {
			return err
		}
		if len(hs) >= maxHeaders {
			return errTooManyHeaders
		}
		hs = append(hs, h)
		return nil
	}
	for len(b) > 0 {
		nl := bytes.IndexByte(b, '\n')
		if nl < 0 {
			nl = len(b) - 1
		}
		raw := b[:nl+1]
		b = b[nl+1:]
		if raw[len(raw)-1] == '\n' && (nl == 0 || raw[nl-1] != '\r') {
			odd.add(model.BareLF)
		}
		line := trimEOL(raw)
		if len(line) == 0 {
			break
		}
		for seg := range segments(line, lenient, odd) {
			if seg[0] != ' ' && seg[0] != '\t' {
				if err := flush(); err != nil {
					return nil, err
				}
				pending, first = seg, len(seg)
				continue
			}
			// obs-fold: a continuation of the line before.
			odd.add(model.ObsFold)
			more := bytes.Trim(seg, " \t")
			switch {
			case pending == nil && !lenient:
				return nil, errBadHeader
			case pending == nil:
				// A continuation with nothing to continue (right after the start line):
				// Chromium reads it as a line of its own.
				pending, first = more, len(more)
			default:
				if !folded {
					pending, folded = append([]byte(nil), pending...), true
				}
				pending = append(append(pending, ' '), more...)
			}
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return hs, nil
}

// segments yields the non-empty parts of a head line: the line itself, or, read
// leniently, its parts between lone CRs.
func segments(line []byte, lenient bool, odd *oddities) func(func([]byte) bool) {
	return func(yield func([]byte) bool) {
		if !lenient || bytes.IndexByte(line, '\r') < 0 {
			yield(line)
			return
		}
		odd.add(model.BareCR)
		for _, seg := range bytes.Split(line, []byte("\r")) {
			if len(seg) > 0 && !yield(seg) {
				return
			}
		}
	}
}

// fieldLine reads one logical name ":" value line, whose first line is first bytes
// long; ok is false for a line that is skipped (lenient only). A name that is no token
// and spans a fold ("X\r\n Y: 1") is skipped, not kept: it is not a run of the wire's
// bytes, and no browser reads it.
func fieldLine(line []byte, first int, lenient bool, odd *oddities) (h model.Header, ok bool, err error) {
	colon := bytes.IndexByte(line, ':')
	if colon < 0 {
		if !lenient {
			return h, false, errBadHeader
		}
		odd.add(model.HeaderJunk)
		return h, false, nil
	}
	name := line[:colon]
	if trimmed := bytes.TrimRight(name, " \t"); len(trimmed) < len(name) {
		if !lenient {
			return h, false, errBadHeader
		}
		odd.add(model.SpaceBeforeColon)
		name = trimmed
	}
	if len(name) == 0 {
		if !lenient {
			return h, false, errBadHeader
		}
		odd.add(model.HeaderJunk)
		return h, false, nil
	}
	for _, c := range name {
		if !isTchar(c) {
			if !lenient {
				return h, false, errBadHeader
			}
			if len(name) > first {
				odd.add(model.HeaderJunk)
				return h, false, nil
			}
			odd.add(model.BadHeaderName)
			break
		}
	}
	return model.Header{Name: string(name), Value: string(bytes.Trim(line[colon+1:], " \t"))}, true, nil
}

var errTooManyHeaders = errors.New("too many header lines")

// framing says how a message body is delimited (RFC 9112 6.3).
type framing uint8

const (
	noBody framing = iota
	fixedBody
	chunkedBody
	closeBody  // response read until the connection closes
	tunnelBody // CONNECT or Upgrade: the rest of the stream is not HTTP
)

// contentLength returns the Content-Length to frame a body by, -1 when there is none,
// and whether the field is there at all. A length sent twice with the same value is
// marked; values that differ (a request smuggling sign, which both browsers refuse) are
// marked and the smallest is taken: if it was the wrong one, the rest of the body is
// skipped while resynchronising on the next message, where a larger wrong one would
// swallow the next message into this body. Values that are not numbers are marked and
// passed over, as Chromium does.
func contentLength(hs []model.Header, odd *oddities) (n int64, present bool) {
	n = -1
	for _, h := range hs {
		if !strings.EqualFold(h.Name, "Content-Length") {
			continue
		}
		present = true
		for _, v := range strings.Split(h.Value, ",") {
			m, err := strconv.ParseInt(strings.Trim(v, " \t"), 10, 64)
			switch {
			case err != nil || m < 0:
				odd.add(model.BadLength)
			case n < 0:
				n = m
			case m != n:
				odd.add(model.ConflictingLength)
				n = min(n, m)
			default:
				odd.add(model.DuplicateLength)
			}
		}
	}
	return n, present
}

// isChunked tells whether the Transfer-Encoding says chunked, as browsers read it: both
// Chromium and Firefox (HasHeaderValue) take chunked anywhere in the list, where RFC
// 9112 wants it last; and a Transfer-Encoding without chunked is ignored (the body is
// framed by Content-Length, or for a response by the close), where RFC 9112 reads a
// response to the close. hasTE tells whether there was a Transfer-Encoding at all.
func isChunked(hs []model.Header, odd *oddities) (chunked, hasTE bool) {
	te := model.HeaderTokens(hs, "Transfer-Encoding")
	for i, c := range te {
		switch {
		case c != "chunked":
			odd.add(model.TEUnknown)
		case i < len(te)-1:
			odd.add(model.TEChunkedNotLast)
			chunked = true
		default:
			chunked = true
		}
	}
	if len(te) > 0 && !chunked {
		odd.add(model.TENotChunked)
	}
	return chunked, len(te) > 0
}

// requestFraming decides how a request body is delimited. For a chunked body, n is
// the Content-Length to fall back on when the body turns out not to be chunked (-1:
// none). Transfer-Encoding and Content-Length together, and Transfer-Encoding on
// HTTP/1.0, are request smuggling signs: marked, and chunked wins, as RFC 9112 says.
func requestFraming(proto string, hs []model.Header, odd *oddities) (framing, int64) {
	n, chunked := lengthAndCoding(proto, hs, odd)
	switch {
	case chunked:
		return chunkedBody, n
	case n <= 0:
		return noBody, 0
	}
	return fixedBody, n
}

// responseFraming decides how a response body is delimited, given the request method
// and the response's protocol. For a chunked body n is the length to fall back on when
// the body turns out not to be chunked: its Content-Length; or, without one, -1 (to the
// close) when the connection closes after this response (Connection: close, HTTP/1.0
// without keep-alive), as bodies said chunked that are not come with, and noFallback on
// a connection kept alive, where reading to the close would take the next responses
// into this body. Chunked on an HTTP/1.0 response is marked and read chunked: Firefox
// does, Chromium ignores it; reading it chunked, with the fall back when the body is
// not, keeps the body either way.
func responseFraming(method string, status int, proto string, hs []model.Header, odd *oddities) (framing, int64) {
	switch {
	case status == 101:
		return tunnelBody, 0
	case method == "CONNECT" && status/100 == 2:
		return tunnelBody, 0
	case status/100 == 1 || status == 204 || status == 304 || method == "HEAD":
		return noBody, 0
	}
	n, chunked := lengthAndCoding(proto, hs, odd)
	switch {
	case chunked && n < 0 && !closesAfter(proto, hs):
		return chunkedBody, noFallback
	case chunked:
		return chunkedBody, n
	case n < 0:
		return closeBody, 0
	case n == 0:
		return noBody, 0
	}
	return fixedBody, n
}

// lengthAndCoding reads the Content-Length (see contentLength) and whether the body is
// chunked (see isChunked), and marks the two together, and a Transfer-Encoding on
// HTTP/1.0, which RFC 9112 calls faulty framing.
func lengthAndCoding(proto string, hs []model.Header, odd *oddities) (n int64, chunked bool) {
	n, hasCL := contentLength(hs, odd)
	chunked, hasTE := isChunked(hs, odd)
	if hasTE && hasCL {
		odd.add(model.TEAndCL)
	}
	if hasTE && strings.EqualFold(proto, "HTTP/1.0") {
		odd.add(model.TEInHTTP10)
	}
	return n, chunked
}

// noFallback is the fall-back length of a chunked body that has none.
const noFallback = -2

// closesAfter tells whether the connection closes after a message with these headers.
func closesAfter(proto string, hs []model.Header) bool {
	conn := model.HeaderTokens(hs, "Connection")
	if slices.Contains(conn, "close") {
		return true
	}
	return strings.EqualFold(proto, "HTTP/1.0") && !slices.Contains(conn, "keep-alive")
}

// parseChunkSize reads a chunk-size line (hex size, optional extensions) as Firefox
// does (nsHttpChunkedDecoder: strtoul base 16 on the line cut at ';'): white space
// before the size, a 0x prefix, leading zeros and bytes after the hex digits are read
// past, and the odd ones marked. Chromium (HttpChunkedDecoder::ParseChunkSize) takes
// only hex digits followed by spaces and fails the response otherwise: the two disagree,
// and Firefox's reading keeps the body.
func parseChunkSize(line []byte, odd *oddities) (int64, bool) {
	line = trimEOL(line)
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
