package reassembly

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// TestPipelinedLostFirstResponse: three pipelined GETs whose first response the capture
// lost. Nothing tells from TCP's numbers how many responses the hole held, so no call may
// be printed complete with a response by position (before, /p3 carried /p2's response):
// the three are incomplete with a reason. Nor does /p4, sent once the client had every
// byte before its response: a pipelining client may have sent it while an earlier
// response was still to come (TestPipelinedResyncUnproven), so the rest of the
// connection is incomplete too.
func TestPipelinedLostFirstResponse(t *testing.T) {
	c := defaultConv().handshake()
	c.req(get("/p1") + get("/p2") + get("/p3"))
	c.drop(c.resp(ok(`{"p":1}`))...)
	c.resp(ok(`{"p":2}`))
	c.resp(ok(`{"p":3}`))
	c.req(get("/p4"))
	c.resp(ok(`{"p":4}`))
	c.close()
	r := c.run(t)
	r.want(t,
		`GET http://api.test/p1 [pairing unproven] req=""`,
		`GET http://api.test/p2 [pairing unproven] req=""`,
		`GET http://api.test/p3 [pairing unproven] req=""`,
		`GET http://api.test/p4 [pairing unproven] req=""`)
	if n := r.stats.IncompleteFor(Unproven); n != 4 {
		t.Errorf("%d calls counted as %q, want 4", n, Unproven)
	}
}

// TestPipelinedResyncUnproven: a client pipelines /p1 and /p2, receives /p1's chunked
// response, whose framing a lost segment cuts, and sends /p3 once it has every byte of it:
// /p3's numbers (sent with every server byte before the next response acknowledged, and
// acknowledged by it) are those of a request sent for the next response, but that response
// is /p2's. Before, /p3 was printed complete with /p2's response.
func TestPipelinedResyncUnproven(t *testing.T) {
	for cut := 1; cut <= 3; cut++ {
		c := defaultConv().handshake()
		c.mss = 100
		c.req(get("/p1") + get("/p2"))
		s1 := c.resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + string(chunked([]byte(`{"p":1,"pad":"`+strings.Repeat("a", 500)+`"}`), 30)))
		c.req(get("/p3"))
		c.resp(ok(`{"p":2}`))
		c.resp(ok(`{"p":3}`))
		c.close()
		c.drop(s1[len(s1)-1-cut])
		r := c.run(t)
		for _, call := range r.complete() {
			if want := `{"p":` + strings.TrimPrefix(call.Request.Target, "/p"); !strings.HasPrefix(string(call.Response.Body), want) {
				t.Errorf("segment %d from the end lost: %s printed complete with %.8s", cut+1, call.Request.Target, call.Response.Body)
			}
		}
	}
}

// TestPipelinedLostMiddleResponse: the hole holds the second of three pipelined responses.
func TestPipelinedLostMiddleResponse(t *testing.T) {
	c := defaultConv().handshake()
	c.req(get("/p1") + get("/p2") + get("/p3"))
	c.resp(ok(`{"p":1}`))
	c.drop(c.resp(ok(`{"p":2}`))...)
	c.resp(ok(`{"p":3}`))
	c.close()
	r := c.run(t)
	for _, call := range r.complete() {
		if want := `{"p":` + strings.TrimPrefix(call.Request.Target, "/p") + `}`; string(call.Response.Body) != want {
			t.Errorf("%s printed complete with %s", call.Request.Target, call.Response.Body)
		}
	}
	if got := len(r.complete()); got != 1 {
		t.Errorf("%d complete calls, want 1 (/p1): %v", got, summaries(r.calls))
	}
}

// TestSequentialLostResponse: on a connection whose client waits for each response, a
// lost response costs its own call only: the next response acknowledges the next request,
// which the client sent after it had the lost bytes.
func TestSequentialLostResponse(t *testing.T) {
	c := defaultConv().handshake()
	for i := 1; i <= 4; i++ {
		p := "/s" + string(rune('0'+i))
		c.req(get(p))
		seg := c.resp(ok(`{"s":` + string(rune('0'+i)) + `}`))
		if i == 2 {
			c.drop(seg...)
		}
	}
	c.close()
	r := c.run(t)
	r.want(t,
		`GET http://api.test/s1 -> 200 req="" resp="{\"s\":1}"`,
		`GET http://api.test/s2 [response lost] req=""`,
		`GET http://api.test/s3 -> 200 req="" resp="{\"s\":3}"`,
		`GET http://api.test/s4 -> 200 req="" resp="{\"s\":4}"`)
}

// TestResponseBeforeRequest: the capture has a response before the request it answers
// (two ports of a mirror session merged late). The response waits for its request, whose
// end its acknowledgement names, and pairs with it, not with what was parsed before.
func TestResponseBeforeRequest(t *testing.T) {
	for _, lateBy := range []int{1, 3, 6} {
		c := defaultConv().handshake()
		c.req(get("/a"))
		c.resp(ok(`{"a":1}`))
		q := c.req(get("/b"), 20)
		rs := c.resp(ok(`{"b":2}`), 5)
		c.req(get("/c"))
		c.resp(ok(`{"c":3}`))
		c.close()
		// The request's second segment comes lateBy segments after its response started.
		seg := c.segs[q[1]]
		c.segs = append(c.segs[:q[1]], c.segs[q[1]+1:]...)
		at := min(rs[0]-1+lateBy, len(c.segs))
		c.segs = append(c.segs[:at], append([]segment{seg}, c.segs[at:]...)...)
		r := c.run(t)
		r.want(t,
			`GET http://api.test/a -> 200 req="" resp="{\"a\":1}"`,
			`GET http://api.test/b -> 200 req="" resp="{\"b\":2}"`,
			`GET http://api.test/c -> 200 req="" resp="{\"c\":3}"`)
		if r.stats.Gaps.Load() != 0 {
			t.Errorf("late by %d: a reordered segment was taken for a lost one (%d gaps)", lateBy, r.stats.Gaps.Load())
		}
	}
}

// TestReorderWindow: a hole that the other side acknowledged past is not skipped while
// the reorder window lasts; once it has passed, the hole is skipped without waiting for
// the gap timeout.
func TestReorderWindow(t *testing.T) {
	build := func() *conv {
		c := defaultConv().handshake()
		// A client that waits for each response (one that pipelined /slow and /x
		// would leave every later call unproven once /slow's start is lost: pair.go).
		q := c.req(get("/slow"), 10)
		c.drop(q[0])
		c.resp(ok(`{"s":1}`))
		c.req(get("/x"))
		c.resp(ok(`{"x":1}`))
		for i := 0; i < 20; i++ {
			c.req(get("/n"))
			c.resp(ok(`{"n":1}`))
		}
		c.close()
		return c
	}
	for _, k := range []struct {
		packets int
		before  int // complete calls before the capture ends
	}{{4, 21}, {DefaultReorderPackets, 0}} {
		cfg := DefaultConfig()
		cfg.KeepIncomplete = true
		cfg.ReorderPackets, cfg.ReorderWindow = k.packets, 0
		r := feed(cfg, linkEthernet.linkType(), build().packets(linkEthernet), false)
		if got := len(r.complete()); got != k.before {
			t.Errorf("window of %d packets: %d complete calls before the end, want %d", k.packets, got, k.before)
		}
		r.asm.Close()
		if got := len(r.complete()); got != 21 {
			t.Errorf("window of %d packets: %d complete calls, want 21 (/x and the 20 after): %v", k.packets, got, summaries(r.calls))
		}
		if r.stats.Gaps.Load() != 1 {
			t.Errorf("window of %d packets: %d gaps, want 1", k.packets, r.stats.Gaps.Load())
		}
	}
}

// TestManyWaitingBehindHole: a client that waits for each response goes on sending while
// the capture holds the server's bytes behind a lost segment (the reorder window lasts
// more requests than MaxPending), or while responses wait for requests the capture holds
// behind a lost client segment (they then come in one delivery). Only the call the lost
// segment carried bytes of may be incomplete: before, MaxPending gave up the oldest
// requests waiting ("too many pending requests", 21-34 of ~10,800 calls at 0.1-1% loss in
// e2e TestDamagedWorkload) and their responses found no request.
func TestManyWaitingBehindHole(t *testing.T) {
	const calls, lost, maxPending = 40, 5, 8
	for _, side := range []string{"response", "request"} {
		c := defaultConv().handshake()
		var want []string
		for i := 1; i <= calls; i++ {
			p := fmt.Sprintf("/c%d", i)
			q := c.req(get(p))
			r := c.resp(ok(fmt.Sprintf(`{"c":%d}`, i)))
			switch {
			case i == lost && side == "response":
				c.drop(r...)
				want = append(want, fmt.Sprintf(`GET http://api.test%s [response lost] req=""`, p))
			case i == lost:
				c.drop(q...)
				continue // the request never shows: its response has none to answer
			default:
				want = append(want, fmt.Sprintf(`GET http://api.test%s -> 200 req="" resp="{\"c\":%d}"`, p, i))
			}
		}
		c.close()
		cfg := DefaultConfig()
		cfg.KeepIncomplete, cfg.MaxPending = true, maxPending
		cfg.ReorderPackets, cfg.ReorderWindow = 4*maxPending*3, 0 // requests, responses, ACKs
		r := c.runWith(t, cfg, linkEthernet)
		t.Run("lost "+side, func(t *testing.T) {
			r.want(t, want...)
			if n := r.stats.IncompleteFor(TooManyPending); n != 0 {
				t.Errorf("%d calls given up as %q", n, TooManyPending)
			}
		})
	}
}

// TestQuietMidstream: a capture started on a keep-alive connection that carries a call
// every 400 ms. Far fewer than ReorderPackets packets come, so the start is taken once
// reorderPatience of capture time has passed, without waiting for the gap timeout or the
// end of the capture; every call from the first whole one is complete and right.
func TestQuietMidstream(t *testing.T) {
	c := defaultConv().handshake()
	c.req(get("/before"))
	c.resp(ok(`{"b":0}`))
	seen := len(c.segs) // the capture starts after these
	const calls = 8
	for i := 1; i <= calls; i++ {
		q := c.req(get(fmt.Sprintf("/q%d", i)))
		c.segs[q[0]].pause = 400 * time.Millisecond
		c.resp(ok(fmt.Sprintf(`{"q":%d}`, i)))
	}
	c.segs = c.segs[seen:]
	cfg := DefaultConfig()
	cfg.KeepIncomplete = true
	pkts := c.packets(linkEthernet)
	r := feed(cfg, linkEthernet.linkType(), pkts, false)
	span := pkts[len(pkts)-1].ci.Timestamp.Sub(pkts[0].ci.Timestamp)
	// The last call or two may wait for a later packet; the rest must be out.
	if got := len(r.complete()); got < calls-2 {
		t.Errorf("%d complete calls after %v of capture (%d packets), want at least %d: %v", got, span, len(pkts), calls-2, summaries(r.calls))
	}
	r.asm.Close()
	var want []string
	for i := 1; i <= calls; i++ {
		want = append(want, fmt.Sprintf(`GET http://api.test/q%d -> 200 req="" resp="{\"q\":%d}"`, i, i))
	}
	r.want(t, want...)
}

// TestDamagedSequentialNeverWrong: a client that waits for each response, many calls of
// varied sizes on one connection, with segments lost and reordered (seeded), read with a
// small MaxPending and reorder window so that requests pile up behind holes and are given
// up, responses go by while their requests are held, and holes straddle responses. Calls
// may be lost; none may be printed complete with another request's response. Before, a
// hole across two responses made the connection taken for a pipelining one, whose
// responses were then counted off by position against the requests given up
// (-max-pending), and a response whose request the capture lost went to the request
// before it: 17-199 wrong calls in these cases, and 71-278 in e2e TestDamagedWorkload at
// 100,000 calls/s of capture time with 0.3% loss.
func TestDamagedSequentialNeverWrong(t *testing.T) {
	const calls, seeds = 400, 20
	sizes := []int{40, 3000, 20000}
	for _, k := range []struct {
		loss                float64
		maxPending, reorder int
	}{{0.01, 4, 6}, {0.03, 4, 30}, {0.03, 16, 6}, {0.06, 16, 6}} {
		wrong, complete := 0, 0
		for seed := uint64(1); seed <= seeds; seed++ {
			rng := rand.New(rand.NewPCG(seed, 7))
			c := defaultConv().handshake()
			c.mss = 1400
			for i := 1; i <= calls; i++ {
				c.req(get(fmt.Sprintf("/c%d", i)))
				c.resp(ok(fmt.Sprintf(`{"c":%d,"pad":"%s"}`, i, strings.Repeat("x", sizes[rng.IntN(len(sizes))]))))
			}
			c.close()
			var gone []int
			for i := 3; i < len(c.segs)-3; i++ {
				if rng.Float64() < k.loss {
					gone = append(gone, i)
				}
			}
			c.drop(gone...)
			for i := 3; i+2 < len(c.segs)-3; i += 3 {
				if rng.IntN(2) == 0 {
					c.swap(i, i+1+rng.IntN(2))
				}
			}
			cfg := DefaultConfig()
			cfg.KeepIncomplete, cfg.MaxPending = true, k.maxPending
			cfg.ReorderPackets, cfg.ReorderWindow = k.reorder, 0
			r := c.runWith(t, cfg, linkEthernet)
			for _, call := range r.complete() {
				complete++
				want := fmt.Sprintf(`{"c":%s,`, strings.TrimPrefix(call.Request.Target, "/c"))
				if !strings.HasPrefix(string(call.Response.Body), want) {
					wrong++
					if wrong <= 3 {
						t.Errorf("loss %v, max pending %d, window %d packets, seed %d: %s printed complete with the response %.12s",
							k.loss, k.maxPending, k.reorder, seed, call.Request.Target, call.Response.Body)
					}
				}
			}
		}
		t.Logf("loss %v, max pending %d, window %d packets: %d complete calls of %d, %d wrong", k.loss, k.maxPending, k.reorder, complete, seeds*calls, wrong)
	}
}

// FuzzPairing: a connection whose client waits for each response or sends bursts of up to
// burst requests at once, responses of varied size (Content-Length or chunked), with
// segments lost, duplicated and reordered in windows, read with any MaxPending and reorder
// window. Calls may be lost or incomplete; none may be printed complete with another
// request's response.
func FuzzPairing(f *testing.F) {
	f.Add(uint64(1), uint8(3), uint8(5), uint8(3), uint8(1), uint8(0), uint8(0))
	f.Add(uint64(2), uint8(10), uint8(5), uint8(4), uint8(3), uint8(4), uint8(20))
	f.Add(uint64(3), uint8(30), uint8(0), uint8(8), uint8(1), uint8(4), uint8(30))
	f.Add(uint64(4), uint8(0), uint8(10), uint8(8), uint8(4), uint8(0), uint8(0))
	f.Fuzz(func(t *testing.T, seed uint64, loss, dup, win, burst, maxPending, reorder uint8) {
		rng := rand.New(rand.NewPCG(seed, 11))
		sizes := []int{10, 1500, 6000}
		c := defaultConv().handshake()
		c.mss = 1400
		for i := 0; i < 60; {
			n := 1
			if burst > 1 && rng.IntN(3) == 0 {
				n = 1 + rng.IntN(1+int(burst%8))
			}
			first := i + 1
			var q strings.Builder
			for range n {
				i++
				q.WriteString(get(fmt.Sprintf("/c%d", i)))
			}
			c.req(q.String())
			for j := first; j <= i; j++ {
				body := fmt.Sprintf(`{"c":%d,"pad":"%s"}`, j, strings.Repeat("x", sizes[rng.IntN(len(sizes))]))
				if rng.IntN(4) == 0 {
					c.resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + string(chunked([]byte(body), 700)))
				} else {
					c.resp(ok(body))
				}
			}
		}
		c.close()
		c.damage(rng, loss, dup, win)
		r := feed(fuzzConfig(maxPending, reorder), linkEthernet.linkType(), c.packets(linkEthernet), true)
		for _, call := range r.complete() {
			if want := fmt.Sprintf(`{"c":%s,`, strings.TrimPrefix(call.Request.Target, "/c")); !strings.HasPrefix(string(call.Response.Body), want) {
				t.Fatalf("%s printed complete with the response %.12s", call.Request.Target, call.Response.Body)
			}
		}
	})
}

// FuzzPairingKinds: as FuzzPairing, with the messages whose framing depends on the request
// (HEAD, 304, 204) or that come in parts (a POST with a body, 100-continue): a response
// framed by the wrong request's method misreads the ones after it. Every response names its
// request in X-C; none may be printed complete under another request.
func FuzzPairingKinds(f *testing.F) {
	f.Add(uint64(1), uint8(3), uint8(5), uint8(3), uint8(1), uint8(0), uint8(0), uint8(0xff))
	f.Add(uint64(2), uint8(10), uint8(5), uint8(4), uint8(3), uint8(4), uint8(20), uint8(0x0f))
	f.Add(uint64(3), uint8(30), uint8(0), uint8(8), uint8(4), uint8(4), uint8(30), uint8(0x12))
	f.Fuzz(func(t *testing.T, seed uint64, loss, dup, win, burst, maxPending, reorder, kinds uint8) {
		pairingKinds(t, seed, loss, dup, win, burst, maxPending, reorder, kinds, 0, false)
	})
}

// FuzzPairingSkew: FuzzPairingKinds with every client segment brought lag segments late,
// and the capture started mid-connection.
func FuzzPairingSkew(f *testing.F) {
	f.Add(uint64(1), uint8(3), uint8(5), uint8(3), uint8(1), uint8(0), uint8(0), uint8(0xff), uint8(10), false)
	f.Add(uint64(2), uint8(10), uint8(5), uint8(4), uint8(3), uint8(4), uint8(20), uint8(0x0f), uint8(30), true)
	f.Fuzz(func(t *testing.T, seed uint64, loss, dup, win, burst, maxPending, reorder, kinds, lag uint8, midstream bool) {
		pairingKinds(t, seed, loss, dup, win, burst, maxPending, reorder, kinds, int(lag%40), midstream)
	})
}

// pairingKinds builds, damages and reads the connection of FuzzPairingKinds.
func pairingKinds(t *testing.T, seed uint64, loss, dup, win, burst, maxPending, reorder, kinds uint8, lag int, midstream bool) {
	rng := rand.New(rand.NewPCG(seed, 13))
	c := defaultConv().handshake()
	c.mss = 1400
	resp := func(code, i int, head string, body string) string {
		return fmt.Sprintf("HTTP/1.1 %d X\r\nX-C: %d\r\n%s\r\n%s", code, i, head, body)
	}
	for i := 0; i < 50; {
		kind := rng.IntN(6)
		if kinds&(1<<kind) == 0 {
			kind = 0
		}
		n := 1
		if burst > 1 && kind != 4 && rng.IntN(3) == 0 {
			n = 1 + rng.IntN(1+int(burst%8))
		}
		var q strings.Builder
		var rs []string
		for range n {
			i++
			body := fmt.Sprintf(`{"c":%d,"pad":"%s"}`, i, strings.Repeat("x", []int{10, 1500, 5000}[rng.IntN(3)]))
			cl := fmt.Sprintf("Content-Length: %d\r\n", len(body))
			switch kind {
			case 1:
				q.WriteString(fmt.Sprintf("HEAD /c%d HTTP/1.1\r\nHost: api.test\r\n\r\n", i))
				rs = append(rs, resp(200, i, cl, ""))
			case 2:
				q.WriteString(get(fmt.Sprintf("/c%d", i)))
				rs = append(rs, resp(304, i, "ETag: x\r\n", ""))
			case 3:
				q.WriteString(post(fmt.Sprintf("/c%d", i), body))
				rs = append(rs, resp(201, i, cl, body))
			case 4:
				c.req(fmt.Sprintf("POST /c%d HTTP/1.1\r\nHost: api.test\r\nExpect: 100-continue\r\n%s\r\n", i, cl))
				c.resp("HTTP/1.1 100 Continue\r\n\r\n")
				q.WriteString(body)
				rs = append(rs, resp(200, i, cl, body))
			case 5:
				q.WriteString(get(fmt.Sprintf("/c%d", i)))
				rs = append(rs, resp(204, i, "", ""))
			default:
				q.WriteString(get(fmt.Sprintf("/c%d", i)))
				rs = append(rs, resp(200, i, cl, body))
			}
		}
		c.req(q.String())
		for _, r := range rs {
			c.resp(r)
		}
	}
	c.close()
	c.damage(rng, loss, dup, win)
	if lag > 0 {
		// Every client segment comes lag segments late (two ports of a mirror
		// session merged late; a capture on a busy multi-queue NIC).
		var out []segment
		var held []segment
		for _, sg := range c.segs {
			if sg.fromClient && !sg.syn {
				held = append(held, sg)
				continue
			}
			out = append(out, sg)
			if len(out) >= lag && len(held) > 0 {
				out = append(out, held[0])
				held = held[1:]
			}
		}
		c.segs = append(out, held...)
	}
	if midstream && len(c.segs) > 3 {
		c.segs = c.segs[3+int(seed%7):] // the capture starts after the handshake, mid-call
	}
	r := feed(fuzzConfig(maxPending, reorder), linkEthernet.linkType(), c.packets(linkEthernet), true)
	for _, call := range r.complete() {
		if want := strings.TrimPrefix(call.Request.Target, "/c"); call.Response.Get("X-C") != want {
			t.Fatalf("%s %s printed complete with the response of c%s (status %d)", call.Request.Method, call.Request.Target, call.Response.Get("X-C"), call.Response.Status)
		}
	}
}

// damage loses (loss per mille, below 100), copies a few segments later (dup percent,
// below 20) and reorders in windows (win, below 10) the segments of the conversation
// past its handshake and before its close, drawing from rng: the pairing fuzz targets'
// damage.
func (c *conv) damage(rng *rand.Rand, loss, dup, win uint8) {
	var gone []int
	for k := 3; k < len(c.segs)-3; k++ {
		if rng.IntN(1000) < int(loss%100) {
			gone = append(gone, k)
		}
	}
	c.drop(gone...)
	for k := 3; k < len(c.segs)-4; k++ {
		if rng.IntN(100) < int(dup%20) {
			c.dup(k, min(len(c.segs)-4, k+1+rng.IntN(4)))
		}
	}
	if w := int(win % 10); w > 1 {
		for k := 3; k+w < len(c.segs)-3; k += w {
			rng.Shuffle(w, func(a, b int) { c.swap(k+a, k+b) })
		}
	}
}

// fuzzConfig is how the pairing fuzz targets read: incomplete calls kept, any
// MaxPending from 1 to 32 (0: the default) and reorder window in packets (0: the
// default).
func fuzzConfig(maxPending, reorder uint8) Config {
	cfg := DefaultConfig()
	cfg.KeepIncomplete = true
	if maxPending > 0 {
		cfg.MaxPending = 1 + int(maxPending%32)
	}
	if reorder > 0 {
		cfg.ReorderPackets, cfg.ReorderWindow = int(reorder), 0
	}
	return cfg
}
