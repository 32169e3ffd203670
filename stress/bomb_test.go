package stress

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"path/filepath"
	"testing"
	"time"
)

// gzipBomb returns a gzip body that expands to n bytes of zeros: one member of 64 MiB
// of zeros compressed once and repeated (a gzip stream may hold many members, and
// decoders read them all), so that 10 GiB take about 10 MiB and no time to make.
// Stacked, the result is gzipped again ("Content-Encoding: gzip, gzip"), which shrinks
// it to a few KiB.
func gzipBomb(t *testing.T, n int64, stacked bool) []byte {
	const member = 64 << 20
	var m bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&m, gzip.BestCompression)
	zw.Write(make([]byte, member))
	zw.Close()
	var out bytes.Buffer
	var dst io.Writer = &out
	var outer *gzip.Writer
	if stacked {
		outer, _ = gzip.NewWriterLevel(&out, gzip.BestCompression)
		dst = outer
	}
	for i := int64(0); i < n/member; i++ {
		dst.Write(m.Bytes())
	}
	if outer != nil {
		outer.Close()
	}
	return out.Bytes()
}

// TestGzipBomb: responses whose gzip bodies expand to 10 GiB (1 GiB without STRESS=1),
// one gzip-coded (about 1 MiB a GiB on the wire), one gzipped twice (a few KiB), between
// normal calls, read with the default 1 MiB body limit (the single bomb is cut on the
// wire and decoded as far as it goes) and with 16 MiB (kept whole on the wire). The
// decoded bodies must stop at the body limit, marked truncated, and memory must stay
// within a bound proportional to the limit, whatever the bomb expands to.
func TestGzipBomb(t *testing.T) {
	n := size[int64](1<<30, 10<<30)
	single := gzipBomb(t, n, false)
	stacked := gzipBomb(t, n, true)
	t.Logf("bomb of %d GiB: %d bytes gzip, %d bytes gzip twice", n>>30, len(single), len(stacked))
	pcap := filepath.Join(t.TempDir(), "bomb.pcap")
	w := newCapture(t, pcap, 262144)
	normals := newNormal()
	for i, b := range []struct {
		target, coding string
		body           []byte
	}{{"/bomb/single", "gzip", single}, {"/bomb/stacked", "gzip, gzip", stacked}} {
		normals.write(w, 10+i, fmt.Sprint(i))
		f := w.newFlow(clientAddr(i), server, 65000)
		f.handshake()
		f.send(true, request("GET", b.target, nil, "Accept-Encoding: gzip"))
		f.send(false, response(200, b.body, "Content-Encoding: "+b.coding))
		f.close()
	}
	normals.write(w, 20, "last")
	if err := w.close(); err != nil {
		t.Fatal(err)
	}
	// Bounds: the kept body on the wire and the decoded one are each at most the limit,
	// but encoding a body of NUL bytes as JSON ("\u0000", six bytes each) in the output
	// stage costs about 23 times the decoded size at its peak (see docs/stress.md): the
	// bound is stated with that factor.
	for _, limit := range []int{1 * MiB, 16 * MiB} {
		t.Run(fmt.Sprintf("limit%dMiB", limit>>20), func(t *testing.T) {
			r := runSniffer(t, pcap, 2*time.Minute, "-body-limit", fmt.Sprint(limit))
			r.check(t, 0, int64(32*limit+64*MiB))
			seen := 0
			normals := normals.fresh()
			r.calls(t, func(c *jsonCall) {
				if normals.see(t, c) {
					return
				}
				seen++
				if c.Incomplete != "" || c.Response == nil {
					t.Errorf("%s incomplete: %q", c.Request.Target, c.Incomplete)
					return
				}
				m := c.Response
				t.Logf("%s: body_size %d, decoded body kept %d bytes, truncated %v", c.Request.Target, m.BodySize, len(m.Body), m.Truncated)
				if len(m.Body) > limit || !m.Truncated {
					t.Errorf("%s: decoded body %d bytes (limit %d), truncated %v", c.Request.Target, len(m.Body), limit, m.Truncated)
				}
				if c.Request.Target == "/bomb/single" && (len(m.Body) != limit || m.Body != string(make([]byte, limit))) {
					t.Errorf("%s: want the first %d decoded bytes (zeros), got %d bytes", c.Request.Target, limit, len(m.Body))
				}
			})
			if seen != 2 {
				t.Errorf("%d bomb calls came out, want 2", seen)
			}
			normals.missing(t)
		})
	}
}
