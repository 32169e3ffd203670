package reassembly

import (
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"sniffer/capture"
	"sniffer/model"
)

// jsonOf returns a JSON document of about n bytes.
func jsonOf(n int) string {
	var b strings.Builder
	b.WriteString(`{"items":[`)
	for i := 0; b.Len() < n-40; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":%d,"name":"item-%d","ok":true}`, i, i*7)
	}
	b.WriteString(`]}`)
	return b.String()
}

// benchConv is one keep-alive connection from the given client port with a mix of
// calls like the workload's: a small JSON GET, a 16 KiB JSON GET, a 64 KiB JSON sent
// gzip'd and chunked, and a POST. It returns the conversation and its number of calls.
func benchConv(port int) (*conv, int) {
	small, medium, large := jsonOf(200), jsonOf(16<<10), jsonOf(64<<10)
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write([]byte(large))
	zw.Close()
	gz := "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n" + string(chunked(z.Bytes(), 8192))
	c := newConv(fmt.Sprintf("10.0.0.1:%d", port), "10.0.0.2:80", uint32(port)*7919, 1).handshake()
	c.mss = 1448
	n := 0
	for i := 0; i < 5; i++ {
		c.req("GET /small.json?i=" + fmt.Sprint(i) + " HTTP/1.1\r\nHost: bench\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n")
		c.resp("HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: application/json\r\nContent-Length: " + fmt.Sprint(len(small)) + "\r\nConnection: keep-alive\r\n\r\n" + small)
		c.req("GET /medium.json HTTP/1.1\r\nHost: bench\r\nUser-Agent: wrk\r\n\r\n")
		c.resp(status(200, medium))
		c.req("GET /large.json HTTP/1.1\r\nHost: bench\r\nAccept-Encoding: gzip\r\n\r\n")
		c.resp(gz)
		c.req(post("/api/orders", `{"order":`+fmt.Sprint(i)+`,"items":[1,2,3],"note":"benchmark"}`))
		c.resp(status(201, `{"id":1}`))
		n += 4
	}
	c.close()
	return c, n
}

// BenchmarkAssemble feeds keep-alive connections (capture decoder, reassembly, HTTP
// parsing, pairing) to one long-lived Assembler, one connection per iteration, 200 ms
// of capture time apart (closedKeep more each time the 32 come again), and reports
// calls per second and allocations per call; "decoded" also content-decodes the
// bodies, as sniffer does by default.
func BenchmarkAssemble(b *testing.B) {
	const conns = 32
	var pkts [conns][]packet
	var ncalls int
	var bytesIn int64
	for i := range pkts {
		c, n := benchConv(40000 + i)
		pkts[i], ncalls = c.packets(linkEthernet), n
	}
	for _, p := range pkts[0] {
		bytesIn += int64(len(p.data))
	}
	for _, decode := range []bool{false, true} {
		name := "raw"
		if decode {
			name = "decoded"
		}
		b.Run(name, func(b *testing.B) {
			dec := capture.NewDecoder()
			cfg := DefaultConfig()
			got := 0
			emit := func(call *model.Call) {
				got++
				if decode {
					call.Request.Decode(cfg.MaxBodyBytes)
					if call.Response != nil {
						call.Response.Decode(cfg.MaxBodyBytes)
					}
				}
			}
			a := New(cfg, emit)
			b.SetBytes(bytesIn)
			b.ReportAllocs()
			var ms0, ms1 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				// The connections come again every 32 iterations with the same
				// ports and sequence numbers: past closedKeep, and after a Tick that
				// forgets the ended ones, or they are dropped as copies of them.
				shift := time.Duration(i)*200*time.Millisecond + time.Duration(i/conns)*(closedKeep+time.Second)
				if i > 0 && i%conns == 0 {
					a.Tick(pkts[0][0].ci.Timestamp.Add(shift))
				}
				for _, p := range pkts[i%conns] {
					ci := p.ci
					ci.Timestamp = ci.Timestamp.Add(shift)
					dec.Decode(p.data, ci, 1, a.Packet)
				}
			}
			a.Close()
			b.StopTimer()
			runtime.ReadMemStats(&ms1)
			if got != ncalls*b.N {
				b.Fatalf("%d calls, want %d", got, ncalls*b.N)
			}
			if open := a.Stats().StreamsOpen.Load(); open != 0 {
				b.Fatalf("%d streams left open", open)
			}
			b.ReportMetric(float64(got)/b.Elapsed().Seconds(), "calls/s")
			b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(got), "allocs/call")
		})
	}
}
