package proxymirror

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"sniffer/model"
)

// start runs a listener on a free loopback port; its calls arrive on the returned channel.
func start(t *testing.T, cfg Config) (*Listener, chan *model.Call) {
	t.Helper()
	calls := make(chan *model.Call, 1000)
	cfg.Addr = "127.0.0.1:0"
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	l, err := Listen(cfg, func(c *model.Call) bool {
		select {
		case calls <- c:
			return true
		default:
			return false
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := l.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return l, calls
}

// exchange sends raw bytes on a new connection and reads one response.
func exchange(t *testing.T, l *Listener, raw string) *http.Response {
	t.Helper()
	c := dial(t, l)
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	return readResponse(t, c)
}

func dial(t *testing.T, l *Listener) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

func readResponse(t *testing.T, c net.Conn) *http.Response {
	t.Helper()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func next(t *testing.T, calls chan *model.Call) *model.Call {
	t.Helper()
	select {
	case c := <-calls:
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("no call handed on within 5 s")
		return nil
	}
}

func TestMirroredCall(t *testing.T) {
	l, calls := start(t, Config{BodyLimit: 1 << 20})
	before := time.Now()
	resp := exchange(t, l, "POST /v1/orders?id=7 HTTP/1.1\r\nHost: api.example.com-shadow:8080\r\nX-Forwarded-For: 203.0.113.5, 10.0.0.1\r\n"+
		"X-Forwarded-Proto: https\r\ncontent-type: application/json\r\nX-Trace-ID: abc\r\nContent-Length: 11\r\n\r\n{\"qty\": 2}\n")
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("answer %d, want 204", resp.StatusCode)
	}
	c := next(t, calls)
	if !c.Mirrored || c.Response != nil || c.Incomplete != "" || c.VNI != -1 {
		t.Errorf("mirrored %v, response %v, incomplete %q, vni %d", c.Mirrored, c.Response, c.Incomplete, c.VNI)
	}
	if c.Start.Before(before) || c.End.Before(c.Start) || time.Since(c.End) > 5*time.Second {
		t.Errorf("arrival %v..%v, test started %v", c.Start, c.End, before)
	}
	if c.Request.Method != "POST" || c.Request.Target != "/v1/orders?id=7" || c.Request.Proto != "HTTP/1.1" {
		t.Errorf("request line %q %q %q", c.Request.Method, c.Request.Target, c.Request.Proto)
	}
	if c.URL != "https://api.example.com:8080/v1/orders?id=7" {
		t.Errorf("url %q", c.URL)
	}
	if c.Client.String() != "203.0.113.5:0" || c.Server.IsValid() {
		t.Errorf("client %v server %v", c.Client, c.Server)
	}
	want := h("Host", "api.example.com:8080", "X-Forwarded-For", "203.0.113.5, 10.0.0.1", "X-Forwarded-Proto", "https",
		"content-type", "application/json", "X-Trace-ID", "abc", "Content-Length", "11")
	if fmt.Sprint(c.Request.Headers) != fmt.Sprint(want) {
		t.Errorf("headers\n%q\nwant\n%q", c.Request.Headers, want)
	}
	if string(c.Request.Body) != "{\"qty\": 2}\n" || c.Request.BodySize != 11 || c.Request.Truncated {
		t.Errorf("body %q size %d truncated %v", c.Request.Body, c.Request.BodySize, c.Request.Truncated)
	}
	if n := l.Stats().Calls.Load(); n != 1 {
		t.Errorf("calls %d", n)
	}
}

// TestKeepAlive: many requests on one connection, some pipelined, chunked and with
// Expect: 100-continue, each one call, in order.
func TestKeepAlive(t *testing.T) {
	l, calls := start(t, Config{BodyLimit: 1 << 20})
	c := dial(t, l)
	br := bufio.NewReader(c)
	var sent []string
	for i := 0; i < 50; i++ {
		body := strings.Repeat(fmt.Sprint(i), i)
		var req string
		switch i % 3 {
		case 0:
			req = fmt.Sprintf("PUT /k/%d HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n%s", i, len(body), body)
		case 1:
			req = fmt.Sprintf("POST /k/%d HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", i, len(body), body)
			if body == "" {
				req = fmt.Sprintf("POST /k/%d HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", i)
			}
		case 2:
			req = fmt.Sprintf("GET /k/%d HTTP/1.1\r\nHost: h\r\n\r\n", i)
			body = ""
		}
		sent = append(sent, body)
		io.WriteString(c, req)
		if i%10 == 9 { // read the answers of ten pipelined requests
			for j := 0; j < 10; j++ {
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != 204 {
					t.Fatalf("answer %d", resp.StatusCode)
				}
			}
		}
	}
	for i := range sent {
		call := next(t, calls)
		if call.Request.Target != fmt.Sprintf("/k/%d", i) || string(call.Request.Body) != sent[i] || call.Request.BodySize != int64(len(sent[i])) {
			t.Errorf("call %d: %s body %q (%d), want %q", i, call.Request.Target, call.Request.Body, call.Request.BodySize, sent[i])
		}
	}
	c2 := dial(t, l)
	io.WriteString(c2, "POST /continue HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
	br2 := bufio.NewReader(c2)
	line, _ := br2.ReadString('\n')
	if !strings.Contains(line, "100") {
		t.Fatalf("want 100 Continue, got %q", line)
	}
	br2.ReadString('\n')
	io.WriteString(c2, "hello")
	if resp, err := http.ReadResponse(br2, nil); err != nil || resp.StatusCode != 204 {
		t.Fatalf("after 100-continue: %v %v", resp, err)
	}
	if call := next(t, calls); string(call.Request.Body) != "hello" {
		t.Errorf("100-continue body %q", call.Request.Body)
	}
}

// TestBodyLimit: a body longer than the limit is cut and marked, its whole size counted, and
// memory does not follow the size of what was sent.
func TestBodyLimit(t *testing.T) {
	l, calls := start(t, Config{BodyLimit: 1000})
	const size = 64 << 20
	var ms runtime.MemStats
	for _, chunked := range []bool{false, true} {
		runtime.ReadMemStats(&ms)
		allocBefore := ms.TotalAlloc
		c := dial(t, l)
		if chunked {
			io.WriteString(c, "POST /big HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
		} else {
			fmt.Fprintf(c, "POST /big HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n", size)
		}
		block := []byte(strings.Repeat("abcdefgh", 8192)) // 64 KiB
		for n := 0; n < size; n += len(block) {
			if chunked {
				fmt.Fprintf(c, "%x\r\n", len(block))
			}
			if _, err := c.Write(block); err != nil {
				t.Fatal(err)
			}
			if chunked {
				io.WriteString(c, "\r\n")
			}
		}
		if chunked {
			io.WriteString(c, "0\r\n\r\n")
		}
		if resp := readResponse(t, c); resp.StatusCode != 204 {
			t.Fatalf("answer %d", resp.StatusCode)
		}
		call := next(t, calls)
		runtime.ReadMemStats(&ms)
		if len(call.Request.Body) != 1000 || call.Request.BodySize != size || !call.Request.Truncated || string(call.Request.Body[:8]) != "abcdefgh" {
			t.Errorf("chunked %v: body %d bytes of %d, truncated %v", chunked, len(call.Request.Body), call.Request.BodySize, call.Request.Truncated)
		}
		// The test itself allocates little; a listener that buffered the body would allocate it all.
		if grew := ms.TotalAlloc - allocBefore; grew > size/8 {
			t.Errorf("chunked %v: %d MiB allocated while receiving a %d MiB body", chunked, grew>>20, size>>20)
		}
	}
	if n := l.Stats().Truncated.Load(); n != 2 {
		t.Errorf("truncated %d, want 2", n)
	}
}

// TestRefusals: what a sender can do wrong is answered, counted and leaves the listener serving.
func TestRefusals(t *testing.T) {
	l, calls := start(t, Config{BodyLimit: 1 << 10, MaxHeaderBytes: 4096, ReadTimeout: 300 * time.Millisecond, MaxConns: 4})
	st := l.Stats()

	for _, garbage := range []string{"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage that is TLS\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\nBad Header\r\n\r\n", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
		"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"} {
		if resp := exchange(t, l, garbage); resp.StatusCode != 400 {
			t.Errorf("%q: answer %d, want 400", garbage, resp.StatusCode)
		}
	}
	if resp := exchange(t, l, "GET / HTTP/1.1\r\nHost: h\r\nX-Big: "+strings.Repeat("x", 5000)+"\r\n\r\n"); resp.StatusCode != 431 {
		t.Errorf("big head: answer %d, want 431", resp.StatusCode)
	}

	// Slow senders: a head that never ends, a body that never comes.
	for _, partial := range []string{"GET / HTTP/1.1\r\nHost: h\r\n", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\nabc", ""} {
		c := dial(t, l)
		io.WriteString(c, partial)
		t0 := time.Now()
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err == nil && resp.StatusCode != 408 {
			t.Errorf("%q: answer %d, want 408", partial, resp.StatusCode)
		}
		if waited := time.Since(t0); waited > 5*time.Second {
			t.Errorf("%q: the connection stayed %s", partial, waited)
		}
	}

	// Cut: the connection ends inside the body.
	c := dial(t, l)
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\n"+strings.Repeat("z", 20000))
	c.(*net.TCPConn).CloseWrite()
	io.Copy(io.Discard, c)

	// Too many connections: MaxConns open and idle, the next is answered 503.
	var open []net.Conn
	deadline := time.Now().Add(5 * time.Second)
	for st.ConnsOpen.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // the refused connections above are being closed
	}
	for i := 0; i < 4; i++ {
		open = append(open, dial(t, l))
	}
	for st.ConnsOpen.Load() < 4 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if resp := exchange(t, l, "GET / HTTP/1.1\r\nHost: h\r\n\r\n"); resp.StatusCode != 503 {
		t.Errorf("over the limit: answer %d, want 503", resp.StatusCode)
	}
	for _, c := range open {
		c.Close()
	}
	for st.ConnsOpen.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	// Still serving.
	if resp := exchange(t, l, "GET /after HTTP/1.1\r\nHost: h\r\n\r\n"); resp.StatusCode != 204 {
		t.Errorf("after the refusals: answer %d", resp.StatusCode)
	}
	if c := next(t, calls); c.Request.Target != "/after" {
		t.Errorf("call %s, want /after only", c.Request.Target)
	}
	for st.Cut.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	got := map[string]int64{"malformed": st.Malformed.Load(), "head": st.HeadTooLarge.Load(), "timeouts": st.Timeouts.Load(),
		"cut": st.Cut.Load(), "refused": st.ConnsRefused.Load(), "calls": st.Calls.Load()}
	want := map[string]int64{"malformed": 4, "head": 1, "timeouts": 3, "cut": 1, "refused": 1, "calls": 1}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("counts %v, want %v", got, want)
	}
}

// TestDropAndClose: a call the pipeline cannot take is counted as dropped; after Close no call
// is handed on and Close does not wait for idle connections.
func TestDropAndClose(t *testing.T) {
	var handed int
	l, err := Listen(Config{Addr: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, func(*model.Call) bool {
		handed++
		return false
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp := exchange(t, l, "GET / HTTP/1.1\r\nHost: h\r\n\r\n"); resp.StatusCode != 204 {
		t.Errorf("answer %d", resp.StatusCode)
	}
	if l.Stats().Dropped.Load() != 1 || handed != 1 {
		t.Errorf("dropped %d handed %d", l.Stats().Dropped.Load(), handed)
	}
	idle := dial(t, l)
	_ = idle
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	t0 := time.Now()
	if err := l.Close(ctx); err != nil {
		t.Errorf("close: %v", err)
	}
	if d := time.Since(t0); d > 2*time.Second {
		t.Errorf("close waited %s for an idle connection", d)
	}
	if _, err := net.Dial("tcp", l.Addr().String()); err == nil {
		t.Error("still accepting after Close")
	}
}

func TestListenTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = Listen(Config{Addr: ln.Addr().String()}, func(*model.Call) bool { return true })
	if err == nil || !strings.Contains(err.Error(), "SNIFFER_MIRROR_LISTEN") {
		t.Errorf("a taken address: %v, want an error naming the setting", err)
	}
}

// TestHTTP2Refused: a proxy that speaks HTTP/2 to the listener is refused and counted, not
// recorded as a "PRI *" call.
func TestHTTP2Refused(t *testing.T) {
	l, calls := start(t, Config{})
	c := dial(t, l)
	io.WriteString(c, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
	io.Copy(io.Discard, c)
	if n := l.Stats().Malformed.Load(); n != 1 {
		t.Errorf("malformed %d, want 1", n)
	}
	select {
	case call := <-calls:
		t.Errorf("HTTP/2 handed on as %s %s", call.Request.Method, call.Request.Target)
	default:
	}
}

// TestClientFallback: without a forwarding header the client is the sender's address.
func TestClientFallback(t *testing.T) {
	l, calls := start(t, Config{})
	c := dial(t, l)
	io.WriteString(c, "GET /x HTTP/1.1\r\nHost: h\r\n\r\n")
	readResponse(t, c)
	call := next(t, calls)
	if call.Client.String() != c.LocalAddr().String() {
		t.Errorf("client %v, want the sender %v", call.Client, c.LocalAddr())
	}
}
