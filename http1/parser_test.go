package http1

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"sniffer/internal/bufpool"
	"sniffer/model"
)

// testConn is a connection as the tests of this package drive it: two directions fed
// whole byte slices in pieces, each response paired with the oldest request waiting.
// reassembly's half is the Conn sniffer uses; this one has no TCP.
type testConn struct {
	dirs    [2]testDir // Client, Server
	pending []*model.Call
	calls   []*model.Call // finished, complete or not
	lim     Limits
	ctr     Counters
}

type testDir struct {
	c    *testConn
	p    Parser
	call *model.Call
	resp *model.Response
}

// newTestConn makes a connection whose first direction is the client's; with roles
// unknown, the first start line tells which is which.
func newTestConn(lim Limits, known bool) *testConn {
	c := &testConn{lim: lim}
	roles := []Role{Unknown, Unknown}
	if known {
		roles = []Role{Client, Server}
	}
	for i, r := range roles {
		d := &c.dirs[i]
		d.c = c
		d.p.Init(d, r, &c.lim, &c.ctr)
	}
	return c
}

// feed gives data to direction i (0: the client's), piece bytes at a time.
func (c *testConn) feed(i int, data []byte, piece int) {
	d := &c.dirs[i]
	d.p.SetOffset(0)
	for len(data) > 0 {
		n := min(piece, len(data))
		if used := d.p.Feed(data[:n]); used != n {
			panic("a test connection never waits")
		}
		d.p.SetOffset(0)
		data = data[n:]
	}
}

// end closes both directions (FIN) and finishes what waits for an answer.
func (c *testConn) end() {
	c.dirs[0].p.End(true)
	c.dirs[1].p.End(true)
	for _, call := range c.pending {
		if call.Incomplete == "" {
			call.Incomplete = "no response"
		}
		c.calls = append(c.calls, call)
	}
	c.pending = nil
}

func (d *testDir) HeadStart(off, first int) {}

// other is the other direction, whose role a start line of this one tells.
func (d *testDir) other() *testDir {
	if d == &d.c.dirs[0] {
		return &d.c.dirs[1]
	}
	return &d.c.dirs[0]
}

func (d *testDir) Request(r model.Request) *model.Call {
	d.other().p.SetRole(Server)
	d.call = &model.Call{Request: r}
	d.c.pending = append(d.c.pending, d.call)
	return d.call
}

func (d *testDir) Response(r *model.Response) (*model.Call, string) {
	d.other().p.SetRole(Client)
	if len(d.c.pending) == 0 {
		return nil, ""
	}
	if r != nil {
		d.call, d.resp = d.c.pending[0], r
	}
	return d.c.pending[0], d.c.pending[0].Request.Method
}

func (d *testDir) WaitForRequest(off int, begun bool) bool { return false }

func (d *testDir) Done(last int) {
	call := d.call
	d.call = nil
	if call == nil || d.p.Role() != Server {
		return
	}
	call.Response = d.resp
	d.c.pending = slices.DeleteFunc(d.c.pending, func(x *model.Call) bool { return x == call })
	d.c.calls = append(d.c.calls, call)
}

func (d *testDir) Tunnel() { d.other().p.Tunnel() }

func (d *testDir) Hole() {
	if d.call != nil {
		d.call.Incomplete = "gap"
	}
}

func (d *testDir) Abandon(why Cause) {
	if d.call != nil && d.call.Incomplete == "" {
		d.call.Incomplete = fmt.Sprint("abandoned ", why)
	}
	d.call = nil
}

func (d *testDir) HeadCut(why Cause, startLike bool) {}

// FuzzWellFormed builds a well-formed request and response from the fuzzer's bytes
// (header names made tokens, values visible text, any body, chunked or not, CRLF or LF
// line ends) and checks that the strict and the lenient readings of head.go agree on
// them and that the parsers, fed them in pieces, lose no byte: same start line and
// headers, the whole body after transfer decoding, and no anomaly but the bare LF line
// ends it was built with. (reassembly's tests run messages through TCP.)
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
		c := newTestConn(DefaultLimits(), true)
		c.feed(0, []byte(req), 1+int(size)*7)
		c.feed(1, []byte(resp), 1+int(size)*7)
		c.end()
		if len(c.calls) != 1 || c.calls[0].Incomplete != "" || c.calls[0].Response == nil {
			t.Fatalf("calls %+v", c.calls)
		}
		call := c.calls[0]
		var want []string
		for _, a := range wantOdd {
			want = append(want, "request:"+a, "response:"+a)
		}
		if !slices.Equal(call.Anomalies, want) {
			t.Fatalf("anomalies %q, want %q", call.Anomalies, want)
		}
		for _, m := range []*model.Message{&call.Request.Message, &call.Response.Message} {
			if !bytes.Equal(m.Body, body) || m.BodySize != int64(len(body)) || m.Headers[0] != (model.Header{Name: name, Value: value}) {
				t.Fatalf("body %q (%d) headers %v, want %q", m.Body, m.BodySize, m.Headers, body)
			}
		}
	})
}

// FuzzParser feeds arbitrary bytes to the two directions of a connection, cut in pieces
// at points chosen from seed (at most 97 bytes, or with flag 16 up to all that is left:
// sniffer feeds whole segments, 64 KiB with GRO), interleaved, some pieces lost (a Gap
// in their place), with roles known or to be learnt, and ended by a FIN or a flush.
// Nothing may panic; once both directions end, no head bytes may still be counted as
// held; and every call must be made of the input's bytes, its body no longer than the
// limit.
func FuzzParser(f *testing.F) {
	f.Add([]byte("GET /a HTTP/1.1\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyz"), []byte("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1HTTP/1.1 201 Created\r\n\r\n"), uint64(1), uint8(1))
	f.Add([]byte("GET /p1 HTTP/1.1\r\n\r\nGET /p2 HTTP/1.1\r\n\r\n"), []byte("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;e\r\nabc\r\n0\r\nT: 1\r\n\r\nHTTP/1.0 200 OK\r\n\r\nto the close"), uint64(7), uint8(2))
	f.Add([]byte("CONNECT h:443 HTTP/1.1\r\n\r\n\x16\x03"), []byte("HTTP/1.1 200 OK\r\n\r\nGET / HTTP/1.1\r\n\r\n"), uint64(3), uint8(0))
	f.Add([]byte("tail\r\nGET /x HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"), []byte("ody\"}HTTP/1.0 200 OK\r\n\r\nclose delimited"), uint64(99), uint8(5))
	// Start-like lines that make no head, then a request, in large pieces, roles to be
	// learnt (TestSyncLinear's shape: resynchronisation was quadratic in it).
	f.Add([]byte(strings.Repeat("A B HTTP/1.1\n", 64)+"x\n\nGET /y HTTP/1.1\r\n\r\n"), []byte("HTTP/1.1 204 No Content\r\n\r\n"), uint64(96), uint8(16|1))
	f.Fuzz(func(t *testing.T, client, server []byte, seed uint64, flags uint8) {
		if len(client)+len(server) > 1<<16 {
			return
		}
		rng := rand.New(rand.NewPCG(seed, uint64(flags)))
		lim := DefaultLimits()
		lim.MaxBodyBytes, lim.MaxHeaderBytes, lim.MaxHeaders = 1<<10, 1<<10, 16
		c := newTestConn(lim, flags&1 == 0)
		ins := [2][]byte{client, server}
		rest := ins
		for len(rest[0])+len(rest[1]) > 0 {
			i := rng.IntN(2)
			if len(rest[i]) == 0 {
				i = 1 - i
			}
			most := 1 + int(seed%97)
			if flags&16 != 0 {
				most = len(rest[i])
			}
			n := 1 + rng.IntN(min(len(rest[i]), most))
			d := &c.dirs[i]
			d.p.SetOffset(0)
			if flags&2 != 0 && rng.IntN(16) == 0 {
				d.p.Gap(n) // these bytes are lost
			} else if used := d.p.Feed(rest[i][:n]); used != n {
				t.Fatalf("fed %d bytes, %d taken", n, used)
			}
			rest[i] = rest[i][n:]
		}
		c.dirs[0].p.End(flags&4 == 0)
		c.dirs[1].p.End(flags&8 == 0)
		c.end()
		if n := c.ctr.HeadBytes.Load(); n != 0 {
			t.Fatalf("%d head bytes still held after the end", n)
		}
		for _, call := range c.calls {
			madeOf(t, "request", &call.Request.Message, ins, lim, call.Request.Method+" ", call.Request.Target)
			if call.Response != nil {
				madeOf(t, "response", &call.Response.Message, ins, lim, call.Response.Reason)
			}
			if call.Incomplete == "" && call.Response == nil {
				t.Fatal("complete call without a response")
			}
		}
	})
}

// madeOf fails unless the message's words, header names and values, and body (in
// order) are bytes of one of the inputs, and its body is within the limit.
func madeOf(t *testing.T, what string, m *model.Message, ins [2][]byte, lim Limits, words ...string) {
	t.Helper()
	for _, h := range append(slices.Clone(m.Headers), m.Trailers...) {
		words = append(words, h.Name)
		words = append(words, strings.Fields(h.Value)...)
	}
	for _, in := range ins {
		ok := subsequence(m.Body, in)
		for _, w := range words {
			ok = ok && bytes.Contains(in, []byte(w))
		}
		if ok {
			if int64(len(m.Body)) > min(m.BodySize, lim.MaxBodyBytes) {
				t.Fatalf("%s: %d body bytes kept of %d, limit %d", what, len(m.Body), m.BodySize, lim.MaxBodyBytes)
			}
			return
		}
	}
	t.Fatalf("%s: %q %+v is not from the input", what, words, m)
}

// subsequence tells whether sub's bytes are data's, in order (reassembly's FuzzStream
// has its own: test helpers do not cross packages).
func subsequence(sub, data []byte) bool {
	i := 0
	for j := 0; i < len(sub) && j < len(data); j++ {
		if data[j] == sub[i] {
			i++
		}
	}
	return i == len(sub)
}

// A chunked body grows by its chunks' sizes, not segment by segment: a body of one chunk
// fed in 1448-byte pieces ends in the one buffer its size reserved; a chunk size larger
// than the body limit reserves the limit, and the body is cut there.
func TestChunkReservesBody(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef"), 1066) // 17,056 bytes
	chunked := func(sizes ...int) []byte {
		out := []byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
		rest := body
		for _, n := range sizes {
			out = fmt.Appendf(out, "%x\r\n%s\r\n", n, rest[:n])
			rest = rest[n:]
		}
		return append(out, "0\r\n\r\n"...)
	}
	for _, tc := range []struct {
		name    string
		limit   int64
		sizes   []int
		wantCap int
	}{
		// The first chunk's buffer comes from internal/bufpool (its size class), a later
		// one grows it as append would (the allocator's class).
		{"one chunk", 1 << 20, []int{len(body)}, cap(bufpool.Get(len(body)))},
		{"two chunks", 1 << 20, []int{1000, len(body) - 1000}, cap(slices.Grow([]byte(nil), len(body)))},
		{"chunk over the limit", 4096, []int{len(body)}, cap(bufpool.Get(4096))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lim := DefaultLimits()
			lim.MaxBodyBytes = tc.limit
			c := newTestConn(lim, true)
			c.feed(0, []byte("GET /large.json HTTP/1.1\r\n\r\n"), 1448)
			c.feed(1, chunked(tc.sizes...), 1448)
			c.end()
			if len(c.calls) != 1 || c.calls[0].Response == nil {
				t.Fatalf("calls %+v", c.calls)
			}
			m := &c.calls[0].Response.Message
			want := body[:min(int64(len(body)), tc.limit)]
			if !bytes.Equal(m.Body, want) || m.BodySize != int64(len(body)) || m.Truncated != (tc.limit < int64(len(body))) {
				t.Fatalf("body of %d bytes (size %d, truncated %v), want %d", len(m.Body), m.BodySize, m.Truncated, len(want))
			}
			if cap(m.Body) != tc.wantCap {
				t.Errorf("body buffer of %d bytes, want %d: grown other than by the chunk sizes", cap(m.Body), tc.wantCap)
			}
		})
	}
}

// Resynchronisation reads what it searches about once: a segment of start-like lines
// whose head is no head ("A B HTTP/1.1" lines to a blank line, none a field line) made it look for the blank line, and count and make room for the lines to it,
// again from every line, 0.4-0.5 s for 64 KiB fed at once (a GRO or TSO segment).
// Thirty-two times the bytes may take no more than 160 times as long (linear: 32;
// quadratic: 1024); the best of nine runs, interleaved, as a busy machine and the race
// detector take their toll of the larger run more (4-64 KiB under -race: up to 53x, for
// 16x the bytes).
func TestSyncLinear(t *testing.T) {
	shape := func(n int) []byte {
		b := bytes.Repeat([]byte("A B HTTP/1.1\n"), n/13)
		return append(b, "x\n\n"...) // no field line: no head
	}
	run := func(b []byte) time.Duration {
		c := newTestConn(DefaultLimits(), false) // roles unknown: the parser starts in sync
		start := time.Now()
		c.feed(1, b, len(b))
		c.end()
		d := time.Since(start)
		if len(c.calls) != 0 || c.ctr.SkippedBytes.Load() != int64(len(b)) {
			t.Fatalf("%d calls, %d of %d bytes skipped", len(c.calls), c.ctr.SkippedBytes.Load(), len(b))
		}
		return d
	}
	small, large := shape(2<<10), shape(64<<10)
	best := [2]time.Duration{time.Hour, time.Hour}
	for range 9 {
		best[0] = min(best[0], run(small))
		best[1] = min(best[1], run(large))
	}
	ratio := float64(best[1]) / float64(best[0])
	t.Logf("%d bytes in %v, %d bytes in %v: %.1fx the time for %.1fx the bytes", len(small), best[0], len(large), best[1], ratio, float64(len(large))/float64(len(small)))
	if ratio > 160 {
		t.Errorf("resynchronisation is not linear: %.1fx the time for %.1fx the bytes", ratio, float64(len(large))/float64(len(small)))
	}
}

// blankLine.find answers as headEnd does, for offsets that grow as sync's do, over
// buffers of CR, LF and a letter (every way a blank line can be made or missed).
func TestBlankLineFind(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		b := make([]byte, rng.IntN(24))
		for i := range b {
			b[i] = "\r\na"[rng.IntN(3)]
		}
		var bl blankLine
		for at := 0; at < len(b); at += 1 + rng.IntN(3) {
			if got, want := bl.find(b, at), headEnd(b, at); got != want {
				t.Fatalf("%q from %d: %d, headEnd %d", b, at, got, want)
			}
		}
	}
}
