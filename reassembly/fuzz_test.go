package reassembly

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"sniffer/model"
)

// FuzzParseHead throws arbitrary bytes at the head grammar (head.go): start lines,
// header fields, framing, chunk sizes and the resynchronisation search. Nothing may
// panic, and what parses must be made of the input's bytes.
func FuzzParseHead(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
		"POST /x HTTP/1.0\nContent-Length: 1, 1\n X-Folded\n\n",
		"HTTP/1.0 2XX Weird\r\n\r\n",
		"abcGET /glued HTTP/1.1\r\n\r\n",
		"}HTTP/1.1 204 No Content\r\nA: b\r\n\r\n",
		"M-SEARCH * HTTP/1.1\r\n\r\n",
		"1a;ext=\"x\"\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
	} {
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, b []byte, lenient bool) {
		var odd oddities
		sl, hs, err := parseHead(b, 16, lenient, &odd)
		if err == nil {
			if sl.request {
				if sl.method == "" || !bytes.Contains(b, []byte(sl.method+" ")) {
					t.Fatalf("method %q not from the input", sl.method)
				}
				if !bytes.Contains(b, []byte(sl.target)) {
					t.Fatalf("target %q not from the input", sl.target)
				}
				if fr, n := requestFraming(sl.proto, hs, &odd); fr == fixedBody && n <= 0 {
					t.Fatalf("fixed body of %d bytes", n)
				}
			} else {
				if sl.status < 0 || sl.status > 999 {
					t.Fatalf("status %d", sl.status)
				}
				fr, n := responseFraming("GET", sl.status, sl.proto, hs, &odd)
				if fr == fixedBody && n <= 0 {
					t.Fatalf("fixed body of %d bytes", n)
				}
			}
			if len(hs) > 16 {
				t.Fatalf("%d headers, limit 16", len(hs))
			}
			for _, h := range hs {
				if h.Name == "" || !bytes.Contains(b, []byte(h.Name)) {
					t.Fatalf("header name %q not from the input", h.Name)
				}
				for _, w := range strings.Fields(h.Value) {
					if !bytes.Contains(b, []byte(w)) {
						t.Fatalf("header value %q not from the input", h.Value)
					}
				}
			}
		}
		if e := headEnd(b, 0); e > len(b) || e == 0 {
			t.Fatalf("headEnd %d of %d bytes", e, len(b))
		}
		if n, ok := parseChunkSize(b, &odd); ok && n < 0 {
			t.Fatalf("chunk size %d", n)
		}
		line := b
		if i := bytes.IndexByte(line, '\n'); i >= 0 {
			line = trimEOL(line[:i+1])
		}
		for _, want := range [][2]bool{{true, true}, {true, false}, {false, true}} {
			if k := startIn(line, want[0], want[1]); k >= 0 {
				if k >= len(line) || !looksLikeStart(line[k:], want[0], want[1]) {
					t.Fatalf("startIn %d in %q", k, line)
				}
			}
		}
	})
}

// FuzzStream gives arbitrary bytes as the two directions of a TCP connection, cut into
// segments at points chosen from seed, interleaved, sometimes reordered, duplicated or
// dropped, with or without the handshake and the close. Nothing may panic, every
// stream must be freed at Close, and no call may hold bytes that are not from the
// input: requests from one direction, responses from the other.
func FuzzStream(f *testing.F) {
	f.Add([]byte(get("/a")+post("/b", "xyz")), []byte(ok("1")+status(201, "22")), uint64(1), uint8(0))
	f.Add([]byte(get("/p1")+get("/p2")), []byte("HTTP/1.1 100 Continue\r\n\r\n"+ok("x")+"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;e\r\nabc\r\n0\r\nT: 1\r\n\r\n"), uint64(7), uint8(3))
	f.Add([]byte("CONNECT h:443 HTTP/1.1\r\n\r\n\x16\x03"), []byte("HTTP/1.1 200 OK\r\n\r\nGET / HTTP/1.1\r\n\r\n"), uint64(3), uint8(1))
	f.Add([]byte("tail\r\nGET /x HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"), []byte("ody\"}HTTP/1.0 200 OK\r\n\r\nclose delimited"), uint64(99), uint8(6))
	f.Add([]byte("HEAD / HTTP/1.1\r\n\r\n"), []byte("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"), uint64(5), uint8(8))
	// Any-port detection (flag 64): a lenient request line, TLS, SSH speaking first.
	f.Add([]byte("GET /\r\n\r\n"+get("/b")), []byte(status(400, "x")+ok("y")), uint64(11), uint8(64))
	f.Add([]byte("\x16\x03\x01\x00\x05hello"), []byte("SSH-2.0-x\r\n"), uint64(12), uint8(64+2))
	f.Fuzz(func(t *testing.T, client, server []byte, seed uint64, flags uint8) {
		if len(client)+len(server) > 1<<16 {
			return
		}
		rng := rand.New(rand.NewPCG(seed, uint64(flags)))
		c := newConv("10.0.0.1:40000", "10.0.0.2:80", rng.Uint32(), rng.Uint32())
		if flags&1 == 0 {
			c.handshake()
		}
		// Cut both directions into segments and interleave them.
		split := func(b []byte) [][]byte {
			var out [][]byte
			for len(b) > 0 {
				n := 1 + rng.IntN(min(len(b), 1+int(seed%97)))
				out = append(out, b[:n])
				b = b[n:]
			}
			return out
		}
		cs, ss := split(client), split(server)
		for len(cs)+len(ss) > 0 {
			if len(ss) == 0 || len(cs) > 0 && rng.IntN(2) == 0 {
				c.send(true, cs[0])
				cs = cs[1:]
			} else {
				c.send(false, ss[0])
				ss = ss[1:]
			}
		}
		if flags&2 != 0 {
			c.close()
		} else if flags&4 != 0 {
			c.rst(rng.IntN(2) == 0)
		}
		first := 0
		if flags&1 == 0 {
			first = 3
		}
		if n := len(c.segs) - first; n > 1 {
			if flags&8 != 0 { // reorder a few
				for k := 0; k < 3; k++ {
					c.swap(first+rng.IntN(n), first+rng.IntN(n))
				}
			}
			if flags&16 != 0 { // retransmit one later
				c.dup(first+rng.IntN(n), first+rng.IntN(n))
			}
			if flags&32 != 0 { // lose one
				c.drop(first + rng.IntN(n))
			}
		}
		cfg := DefaultConfig()
		cfg.KeepIncomplete = true
		cfg.MaxBodyBytes = 1 << 12
		cfg.MaxPending = 8
		cfg.Detect = flags&64 != 0
		r := feed(cfg, linkEthernet.linkType(), c.packets(linkEthernet), true)
		if n := r.stats.StreamsOpen.Load(); n != 0 {
			t.Fatalf("%d streams open after Close", n)
		}
		for _, call := range r.calls {
			reqFrom, respFrom := client, server
			if !bytes.Contains(client, []byte(call.Request.Method+" ")) {
				reqFrom, respFrom = server, client
			}
			fromInput(t, "request", &call.Request.Message, reqFrom, call.Request.Method+" ", call.Request.Target)
			if call.Response != nil {
				fromInput(t, "response", &call.Response.Message, respFrom, call.Response.Reason)
			}
			if call.End.Before(call.Start) {
				t.Fatalf("call ends before it starts: %v %v", call.Start, call.End)
			}
			if call.Incomplete == "" && call.Response == nil {
				t.Fatal("complete call without a response")
			}
		}
	})
}

// fromInput fails unless the message's parts are bytes of data: its words, header
// names and values, and its body (a run of data, or for chunked bodies, data's bytes
// in order).
func fromInput(t *testing.T, what string, m *model.Message, data []byte, words ...string) {
	t.Helper()
	for _, w := range words {
		if !bytes.Contains(data, []byte(w)) {
			t.Fatalf("%s: %q is not from the input", what, w)
		}
	}
	for _, h := range append(append([]model.Header(nil), m.Headers...), m.Trailers...) {
		if !bytes.Contains(data, []byte(h.Name)) {
			t.Fatalf("%s: header %q is not from the input", what, h.Name)
		}
		for _, w := range strings.Fields(h.Value) {
			if !bytes.Contains(data, []byte(w)) {
				t.Fatalf("%s: header value %q is not from the input", what, h.Value)
			}
		}
	}
	chunked, _ := isChunked(m.Headers, nil)
	if !chunked && !bytes.Contains(data, m.Body) {
		t.Fatalf("%s: body %q is not a run of the input", what, m.Body)
	}
	if chunked && !subsequence(m.Body, data) {
		t.Fatalf("%s: chunked body %q is not from the input", what, m.Body)
	}
	if int64(len(m.Body)) > m.BodySize {
		t.Fatalf("%s: %d body bytes kept of %d", what, len(m.Body), m.BodySize)
	}
}

func subsequence(sub, data []byte) bool {
	for _, c := range sub {
		i := bytes.IndexByte(data, c)
		if i < 0 {
			return false
		}
		data = data[i+1:]
	}
	return true
}

// FuzzWellFormed builds a well-formed request and response from the fuzzer's bytes
// (header names made tokens, values visible text, any body, chunked or not, CRLF or LF
// line ends) and checks that the strict and the lenient readings of head.go agree on
// them and lose no byte: same start line and headers, the whole body after transfer
// decoding, and no anomaly but the bare LF line ends it was built with.
func FuzzWellFormed(f *testing.F) {
	f.Add("X-Id", "abc 123", []byte(`{"a":1}`), uint8(0), uint8(7))
	f.Add("Content-Type", "text/plain; charset=utf-8", []byte("hello\r\n0\r\n\r\nworld"), uint8(1), uint8(3))
	f.Add("a", "", []byte{}, uint8(3), uint8(1))
	f.Fuzz(func(t *testing.T, name, value string, body []byte, flags, size uint8) {
		name = strings.Map(func(r rune) rune {
			if r < 0x80 && isTchar(byte(r)) {
				return r
			}
			return -1
		}, name)
		value = strings.Trim(strings.Map(func(r rune) rune {
			if r == '\t' || 0x20 <= r && r < 0x7f {
				return r
			}
			return -1
		}, value), " \t")
		if name == "" || strings.EqualFold(name, "Content-Length") || strings.EqualFold(name, "Transfer-Encoding") ||
			strings.EqualFold(name, "Content-Encoding") || len(body) > 1<<12 {
			return
		}
		eol := "\r\n"
		if flags&1 != 0 {
			eol = "\n"
		}
		chunkedBody := flags&2 != 0
		msg := func(start string) string {
			var b strings.Builder
			b.WriteString(start + eol + name + ": " + value + eol)
			if chunkedBody {
				b.WriteString("Transfer-Encoding: chunked" + eol + eol)
				for rest := body; len(rest) > 0; {
					n := min(len(rest), 1+int(size))
					fmt.Fprintf(&b, "%x%s%s%s", n, eol, rest[:n], eol)
					rest = rest[n:]
				}
				b.WriteString("0" + eol + eol)
			} else {
				fmt.Fprintf(&b, "Content-Length: %d%s%s%s", len(body), eol, eol, body)
			}
			return b.String()
		}
		req, resp := msg("POST /p?q=1 HTTP/1.1"), msg("HTTP/1.1 200 OK")
		wantOdd := []string(nil)
		if eol == "\n" {
			wantOdd = []string{model.BareLF}
		}
		for _, m := range []string{req, resp} {
			head := []byte(m[:headEnd([]byte(m), 0)])
			var odd oddities
			sl1, hs1, err1 := parseHead(head, 64, false, nil)
			sl2, hs2, err2 := parseHead(head, 64, true, &odd)
			if err1 != nil || err2 != nil || sl1 != sl2 || !slices.Equal(hs1, hs2) {
				t.Fatalf("%q: strict %v %v %v, lenient %v %v %v", head, sl1, hs1, err1, sl2, hs2, err2)
			}
			if hs1[0] != (model.Header{Name: name, Value: value}) {
				t.Fatalf("header %v, want %s: %s", hs1[0], name, value)
			}
			if !slices.Equal(odd, wantOdd) {
				t.Fatalf("%q: anomalies %q", head, odd)
			}
		}
		c := defaultConv().handshake()
		c.mss = 1 + int(size)*7
		c.req(req)
		c.resp(resp)
		c.close()
		r := c.run(t)
		if len(r.calls) != 1 || r.calls[0].Incomplete != "" || r.calls[0].Response == nil {
			t.Fatalf("calls %v", summaries(r.calls))
		}
		call := r.calls[0]
		var want []string
		for _, a := range wantOdd {
			want = append(want, "request:"+a, "response:"+a)
		}
		if !sameSet(call.Anomalies, want) {
			t.Fatalf("anomalies %q, want %q", call.Anomalies, want)
		}
		for _, m := range []*model.Message{&call.Request.Message, &call.Response.Message} {
			if !bytes.Equal(m.Body, body) || m.BodySize != int64(len(body)) || m.Headers[0] != (model.Header{Name: name, Value: value}) {
				t.Fatalf("body %q (%d) headers %v, want %q", m.Body, m.BodySize, m.Headers, body)
			}
		}
	})
}
