package reassembly

import (
	"bytes"
	"errors"
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
// lenient accepts what servers answer although it is malformed: a request line with a
// damaged or missing protocol ("GET / HTTP/1.", "GET /path") and a status code that is
// not three digits ("HTTP/1.0 2XX OK", reported as status 0). It is used once the
// direction is known to carry that kind of message; resynchronisation stays strict.
func parseStartLine(line []byte, lenient bool) (startLine, error) {
	if bytes.HasPrefix(line, []byte("HTTP/")) {
		if len(line) < 12 || !isProto(line[:8]) || line[8] != ' ' || (len(line) > 12 && line[12] != ' ') {
			return startLine{}, errBadStart
		}
		code := line[9:12]
		st, err := strconv.Atoi(string(code))
		if err != nil || code[0] < '0' || code[0] > '9' {
			if !lenient || bytes.IndexByte(code, ' ') >= 0 {
				return startLine{}, errBadStart
			}
			st = 0
		}
		reason := ""
		if len(line) > 13 {
			reason = string(line[13:])
		}
		if st == 0 {
			reason = string(line[9:])
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
	default:
		sl.target = string(rest)
	}
	return sl, nil
}

// looksLikeStart reports whether line (without its ending) starts a message of the
// wanted kind: wantReq for requests, wantResp for responses.
func looksLikeStart(line []byte, wantReq, wantResp bool) bool {
	sl, err := parseStartLine(line, false)
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
// start line and headers in wire order. Obsolete line folding joins the value to the
// previous header's.
func parseHead(b []byte, maxHeaders int, lenient bool) (startLine, []model.Header, error) {
	nl := bytes.IndexByte(b, '\n')
	if nl < 0 {
		return startLine{}, nil, errBadStart
	}
	sl, err := parseStartLine(trimEOL(b[:nl+1]), lenient)
	if err != nil {
		return sl, nil, err
	}
	hs, err := parseFields(b[nl+1:], maxHeaders)
	return sl, hs, err
}

// parseFields reads header (or trailer) lines up to the blank line, in wire order.
func parseFields(b []byte, maxHeaders int) ([]model.Header, error) {
	hs := make([]model.Header, 0, bytes.Count(b, []byte("\n")))
	for len(b) > 0 {
		nl := bytes.IndexByte(b, '\n')
		if nl < 0 {
			nl = len(b) - 1
		}
		line := trimEOL(b[:nl+1])
		b = b[nl+1:]
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			if len(hs) == 0 {
				return nil, errBadHeader
			}
			hs[len(hs)-1].Value += " " + string(bytes.TrimSpace(line))
			continue
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return nil, errBadHeader
		}
		name := line[:colon]
		for _, c := range name {
			if !isTchar(c) {
				return nil, errBadHeader
			}
		}
		if len(hs) >= maxHeaders {
			return nil, errTooManyHeaders
		}
		hs = append(hs, model.Header{Name: string(name), Value: string(bytes.TrimSpace(line[colon+1:]))})
	}
	return hs, nil
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

var errBadLength = errors.New("invalid or conflicting Content-Length")

// contentLength returns the Content-Length, -1 when there is none, or an error when it
// is malformed or sent twice with different values (a request-smuggling sign).
func contentLength(hs []model.Header) (int64, error) {
	n := int64(-1)
	for _, h := range hs {
		if !strings.EqualFold(h.Name, "Content-Length") {
			continue
		}
		for _, v := range strings.Split(h.Value, ",") {
			m, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil || m < 0 {
				return 0, errBadLength
			}
			if n >= 0 && m != n {
				return 0, errBadLength
			}
			n = m
		}
	}
	return n, nil
}

func isChunked(hs []model.Header) (chunked, hasTE bool) {
	te := model.HeaderTokens(hs, "Transfer-Encoding")
	return len(te) > 0 && te[len(te)-1] == "chunked", len(te) > 0
}

// requestFraming decides how a request body is delimited.
func requestFraming(hs []model.Header) (framing, int64, error) {
	if chunked, hasTE := isChunked(hs); hasTE {
		if !chunked {
			return noBody, 0, errBadLength // a request cannot be close-delimited
		}
		return chunkedBody, 0, nil
	}
	n, err := contentLength(hs)
	if err != nil {
		return noBody, 0, err
	}
	if n <= 0 {
		return noBody, 0, nil
	}
	return fixedBody, n, nil
}

// responseFraming decides how a response body is delimited, given the request method.
func responseFraming(method string, status int, hs []model.Header) (framing, int64, error) {
	switch {
	case status == 101:
		return tunnelBody, 0, nil
	case method == "CONNECT" && status/100 == 2:
		return tunnelBody, 0, nil
	case status/100 == 1 || status == 204 || status == 304 || method == "HEAD":
		return noBody, 0, nil
	}
	if chunked, hasTE := isChunked(hs); hasTE {
		if chunked {
			return chunkedBody, 0, nil
		}
		return closeBody, 0, nil
	}
	n, err := contentLength(hs)
	if err != nil {
		return noBody, 0, err
	}
	switch {
	case n < 0:
		return closeBody, 0, nil
	case n == 0:
		return noBody, 0, nil
	}
	return fixedBody, n, nil
}

// parseChunkSize reads a chunk-size line (hex size, optional extensions).
func parseChunkSize(line []byte) (int64, bool) {
	line = trimEOL(line)
	if i := bytes.IndexByte(line, ';'); i >= 0 {
		line = line[:i]
	}
	line = bytes.TrimSpace(line)
	if len(line) == 0 || len(line) > 15 {
		return 0, false
	}
	n, err := strconv.ParseInt(string(line), 16, 64)
	return n, err == nil && n >= 0
}
