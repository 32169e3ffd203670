package proxymirror

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"sniffer/model"
)

// FuzzListener sends any bytes to a live listener and then a good request on a new connection:
// whatever came before, the listener must not crash, must end the bad connection within its
// read timeout, and must still answer and hand on the good request.
func FuzzListener(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
		"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03",
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04\x00\x00\x00\x00\x00",
		"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nabc\r\n",
		"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -5\r\n\r\nabc",
		"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"GET /\x00 HTTP/1.1\r\nHost: \x7f\r\n\r\n",
		"GET / HTTP/1.1\r\n Host: folded\r\n\r\n",
		"GET / HTTP/9.9\r\n\r\n",
		"\r\n\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nab",
	} {
		f.Add([]byte(s))
	}
	calls := make(chan *model.Call, 1<<16)
	l, err := Listen(Config{Addr: "127.0.0.1:0", BodyLimit: 4096, MaxHeaderBytes: 4096, ReadTimeout: 300 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, func(c *model.Call) bool {
		select {
		case calls <- c:
		default:
		}
		return true
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Write(raw)
		c.(*net.TCPConn).CloseWrite()
		t0 := time.Now()
		if _, err := io.Copy(io.Discard, c); err != nil {
			t.Fatalf("the listener kept a connection that sent %q for %s: %v", raw, time.Since(t0), err)
		}
		p, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		p.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(p, "POST /probe HTTP/1.1\r\nHost: probe\r\nContent-Length: 2\r\n\r\nok")
		resp, err := http.ReadResponse(bufio.NewReader(p), nil)
		if err != nil || resp.StatusCode != 204 {
			t.Fatalf("after %q the probe got %v, %v", raw, resp, err)
		}
		timeout := time.After(5 * time.Second)
		for probe := false; !probe; {
			select {
			case call := <-calls: // calls the fuzzed bytes made may come first
				probe = call.Request.Target == "/probe" && call.URL == "http://probe/probe" && string(call.Request.Body) == "ok"
			case <-timeout:
				t.Fatal("the probe was not handed on")
			}
		}
	})
}
