package output

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"sniffer/model"

	"github.com/klauspost/compress/zlib"

	"sniffer/internal/testenv"
)

// benchCall is a typical API call: a dozen headers each way and a ~1 KiB JSON response
// whose ids, names, prices and trace token vary from call to call (deterministically), so
// the compression figures are not flattered by identical messages.
func benchCall(i int) *model.Call {
	rng := rand.New(rand.NewPCG(uint64(i), 42))
	names := []string{"Ada Lovelace", "Grace Hopper", "Alan Turing", "Edsger Dijkstra", "Barbara Liskov", "Donald Knuth", "Frances Allen", "Ken Thompson"}
	c := &model.Call{
		Start:  t0.Add(time.Duration(i) * time.Millisecond),
		End:    t0.Add(time.Duration(i)*time.Millisecond + time.Duration(1+rng.IntN(40))*time.Millisecond),
		Client: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(rng.IntN(8)), byte(1 + rng.IntN(250))}), uint16(30000+rng.IntN(30000))),
		Server: netip.MustParseAddrPort("10.0.0.2:80"),
		URL:    fmt.Sprintf("http://api.internal/v1/orders/%d?expand=items&page=%d", 100000+rng.IntN(900000), 1+rng.IntN(20)),
		VNI:    -1,
	}
	c.Request.Method, c.Request.Proto = "GET", "HTTP/1.1"
	c.Request.Headers = []model.Header{
		{Name: "Host", Value: "api.internal"}, {Name: "User-Agent", Value: "okhttp/4.12.0"},
		{Name: "Accept", Value: "application/json"}, {Name: "Accept-Encoding", Value: "gzip"},
		{Name: "Authorization", Value: fmt.Sprintf("Bearer eyJhbGciOiJIUzI1NiJ9.%016x%016x.%016x", rng.Uint64(), rng.Uint64(), rng.Uint64())},
		{Name: "X-Request-Id", Value: fmt.Sprintf("%016x%016x", rng.Uint64(), rng.Uint64())}, {Name: "Connection", Value: "keep-alive"},
	}
	body := fmt.Appendf(nil, `{"id":%d,"status":"%s","trace":"%016x","customer":{"id":"c-%d","name":"%s","email":"user%d@example.com"},"items":[`,
		rng.IntN(1e9), []string{"new", "paid", "shipped", "returned"}[rng.IntN(4)], rng.Uint64(), rng.IntN(1e6), names[rng.IntN(len(names))], rng.IntN(1e5))
	for k := 0; k < 2+rng.IntN(6); k++ {
		body = fmt.Appendf(body, `{"sku":"SKU-%05d","qty":%d,"price":"%d.%02d","title":"Widget model %d"},`, rng.IntN(99999), 1+rng.IntN(9), rng.IntN(500), rng.IntN(100), rng.IntN(1000))
	}
	body = fmt.Appendf(body[:len(body)-1], `],"total":"%d.%02d","currency":"EUR","created":"2026-11-30T09:%02d:%02dZ"}`, rng.IntN(5000), rng.IntN(100), rng.IntN(60), rng.IntN(60))
	c.Response = &model.Response{Status: 200, Reason: "OK"}
	c.Response.Proto = "HTTP/1.1"
	c.Response.Headers = []model.Header{
		{Name: "Server", Value: "nginx/1.26.0"}, {Name: "Date", Value: c.Start.Format(http.TimeFormat)},
		{Name: "Content-Type", Value: "application/json"}, {Name: "Content-Length", Value: fmt.Sprint(len(body))},
		{Name: "Connection", Value: "keep-alive"}, {Name: "Cache-Control", Value: "no-store"},
	}
	c.Response.Body, c.Response.BodySize, c.Response.Decoded = body, int64(len(body)), true
	return c
}

func BenchmarkResurfaceEncode(b *testing.B) {
	c := benchCall(1)
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendResurfaceJSON(buf[:0], Resurface(c, "sniffer", "1.0.0"))
	}
	b.SetBytes(int64(len(buf)))
}

// BenchmarkBundleCompress: encode 1000 calls into one NDJSON bundle and zlib it, per level.
func BenchmarkBundleCompress(b *testing.B) {
	calls := make([]*model.Call, 1000)
	for i := range calls {
		calls[i] = benchCall(i)
	}
	for _, level := range []int{zlib.BestSpeed, 3, zlib.DefaultCompression} {
		b.Run(fmt.Sprintf("level=%d", level), func(b *testing.B) {
			var raw []byte
			var z bytes.Buffer
			zw, _ := zlib.NewWriterLevel(&z, level)
			b.ReportAllocs()
			for b.Loop() {
				raw = raw[:0]
				for _, c := range calls {
					raw = AppendResurfaceJSON(raw, Resurface(c, "sniffer", "1.0.0"))
					raw = append(raw, '\n')
				}
				z.Reset()
				zw.Reset(&z)
				zw.Write(raw)
				zw.Close()
			}
			b.ReportMetric(float64(len(raw))/1000, "raw_B/call")
			b.ReportMetric(float64(z.Len())/1000, "wire_B/call")
			b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "calls/s")
		})
	}
}

// BenchmarkPosterLoopback measures calls per second through the whole Poster (encode,
// bundle, compress, post) to a loopback net/http collector that reads each body and
// answers 204, and the bytes on the wire per call.
func BenchmarkPosterLoopback(b *testing.B) {
	for _, level := range []int{1, 3, 6} {
		b.Run(fmt.Sprintf("level=%d", level), func(b *testing.B) { benchPoster(b, level) })
	}
}

func benchPoster(b *testing.B, level int) {
	var wire, posts atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		wire.Add(n)
		posts.Add(1)
		w.WriteHeader(204)
	})}
	go srv.Serve(ln)
	defer srv.Close()
	calls := make([]*model.Call, 1024)
	for i := range calls {
		calls[i] = benchCall(i)
	}
	p, err := NewPoster(PostConfig{URL: "http://" + ln.Addr().String() + "/message", Compress: true, CompressLevel: level,
		Agent: "sniffer", Version: "1.0.0", QueueSize: 1 << 16})
	if err != nil {
		b.Fatal(err)
	}
	cpu0 := testenv.CPUTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.Write(calls[i%len(calls)])
		if i%4096 == 4095 { // pace to the senders rather than measure drops
			for p.Stats().Queued > 1<<15 {
				time.Sleep(time.Millisecond)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := p.Close(ctx)
	b.StopTimer()
	if err != nil || s.Delivered != int64(b.N) {
		b.Fatalf("%v %v", s, err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
	b.ReportMetric(float64(wire.Load())/float64(b.N), "wire_B/call")
	b.ReportMetric(float64(posts.Load()), "posts")
	// CPU per call holds up on a busy machine where calls/s does not; it includes the
	// in-process collector's share (reading the bodies), a few percent.
	b.ReportMetric(float64((testenv.CPUTime()-cpu0).Microseconds())/float64(b.N), "cpu_us/call")
}
