package output

import (
	"bytes"
	"encoding/base64"
	"math/rand/v2"
	"testing"
)

// FuzzBase64Same: appendBase64 writes what encoding/base64 does, after what dst held.
func FuzzBase64Same(f *testing.F) {
	for _, s := range []string{"", "a", "ab", "abc", "abcdefgh", "\x00\xff\x10\x83\xfe\x7f\x80\x01\x02", "hello, world, and more"} {
		f.Add([]byte(s), 3)
	}
	f.Fuzz(func(t *testing.T, src []byte, prefix int) {
		pre := bytes.Repeat([]byte{'p'}, prefix&15)
		want := base64.StdEncoding.AppendEncode(bytes.Clone(pre), src)
		if got := appendBase64(bytes.Clone(pre), src); !bytes.Equal(got, want) {
			t.Fatalf("appendBase64(%x) = %q, encoding/base64 %q", src, got, want)
		}
	})
}

// Every length up to 64, random bytes: each tail the words leave.
func TestBase64Lengths(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for n := range 65 {
		src := make([]byte, n)
		for i := range src {
			src[i] = byte(rng.Uint32())
		}
		if got, want := appendBase64([]byte("x"), src), base64.StdEncoding.AppendEncode([]byte("x"), src); !bytes.Equal(got, want) {
			t.Fatalf("%d bytes: %q, want %q", n, got, want)
		}
	}
}

// BenchmarkBase64 encodes a 16 KiB compressed-looking body with appendBase64 and with
// encoding/base64, side by side.
func BenchmarkBase64(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	src := make([]byte, 16<<10)
	for i := range src {
		src[i] = byte(rng.Uint32())
	}
	for _, enc := range []struct {
		name string
		f    func(dst, src []byte) []byte
	}{{"pairs", appendBase64}, {"stdlib", base64.StdEncoding.AppendEncode}} {
		b.Run(enc.name, func(b *testing.B) {
			b.SetBytes(int64(len(src)))
			dst := make([]byte, 0, 2*len(src))
			for b.Loop() {
				dst = enc.f(dst[:0], src)
			}
		})
	}
}
