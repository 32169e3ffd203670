package http1

import (
	"slices"
	"testing"

	"sniffer/model"
)

// TestFraming: the framing decisions, one per rule of framing.go, and the anomalies
// each marks.
func TestFraming(t *testing.T) {
	h := func(kv ...string) []model.Header {
		var hs []model.Header
		for i := 0; i < len(kv); i += 2 {
			hs = append(hs, model.Header{Name: kv[i], Value: kv[i+1]})
		}
		return hs
	}
	cl5, te := h("Content-Length", "5"), h("Transfer-Encoding", "chunked")
	for _, tc := range []struct {
		name      string
		request   bool
		method    string
		status    int
		proto     string
		hs        []model.Header
		want      framing
		n         int64
		anomalies []string
	}{
		{name: "GET without body", request: true, proto: "HTTP/1.1", want: noBody},
		{name: "POST with length", request: true, proto: "HTTP/1.1", hs: cl5, want: fixedBody, n: 5},
		{name: "request chunked", request: true, proto: "HTTP/1.1", hs: te, want: chunkedBody, n: -1},
		{name: "request chunked and length", request: true, proto: "HTTP/1.1", hs: h("Content-Length", "5", "Transfer-Encoding", "chunked"),
			want: chunkedBody, n: 5, anomalies: []string{model.TEAndCL}},
		{name: "100 Continue", method: "POST", status: 100, proto: "HTTP/1.1", hs: cl5, want: noBody},
		{name: "101 Switching Protocols", method: "GET", status: 101, proto: "HTTP/1.1", hs: cl5, want: tunnelBody},
		{name: "CONNECT 200", method: "CONNECT", status: 200, proto: "HTTP/1.1", want: tunnelBody},
		{name: "CONNECT 407", method: "CONNECT", status: 407, proto: "HTTP/1.1", hs: cl5, want: fixedBody, n: 5},
		{name: "HEAD", method: "HEAD", status: 200, proto: "HTTP/1.1", hs: cl5, want: noBody},
		{name: "204", method: "GET", status: 204, proto: "HTTP/1.1", hs: cl5, want: noBody},
		{name: "304", method: "GET", status: 304, proto: "HTTP/1.1", hs: te, want: noBody},
		{name: "length", method: "GET", status: 200, proto: "HTTP/1.1", hs: cl5, want: fixedBody, n: 5},
		{name: "length 0", method: "GET", status: 200, proto: "HTTP/1.1", hs: h("Content-Length", "0"), want: noBody},
		{name: "close-delimited", method: "GET", status: 200, proto: "HTTP/1.0", want: closeBody},
		{name: "chunked, kept alive", method: "GET", status: 200, proto: "HTTP/1.1", hs: te, want: chunkedBody, n: noFallback},
		{name: "chunked, closing", method: "GET", status: 200, proto: "HTTP/1.1", hs: h("Transfer-Encoding", "chunked", "Connection", "close"), want: chunkedBody, n: -1},
		{name: "chunked on HTTP/1.0", method: "GET", status: 200, proto: "HTTP/1.0", hs: te, want: chunkedBody, n: -1, anomalies: []string{model.TEInHTTP10}},
		{name: "conflicting lengths", method: "GET", status: 200, proto: "HTTP/1.1", hs: h("Content-Length", "5, 3"), want: fixedBody, n: 3, anomalies: []string{model.ConflictingLength}},
	} {
		var odd oddities
		var fr framing
		var n int64
		if tc.request {
			fr, n = requestFraming(tc.proto, tc.hs, &odd)
		} else {
			fr, n = responseFraming(tc.method, tc.status, tc.proto, tc.hs, &odd)
		}
		if fr != tc.want || n != tc.n || !slices.Equal([]string(odd), tc.anomalies) {
			t.Errorf("%s: framing %d, %d, %q; want %d, %d, %q", tc.name, fr, n, odd, tc.want, tc.n, tc.anomalies)
		}
	}
	if !interim(100) || !interim(103) || interim(101) || interim(200) {
		t.Error("interim: 1xx but 101")
	}
}
