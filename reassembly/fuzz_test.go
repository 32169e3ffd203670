package reassembly

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"sniffer/model"
)

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
	chunked := slices.Contains(model.HeaderTokens(m.Headers, "Transfer-Encoding"), "chunked")
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
