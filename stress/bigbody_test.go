package stress

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// chunked streams a body of n bytes as chunks of chunk bytes each.
type chunked struct {
	body  io.Reader
	left  int64
	chunk int64
	buf   []byte // framing and data not yet read
	done  bool
}

func (c *chunked) Read(p []byte) (int, error) {
	for len(c.buf) == 0 {
		if c.done {
			return 0, io.EOF
		}
		if c.left == 0 {
			c.buf, c.done = []byte("0\r\nX-Trailer: end\r\n\r\n"), true
			break
		}
		k := min(c.left, c.chunk)
		c.buf = fmt.Appendf(c.buf[:0], "%x\r\n", k)
		n := len(c.buf)
		c.buf = append(c.buf, make([]byte, k)...)
		io.ReadFull(c.body, c.buf[n:])
		c.buf = append(c.buf, "\r\n"...)
		c.left -= k
	}
	n := copy(p, c.buf)
	c.buf = c.buf[n:]
	return n, nil
}

// chunkedLen is the wire length of a chunked body of n bytes in chunk-byte chunks.
func chunkedLen(n, chunk int64) int64 {
	var total int64
	for left := n; left > 0; left -= min(left, chunk) {
		k := min(left, chunk)
		total += int64(len(fmt.Sprintf("%x\r\n", k))) + k + 2
	}
	return total + int64(len("0\r\nX-Trailer: end\r\n\r\n"))
}

// TestBigBodies: a 1 GiB upload (Content-Length) and a 1 GiB chunked download (64 MiB
// each without STRESS=1), each on a keep-alive connection followed by a small call, in
// 64 KiB segments (GRO-sized), with normal calls between. The big calls must come out
// complete with the first body-limit bytes of the body, truncated:true and the full
// body_size; memory must not follow the body size.
func TestBigBodies(t *testing.T) {
	n := size[int64](64*MiB, 1<<30)
	const seg = 65000
	const chunk = 256 << 10
	pcap := filepath.Join(t.TempDir(), "big.pcap")
	w := newCapture(t, pcap, 262144)
	normals := newNormal()
	normals.write(w, 1, "before")

	up := w.newFlow(clientAddr(2), server, seg)
	up.handshake()
	up.send(true, []byte(fmt.Sprintf("POST /upload HTTP/1.1\r\nHost: api.test\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", n)))
	up.sendFrom(true, &pattern{}, n)
	up.send(false, response(201, []byte(`{"stored":true}`)))
	up.send(true, request("GET", "/after-upload", nil))
	up.send(false, response(200, []byte(`{"after":"upload"}`)))
	up.close()
	normals.write(w, 3, "between")

	down := w.newFlow(clientAddr(4), server, seg)
	down.handshake()
	down.send(true, request("GET", "/download", nil))
	down.send(false, []byte("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n"))
	down.sendFrom(false, &chunked{body: &pattern{}, left: n, chunk: chunk}, chunkedLen(n, chunk))
	down.send(true, request("GET", "/after-download", nil))
	down.send(false, response(200, []byte(`{"after":"download"}`)))
	down.close()
	normals.write(w, 5, "after")
	for _, f := range []*flow{up, down} {
		if f.err != nil {
			t.Fatal(f.err)
		}
	}
	if err := w.close(); err != nil {
		t.Fatal(err)
	}

	const limit = 1 * MiB
	r := runSniffer(t, pcap, size(2*time.Minute, 10*time.Minute))
	r.check(t, 0, 120*MiB)
	want := string(patternPrefix(limit))
	seen := map[string]bool{}
	r.calls(t, func(c *jsonCall) {
		if normals.see(t, c) {
			return
		}
		seen[c.Request.Target] = true
		if c.Incomplete != "" || c.Response == nil {
			t.Errorf("%s incomplete: %q", c.Request.Target, c.Incomplete)
			return
		}
		switch c.Request.Target {
		case "/upload":
			m := c.Request
			if m.BodySize != n || !m.Truncated || len(m.Body) != limit || m.Body != want {
				t.Errorf("upload: body_size %d (want %d), truncated %v, kept %d bytes (want %d), prefix right: %v",
					m.BodySize, n, m.Truncated, len(m.Body), limit, m.Body == want)
			}
			if c.Response.Status != 201 {
				t.Errorf("upload answered %d", c.Response.Status)
			}
		case "/download":
			m := c.Response
			if m.BodySize != n || !m.Truncated || len(m.Body) != limit || m.Body != want {
				t.Errorf("download: body_size %d (want %d), truncated %v, kept %d bytes (want %d), prefix right: %v",
					m.BodySize, n, m.Truncated, len(m.Body), limit, m.Body == want)
			}
		case "/after-upload", "/after-download":
			if !strings.Contains(c.Response.Body, strings.TrimPrefix(c.Request.Target, "/after-")) {
				t.Errorf("%s got %q", c.Request.Target, c.Response.Body)
			}
		default:
			t.Errorf("unexpected call %s", c.Request.Target)
		}
	})
	for _, target := range []string{"/upload", "/download", "/after-upload", "/after-download"} {
		if !seen[target] {
			t.Errorf("%s did not come out", target)
		}
	}
	normals.missing(t)
	if r.counts["bodies truncated at the limit"] != 2 {
		t.Errorf("summary counts %d truncated bodies, want 2", r.counts["bodies truncated at the limit"])
	}
}
