package http1

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
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
			line = TrimEOL(line[:i+1])
		}
		for _, want := range [][2]bool{{true, true}, {true, false}, {false, true}} {
			if k := startIn(line, want[0], want[1]); k >= 0 {
				if k >= len(line) || !LooksLikeStart(line[k:], want[0], want[1]) {
					t.Fatalf("startIn %d in %q", k, line)
				}
			}
		}
	})
}

// TestNotStatusLines: lines browsers would take for status lines but that are left out
// here, so that body text starting with "HTTP" never becomes a response.
func TestNotStatusLines(t *testing.T) {
	for _, line := range []string{"HTTP is great", "HTTPS/1.1 200 OK", "HTTP/A.B 200 ok", "HTTP\\1.1 200 ok", "HTTP/ 200", "HTTP", "ICY 200 OK"} {
		if sl, err := parseStartLine([]byte(line), true, nil); err == nil && !sl.request {
			t.Errorf("%q read as a status line: %+v", line, sl)
		}
	}
}

// BenchmarkParseHead is the head parser alone on a typical request head.
func BenchmarkParseHead(b *testing.B) {
	head := []byte("GET /api/v1/orders?page=2&size=50 HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: Mozilla/5.0\r\nAccept: application/json\r\nAccept-Encoding: gzip, deflate, br\r\nAuthorization: Bearer abc.def.ghi\r\nX-Request-ID: 5d41402abc4b2a76b9719d911017c592\r\n\r\n")
	for _, lenient := range []bool{false, true} {
		b.Run(fmt.Sprint("lenient=", lenient), func(b *testing.B) {
			b.SetBytes(int64(len(head)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				var odd oddities
				if _, _, err := parseHead(head, 256, lenient, &odd); err != nil || len(odd) > 0 {
					b.Fatal(err, odd)
				}
			}
		})
	}
}
