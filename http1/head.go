package http1

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

// LooksLikeStart reports whether line (without its ending) starts a message of the
// wanted kind: wantReq for requests, wantResp for responses.
func LooksLikeStart(line []byte, wantReq, wantResp bool) bool {
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
	whole := LooksLikeStart(line, wantReq, wantResp)
	if whole && (bytes.HasPrefix(line, []byte("HTTP/")) || upperMethod(line)) {
		return 0
	}
	for i := 1; i+8 < len(line); i++ {
		if c := line[i]; c != 'H' && c != 'G' && c != 'P' && c != 'D' && c != 'O' && c != 'C' && c != 'T' {
			continue
		}
		if (bytes.HasPrefix(line[i:], []byte("HTTP/1.")) || knownMethodAt(line[i:])) && LooksLikeStart(line[i:], wantReq, wantResp) {
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

// TrimEOL drops a trailing "\n" or "\r\n".
func TrimEOL(b []byte) []byte {
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
	line, rest := TrimEOL(b[:nl+1]), b[nl+1:]
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
	var hs []model.Header // made at the first field, with room for the lines after it
	var pending []byte    // the logical line being gathered
	folded := false       // pending is a copy with continuations appended
	first := 0            // length of pending's first line
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
		if hs == nil {
			hs = make([]model.Header, 0, 1+lines(b, maxHeaders-1))
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
		line := TrimEOL(raw)
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
	if hs == nil {
		hs = []model.Header{} // no fields: an empty list, not a missing one
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
	if n := len(name); n > 0 && (name[n-1] == ' ' || name[n-1] == '\t') {
		// (Tested before TrimRight, which builds its set of bytes on every call: 1.3% of
		// a -decode=false run, for a name that almost never ends in a blank.)
		trimmed := bytes.TrimRight(name, " \t")
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
	// The name and the value are cut from one copy of the line: a string each was two
	// allocations a field, most of those of a -decode=false run.
	start := colon + 1
	for start < len(line) && (line[start] == ' ' || line[start] == '\t') {
		start++
	}
	end := len(line)
	for end > start && (line[end-1] == ' ' || line[end-1] == '\t') {
		end--
	}
	if start == end {
		return model.Header{Name: string(name)}, true, nil
	}
	ls := string(line[:end])
	return model.Header{Name: ls[:len(name)], Value: ls[start:end]}, true, nil
}

var errTooManyHeaders = errors.New("too many header lines")

// lines counts the LFs in b, up to most: room for the fields of a head or trailer
// section without reading all of it. Resynchronisation parses the head after each
// start-like line it meets; counting every LF to the blank line (bytes.Count) and
// making room for them all before the first field line was read made that quadratic in
// the lines before the blank line, whatever the error on the first field line.
func lines(b []byte, most int) int {
	n := 0
	for n < most {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			break
		}
		n++
		b = b[i+1:]
	}
	return n
}

// maxMethod is the longest method token taken for a request line's first word.
const maxMethod = 32

// CouldStart tells whether line, the first bytes of a direction, followed by b can
// still begin a start line of the wanted kind (wantReq: a request line, wantResp: a
// status line): any-port detection gives a direction up at its first byte that cannot.
func CouldStart(line []byte, b byte, wantReq, wantResp bool) bool {
	n := len(line)
	const proto = "HTTP/1."
	if wantResp && n < len(proto) && bytes.HasPrefix([]byte(proto), append(line[:n:n], b)) {
		return true // a status line so far (and "HTTP" is also a method token)
	}
	if wantResp && !wantReq {
		return n >= len(proto) && (b >= ' ' && b < 0x7f || b == '\t' || b == '\r')
	}
	if sp := bytes.IndexByte(line, ' '); sp < 0 {
		// Still in the first word: a method token, then a space.
		return isTchar(b) && n < maxMethod || b == ' ' && n > 0
	}
	// The target and the protocol: no control bytes (a raw UTF-8 target passes).
	return b >= ' ' && b != 0x7f || b == '\t' || b == '\r'
}

// LenientRequest tells whether line is a request line when read leniently, with a
// method in upper case as methods are in practice ("SSH-2.0-OpenSSH_9.6 x" is not).
func LenientRequest(line []byte) bool {
	sl, err := parseStartLine(line, true, nil)
	return err == nil && sl.request && upperMethod(line)
}
