package output

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sniffer/reassembly"
)

// collector is a real Resurface-like capture endpoint on loopback: it inflates each bundle,
// splits the NDJSON and checks every message's shape, recording them in arrival order.
type collector struct {
	t      *testing.T
	addr   string
	srv    *http.Server
	status atomic.Int32 // answer with this status; 0 = 204
	failN  atomic.Int32 // answer 500 to this many more requests
	dropN  atomic.Int32 // close the connection mid-request this many more times
	hang   atomic.Bool  // hold requests without answering until unhang
	unhung chan struct{}
	once   sync.Once
	posts  atomic.Int32
	mu     sync.Mutex
	msgs   [][][2]string
	errs   []string
	wantCE string // "deflated" or ""
}

func newCollector(t *testing.T, addr string) *collector {
	c := &collector{t: t, wantCE: "deflated"}
	c.start(addr)
	t.Cleanup(c.stop)
	return c
}

func (c *collector) start(addr string) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ { // the port of a just-stopped collector may linger briefly
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		c.t.Fatalf("collector listen: %v", err)
	}
	c.addr = ln.Addr().String()
	c.srv = &http.Server{Handler: http.HandlerFunc(c.serve), ReadHeaderTimeout: 5 * time.Second}
	go c.srv.Serve(ln)
}

func (c *collector) unhang() { c.hang.Store(false) }

func (c *collector) stop() { c.srv.Close() } // closes connections: hung handlers return

func (c *collector) url() string { return "http://" + c.addr + "/message" }

func (c *collector) fail(format string, a ...any) {
	c.mu.Lock()
	c.errs = append(c.errs, fmt.Sprintf(format, a...))
	c.mu.Unlock()
}

func (c *collector) serve(w http.ResponseWriter, r *http.Request) {
	c.posts.Add(1)
	if c.dropN.Add(-1) >= 0 {
		io.CopyN(io.Discard, r.Body, 10)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	// Read the whole body first: net/http notices a client that gave up (closed the
	// connection) only once the body is consumed.
	wire, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	if c.hang.Load() {
		<-r.Context().Done() // never answered: ends when the client gives up or the server stops
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
	if r.Method != http.MethodPost {
		c.fail("method %s", r.Method)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/ndjson; charset=UTF-8" {
		c.fail("content-type %q", ct)
	}
	if ua := r.Header.Get("User-Agent"); !strings.HasPrefix(ua, "sniffer/") {
		c.fail("user-agent %q", ua)
	}
	ce := r.Header.Get("Content-Encoding")
	if ce != c.wantCE {
		c.fail("content-encoding %q, want %q", ce, c.wantCE)
	}
	var body io.Reader = bytes.NewReader(wire)
	if ce == "deflated" {
		zr, err := zlib.NewReader(body) // RFC 1950: header and Adler-32 checked
		if err != nil {
			c.fail("zlib: %v", err)
			w.WriteHeader(400)
			return
		}
		body = zr
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		c.fail("read body: %v", err)
		w.WriteHeader(400)
		return
	}
	if len(raw) == 0 || raw[len(raw)-1] != '\n' {
		c.fail("bundle does not end in a newline")
	}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(nil, 64<<20)
	var got [][][2]string
	for sc.Scan() {
		var m [][]string // strict: an array of arrays of strings
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			c.fail("message is not [[name,value],...]: %v: %.200s", err, sc.Text())
			continue
		}
		msg := make([][2]string, 0, len(m))
		for _, kv := range m {
			if len(kv) != 2 {
				c.fail("pair of %d elements", len(kv))
				continue
			}
			msg = append(msg, [2]string{kv[0], kv[1]})
		}
		got = append(got, msg)
	}
	c.mu.Lock()
	c.msgs = append(c.msgs, got...)
	c.mu.Unlock()
	w.WriteHeader(204)
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.msgs)
}

// ids returns the id request_param of every message received, in arrival order.
func (c *collector) ids() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.msgs))
	for _, m := range c.msgs {
		out = append(out, get(m, "request_param:id"))
	}
	return out
}

func (c *collector) check() {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.errs {
		c.t.Error("collector:", e)
	}
}

// waitFor polls cond for up to d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func get(m [][2]string, name string) string {
	for _, kv := range m {
		if kv[0] == name {
			return kv[1]
		}
	}
	return ""
}

func all(m [][2]string, name string) []string {
	var out []string
	for _, kv := range m {
		if kv[0] == name {
			out = append(out, kv[1])
		}
	}
	return out
}

var t0 = time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)

// testCall builds call number i: GET /items/i?id=i with a JSON response.
func testCall(i int) *reassembly.Call {
	c := &reassembly.Call{
		Start:  t0.Add(time.Duration(i) * time.Millisecond),
		End:    t0.Add(time.Duration(i)*time.Millisecond + 7*time.Millisecond),
		Client: netip.MustParseAddrPort("10.1.2.3:40000"),
		Server: netip.MustParseAddrPort("10.9.8.7:80"),
		URL:    fmt.Sprintf("http://api.example.com/items/%d?id=%d", i, i),
		VNI:    -1,
	}
	c.Request.Method = "GET"
	c.Request.Target = fmt.Sprintf("/items/%d?id=%d", i, i)
	c.Request.Proto = "HTTP/1.1"
	c.Request.Headers = []reassembly.Header{{Name: "Host", Value: "api.example.com"}, {Name: "Accept", Value: "application/json"}}
	c.Response = &reassembly.Response{Status: 200, Reason: "OK"}
	c.Response.Proto = "HTTP/1.1"
	c.Response.Headers = []reassembly.Header{{Name: "Content-Type", Value: "application/json"}}
	c.Response.Body = fmt.Appendf(nil, `{"id":%d,"name":"item <%d> & \"friends\"\n"}`, i, i)
	c.Response.BodySize = int64(len(c.Response.Body))
	return c
}

// checkMessage verifies a received message against the Resurface format for testCall(id).
func checkMessage(t *testing.T, m [][2]string, id string) {
	t.Helper()
	want := map[string]string{
		"request_method":                 "GET",
		"request_url":                    "http://api.example.com/items/" + id,
		"response_code":                  "200",
		"request_header:host":            "api.example.com",
		"request_header:x-forwarded-for": "10.1.2.3",
		"response_header:content-type":   "application/json",
		"interval":                       "7",
		"agent":                          "sniffer",
		"version":                        "9.9.9",
		"host":                           hostName(),
	}
	for k, v := range want {
		if got := get(m, k); got != v {
			t.Errorf("message %s: %s = %q, want %q", id, k, got, v)
		}
	}
	if b := get(m, "response_body"); !strings.Contains(b, `"id":`+id+`,`) {
		t.Errorf("message %s: response_body %q", id, b)
	}
	for _, kv := range m {
		if kv[1] == "" {
			t.Errorf("message %s: empty value for %s", id, kv[0])
		}
	}
}
