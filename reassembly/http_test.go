package reassembly

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestKeepAliveManyCalls(t *testing.T) {
	c := defaultConv().handshake()
	var want []string
	for i := 0; i < 200; i++ {
		p := fmt.Sprintf("/items/%d?page=%d", i, i%7)
		body := fmt.Sprintf(`{"i":%d}`, i)
		if i%3 == 0 {
			c.req(post(p, body))
			c.resp(status(201, body))
			want = append(want, fmt.Sprintf(`POST http://api.test%s -> 201 req=%q resp=%q`, p, body, body))
		} else {
			c.req(get(p))
			c.resp(ok(body))
			want = append(want, fmt.Sprintf(`GET http://api.test%s -> 200 req="" resp=%q`, p, body))
		}
	}
	c.close()
	r := c.run(t)
	r.want(t, want...)
	if r.stats.Calls.Load() != 200 || r.stats.IncompleteTotal() != 0 {
		t.Errorf("stats: %d calls, %d incomplete", r.stats.Calls.Load(), r.stats.IncompleteTotal())
	}
}

func TestPipelining(t *testing.T) {
	for _, together := range []bool{false, true} {
		t.Run(fmt.Sprint("in one segment ", together), func(t *testing.T) {
			c := defaultConv().handshake()
			reqs := get("/1") + post("/2", `{"two":2}`) + "HEAD /3 HTTP/1.1\r\nHost: api.test\r\n\r\n" + get("/4")
			resps := ok(`{"r":1}`) + status(202, `{"r":2}`) + "HTTP/1.1 200 OK\r\nContent-Length: 999\r\n\r\n" + status(404, `{"r":4}`)
			if together {
				c.req(reqs)
				c.resp(resps)
			} else {
				c.mss = 17
				c.req(reqs)
				c.resp(resps)
			}
			c.close()
			c.run(t).want(t,
				`GET http://api.test/1 -> 200 req="" resp="{\"r\":1}"`,
				`POST http://api.test/2 -> 202 req="{\"two\":2}" resp="{\"r\":2}"`,
				`HEAD http://api.test/3 -> 200 req="" resp=""`,
				`GET http://api.test/4 -> 404 req="" resp="{\"r\":4}"`)
		})
	}
	t.Run("responses start while requests are still coming", func(t *testing.T) {
		c := defaultConv().handshake()
		c.req(get("/a"))
		c.req(get("/b"))
		c.resp(ok("A"))
		c.req(get("/c"))
		c.resp(ok("B"))
		c.resp(ok("C"))
		c.close()
		c.run(t).want(t,
			`GET http://api.test/a -> 200 req="" resp="A"`,
			`GET http://api.test/b -> 200 req="" resp="B"`,
			`GET http://api.test/c -> 200 req="" resp="C"`)
	})
}

func TestChunked(t *testing.T) {
	c := defaultConv().handshake()
	c.req("POST /c HTTP/1.1\r\nHost: api.test\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"4;name=value;flag\r\nWiki\r\n6 ; q=\"quoted;ext\"\r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n0\r\n\r\n")
	c.resp("HTTP/1.1 200 OK\r\nTrailer: X-Checksum, X-Count\r\nTransfer-Encoding: gzip, chunked\r\n\r\n" +
		"3\r\nabc\r\n0;last\r\nX-Checksum: 900150983cd24fb0\r\nX-Count: 3\r\n\r\n")
	c.req(get("/after"))
	c.resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nA\r\n0123456789\r\n0\n\n") // bare LF endings
	c.req(get("/after2"))
	c.resp(ok("x"))
	c.close()
	r := c.run(t)
	r.want(t,
		`POST http://api.test/c -> 200 req="Wikipedia in \r\n\r\nchunks." resp="abc"`,
		`GET http://api.test/after -> 200 req="" resp="0123456789"`,
		`GET http://api.test/after2 -> 200 req="" resp="x"`)
	if len(r.calls) == 3 {
		tr := r.calls[0].Response.Trailers
		if fmt.Sprint(tr) != "[{X-Checksum 900150983cd24fb0} {X-Count 3}]" {
			t.Errorf("trailers %v", tr)
		}
		if r.calls[0].Request.BodySize != 24 {
			t.Errorf("request body size %d, want 24", r.calls[0].Request.BodySize)
		}
	}
}

func TestCloseDelimited(t *testing.T) {
	c := defaultConv().handshake()
	c.req("GET /old HTTP/1.0\r\n\r\n")
	c.resp("HTTP/1.0 200 OK\r\nServer: old\r\n\r\n")
	c.mss = 5
	c.resp("no length at all\r\nHTTP/1.1 200 OK\r\n\r\n (still the body)")
	c.close()
	c.run(t).want(t, `GET http://10.2.0.2/old -> 200 req="" resp="no length at all\r\nHTTP/1.1 200 OK\r\n\r\n (still the body)"`)
}

func TestInterimResponses(t *testing.T) {
	t.Run("Expect: 100-continue", func(t *testing.T) {
		c := defaultConv().handshake()
		c.req("PUT /blob HTTP/1.1\r\nHost: api.test\r\nExpect: 100-continue\r\nContent-Length: 11\r\n\r\n")
		c.resp("HTTP/1.1 100 Continue\r\n\r\n")
		c.req("hello world")
		c.resp(status(201, "{}"))
		c.req(get("/next"))
		c.resp(ok("n"))
		c.close()
		r := c.run(t)
		r.want(t, `PUT http://api.test/blob -> 201 req="hello world" resp="{}"`, `GET http://api.test/next -> 200 req="" resp="n"`)
		if len(r.calls) > 0 && fmt.Sprint(r.calls[0].Interim) != "[100]" {
			t.Errorf("interim %v, want [100]", r.calls[0].Interim)
		}
	})
	t.Run("several interim responses with long headers", func(t *testing.T) {
		link := "Link: </" + strings.Repeat("s", 20000) + ".css>; rel=preload\r\n"
		c := defaultConv().handshake()
		c.mss = 1400
		c.req(get("/page"))
		c.resp("HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 103 Early Hints\r\n" + link + link + "\r\n")
		c.resp("HTTP/1.1 103 Early Hints\r\nLink: </a.js>; rel=preload\r\n\r\n" + ok("page"))
		c.close()
		r := c.run(t)
		r.want(t, `GET http://api.test/page -> 200 req="" resp="page"`)
		if len(r.calls) > 0 && fmt.Sprint(r.calls[0].Interim) != "[102 103 103]" {
			t.Errorf("interim %v, want [102 103 103]", r.calls[0].Interim)
		}
	})
}

func TestNoBodyResponses(t *testing.T) {
	c := defaultConv().handshake()
	c.req("HEAD /h HTTP/1.1\r\nHost: api.test\r\n\r\n")
	c.resp("HTTP/1.1 200 OK\r\nContent-Length: 5000\r\nContent-Type: application/json\r\n\r\n")
	c.req("DELETE /d HTTP/1.1\r\nHost: api.test\r\n\r\n")
	c.resp("HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n")
	c.req("GET /n HTTP/1.1\r\nHost: api.test\r\nIf-None-Match: \"x\"\r\n\r\n")
	c.resp("HTTP/1.1 304 Not Modified\r\nContent-Length: 42\r\nETag: \"x\"\r\n\r\n")
	c.req("HEAD /chunked HTTP/1.1\r\nHost: api.test\r\n\r\n")
	c.resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
	c.req(get("/after"))
	c.resp(ok("body"))
	c.close()
	c.run(t).want(t,
		`HEAD http://api.test/h -> 200 req="" resp=""`,
		`DELETE http://api.test/d -> 204 req="" resp=""`,
		`GET http://api.test/n -> 304 req="" resp=""`,
		`HEAD http://api.test/chunked -> 200 req="" resp=""`,
		`GET http://api.test/after -> 200 req="" resp="body"`)
}

func TestAnyMethodAndStatus(t *testing.T) {
	c := defaultConv().handshake()
	methods := []string{"PURGE", "M-SEARCH", "CCM_POST", "x-custom!#$%&'*+.^_`|~", "propfind", "BREW"}
	statuses := []int{299, 418, 599, 999, 342, 200}
	var want []string
	for i, m := range methods {
		c.req(m + " /m" + fmt.Sprint(i) + " HTTP/1.1\r\nHost: api.test\r\n\r\n")
		c.resp(fmt.Sprintf("HTTP/1.1 %d Whatever Reason Phrase\r\nContent-Length: 1\r\n\r\n%d", statuses[i], i))
		want = append(want, fmt.Sprintf(`%s http://api.test/m%d -> %d req="" resp="%d"`, m, i, statuses[i], i))
	}
	c.req(get("/noreason"))
	c.resp("HTTP/1.1 201\r\nContent-Length: 0\r\n\r\n") // no reason phrase, no space
	want = append(want, `GET http://api.test/noreason -> 201 req="" resp=""`)
	c.close()
	r := c.run(t)
	r.want(t, want...)
	if len(r.calls) > 0 && r.calls[0].Response.Reason != "Whatever Reason Phrase" {
		t.Errorf("reason %q", r.calls[0].Response.Reason)
	}
}

func TestTunnels(t *testing.T) {
	t.Run("CONNECT", func(t *testing.T) {
		c := defaultConv().handshake()
		c.req("CONNECT api.test:443 HTTP/1.1\r\nHost: api.test:443\r\n\r\n")
		c.resp("HTTP/1.1 200 Connection Established\r\n\r\n")
		c.req("\x16\x03\x01 TLS hello GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		c.resp("\x16\x03\x03 TLS server HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
		c.close()
		r := c.run(t)
		r.want(t, `CONNECT http://api.test:443 -> 200 req="" resp=""`)
		if r.stats.Tunnels.Load() != 1 {
			t.Errorf("%d tunnels, want 1", r.stats.Tunnels.Load())
		}
	})
	t.Run("CONNECT refused goes on as HTTP", func(t *testing.T) {
		c := defaultConv().handshake()
		c.req("CONNECT api.test:443 HTTP/1.1\r\nHost: api.test:443\r\n\r\n")
		c.resp("HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 2\r\n\r\nno")
		c.req(get("/after"))
		c.resp(ok("yes"))
		c.close()
		c.run(t).want(t, `CONNECT http://api.test:443 -> 407 req="" resp="no"`, `GET http://api.test/after -> 200 req="" resp="yes"`)
	})
	t.Run("Upgrade to websocket", func(t *testing.T) {
		c := defaultConv().handshake()
		c.req("GET /ws HTTP/1.1\r\nHost: api.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
		c.resp("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")
		c.req("\x81\x85GET / HTTP/1.1\r\n\r\n")
		c.resp("\x81\x05HTTP/1.1 200 OK\r\n\r\n")
		c.close()
		r := c.run(t)
		r.want(t, `GET http://api.test/ws -> 101 req="" resp=""`)
		if r.stats.Tunnels.Load() != 1 || r.stats.Orphans.Load() != 0 {
			t.Errorf("%d tunnels (want 1), %d orphans (want 0)", r.stats.Tunnels.Load(), r.stats.Orphans.Load())
		}
	})
}

func TestHeadersInOrder(t *testing.T) {
	c := defaultConv().handshake()
	c.req("GET /h HTTP/1.1\r\nhost: api.test\r\nX-B: 2\r\nx-a:1\r\nX-B:   3  \r\nX-Folded: one\r\n  two\r\nACCEPT: */*\r\nX-Empty:\r\n\r\n")
	c.resp("HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\nContent-LENGTH: 2\r\nX-Z: z\r\n\r\nok")
	c.close()
	r := c.run(t)
	r.want(t, `GET http://api.test/h -> 200 req="" resp="ok"`)
	if len(r.calls) != 1 {
		return
	}
	got := fmt.Sprint(r.calls[0].Request.Headers)
	want := "[{host api.test} {X-B 2} {x-a 1} {X-B 3} {X-Folded one two} {ACCEPT */*} {X-Empty }]"
	if got != want {
		t.Errorf("request headers\n got  %s\n want %s", got, want)
	}
	got = fmt.Sprint(r.calls[0].Response.Headers)
	want = "[{Set-Cookie a=1} {set-cookie b=2} {Content-LENGTH 2} {X-Z z}]"
	if got != want {
		t.Errorf("response headers\n got  %s\n want %s", got, want)
	}
}

func TestURLs(t *testing.T) {
	cases := []struct{ client, server, req, want string }{
		{"10.0.0.1:5000", "10.0.0.2:80", "GET /p?q=1 HTTP/1.1\r\n\r\n", "http://10.0.0.2/p?q=1"},
		{"10.0.0.1:5000", "10.0.0.2:8080", "GET /p HTTP/1.0\r\n\r\n", "http://10.0.0.2:8080/p"},
		{"[fd00::1]:5000", "[fd00::2]:80", "GET /v6 HTTP/1.1\r\n\r\n", "http://[fd00::2]/v6"},
		{"[fd00::1]:5000", "[fd00::2]:8443", "GET /v6 HTTP/1.1\r\n\r\n", "http://[fd00::2]:8443/v6"},
		{"10.0.0.1:5000", "10.0.0.2:3128", "GET http://example.com/abs HTTP/1.1\r\nHost: example.com\r\n\r\n", "http://example.com/abs"},
		{"10.0.0.1:5000", "10.0.0.2:3128", "GET HTTP://Example.com/Abs HTTP/1.1\r\n\r\n", "http://Example.com/Abs"},
		{"10.0.0.1:5000", "10.0.0.2:3128", "GET https://example.com/s HTTP/1.1\r\n\r\n", "https://example.com/s"},
		{"10.0.0.1:5000", "10.0.0.2:80", "OPTIONS * HTTP/1.1\r\nHost: api.test\r\n\r\n", "http://api.test"},
		{"10.0.0.1:5000", "10.0.0.2:80", "GET noslash HTTP/1.1\r\nHost: api.test\r\n\r\n", "http://api.test/noslash"},
		{"10.0.0.1:5000", "10.0.0.2:80", "GET /sp ace HTTP/1.1\r\nHost: api.test\r\n\r\n", "http://api.test/sp ace"},
	}
	for _, k := range cases {
		c := newConv(k.client, k.server, 5, 6).handshake()
		c.req(k.req)
		c.resp(ok(""))
		c.close()
		r := c.run(t)
		if len(r.calls) != 1 || r.calls[0].URL != k.want {
			t.Errorf("%q: calls %v, want URL %s", k.req, summaries(r.calls), k.want)
		}
	}
}

func TestBodyLimit(t *testing.T) {
	c := defaultConv().handshake()
	c.mss = 100
	big := strings.Repeat("0123456789", 100)
	c.req(post("/big", big))
	c.resp(ok(big))
	c.req(get("/small"))
	c.resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + string(chunked([]byte(big), 300)))
	c.req(get("/last"))
	c.resp(ok("tiny"))
	c.close()
	cfg := DefaultConfig()
	cfg.MaxBodyBytes = 64
	r := c.runWith(t, cfg, linkEthernet)
	r.want(t,
		`POST http://api.test/big -> 200 req="`+big[:64]+`" resp="`+big[:64]+`"`,
		`GET http://api.test/small -> 200 req="" resp="`+big[:64]+`"`,
		`GET http://api.test/last -> 200 req="" resp="tiny"`)
	for i, call := range r.calls[:min(2, len(r.calls))] {
		if !call.Response.Truncated || call.Response.BodySize != 1000 {
			t.Errorf("call %d: truncated %v, body size %d, want true, 1000", i, call.Response.Truncated, call.Response.BodySize)
		}
	}
	if len(r.calls) == 3 && (r.calls[2].Response.Truncated || !r.calls[0].Request.Truncated) {
		t.Error("truncation marks wrong")
	}
	if n := r.stats.TruncatedBody.Load(); n != 3 {
		t.Errorf("%d truncated bodies counted, want 3", n)
	}
}

func TestRequestWithoutResponse(t *testing.T) {
	build := func() *conv {
		c := defaultConv().handshake()
		c.req(get("/answered"))
		c.resp(ok("a"))
		c.req(post("/unanswered", "u"))
		c.close()
		return c
	}
	for _, keep := range []bool{false, true} {
		cfg := DefaultConfig()
		cfg.KeepIncomplete = keep
		r := build().runWith(t, cfg, linkEthernet)
		want := []string{`GET http://api.test/answered -> 200 req="" resp="a"`}
		if keep {
			want = append(want, `POST http://api.test/unanswered [no response] req="u"`)
		}
		r.want(t, want...)
		if r.stats.Incomplete()[NoResponse] != 1 || r.stats.Calls.Load() != 1 {
			t.Errorf("keep %v: stats %v, %d calls", keep, r.stats.Incomplete(), r.stats.Calls.Load())
		}
		if n := r.stats.IncompleteOut.Load(); (n == 1) != keep {
			t.Errorf("keep %v: %d incomplete emitted", keep, n)
		}
		if keep && r.calls[1].End.Before(r.calls[1].Start) {
			t.Error("half call ends before it starts")
		}
	}
}

// TestIdleTimeout leaves a connection open (no FIN) and lets the clock run: Tick must
// flush its pending request and free it, with no Close.
func TestIdleTimeout(t *testing.T) {
	c := defaultConv().handshake()
	c.req(get("/done"))
	c.resp(ok("d"))
	c.req(get("/waiting"))
	cfg := DefaultConfig()
	cfg.KeepIncomplete = true
	cfg.IdleTimeout = 30 * time.Second
	r := feed(cfg, linkEthernet.linkType(), c.packets(linkEthernet), false)
	r.want(t, `GET http://api.test/done -> 200 req="" resp="d"`)
	if r.stats.StreamsOpen.Load() != 1 {
		t.Fatalf("%d streams open, want 1", r.stats.StreamsOpen.Load())
	}
	r.asm.Tick(t0.Add(10 * time.Second))
	if len(r.calls) != 1 || r.stats.StreamsOpen.Load() != 1 {
		t.Fatalf("flushed before the idle timeout: %v", summaries(r.calls))
	}
	r.asm.Tick(t0.Add(45 * time.Second))
	r.want(t, `GET http://api.test/done -> 200 req="" resp="d"`, `GET http://api.test/waiting [no response] req=""`)
	if r.stats.StreamsOpen.Load() != 0 {
		t.Errorf("%d streams open after the idle timeout, want 0", r.stats.StreamsOpen.Load())
	}
	r.asm.Close()
	if len(r.calls) != 2 {
		t.Errorf("Close emitted again: %v", summaries(r.calls))
	}
}

// TestGapTimeoutByTick: a hole in a live capture is skipped by Tick after the gap
// timeout, with no later packet on that connection.
func TestGapTimeoutByTick(t *testing.T) {
	c := defaultConv().handshake()
	c.req(get("/1"))
	m := ok(strings.Repeat("z", 30))
	seg := c.resp(m, headLen(m)+10, headLen(m)+20)
	c.drop(seg[1])
	r := feed(DefaultConfig(), linkEthernet.linkType(), c.packets(linkEthernet), false)
	if len(r.calls) != 0 || r.stats.Gaps.Load() != 0 {
		t.Fatalf("hole skipped before the gap timeout: %v", summaries(r.calls))
	}
	r.asm.Tick(t0.Add(10 * time.Second))
	if r.stats.Gaps.Load() != 1 || r.stats.Incomplete()[GapInResponse] != 1 {
		t.Errorf("after the gap timeout: %d gaps, incomplete %v", r.stats.Gaps.Load(), r.stats.Incomplete())
	}
}

func TestMaxStreams(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxStreams = 2
	var pkts []packet
	for i := 0; i < 3; i++ {
		c := newConv(fmt.Sprintf("10.0.0.1:%d", 40000+i), "10.0.0.2:80", 1, 1).handshake()
		c.req(get(fmt.Sprint("/", i)))
		c.resp(ok("x"))
		pkts = append(pkts, c.packets(linkEthernet)...) // three open connections at once
	}
	r := feed(cfg, linkEthernet.linkType(), pkts, true)
	if len(r.calls) != 2 || r.stats.StreamsRefused.Load() == 0 || r.stats.Streams.Load() != 2 {
		t.Errorf("calls %v, %d streams, %d refused", summaries(r.calls), r.stats.Streams.Load(), r.stats.StreamsRefused.Load())
	}
}

func TestMaxPending(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxPending = 2
	cfg.KeepIncomplete = true
	c := defaultConv().handshake()
	c.req(get("/1") + get("/2") + get("/3") + get("/4"))
	c.resp(ok("r1") + ok("r2") + ok("r3") + ok("r4"))
	c.close()
	r := c.runWith(t, cfg, linkEthernet)
	r.want(t,
		`GET http://api.test/1 [too many pending requests] req=""`,
		`GET http://api.test/2 [too many pending requests] req=""`,
		`GET http://api.test/3 -> 200 req="" resp="r3"`,
		`GET http://api.test/4 -> 200 req="" resp="r4"`)
	if n := r.stats.Incomplete()[TooManyPending]; n != 2 {
		t.Errorf("%d too-many-pending counted, want 2", n)
	}
}

func TestEarlyResponse(t *testing.T) {
	c := defaultConv().handshake()
	body := strings.Repeat("u", 3000)
	m := post("/upload", body)
	seg := c.req(m, headLen(m)+100)
	r413 := c.resp(status(413, `{"error":"too large"}`))
	// The server acknowledges only what it received before it answered.
	c.segs[r413[0]].ackNo = c.segs[seg[0]].seq + uint32(len(c.segs[seg[0]].payload))
	c.segs = append(c.segs[:seg[1]], append(c.segs[len(c.segs)-1:], c.segs[seg[1]:len(c.segs)-1]...)...) // the 413 comes before the rest of the body
	c.req(get("/next"))
	c.resp(ok("n"))
	c.close()
	r := c.run(t)
	r.want(t, `POST http://api.test/upload -> 413 req="`+body[:100]+`" resp="{\"error\":\"too large\"}"`, `GET http://api.test/next -> 200 req="" resp="n"`)
	if len(r.calls) > 0 && !r.calls[0].Request.Truncated {
		t.Error("request body cut by the early response not marked truncated")
	}
}

func TestTimes(t *testing.T) {
	c := defaultConv().handshake()
	c.req(get("/t"))
	c.segs[len(c.segs)-1].pause = 2 * time.Second
	i := c.resp(ok(strings.Repeat("b", 30)), 40)
	c.segs[i[1]].pause = 500 * time.Millisecond
	c.close()
	pk := c.packets(linkEthernet)
	r := c.run(t)
	if len(r.calls) != 1 {
		t.Fatal(summaries(r.calls))
	}
	call := r.calls[0]
	if !call.Start.Equal(pk[3].ci.Timestamp) || !call.End.Equal(pk[5].ci.Timestamp) {
		t.Errorf("start %v end %v, want %v %v", call.Start, call.End, pk[3].ci.Timestamp, pk[5].ci.Timestamp)
	}
	if d := call.Duration(); d != 502*time.Millisecond {
		t.Errorf("duration %v, want 502ms", d)
	}
}

// TestBufferCap: behind a hole, out-of-order bytes are buffered only up to the
// per-connection cap; past it the hole is skipped at once (counted as a gap) instead of
// holding memory until the gap timeout.
func TestBufferCap(t *testing.T) {
	c := defaultConv().handshake()
	c.mss = 1000
	c.req(get("/big"))
	m := ok(strings.Repeat("b", 40000))
	seg := c.resp(m)
	c.drop(seg[1])
	c.req(get("/next"))
	c.resp(ok("n"))
	cfg := DefaultConfig()
	cfg.KeepIncomplete = true
	cfg.MaxConnBuffered = 8 * pageBytes
	r := feed(cfg, linkEthernet.linkType(), c.packets(linkEthernet), false)
	if r.stats.Gaps.Load() != 1 {
		t.Fatalf("%d gaps before Close, want the hole skipped at the cap", r.stats.Gaps.Load())
	}
	r.asm.Close()
	r.want(t, `GET http://api.test/big -> 200 [gap in response] req="" resp="`+strings.Repeat("b", 1000-headLen(m))+`"`,
		`GET http://api.test/next -> 200 req="" resp="n"`)
}
