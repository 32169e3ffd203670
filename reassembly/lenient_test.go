package reassembly

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"sniffer/model"
)

// The tests below follow the public list of HTTP Evader tests (noxxi.de/research/
// http-evader.html; the test names are App::DubiousHTTP's): responses that browsers read
// but inspection tools misread. Each case gives the bytes the server sends for GET /,
// after which it closes the connection, and the reading the browsers agree on (or,
// where Chromium and Firefox disagree, the one that keeps the most of the message, as
// http1/head.go says for each kind): status, body after transfer decoding, and the anomalies
// the call must list.
type evasion struct {
	name   string // the HTTP Evader test it follows, or what it shows
	resp   string
	status int
	body   string
	odd    []string // the response's anomalies, in any order
}

const hello = "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n" // chunked "hello world"

func runEvasions(t *testing.T, cases []evasion) {
	t.Helper()
	for _, tc := range cases {
		for _, mss := range []int{1460, 3} { // the reading must not depend on where segments end
			runEvasion(t, tc, mss)
		}
	}
}

func runEvasion(t *testing.T, tc evasion, mss int) {
	t.Helper()
	t.Run(fmt.Sprintf("%s/mss=%d", tc.name, mss), func(t *testing.T) {
		c := defaultConv().handshake()
		c.mss = mss
		c.req(get("/"))
		c.resp(tc.resp)
		c.close()
		r := c.run(t)
		if len(r.calls) != 1 {
			t.Fatalf("%d calls, want 1: %v", len(r.calls), summaries(r.calls))
		}
		call := r.calls[0]
		if call.Incomplete != "" || call.Response == nil {
			t.Fatalf("call incomplete (%q): %s", call.Incomplete, summary(call))
		}
		if call.Response.Status != tc.status || string(call.Response.Body) != tc.body {
			t.Errorf("status %d body %q, want %d %q", call.Response.Status, call.Response.Body, tc.status, tc.body)
		}
		var want []string
		for _, a := range tc.odd {
			want = append(want, "response:"+a)
		}
		if !sameSet(call.Anomalies, want) {
			t.Errorf("anomalies %q, want %q", call.Anomalies, want)
		}
	})
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func TestEvasionHeaderLines(t *testing.T) {
	te := "HTTP/1.1 200 ok\r\nConnection: close\r\n"
	runEvasions(t, []evasion{
		{"space-colon-chunked,do_chunked", te + "Transfer-Encoding : chunked\r\n\r\n" + hello, 200, "hello world", []string{model.SpaceBeforeColon}},
		{"tab-colon-chunked,do_chunked", te + "Transfer-Encoding\t: chunked\r\n\r\n" + hello, 200, "hello world", []string{model.SpaceBeforeColon}},
		{"space-colon-chunked,do_clen", te + "Transfer-Encoding : chunked\r\n\r\nhello world", 200, "hello world", []string{model.SpaceBeforeColon, model.NotChunked}},
		// Both browsers end the name at the CR, so neither sees a Transfer-Encoding.
		{"cr-colon-chunked,do_chunked", te + "Transfer-Encoding\r: chunked\r\n\r\n" + hello, 200, hello, []string{model.BareCR, model.HeaderJunk}},
		{"colon-colon-chunked,do_chunked", te + "Transfer-Encoding:: chunked\r\n\r\n" + hello, 200, hello, []string{model.TEUnknown, model.TENotChunked}},
		{"cronly-chunked,do_chunked", "HTTP/1.1 200 ok\r\nX-Foo: bar\rTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + hello, 200, "hello world", []string{model.BareCR}},
		{"cronly-chunked,do_clen", "HTTP/1.1 200 ok\r\nX-Foo: bar\rTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nhello world", 200, "hello world", []string{model.BareCR, model.NotChunked}},
		{"lfonly-chunked,do_chunked", "HTTP/1.1 200 ok\r\nX-Foo: bar\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + hello, 200, "hello world", []string{model.BareLF}},
		{"nl-chunked", te + "Transfer-Encoding:\r\n chunked\r\n\r\n" + hello, 200, "hello world", []string{model.ObsFold}},
		{"nl-nl-chunked", te + "Transfer-Encoding:\r\n \r\n chunked\r\n\r\n" + hello, 200, "hello world", []string{model.ObsFold}},
		{"chunkednl-", te + "Transfer-Encoding: chunked\r\n \r\n\r\n" + hello, 200, "hello world", []string{model.ObsFold}},
		// Firefox joins the continuation before looking for the colon.
		{"ce\\r\\n :x (name broken by CRLF)", te + "Content-Length: 5\r\nX-Name\r\n :folded\r\n\r\nhello", 200, "hello", []string{model.ObsFold, model.SpaceBeforeColon}},
		{"ce\\013:gzip (name broken by VT)", te + "Content-Encoding\v:gzip\r\nContent-Length: 5\r\n\r\nhello", 200, "hello", []string{model.BadHeaderName}},
		{"ce\\014:gzip (name broken by FF)", te + "Content-Encoding\f:gzip\r\nContent-Length: 5\r\n\r\nhello", 200, "hello", []string{model.BadHeaderName}},
		{"te:\\013chunked (VT is no white space to browsers)", te + "Transfer-Encoding:\vchunked\r\n\r\n" + hello, 200, hello, []string{model.TEUnknown, model.TENotChunked}},
		{"junkline", te + "foo bar\r\nContent-Length: 5\r\n\r\nhello", 200, "hello", []string{model.HeaderJunk}},
		{"colon", te + ":\r\nContent-Length: 5\r\n\r\nhello", 200, "hello", []string{model.HeaderJunk}},
		{"8bitkey", te + "K\xfcy: x\r\nContent-Length: 5\r\n\r\nhello", 200, "hello", []string{model.BadHeaderName}},
		{"spacehdr", te + "Foo Bar: x\r\nContent-Length: 5\r\n\r\nhello", 200, "hello", []string{model.BadHeaderName}},
		{"177", te + "\x7f\r\nContent-Length: 5\r\n\r\nhello", 200, "hello", []string{model.HeaderJunk}},
		{"cr (line of a lone CR)", te + "\r\r\nContent-Length: 5\r\n\r\nhello", 200, "hello", []string{model.BareCR}},
		{"emptycont", "HTTP/1.1 200 ok\r\n \r\nContent-Length: 5\r\n\r\nhello", 200, "hello", []string{model.ObsFold}},
		{"lf-no-crlf", "HTTP/1.1 200 ok\nContent-Length: 5\nConnection: close\n\nhello", 200, "hello", []string{model.BareLF}},
		{"end-lfcrlf", "HTTP/1.1 200 ok\r\nContent-Length: 5\n\r\nhello", 200, "hello", []string{model.BareLF}},
	})
}

func TestEvasionStatusLines(t *testing.T) {
	tail := "\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello"
	chunkedTail := "\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n" + hello
	runEvasions(t, []evasion{
		{"proto:HTTP/1.10", "HTTP/1.10 200 ok" + tail, 200, "hello", []string{model.OddVersion}},
		{"proto:HTTP/1.01", "HTTP/1.01 200 ok" + tail, 200, "hello", []string{model.OddVersion}},
		{"proto:HTTP/1.00", "HTTP/1.00 200 ok" + tail, 200, "hello", []string{model.OddVersion}},
		{"proto:HTTP/1.2", "HTTP/1.2 200 ok" + tail, 200, "hello", []string{model.OddVersion}},
		{"proto:HTTP/2.0", "HTTP/2.0 200 ok" + tail, 200, "hello", []string{model.OddVersion}},
		{"proto:HTTP/0.9", "HTTP/0.9 200 ok" + tail, 200, "hello", []string{model.OddVersion}},
		{"http-lower", "http/1.1 200 ok" + tail, 200, "hello", []string{model.OddVersion}},
		{"chunked,HTTP/1.10", "HTTP/1.10 200 ok" + chunkedTail, 200, "hello world", []string{model.OddVersion}},
		{"chunked,HTTP/2.0", "HTTP/2.0 200 ok" + chunkedTail, 200, "hello world", []string{model.OddVersion}},
		{"code-only", "HTTP/1.1 200" + tail, 200, "hello", nil},
		{"status:HTTP/1.1", "HTTP/1.1" + tail, 200, "hello", []string{model.NoStatusCode}},
		{"status:HTTP/1.1foobar", "HTTP/1.1foobar" + chunkedTail, 200, "hello world", []string{model.OddVersion, model.NoStatusCode}},
		{"status:HTTP/1.1 -65336", "HTTP/1.1 -65336 ok" + chunkedTail, 200, "hello world", []string{model.NoStatusCode}},
		// Both browsers split the version from the code at a space only: the tab is part
		// of the version, the code is missing, and 200 is assumed, so the body is read.
		{"status:HTTP/1.1\\011204 ok;chunked", "HTTP/1.1\t204 ok" + chunkedTail, 200, "hello world", []string{model.OddVersion, model.NoStatusCode}},
		{"status:HTTP/1.1    204 ok", "HTTP/1.1    204 ok" + chunkedTail, 204, "", []string{model.StatusLineSpacing}},
		{"status:HTTP/1.1 200(cr)Transfer-Encoding:chunked;do_chunked", "HTTP/1.1 200\rTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + hello, 200, "hello world", []string{model.BareCR}},
		{"status:HTTP/1.1(cr)Transfer-Encoding:chunked;do_chunked", "HTTP/1.1\rTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + hello, 200, "hello world", []string{model.BareCR, model.NoStatusCode}},
		{"status:HTTP/1.1 200(lf)Transfer-Encoding:chunked;do_chunked", "HTTP/1.1 200\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + hello, 200, "hello world", []string{model.BareLF}},
		{"2XX (code not three digits)", "HTTP/1.0 2XX Weird" + tail, 0, "hello", []string{model.BadStatusCode}},
	})
}

func TestEvasionChunkSizes(t *testing.T) {
	head := "HTTP/1.1 200 ok\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
	sized := func(format string) string { // "hello world" in chunks of 5 and 6 with a size format
		return head + fmt.Sprintf(format, 5) + "\r\nhello\r\n" + fmt.Sprintf(format, 6) + "\r\n world\r\n0\r\n\r\n"
	}
	runEvasions(t, []evasion{
		{"chunked", head + hello, 200, "hello world", nil},
		{"0size", sized("0%x"), 200, "hello world", nil},
		{"00size", sized("00%x"), 200, "hello world", nil},
		{"ucsize", head + "B\r\nhello world\r\n0\r\n\r\n", 200, "hello world", nil},
		{"size-space", sized("%x "), 200, "hello world", []string{model.ChunkSizeSpace}},
		{"size-tab", sized("%x\t"), 200, "hello world", []string{model.ChunkSizeSpace}},
		{"size-cr", sized("%x\r"), 200, "hello world", []string{model.ChunkSizeJunk}},
		{"size-x", sized("%xx"), 200, "hello world", []string{model.ChunkSizeJunk}},
		{"size-\\054", sized("%x,"), 200, "hello world", []string{model.ChunkSizeJunk}},
		{"size-\\000", sized("%x\x00"), 200, "hello world", []string{model.ChunkSizeJunk}},
		{"size-\\013", sized("%x\v"), 200, "hello world", []string{model.ChunkSizeJunk}},
		{"size-spacex", sized("%x x"), 200, "hello world", []string{model.ChunkSizeJunk}},
		{"space-size", sized(" %x"), 200, "hello world", []string{model.ChunkSizeSpace}},
		{"tab-size", sized("\t%x"), 200, "hello world", []string{model.ChunkSizeSpace}},
		{"cr-size", sized("\r%x"), 200, "hello world", []string{model.ChunkSizeSpace}},
		{"\\013-size", sized("\v%x"), 200, "hello world", []string{model.ChunkSizeSpace}},
		{"\\014-size", sized("\f%x"), 200, "hello world", []string{model.ChunkSizeSpace}},
		{"0x-size", sized("0x%x"), 200, "hello world", []string{model.ChunkSize0x}},
		{"lf-size", sized("\n%x"), 200, "hello world", []string{model.ChunkBlankLine}},
		{"crlf-size", sized("\r\n%x"), 200, "hello world", []string{model.ChunkBlankLine}},
		{"crlf-crlf-size", sized("\r\n\r\n%x"), 200, "hello world", []string{model.ChunkBlankLine}},
		{"final=00", head + "5\r\nhello\r\n00\r\n\r\n", 200, "hello", nil},
		{"final=00000000000000000000", head + "5\r\nhello\r\n00000000000000000000\r\n\r\n", 200, "hello", nil},
		{"final=0x", head + "5\r\nhello\r\n0x\r\n\r\n", 200, "hello", []string{model.ChunkSizeJunk}},
		{"chunk-ext-junk", head + "5; foobar\r\nhello\r\n0; foobar\r\n\r\n", 200, "hello", nil},
		{"chunk-ext-chunk", head + "5; xxxxx  5\r\nhello\r\n0\r\n\r\n", 200, "hello", nil},
		{"space-before-chunks", head + " " + hello, 200, "hello world", []string{model.ChunkSizeSpace}},
		{"lf-before-chunks", head + "\n" + hello, 200, "hello world", []string{model.ChunkBlankLine}},
		{"cr-before-chunks", head + "\r" + hello, 200, "hello world", []string{model.ChunkSizeSpace}},
		{"crlf-before-chunks", head + "\r\n" + hello, 200, "hello world", []string{model.ChunkBlankLine}},
	})
}

func TestEvasionChunkEnds(t *testing.T) {
	head := "HTTP/1.1 200 ok\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
	runEvasions(t, []evasion{
		{"chunk-lf", head + "5\nhello\n6\n world\n0\n\n", 200, "hello world", []string{model.BareLF}},
		{"chunk-crcr (Firefox reads the size; the CRs after the data are read past)", head + "5\r\r\nhello\r\r\n0\r\r\n\r\n", 200, "hello", []string{model.ChunkSizeJunk}},
		{"data not followed by CRLF", head + "5\r\nhelloX\r\n0\r\n\r\n", 200, "hello", []string{model.ChunkEndJunk, model.BadChunk}},
		{"finalchunk=0\\012", head + "5\r\nhello\r\n0\n", 200, "hello", []string{model.BareLF, model.ChunkedUnterminated}},
		{"finalchunk=0\\015", head + "5\r\nhello\r\n0\r", 200, "hello", []string{model.ChunkedUnterminated}},
		{"finalchunk=0", head + "5\r\nhello\r\n0", 200, "hello", []string{model.ChunkedUnterminated}},
		{"finalchunk=0\\012\\012", head + "5\r\nhello\r\n0\n\n", 200, "hello", []string{model.BareLF}},
		{"finalchunk=0\\012\\040\\012", head + "5\r\nhello\r\n0\n \n", 200, "hello", []string{model.BareLF, model.ObsFold, model.ChunkedUnterminated}},
		{"finalchunk=0\\012\\015\\012", head + "5\r\nhello\r\n0\n\r\n", 200, "hello", []string{model.BareLF}},
		{"finalchunk=0\\012\\015\\015\\012", head + "5\r\nhello\r\n0\n\r\r\n", 200, "hello", []string{model.BareLF, model.BareCR, model.ChunkedUnterminated}},
		{"finalchunk=0\\015\\012foobar\\015\\012", head + "5\r\nhello\r\n0\r\nfoobar\r\n", 200, "hello", []string{model.TrailerJunk, model.ChunkedUnterminated}},
		{"nofinal", head + "5\r\nhello\r\n", 200, "hello", []string{model.ChunkedUnterminated}},
	})
}

func TestEvasionFraming(t *testing.T) {
	h := "HTTP/1.1 200 ok\r\nConnection: close\r\n"
	h10 := "HTTP/1.0 200 ok\r\nConnection: close\r\n"
	runEvasions(t, []evasion{
		{"chunked,clen", h + "Transfer-Encoding: chunked\r\nContent-Length: 11\r\n\r\n" + hello, 200, "hello world", []string{model.TEAndCL}},
		{"clen,chunked", h + "Content-Length: 11\r\nTransfer-Encoding: chunked\r\n\r\n" + hello, 200, "hello world", []string{model.TEAndCL}},
		{"chunked,clen200", h + "Transfer-Encoding: chunked\r\nContent-Length: 22\r\n\r\n" + hello, 200, "hello world", []string{model.TEAndCL}},
		{"chunked,clen,do_clen", h + "Transfer-Encoding: chunked\r\nContent-Length: 11\r\n\r\nhello world", 200, "hello world", []string{model.TEAndCL, model.NotChunked}},
		{"chunked,http10", h10 + "Transfer-Encoding: chunked\r\n\r\n" + hello, 200, "hello world", []string{model.TEInHTTP10}},
		{"chunked,http10,do_clen", h10 + "Transfer-Encoding: chunked\r\n\r\nhello world", 200, "hello world", []string{model.TEInHTTP10, model.NotChunked}},
		{"chunked,clen,http10,do_clen", h10 + "Transfer-Encoding: chunked\r\nContent-Length: 11\r\n\r\nhello world", 200, "hello world", []string{model.TEInHTTP10, model.TEAndCL, model.NotChunked}},
		{"chUnked", h + "Transfer-Encoding: chUnked\r\n\r\n" + hello, 200, "hello world", nil},
		{"chu", h + "Transfer-Encoding: chu\r\n\r\n" + hello, 200, hello, []string{model.TEUnknown, model.TENotChunked}},
		{"xchunked", h + "Transfer-Encoding: xchunked\r\n\r\n" + hello, 200, hello, []string{model.TEUnknown, model.TENotChunked}},
		{"xte,chunked,do_chunked", h + "Transfer-Encoding: lalala\r\nTransfer-Encoding: chunked\r\n\r\n" + hello, 200, "hello world", []string{model.TEUnknown}},
		{"chunked,xte,do_chunked", h + "Transfer-Encoding: chunked\r\nTransfer-Encoding: lalala\r\n\r\n" + hello, 200, "hello world", []string{model.TEUnknown, model.TEChunkedNotLast}},
		{"xte,clen (a Transfer-Encoding without chunked is ignored)", h + "Transfer-Encoding: lalala\r\nContent-Length: 5\r\n\r\nhello", 200, "hello", []string{model.TEUnknown, model.TENotChunked, model.TEAndCL}},
		{"close,clen,clen,content", h + "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 200, "hello", []string{model.DuplicateLength}},
		{"close,000clen,content", h + "Content-Length: 0005\r\n\r\nhello", 200, "hello", nil},
		{"conflicting lengths: the smallest", h + "Content-Length: 5\r\nContent-Length: 11\r\n\r\nhello world", 200, "hello", []string{model.ConflictingLength}},
		{"length not a number: read to the close", h + "Content-Length: 5x\r\n\r\nhello world", 200, "hello world", []string{model.BadLength}},
	})
}

// TestSmugglingRequests: request smuggling signs are anomalies of the request, and the
// call (and the ones after it on the connection) still come out.
func TestSmugglingRequests(t *testing.T) {
	for _, tc := range []struct {
		name, req string
		body      string
		odd       []string
	}{
		{"CL.TE", "POST /a HTTP/1.1\r\nHost: api.test\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", "hello", []string{model.TEAndCL}},
		{"TE.CL", "POST /a HTTP/1.1\r\nHost: api.test\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n5\r\nhello\r\n0\r\n\r\n", "hello", []string{model.TEAndCL}},
		{"TE.TE obfuscated", "POST /a HTTP/1.1\r\nHost: api.test\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding : x\r\n\r\n5\r\nhello\r\n0\r\n\r\n", "hello", []string{model.SpaceBeforeColon, model.TEUnknown, model.TEChunkedNotLast}},
		{"duplicate lengths", "POST /a HTTP/1.1\r\nHost: api.test\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", "hello", []string{model.DuplicateLength}},
		{"conflicting lengths", "POST /a HTTP/1.1\r\nHost: api.test\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello", "hello", []string{model.ConflictingLength}},
		{"obs-fold", "POST /a HTTP/1.1\r\nHost: api.test\r\nContent-Length:\r\n 5\r\n\r\nhello", "hello", []string{model.ObsFold}},
		{"chunked on HTTP/1.0", "POST /a HTTP/1.0\r\nHost: api.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", "hello", []string{model.TEInHTTP10}},
		{"space before the colon", "POST /a HTTP/1.1\r\nHost: api.test\r\nContent-Length : 5\r\n\r\nhello", "hello", []string{model.SpaceBeforeColon}},
		{"header without colon", "POST /a HTTP/1.1\r\nHost: api.test\r\nX\r\nContent-Length: 5\r\n\r\nhello", "hello", []string{model.HeaderJunk}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := defaultConv().handshake()
			c.req(tc.req)
			c.resp(ok("1"))
			c.req(get("/next"))
			c.resp(ok("2"))
			c.close()
			r := c.run(t)
			r.want(t, `POST http://api.test/a -> 200 req="`+tc.body+`" resp="1"`, `GET http://api.test/next -> 200 req="" resp="2"`)
			var want []string
			for _, a := range tc.odd {
				want = append(want, "request:"+a)
			}
			if len(r.calls) > 0 && !sameSet(r.calls[0].Anomalies, want) {
				t.Errorf("anomalies %q, want %q", r.calls[0].Anomalies, want)
			}
			if len(r.calls) > 1 && len(r.calls[1].Anomalies) > 0 {
				t.Errorf("anomalies of the next call: %q", r.calls[1].Anomalies)
			}
		})
	}
}

// TestKeepAliveAfterAnomalies: a response read leniently does not take the next one.
func TestKeepAliveAfterAnomalies(t *testing.T) {
	c := defaultConv().handshake()
	c.req(get("/1"))
	c.resp("HTTP/1.10 200 ok\r\nTransfer-Encoding : chunked\r\n\r\n5 \r\nhello\r\n0x0\r\n\r\n")
	c.req(get("/2"))
	c.resp("HTTP/1.1 200 ok\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc")
	c.req(get("/3"))
	c.resp(ok("three"))
	c.close()
	r := c.run(t)
	r.want(t, `GET http://api.test/1 -> 200 req="" resp="hello"`, `GET http://api.test/2 -> 200 req="" resp="ab"`, `GET http://api.test/3 -> 200 req="" resp="three"`)
	if len(r.calls) > 0 && !strings.Contains(fmt.Sprint(r.calls[0].Anomalies), model.ChunkSize0x) {
		t.Errorf("anomalies %q", r.calls[0].Anomalies)
	}
}

// TestUnansweredSmugglingCounted: a smuggling attempt the server closes on without an
// answer is an incomplete call; not emitted (KeepIncomplete off), its anomalies are still
// counted.
func TestUnansweredSmugglingCounted(t *testing.T) {
	c := defaultConv().handshake()
	c.req("POST /a HTTP/1.1\r\nHost: api.test\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
	c.close()
	r := c.runWith(t, DefaultConfig(), linkEthernet)
	counts, _ := r.stats.Unemitted.Snapshot()
	if len(r.calls) != 0 || counts["request:"+model.TEAndCL] != 1 || r.stats.IncompleteFor(NoResponse) != 1 {
		t.Errorf("calls %v, unemitted anomalies %v, no response %d", summaries(r.calls), counts, r.stats.IncompleteFor(NoResponse))
	}
}

// TestNotChunkedOnKeepAlive: a body said chunked that is not, without a length, on a
// connection kept alive, is cut (marked) rather than read to the close: that would take
// the next response into it.
func TestNotChunkedOnKeepAlive(t *testing.T) {
	c := defaultConv().handshake()
	c.req(get("/1"))
	c.resp("HTTP/1.1 200 ok\r\nTransfer-Encoding: chunked\r\n\r\nnot chunked")
	c.req(get("/2"))
	c.resp(ok("two"))
	c.close()
	r := c.run(t)
	r.want(t, `GET http://api.test/1 -> 200 req="" resp=""`, `GET http://api.test/2 -> 200 req="" resp="two"`)
	if len(r.calls) == 2 && (!sameSet(r.calls[0].Anomalies, []string{"response:" + model.BadChunk}) || !r.calls[0].Response.Truncated) {
		t.Errorf("anomalies %q truncated %v", r.calls[0].Anomalies, r.calls[0].Response.Truncated)
	}
}
