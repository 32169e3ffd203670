package output

import (
	"hash/adler32"
	"math/rand/v2"
	"testing"
)

// Every length up to a few words past adlerNmax, of bytes all 0xff (the largest sums) and
// random, whole and split at a random point, against hash/adler32.
func TestAdler32Same(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, fill := range []string{"ff", "random"} {
		buf := make([]byte, 3*adlerNmax+40)
		for i := range buf {
			if fill == "ff" {
				buf[i] = 0xff
			} else {
				buf[i] = byte(rng.Uint32())
			}
		}
		for n := 0; n <= len(buf); n += 1 + n/64 {
			p := buf[:n]
			want := adler32.Checksum(p)
			if got := adler32Update(1, p); got != want {
				t.Fatalf("%s, %d bytes: %08x, want %08x", fill, n, got, want)
			}
			cut := 0
			if n > 0 {
				cut = rng.IntN(n + 1)
			}
			if got := adler32Update(adler32Update(1, p[:cut]), p[cut:]); got != want {
				t.Fatalf("%s, %d bytes cut at %d: %08x, want %08x", fill, n, cut, got, want)
			}
		}
	}
}

func BenchmarkAdler32(b *testing.B) {
	p := make([]byte, 200<<10)
	for i := range p {
		p[i] = byte(i * 7)
	}
	b.Run("hash-adler32", func(b *testing.B) {
		b.SetBytes(int64(len(p)))
		for b.Loop() {
			adler32.Checksum(p)
		}
	})
	b.Run("sniffer", func(b *testing.B) {
		b.SetBytes(int64(len(p)))
		for b.Loop() {
			adler32Update(1, p)
		}
	})
}

func FuzzAdler32Same(f *testing.F) {
	f.Add([]byte("Wikipedia"), 3)
	f.Add(make([]byte, 100), 50)
	f.Fuzz(func(t *testing.T, p []byte, cut int) {
		if cut < 0 || cut > len(p) {
			cut = len(p) / 2
		}
		want := adler32.Checksum(p)
		if got := adler32Update(adler32Update(1, p[:cut]), p[cut:]); got != want {
			t.Fatalf("%d bytes cut at %d: %08x, want %08x", len(p), cut, got, want)
		}
	})
}
