package reassembly

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

// detectRun feeds conversations to one Assembler with any-port detection on.
func detectRun(t *testing.T, convs ...*conv) *result {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Detect = true
	cfg.KeepIncomplete = true
	var pkts []packet
	for _, c := range convs {
		pkts = append(pkts, c.packets(linkEthernet)...)
	}
	return feed(cfg, linkEthernet.linkType(), pkts, true)
}

// TestDetectOtherProtocols: TLS, SSH (server speaks first), SMTP (a request-looking
// command line), random bytes and a Redis command on assorted ports, beside HTTP on
// 3000 and 8080. Only the HTTP calls come out, each other connection is counted once as
// not HTTP, and none of them is taken for a malformed message or an incomplete call.
func TestDetectOtherProtocols(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 20000)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	others := []struct {
		port           int
		first          bool // the server speaks first
		client, server string
	}{
		{443, false, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + string(random[:500]), "\x16\x03\x03\x00\x7a\x02" + string(random[500:700])},
		{22, true, "SSH-2.0-OpenSSH_9.2p1\r\n" + string(random[:1400]), "SSH-2.0-OpenSSH_9.6p1 Debian-3\r\n"},
		{25, true, "EHLO client.example\r\nMAIL FROM:<a@b>\r\n", "220 mail.example ESMTP\r\n250 OK\r\n"},
		{9000, false, string(random), string(random[:3000])},
		{6379, false, "*1\r\n$4\r\nPING\r\n", "+PONG\r\n"},
		{5432, false, "\x00\x00\x00\x08\x04\xd2\x16\x2f", "N"},
	}
	var convs []*conv
	for i, o := range others {
		c := newConv(fmt.Sprintf("10.1.0.1:%d", 41000+i), fmt.Sprintf("10.2.0.2:%d", o.port), 1000, 900000)
		c.handshake()
		if o.first {
			c.resp(o.server)
			c.req(o.client)
		} else {
			c.req(o.client)
			c.resp(o.server)
		}
		c.close()
		convs = append(convs, c)
	}
	for i, port := range []int{3000, 8080} {
		c := newConv(fmt.Sprintf("10.1.0.3:%d", 42000+i), fmt.Sprintf("10.2.0.2:%d", port), 5000, 700000)
		c.handshake()
		c.req(post("/p", "abc"), 3)
		c.resp(ok("yes"))
		c.req(get("/g"))
		c.resp(status(404, "no"))
		c.close()
		convs = append(convs, c)
	}
	r := detectRun(t, convs...)
	r.want(t,
		`POST http://api.test/p -> 200 req="abc" resp="yes"`, `GET http://api.test/g -> 404 req="" resp="no"`,
		`POST http://api.test/p -> 200 req="abc" resp="yes"`, `GET http://api.test/g -> 404 req="" resp="no"`)
	st := r.stats
	if n := st.NotHTTP.Load(); n != int64(len(others)) {
		t.Errorf("%d connections not HTTP, want %d", n, len(others))
	}
	if st.ParseErrors.Load() != 0 || st.IncompleteTotal() != 0 || st.Orphans.Load() != 0 {
		t.Errorf("other protocols counted as HTTP trouble: %d malformed, %v incomplete, %d orphans", st.ParseErrors.Load(), st.Incomplete(), st.Orphans.Load())
	}
	if st.StreamsOpen.Load() != 0 {
		t.Errorf("%d streams open after Close", st.StreamsOpen.Load())
	}
}

// TestDetectLenientRequest: a request line only a lenient reading takes ("GET /") is
// HTTP once the server answers with a status line, and not HTTP when it does not (an
// HTTP/0.9 answer, or another protocol): then no request of it is counted.
func TestDetectLenientRequest(t *testing.T) {
	answered := newConv("10.1.0.1:40001", "10.2.0.2:8000", 1000, 900000)
	answered.handshake()
	answered.req("GET /\r\nHost: api.test\r\n\r\n")
	answered.resp(status(400, "bad"))
	answered.close()
	r := detectRun(t, answered)
	r.want(t, `GET http://api.test/ -> 400 req="" resp="bad"`)

	unanswered := newConv("10.1.0.1:40002", "10.2.0.2:8000", 1000, 900000)
	unanswered.handshake()
	unanswered.req("GET /\r\n\r\n")
	unanswered.resp("<html>0.9</html>")
	unanswered.close()
	r = detectRun(t, unanswered)
	r.want(t)
	if r.stats.NotHTTP.Load() != 1 || r.stats.IncompleteTotal() != 0 {
		t.Errorf("not HTTP %d, incomplete %v: want 1 and none", r.stats.NotHTTP.Load(), r.stats.Incomplete())
	}
}

// TestDetectMidstream: connections open before the capture. One in the middle of a
// body finds the next exchange; one carrying binary data is given up after
// maxMidstreamScan bytes and counted not HTTP.
func TestDetectMidstream(t *testing.T) {
	http := newConv("10.1.0.1:40001", "10.2.0.2:3000", 1000, 900000)
	// The capture starts in the middle of a call: the request's body, then its
	// response's, end; the next call follows. (The tail and the next request in one
	// segment would be a pipelining client, whose calls after a mid-stream start are
	// unproven: pair.go.)
	http.req(`tail of a body"}`)
	http.resp("...more body\r\n")
	http.req(get("/next"))
	http.resp(ok("fine"))
	http.close()
	bin := newConv("10.1.0.9:40002", "10.2.0.2:3001", 1000, 900000)
	block := bytes.Repeat([]byte{0xde, 0xad, '\n', 0xbe, 0xef}, 3000)
	for sent := 0; sent <= maxMidstreamScan; sent += len(block) {
		bin.send(true, block)
		bin.send(false, block[:100])
	}
	bin.req(get("/never")) // after the bound: the connection was given up
	bin.resp(ok("never"))
	bin.close()
	r := detectRun(t, http, bin)
	r.want(t, `GET http://api.test/next -> 200 req="" resp="fine"`)
	if r.stats.NotHTTP.Load() != 1 {
		t.Errorf("not HTTP %d, want 1", r.stats.NotHTTP.Load())
	}
}
