package model

import (
	"bytes"
	stdgzip "compress/gzip"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"
)

// inflateSame checks the fast path against the streaming decoder on b: when inflateGzip
// takes a body, the streaming decoder must decode it to the same bytes, whole, with
// nothing odd; when it does not, nothing is lost (decodeOne goes on to the stream).
func inflateSame(t testing.TB, b []byte, limit int64) (taken bool) {
	t.Helper()
	fast, ok := inflateGzip(b, limit)
	if !ok {
		return false
	}
	want, cut, odd, err := decodeStream("gzip", b, limit)
	if err != nil || cut || odd != "" || !bytes.Equal(fast, want) {
		t.Fatalf("inflateGzip took a body the streaming decoder reads as %d bytes, cut %v, odd %q, err %v; fast %d bytes, equal %v",
			len(want), cut, odd, err, len(fast), bytes.Equal(fast, want))
	}
	return true
}

func samplePlains() map[string][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 40_000)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	var js strings.Builder
	js.WriteString(`{"items":[`)
	for i := range 400 {
		fmt.Fprintf(&js, `{"id":%d,"name":"user%05d","email":"user%05d@example.com","score":%v},`, i, i, i, rng.Float64())
	}
	js.WriteString(`{}]}`)
	text := make([]byte, 30_000)
	for i := range text {
		text[i] = "abcab  \n"[rng.IntN(8)]
	}
	return map[string][]byte{
		"one":     []byte("x"),
		"short":   []byte("hello, hello, hello world"),
		"json":    []byte(js.String()),
		"random":  random,
		"text":    text,
		"zeros":   make([]byte, 70_000),
		"runs":    bytes.Repeat([]byte("abcdefg"), 10_000),
		"mixed":   append(append([]byte(js.String()), random[:20_000]...), make([]byte, 40_000)...),
		"pattern": bytes.Repeat([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9}, 4_000),
	}
}

// TestInflateGzipSame: bodies gzip'd by klauspost's and Go's encoders at every level
// (stored, Huffman only, fixed and dynamic blocks) are taken by the fast path and decode
// to the original bytes; cut, damaged, followed by junk or by a second member, with a
// header it does not read, or over the limit, they are left to the streaming decoder.
func TestInflateGzipSame(t *testing.T) {
	for name, plain := range samplePlains() {
		for _, enc := range []string{"klauspost", "stdlib"} {
			for level := -2; level <= 9; level++ {
				var buf bytes.Buffer
				switch enc {
				case "klauspost":
					w, err := gzip.NewWriterLevel(&buf, level)
					if err != nil {
						continue
					}
					w.Write(plain)
					w.Close()
				default:
					w, err := stdgzip.NewWriterLevel(&buf, level)
					if err != nil {
						continue
					}
					w.Write(plain)
					w.Close()
				}
				b := buf.Bytes()
				out, ok := inflateGzip(b, 1<<20)
				if !ok || !bytes.Equal(out, plain) {
					t.Errorf("%s, %s level %d: fast path %v, equal %v", name, enc, level, ok, bytes.Equal(out, plain))
					continue
				}
				inflateSame(t, b, 1<<20)
				if _, ok := inflateGzip(b, int64(len(plain)-1)); ok {
					t.Errorf("%s, %s level %d: taken over the limit", name, enc, level)
				}
				for _, bad := range map[string][]byte{
					"cut":         b[:len(b)-1],
					"cut deflate": append(append([]byte{}, b[:len(b)/2]...), b[len(b)-8:]...),
					"junk after":  append(append([]byte{}, b...), 'x'),
					"two members": append(append([]byte{}, b...), b...),
					"bad crc":     append(append([]byte{}, b[:len(b)-8]...), b[len(b)-8]^1, b[len(b)-7], b[len(b)-6], b[len(b)-5], b[len(b)-4], b[len(b)-3], b[len(b)-2], b[len(b)-1]),
					"name":        append([]byte{0x1f, 0x8b, 8, 8, 0, 0, 0, 0, 0, 3, 'a', 0}, b[10:]...),
				} {
					if _, ok := inflateGzip(bad, 1<<20); ok {
						t.Errorf("%s, %s level %d: fast path took a body %s", name, enc, level, bad)
					}
				}
				// Damage anywhere: whatever the fast path takes, the stream reads the same.
				rng := rand.New(rand.NewPCG(uint64(level+3), uint64(len(b))))
				for range 12 {
					d := append([]byte{}, b...)
					d[10+rng.IntN(len(d)-18)] ^= byte(1 + rng.IntN(255))
					inflateSame(t, d, 1<<20)
				}
			}
		}
	}
}

// FuzzInflateGzip takes a raw deflate stream, wraps it as a gzip member whose trailer
// fits what the streaming decoder makes of it, and checks the fast path against it.
func FuzzInflateGzip(f *testing.F) {
	for _, plain := range samplePlains() {
		for _, level := range []int{-2, 0, 1, 6, 9} {
			var buf bytes.Buffer
			w, _ := flate.NewWriter(&buf, level)
			w.Write(plain[:min(len(plain), 2000)])
			w.Close()
			f.Add(buf.Bytes())
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		out, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(raw)), 1<<20))
		gz := append([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3}, raw...)
		gz = binary.LittleEndian.AppendUint32(gz, crc32.ChecksumIEEE(out))
		gz = binary.LittleEndian.AppendUint32(gz, uint32(len(out)))
		taken := inflateSame(t, gz, 1<<20)
		if err != nil && taken {
			t.Fatalf("taken, but the stream fails: %v", err)
		}
	})
}

// BenchmarkInflateGzip: a JSON body gzip'd at level 1 (nginx's gzip_comp_level default),
// by the streaming decoder and by the fast path.
func BenchmarkInflateGzip(b *testing.B) {
	plain := samplePlains()["json"]
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, 1)
	w.Write(plain)
	w.Close()
	gz := buf.Bytes()
	b.Run("stream", func(b *testing.B) {
		b.SetBytes(int64(len(plain)))
		for b.Loop() {
			out, _, _, err := decodeStream("gzip", gz, 1<<20)
			if err != nil {
				b.Fatal(err)
			}
			RecycleBody(out)
		}
	})
	b.Run("fast", func(b *testing.B) {
		b.SetBytes(int64(len(plain)))
		for b.Loop() {
			out, ok := inflateGzip(gz, 1<<20)
			if !ok {
				b.Fatal("not taken")
			}
			RecycleBody(out)
		}
	})
}
