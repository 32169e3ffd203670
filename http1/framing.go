package http1

import (
	"slices"
	"strconv"
	"strings"

	"sniffer/model"
)

// How a message's body is delimited is decided here and nowhere else (RFC 9112 6.3,
// read as browsers read it; the parser only follows the decision):
//
//   - a 1xx response other than 101 is interim: it has no body, and the final response
//     to the same request is still to come (interim);
//   - 101 Switching Protocols, and a 2xx answer to CONNECT, turn the connection into a
//     tunnel: nothing after them, in either direction, is HTTP (tunnelBody);
//   - a response to HEAD, a 204 and a 304 have no body, whatever their headers say;
//   - a Transfer-Encoding that names chunked: a chunked body (isChunked), with a length
//     to fall back on when its first line is no chunk size (see responseFraming);
//   - else a Content-Length (contentLength): that many bytes; none or 0 is no body;
//   - else a response is read until the connection closes (closeBody), and a request
//     has no body.
//
// Two framings at once, or framing that is odd (a Transfer-Encoding on HTTP/1.0, two
// lengths), are marked as anomalies on the call where they are decided.

// framing says how a message body is delimited.
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

// interim tells whether a response with this status is an interim one (1xx but 101):
// no body, and its request's final response still to come.
func interim(status int) bool { return status/100 == 1 && status != 101 }

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
