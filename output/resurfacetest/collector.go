// Package resurfacetest is a real Resurface capture endpoint for tests: an HTTP server on
// loopback that takes what sniffer posts, inflates it, splits the NDJSON, checks every
// message against the Resurface format and keeps them in arrival order. It can also
// misbehave on demand (answer 5xx, hang, cut connections, stop and restart on the same
// port) for fault tests. It is for tests and benchmarks, not for production use.
package resurfacetest

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Collector is the endpoint. Its zero value is not usable: call Start.
type Collector struct {
	addr   string
	srvMu  sync.Mutex
	srv    *http.Server
	status atomic.Int32 // answer with this status; 0 = the normal 204
	failN  atomic.Int32 // answer 500 to this many more posts
	cutN   atomic.Int32 // close the connection mid-request this many more times
	hang   atomic.Bool  // posts that arrive while set are never answered
	posts  atomic.Int64
	wire   atomic.Int64
	// answered counts the messages of posts whose 204 was written out to the connection:
	// a post accepted but not yet answered when Stop closes its connection is kept here
	// and never acknowledged to sniffer, which then (rightly, at-least-once) sends it again.
	answered atomic.Int64

	mu     sync.Mutex
	wantCE string
	msgs   [][][2]string
	at     []time.Time
	errs   []string
}

// Start listens on addr ("" for a free loopback port) and serves in the background.
func Start(addr string) (*Collector, error) {
	c := &Collector{wantCE: "deflated"}
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	if err := c.listen(addr); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Collector) listen(addr string) error {
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ { // the port of a just-stopped collector may linger briefly
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("resurfacetest: listen on %s: %w", addr, err)
	}
	c.addr = ln.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(c.serve), ReadHeaderTimeout: 5 * time.Second}
	c.srvMu.Lock()
	c.srv = srv
	c.srvMu.Unlock()
	go srv.Serve(ln)
	return nil
}

// Addr is host:port; URL the capture URL to give sniffer.
func (c *Collector) Addr() string { return c.addr }
func (c *Collector) URL() string  { return "http://" + c.addr + "/message" }

// Stop closes the listener and every connection (hung posts end); Restart listens again
// on the same address, keeping what was received.
func (c *Collector) Stop() {
	c.srvMu.Lock()
	defer c.srvMu.Unlock()
	c.srv.Close()
}

func (c *Collector) Restart() error { return c.listen(c.addr) }

// SetStatus makes every post answer status (after reading it, without keeping its
// messages); 0 restores normal service.
func (c *Collector) SetStatus(status int) { c.status.Store(int32(status)) }

// FailNext answers 500 to the next n posts.
func (c *Collector) FailNext(n int) { c.failN.Store(int32(n)) }

// CutNext closes the connection in the middle of the next n posts.
func (c *Collector) CutNext(n int) { c.cutN.Store(int32(n)) }

// SetHang: while on, posts that arrive are never answered (they end when the client gives up).
func (c *Collector) SetHang(on bool) { c.hang.Store(on) }

// WantEncoding sets the Content-Encoding every post must have: "deflated" (the default),
// "" for uncompressed posts (skip_compression, SNIFFER_COMPRESS=off, or sniffer's default
// to a loopback collector), or "*" for either.
func (c *Collector) WantEncoding(ce string) {
	c.mu.Lock()
	c.wantCE = ce
	c.mu.Unlock()
}

// Posts is how many requests arrived (answered or not); WireBytes their body bytes.
func (c *Collector) Posts() int       { return int(c.posts.Load()) }
func (c *Collector) WireBytes() int64 { return c.wire.Load() }

// Answered is how many accepted messages had their post's answer written out (flushed to
// the connection); Count minus Answered is what a Stop at that moment may leave kept but
// unacknowledged.
func (c *Collector) Answered() int { return int(c.answered.Load()) }

// Count is how many messages were accepted.
func (c *Collector) Count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.msgs)
}

// Messages returns a copy of the accepted messages in arrival order.
func (c *Collector) Messages() [][][2]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][][2]string(nil), c.msgs...)
}

// Arrivals returns when each message of Messages was accepted.
func (c *Collector) Arrivals() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Time(nil), c.at...)
}

// Errors lists every violation of the protocol or the message format seen so far.
func (c *Collector) Errors() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.errs...)
}

// WaitFor waits until n messages arrived or d passed, and reports whether they did.
func (c *Collector) WaitFor(n int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for c.Count() < n {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

func (c *Collector) fail(format string, a ...any) {
	c.mu.Lock()
	if len(c.errs) < 1000 {
		c.errs = append(c.errs, fmt.Sprintf(format, a...))
	}
	c.mu.Unlock()
}

func (c *Collector) serve(w http.ResponseWriter, r *http.Request) {
	c.posts.Add(1)
	if c.cutN.Add(-1) >= 0 {
		io.CopyN(io.Discard, r.Body, 10)
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close()
		}
		return
	}
	// Read the whole body first: net/http notices a client that gave up (closed the
	// connection) only once the body is consumed.
	wire, err := io.ReadAll(io.LimitReader(r.Body, 256<<20))
	if err != nil {
		return
	}
	c.wire.Add(int64(len(wire)))
	if c.hang.Load() {
		<-r.Context().Done()
		return
	}
	if r.Context().Err() != nil {
		return
	}
	if c.failN.Add(-1) >= 0 {
		w.WriteHeader(500)
		return
	}
	if s := c.status.Load(); s != 0 {
		w.WriteHeader(int(s))
		return
	}
	got, errs := c.parse(r, wire)
	if r.Context().Err() != nil {
		// The client gave up (timed out) while we parsed: like a transactional collector,
		// keep nothing from a post we can no longer acknowledge.
		return
	}
	c.mu.Lock()
	c.msgs = append(c.msgs, got...)
	for range got {
		c.at = append(c.at, time.Now())
	}
	c.mu.Unlock()
	for _, e := range errs {
		c.fail("%s", e)
	}
	if len(got) == 0 {
		w.WriteHeader(400)
		return
	}
	w.WriteHeader(204)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	c.answered.Add(int64(len(got)))
}

// parse checks the post's headers and body and returns its messages.
func (c *Collector) parse(r *http.Request, wire []byte) (msgs [][][2]string, errs []string) {
	if r.Method != http.MethodPost {
		errs = append(errs, "method "+r.Method)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/ndjson; charset=UTF-8" {
		errs = append(errs, fmt.Sprintf("content-type %q", ct))
	}
	if ua := r.Header.Get("User-Agent"); !strings.HasPrefix(ua, "sniffer/") {
		errs = append(errs, fmt.Sprintf("user-agent %q", ua))
	}
	c.mu.Lock()
	want := c.wantCE
	c.mu.Unlock()
	ce := r.Header.Get("Content-Encoding")
	if ce != want && (want != "*" || ce != "" && ce != "deflated") {
		errs = append(errs, fmt.Sprintf("content-encoding %q, want %q", ce, want))
	}
	raw := wire
	if ce == "deflated" {
		zr, err := zlib.NewReader(bytes.NewReader(wire)) // RFC 1950: header and Adler-32 checked
		if err != nil {
			return nil, append(errs, "zlib: "+err.Error())
		}
		if raw, err = io.ReadAll(io.LimitReader(zr, 1<<30)); err != nil {
			return nil, append(errs, "zlib: "+err.Error())
		}
	}
	if len(raw) == 0 || raw[len(raw)-1] != '\n' {
		errs = append(errs, "bundle does not end in a newline")
	}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		var m [][]string // strict: an array of arrays of strings
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			errs = append(errs, fmt.Sprintf("message is not [[name,value],...]: %v: %.200s", err, sc.Text()))
			continue
		}
		msg := make([][2]string, 0, len(m))
		for _, kv := range m {
			if len(kv) != 2 {
				errs = append(errs, fmt.Sprintf("pair of %d elements", len(kv)))
				continue
			}
			msg = append(msg, [2]string{kv[0], kv[1]})
		}
		errs = append(errs, CheckMessage(msg)...)
		msgs = append(msgs, msg)
	}
	return msgs, errs
}
