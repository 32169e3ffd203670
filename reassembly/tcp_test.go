package reassembly

import (
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// keepAlive is a small keep-alive exchange used by several TCP tests: a GET and a POST.
func keepAlive(c *conv) []string {
	c.req(get("/a?x=1"))
	c.resp(ok(`{"a":1}`))
	c.req(post("/b", `{"name":"bee","n":2}`))
	c.resp(status(201, `{"id":7}`))
	return []string{
		`GET http://api.test/a?x=1 -> 200 req="" resp="{\"a\":1}"`,
		`POST http://api.test/b -> 201 req="{\"name\":\"bee\",\"n\":2}" resp="{\"id\":7}"`,
	}
}

func TestLinkTypesAndIPVersions(t *testing.T) {
	for _, l := range []link{linkEthernet, linkVLAN, linkSLL, linkSLL2, linkRaw, linkNull} {
		for _, ends := range [][2]string{{"192.0.2.1:51000", "198.51.100.7:8080"}, {"[2001:db8::1]:51000", "[2001:db8::7]:8080"}} {
			t.Run(fmt.Sprintf("%v/%s", l, ends[0]), func(t *testing.T) {
				c := newConv(ends[0], ends[1], 77, 1<<31).handshake()
				want := keepAlive(c)
				c.close()
				cfg := DefaultConfig()
				cfg.KeepIncomplete = true
				r := c.runWith(t, cfg, l)
				r.want(t, want...)
				for _, call := range r.calls {
					if call.Client != netip.MustParseAddrPort(ends[0]) || call.Server != netip.MustParseAddrPort(ends[1]) {
						t.Errorf("client %v server %v, want %s %s", call.Client, call.Server, ends[0], ends[1])
					}
					if call.VNI != -1 {
						t.Errorf("VNI %d, want -1 (not encapsulated)", call.VNI)
					}
				}
				if n := r.stats.Streams.Load(); n != 1 {
					t.Errorf("%d streams, want 1", n)
				}
				if n := r.stats.StreamsOpen.Load(); n != 0 {
					t.Errorf("%d streams still open after Close", n)
				}
			})
		}
	}
}

// TestSegmentOrder delivers the same conversation with its segments reordered,
// retransmitted and overlapping: the calls must not change.
func TestSegmentOrder(t *testing.T) {
	type knob func(c *conv, req, resp []int)
	cases := map[string]knob{
		"in order": func(c *conv, req, resp []int) {},
		"request reversed": func(c *conv, req, resp []int) {
			c.reverse(req[0], req[len(req)-1])
		},
		"response reversed": func(c *conv, req, resp []int) {
			c.reverse(resp[0], resp[len(resp)-1])
		},
		"pairs swapped": func(c *conv, req, resp []int) {
			for i := 0; i+1 < len(resp); i += 2 {
				c.swap(resp[i], resp[i+1])
			}
			for i := 0; i+1 < len(req); i += 2 {
				c.swap(req[i], req[i+1])
			}
		},
		"every segment retransmitted": func(c *conv, req, resp []int) {
			for i := len(c.segs) - 1; i >= 3; i-- {
				c.dup(i, i)
			}
		},
		"retransmitted later": func(c *conv, req, resp []int) {
			c.dup(req[1], resp[len(resp)-1])
			c.dup(resp[0], resp[2])
		},
		"overlapping": func(c *conv, req, resp []int) {
			c.overlap(resp[1], resp[2])
			c.overlap(req[0], req[2])
		},
		"overlapping before the originals": func(c *conv, req, resp []int) {
			// The retransmission covering bytes of resp[1] and resp[2] comes first,
			// then resp[1] and resp[2] themselves.
			c.overlap(resp[1], resp[0])
		},
		"interleaved directions": func(c *conv, req, resp []int) {
			// The first response segment is captured before the last request segment
			// (capture order differs from the order on the wire).
			c.swap(req[len(req)-1], resp[0])
		},
	}
	for name, k := range cases {
		t.Run(name, func(t *testing.T) {
			c := defaultConv().handshake()
			c.mss = 9
			req := c.req(post("/upload?id=3", strings.Repeat("0123456789", 7)))
			resp := c.resp(ok(`{"stored":true,"bytes":70}`))
			c.close()
			k(c, req, resp)
			r := c.run(t)
			r.want(t, `POST http://api.test/upload?id=3 -> 200 req="`+strings.Repeat("0123456789", 7)+`" resp="{\"stored\":true,\"bytes\":70}"`)
			if g := r.stats.Gaps.Load(); g != 0 {
				t.Errorf("%d gaps, want none", g)
			}
		})
	}
}

// TestSequenceWrap starts both sides just below 2^32 so that sequence numbers wrap
// inside the messages, with reordering across the wrap.
func TestSequenceWrap(t *testing.T) {
	for _, isn := range []uint32{1<<32 - 1, 1<<32 - 5, 1<<32 - 40, 1<<31 - 3} {
		t.Run(fmt.Sprint(isn), func(t *testing.T) {
			c := newConv("10.0.0.1:1234", "10.0.0.2:80", isn, isn-17).handshake()
			c.mss = 6
			want := keepAlive(c)
			c.close()
			c.reverse(4, 8)
			r := c.run(t)
			r.want(t, want...)
		})
	}
}

// TestByteAtATime checks that delivering every byte in its own segment gives the same
// calls as one segment per message, for every kind of framing.
func TestByteAtATime(t *testing.T) {
	build := func(mss int) *conv {
		c := defaultConv().handshake()
		c.mss = mss
		c.req(get("/1"))
		c.resp(ok(`{"one":1}`))
		c.req("POST /2 HTTP/1.1\r\nHost: api.test\r\nTransfer-Encoding: chunked\r\n\r\n" + string(chunked([]byte("hello chunked world"), 4)))
		c.resp("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nabcde\r\n0\r\nX-Trailer: yes\r\n\r\n")
		c.req("HEAD /3 HTTP/1.1\r\nHost: api.test\r\n\r\n")
		c.resp("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n")
		c.req(get("/4"))
		c.resp("HTTP/1.0 200 OK\r\n\r\nclose-delimited body")
		c.close()
		return c
	}
	want := build(0).run(t)
	if len(want.calls) != 4 || len(want.complete()) != 4 {
		t.Fatalf("one segment per message: %d calls (%d complete), want 4:\n%s", len(want.calls), len(want.complete()), strings.Join(summaries(want.calls), "\n"))
	}
	got := build(1).run(t)
	got.want(t, summaries(want.calls)...)
	for i := range got.calls {
		if len(want.calls) <= i {
			break
		}
		g, w := got.calls[i], want.calls[i]
		if fmt.Sprint(g.Request.Headers, g.Response.Headers, g.Response.Trailers, g.Interim) != fmt.Sprint(w.Request.Headers, w.Response.Headers, w.Response.Trailers, w.Interim) {
			t.Errorf("call %d: headers differ byte-at-a-time:\n%v\n%v", i, g, w)
		}
	}
}

// TestMidStream starts the capture on connections already open: no handshake, and the
// first bytes seen are in the middle of a message. The parser resynchronises on the
// next start line.
func TestMidStream(t *testing.T) {
	t.Run("starts at a request", func(t *testing.T) {
		c := defaultConv()
		want := keepAlive(c)
		c.close()
		c.run(t).want(t, want...)
	})
	t.Run("starts in a response body", func(t *testing.T) {
		c := defaultConv()
		c.resp(`rest of a body","x":"HTTP/1.1 200 OK"}` + "\r\n")
		want := keepAlive(c)
		c.close()
		r := c.run(t)
		r.want(t, want...)
		if r.stats.SkippedBytes.Load() == 0 {
			t.Error("skipped bytes not counted")
		}
	})
	t.Run("starts in a request body", func(t *testing.T) {
		c := defaultConv()
		c.req(`tail of an upload","more":[1,2,3]}`)
		c.resp(ok("{}"))
		want := keepAlive(c)
		c.close()
		r := c.run(t)
		r.want(t, want...)
		if r.stats.Orphans.Load() != 1 {
			t.Errorf("%d orphan responses, want 1 (the answer to the upload)", r.stats.Orphans.Load())
		}
	})
	t.Run("only the server side", func(t *testing.T) {
		c := defaultConv()
		c.resp(ok("{}"))
		c.resp(ok("{}"))
		c.fin(false)
		r := c.run(t)
		r.want(t)
		if r.stats.Orphans.Load() != 2 {
			t.Errorf("%d orphan responses, want 2", r.stats.Orphans.Load())
		}
	})
	t.Run("handshake answer first", func(t *testing.T) {
		c := defaultConv().handshake()
		want := keepAlive(c)
		c.close()
		c.swap(0, 1) // SYN-ACK captured before the SYN
		c.run(t).want(t, want...)
	})
}

func TestFinAndRst(t *testing.T) {
	t.Run("close-delimited response ends at FIN", func(t *testing.T) {
		c := defaultConv().handshake()
		c.req(get("/stream"))
		c.resp("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of ")
		c.resp("this until the close")
		c.fin(false)
		c.fin(true)
		c.run(t).want(t, `GET http://api.test/stream -> 200 req="" resp="all of this until the close"`)
	})
	t.Run("close-delimited response ends at RST", func(t *testing.T) {
		c := defaultConv().handshake()
		c.req(get("/stream"))
		c.resp("HTTP/1.0 200 OK\r\n\r\nbody")
		c.rst(false)
		c.run(t).want(t, `GET http://api.test/stream -> 200 req="" resp="body"`)
	})
	t.Run("RST inside a response", func(t *testing.T) {
		c := defaultConv().handshake()
		want := keepAlive(c)
		c.req(get("/cut"))
		c.resp("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part")
		c.rst(false)
		r := c.run(t)
		r.want(t, append(want, `GET http://api.test/cut -> 200 [stream closed in response] req="" resp="only part"`)...)
		if n := r.stats.Incomplete()[ClosedInResp]; n != 1 {
			t.Errorf("closed-in-response count %d, want 1", n)
		}
	})
	t.Run("RST from the client before the response", func(t *testing.T) {
		c := defaultConv().handshake()
		want := keepAlive(c)
		c.req(get("/never"))
		c.rst(true)
		r := c.run(t)
		r.want(t, append(want, `GET http://api.test/never [no response] req=""`)...)
	})
	t.Run("client half-close then the response", func(t *testing.T) {
		c := defaultConv().handshake()
		c.req(get("/half"))
		c.fin(true)
		c.resp(ok("{}"))
		c.fin(false)
		c.run(t).want(t, `GET http://api.test/half -> 200 req="" resp="{}"`)
	})
	t.Run("FIN inside a request body", func(t *testing.T) {
		c := defaultConv().handshake()
		c.req("POST /p HTTP/1.1\r\nHost: api.test\r\nContent-Length: 50\r\n\r\nshort")
		c.fin(true)
		c.fin(false)
		r := c.run(t)
		r.want(t, `POST http://api.test/p [stream closed in request] req="short"`)
	})
	t.Run("no FIN: capture ends inside a response", func(t *testing.T) {
		c := defaultConv().handshake()
		c.req(get("/big"))
		c.resp("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345")
		r := c.run(t)
		r.want(t, `GET http://api.test/big -> 200 [capture ended] req="" resp="12345"`)
	})
	t.Run("stray ACK after the close opens nothing", func(t *testing.T) {
		c := defaultConv().handshake()
		want := keepAlive(c)
		c.close()
		c.add(segment{fromClient: false, ack: true})
		c.add(segment{fromClient: true, rst: true})
		r := c.run(t)
		r.want(t, want...)
		if n := r.stats.Streams.Load(); n != 1 {
			t.Errorf("%d streams, want 1", n)
		}
	})
}

// headLen is the length of the head at the start of a message.
func headLen(msg string) int { return strings.Index(msg, "\r\n\r\n") + 4 }

// knownBug skips a test of behaviour the reassembler does not have yet, unless
// SNIFFER_KNOWN_BUGS is set: the test then shows the bug.
func knownBug(t *testing.T, what string) {
	t.Helper()
	if os.Getenv("SNIFFER_KNOWN_BUGS") == "" {
		t.Skip("known bug (set SNIFFER_KNOWN_BUGS=1 to run): " + what)
	}
}

// TestLostSegments drops segments (as a capture that missed them would) and checks that
// the call touched is marked incomplete with the right reason, that no body holds bytes
// glued across the hole, and that the later calls on the same connection still pair.
//
// With "prompt", everything goes on at once after the hole, as it does on the wire: the
// other side's acknowledgement past the hole shows the capture lost it, and the hole is
// skipped before that acknowledging segment is used. With "late", the side without the
// hole waits longer than the gap timeout first, so the hole is skipped by the timeout.
func TestLostSegments(t *testing.T) {
	body := strings.Repeat("abcdefghij", 5)
	first := func(c *conv) { c.req(get("/first")); c.resp(ok(`{"f":1}`)) }
	last := func(c *conv) { c.req(get("/last")); c.resp(ok(`{"l":1}`)) }
	wFirst := `GET http://api.test/first -> 200 req="" resp="{\"f\":1}"`
	wLast := `GET http://api.test/last -> 200 req="" resp="{\"l\":1}"`
	cases := []struct {
		name string
		// build adds the conversation after the first call and returns the index
		// of the segment to pause before in the "late" variant.
		build func(c *conv) int
		want  []string
		// bug, when set, names the known bug that breaks the prompt variant.
		bug string
		// wLast, when set, is what the last call comes out as instead of complete.
		wLast string
	}{
		{"request body", func(c *conv) int {
			m := post("/up", body)
			seg := c.req(m, headLen(m)+20, headLen(m)+30)
			c.drop(seg[1])
			return c.resp(ok(`{"up":1}`))[0]
		}, []string{`POST http://api.test/up -> 200 [gap in request] req="abcdefghijabcdefghij" resp="{\"up\":1}"`}, "", ""},
		{"response body", func(c *conv) int {
			c.req(get("/down"))
			m := ok(body)
			seg := c.resp(m, headLen(m)+20, headLen(m)+30)
			c.drop(seg[1])
			return -1
		}, []string{`GET http://api.test/down -> 200 [gap in response] req="" resp="abcdefghijabcdefghij"`}, "", ""},
		{"chunk data", func(c *conv) int {
			c.req(get("/chunks"))
			h := "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
			seg := c.resp(h+string(chunked([]byte(body), 16)), len(h)+10, len(h)+16)
			c.drop(seg[1])
			return -1
		}, []string{`GET http://api.test/chunks -> 200 [gap in response] req="" resp="abcdef"`}, "", ""},
		{"close-delimited body", func(c *conv) int {
			c.req(get("/close"))
			seg := c.resp("HTTP/1.0 200 OK\r\n\r\n"+body, 25, 30)
			c.drop(seg[1])
			c.fin(false)
			return -1
		}, []string{`GET http://api.test/close -> 200 [gap in response] req="" resp="abcdef"`}, "", ""},
		{"request head", func(c *conv) int {
			seg := c.req(get("/lost-head"), 10)
			c.drop(seg[0])
			return c.resp(ok(`{"x":1}`))[0]
		}, nil, "", ""},
		{"response head", func(c *conv) int {
			c.req(get("/lost-head"))
			seg := c.resp(ok(`{"x":1}`), 10)
			c.drop(seg[0])
			return -1
		}, []string{`GET http://api.test/lost-head [response lost] req=""`}, "", ""},
		{"response across a message boundary", func(c *conv) int {
			// The segment holding the end of one response and the start of the next is
			// lost: both calls it touches are incomplete. The client pipelines (p1 and
			// p2 in one segment), so nothing proves how many responses the hole held:
			// /last, sent once the client had every byte before its response, may as
			// well have been sent while /p2's response was still to come, and its
			// response could be /p2's. It is not printed as complete.
			c.req(get("/p1") + get("/p2"))
			r1, r2 := ok(`{"p":1,"pad":"`+body+`"}`), ok(`{"p":2}`)
			seg := c.resp(r1+r2, len(r1)-10, len(r1)+10)
			c.drop(seg[1])
			return -1
		}, []string{
			`GET http://api.test/p1 -> 200 [gap in response] req="" resp="{\"p\":1,\"pad\":\"abcdefghijabcdefghijabcdefghijabcdefghijab"`,
			`GET http://api.test/p2 [pairing unproven] req=""`}, "", `GET http://api.test/last [pairing unproven] req=""`},
		{"request across a message boundary", func(c *conv) int {
			q1, q2 := post("/q1", body), get("/q2")
			seg := c.req(q1+q2, len(q1)-5, len(q1)+5)
			c.drop(seg[1])
			i := c.resp(ok(`{"q":1}`))[0]
			c.resp(ok(`{"q":2}`))
			return i
		}, []string{`POST http://api.test/q1 -> 200 [gap in request] req="abcdefghijabcdefghijabcdefghijabcdefghijabcde" resp="{\"q\":1}"`}, "", ""},
		{"response body and bytes past it", func(c *conv) int {
			// As in http-gap-whole-body.pcap: a body lost with two stray bytes after it,
			// while the next requests go on; the next responses pair by capture time.
			c.req(get("/r1"))
			m := ok("Hello World!")
			c.resp(m+"\r\n", headLen(m))
			c.drop(len(c.segs) - 1)
			c.req(get("/r2"))
			c.resp(ok("two"))
			return -1
		}, []string{`GET http://api.test/r1 -> 200 [gap in response] req="" resp=""`, `GET http://api.test/r2 -> 200 req="" resp="two"`}, "", ""},
		{"whole response", func(c *conv) int {
			c.req(get("/gone"))
			c.drop(c.resp(ok(`{"g":1}`))...)
			return -1
		}, []string{`GET http://api.test/gone [response lost] req=""`}, "", ""},
	}
	for _, k := range cases {
		for _, late := range []bool{false, true} {
			name := k.name + "/prompt"
			if late {
				name = k.name + "/late"
				if k.build(defaultConv().handshake()) < 0 {
					continue // a hole on the response side: nothing waits for it
				}
			}
			t.Run(name, func(t *testing.T) {
				c := defaultConv().handshake()
				first(c)
				pauseAt := k.build(c)
				if !late && k.bug != "" {
					knownBug(t, k.bug)
				}
				if late {
					c.segs[pauseAt].pause = 7 * time.Second
				}
				want := append([]string{wFirst}, k.want...)
				if !strings.HasPrefix(k.name, "close") {
					last(c)
					if k.wLast != "" {
						want = append(want, k.wLast)
					} else {
						want = append(want, wLast)
					}
				}
				c.close()
				r := c.run(t)
				r.want(t, want...)
				if r.stats.Gaps.Load() == 0 {
					t.Error("gap not counted")
				}
				w := int64(0)
				for _, s := range append(k.want, k.wLast) {
					if strings.Contains(s, " [") {
						w++
					}
				}
				if n := r.stats.IncompleteTotal(); n != w {
					t.Errorf("%d incomplete calls counted, want %d: %v", n, w, r.stats.Incomplete())
				}
			})
		}
	}
}

// TestPortReuse: a new connection on the same addresses and ports soon after the last
// one closed (busy clients cycle through ephemeral ports) must be tracked like any
// other, its FIN included.
func TestPortReuse(t *testing.T) {
	var pkts []packet
	for i := 0; i < 2; i++ {
		c := newConv("10.0.0.1:40000", "10.0.0.2:80", uint32(1000+i*100000), 5000).handshake()
		c.req(get(fmt.Sprint("/", i)))
		c.resp("HTTP/1.0 200 OK\r\n\r\nuntil close " + fmt.Sprint(i))
		c.fin(false)
		c.fin(true)
		c.add(segment{fromClient: false, ack: true})
		p := c.packets(linkEthernet)
		for j := range p {
			p[j].ci.Timestamp = p[j].ci.Timestamp.Add(time.Duration(i) * time.Second)
		}
		pkts = append(pkts, p...)
	}
	r := feed(DefaultConfig(), linkEthernet.linkType(), pkts, false)
	r.want(t, `GET http://api.test/0 -> 200 req="" resp="until close 0"`, `GET http://api.test/1 -> 200 req="" resp="until close 1"`)
	if n := r.stats.StreamsOpen.Load(); n != 0 {
		t.Errorf("%d streams still open", n)
	}
}

// TestFlowKeyCollision: connections are told apart by their whole 4-tuple. gopacket's
// Flow.FastHash gives 10.1.0.1:40001 -> 10.2.0.2:3000 and 10.1.0.1:40002 -> 10.2.0.2:3001
// the same hash: keyed on it, the first connection's end made the second one's segments
// (a connection whose handshake the capture missed) look like the first one's stragglers,
// dropped, so its call was lost.
func TestFlowKeyCollision(t *testing.T) {
	a := newConv("10.1.0.1:40001", "10.2.0.2:3000", 1000, 900000).handshake()
	a.req(get("/a"))
	a.resp(ok(`{"a":1}`))
	a.close()
	b := newConv("10.1.0.1:40002", "10.2.0.2:3001", 5000, 700000) // no handshake: mid-stream
	b.req(get("/b"))
	b.resp(ok(`{"b":2}`))
	b.req(get("/b2"))
	b.resp(ok(`{"b":3}`))
	pa, pb := a.packets(linkEthernet), b.packets(linkEthernet)
	for i := range pb {
		pb[i].ci.Timestamp = pb[i].ci.Timestamp.Add(time.Second)
	}
	fa, fb := pa[0], pb[0]
	ka := gopacket.NewPacket(fa.data, layers.LayerTypeEthernet, gopacket.Default).TransportLayer().TransportFlow()
	kb := gopacket.NewPacket(fb.data, layers.LayerTypeEthernet, gopacket.Default).TransportLayer().TransportFlow()
	if ka.FastHash() != kb.FastHash() {
		t.Fatalf("the two connections' port flows no longer collide in FastHash: pick ports that do")
	}
	cfg := DefaultConfig()
	cfg.KeepIncomplete = true
	r := feed(cfg, linkEthernet.linkType(), append(pa, pb...), true)
	var got []string
	for _, c := range r.complete() {
		got = append(got, c.Request.Target)
	}
	if !slices.Contains(got, "/a") || !slices.Contains(got, "/b2") {
		t.Errorf("complete calls %v, want /a and /b2: %v", got, summaries(r.calls))
	}
}

// TestHandshakeAfterACK: the capture shows the client's ACK of the handshake before the
// SYN (reordered). The connection opens on that ACK with no roles; the SYN that follows
// names the client, so a request line only read leniently (no space before the version,
// as in the corpus's http-methods-mixed.pcap) is taken as when the SYN comes first.
// Before, the parser looked for a start line as on a connection seen mid-stream, skipped
// the request and left its response without one.
func TestHandshakeAfterACK(t *testing.T) {
	for _, ackFirst := range []bool{false, true} {
		c := defaultConv().handshake()
		c.req("GET /HTTP/1.1\r\nHost: api.test\r\n\r\n")
		c.resp(ok(`{"a":1}`))
		c.close()
		if ackFirst {
			c.segs[0], c.segs[1], c.segs[2] = c.segs[2], c.segs[0], c.segs[1]
		}
		r := c.run(t)
		if got := summaries(r.complete()); len(got) != 1 || !strings.Contains(got[0], `resp="{\"a\":1}"`) {
			t.Errorf("ACK first %v: complete calls %v, want the GET with its response", ackFirst, summaries(r.calls))
		}
	}
}
