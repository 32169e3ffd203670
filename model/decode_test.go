package model

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
)

func compress(t testing.TB, enc string, plain []byte) []byte {
	var b bytes.Buffer
	var w io.WriteCloser
	switch enc {
	case "gzip":
		w = gzip.NewWriter(&b)
	case "deflate": // zlib-wrapped, as RFC 9110 means it
		w = zlib.NewWriter(&b)
	case "raw-deflate": // what some servers send as "deflate"
		w, _ = flate.NewWriter(&b, flate.BestSpeed)
	case "br":
		w = brotli.NewWriter(&b)
	case "zstd":
		zw, err := zstd.NewWriter(&b)
		if err != nil {
			t.Fatal(err)
		}
		w = zw
	default:
		t.Fatalf("no encoder for %s", enc)
	}
	if _, err := w.Write(plain); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestDecodeBodies(t *testing.T) {
	plain := []byte(`{"items":[` + strings.Repeat(`{"id":1,"name":"compressible"},`, 200) + `{}]}`)
	for _, enc := range []string{"gzip", "deflate", "raw-deflate", "br", "zstd"} {
		t.Run(enc, func(t *testing.T) {
			header := enc
			if enc == "raw-deflate" {
				header = "deflate"
			}
			m := decodedBody(t, header, compress(t, enc, plain), 1<<20)
			if m.DecodeError != "" || !m.Decoded || !bytes.Equal(m.Body, plain) || m.Truncated {
				t.Errorf("decoded %v, error %q, truncated %v, %d bytes (want %d)", m.Decoded, m.DecodeError, m.Truncated, len(m.Body), len(plain))
			}
			if m.Get("Content-Encoding") != header {
				t.Errorf("original headers changed: %v", m.Headers)
			}
		})
	}
	t.Run("stacked", func(t *testing.T) {
		body := compress(t, "gzip", compress(t, "br", plain))
		m := decodedBody(t, "br, identity, gzip", body, 1<<20)
		if !bytes.Equal(m.Body, plain) {
			t.Errorf("stacked codings: error %q, %d bytes", m.DecodeError, len(m.Body))
		}
	})
	t.Run("corrupt body left as captured", func(t *testing.T) {
		body := []byte("\x1f\x8b\x08\x00garbage that is not gzip")
		m := decodedBody(t, "gzip", body, 1<<20)
		if m.Decoded || m.DecodeError == "" || !bytes.Equal(m.Body, body) {
			t.Errorf("decoded %v error %q body %q", m.Decoded, m.DecodeError, m.Body)
		}
	})
	t.Run("unknown coding left as captured", func(t *testing.T) {
		m := decodedBody(t, "compress", []byte("LZW"), 1<<20)
		if m.Decoded || m.DecodeError == "" || string(m.Body) != "LZW" {
			t.Errorf("decoded %v error %q body %q", m.Decoded, m.DecodeError, m.Body)
		}
	})
}

// TestDecodeBomb: 64 MiB of zeros compress to a few hundred KiB; decoding keeps only the
// limit and marks the body truncated, without allocating the gigabyte.
func TestDecodeBomb(t *testing.T) {
	for _, enc := range []string{"gzip", "zstd", "br"} {
		t.Run(enc, func(t *testing.T) {
			var b bytes.Buffer
			var w io.WriteCloser
			switch enc {
			case "gzip":
				w, _ = gzip.NewWriterLevel(&b, gzip.BestSpeed)
			case "zstd":
				w, _ = zstd.NewWriter(&b, zstd.WithEncoderLevel(zstd.SpeedFastest))
			case "br":
				w = brotli.NewWriterLevel(&b, 1)
			}
			zeros := make([]byte, 1<<20)
			n := 64 // MiB of zeros: enough to show the cap, quick to build
			for i := 0; i < n; i++ {
				w.Write(zeros)
			}
			w.Close()
			const limit = 64 << 10
			m := decodedBody(t, enc, b.Bytes(), limit)
			if !m.Decoded || !m.Truncated || len(m.Body) != limit {
				t.Errorf("%d MiB bomb (%d bytes on the wire): decoded %v truncated %v, kept %d bytes, error %q", n, b.Len(), m.Decoded, m.Truncated, len(m.Body), m.DecodeError)
			}
		})
	}
}

// TestDecodeTruncatedOnTheWire: a gzip body cut at the body limit decodes as far as it
// goes.
func TestDecodeTruncatedOnTheWire(t *testing.T) {
	plain := []byte(strings.Repeat("not so compressible 0123456789 abcdefghij ", 2000))
	z := compress(t, "gzip", plain)
	m := &Message{Headers: []Header{{Name: "Content-Encoding", Value: "gzip"}}, Body: z[:len(z)/2], BodySize: int64(len(z)), Truncated: true}
	m.Decode(1 << 20)
	if !m.Decoded || !m.Truncated || len(m.Body) == 0 || !bytes.HasPrefix(plain, m.Body) {
		t.Errorf("decoded %v truncated %v, %d bytes, error %q", m.Decoded, m.Truncated, len(m.Body), m.DecodeError)
	}
}

// decodedBody decodes body as a response whose Content-Encoding header is enc.
func decodedBody(t *testing.T, enc string, body []byte, limit int64) *Message {
	t.Helper()
	m := &Message{Headers: []Header{{Name: "Content-Encoding", Value: enc}}, Body: body, BodySize: int64(len(body))}
	m.Decode(limit)
	return m
}

// BenchmarkDecodeCodings decodes a small JSON body in each coding, one after another on
// the same goroutine, as a pipeline worker does (the decoders are pooled).
func BenchmarkDecodeCodings(b *testing.B) {
	body := bytes.Repeat([]byte(`{"id":1,"name":"user00001","email":"user00001@example.com"},`), 30)
	for _, enc := range []string{"gzip", "deflate", "raw-deflate", "br", "zstd"} {
		coding, wire := enc, compress(b, enc, body)
		if enc == "raw-deflate" {
			coding = "deflate"
		}
		b.Run(enc, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				m := Message{Headers: []Header{{Name: "Content-Encoding", Value: coding}}, Body: wire}
				if a := m.Decode(1 << 20); len(a) > 1 || !bytes.Equal(m.Body, body) {
					b.Fatalf("%s: anomalies %v, %d bytes", coding, a, len(m.Body))
				}
			}
		})
	}
}

// TestCompressed: a body is compressed while Content-Encoding names a coding other than
// identity, Decode has not replaced it, and it is not UTF-8 text.
func TestCompressed(t *testing.T) {
	bin := "\x1f\x8b\x08"
	for _, tc := range []struct {
		ce      []string
		body    string
		decoded bool
		want    bool
	}{
		{nil, bin, false, false},
		{[]string{"identity"}, bin, false, false},
		{[]string{" Identity , "}, bin, false, false},
		{[]string{"gzip"}, bin, false, true},
		{[]string{"identity, GZIP"}, bin, false, true},
		{[]string{"identity", "br"}, bin, false, true},
		{[]string{"gzip"}, "", false, false},
		{[]string{"gzip"}, bin, true, false},
		{[]string{"gzip"}, `{"plain":"text labelled gzip"}`, false, false},
	} {
		m := Message{Body: []byte(tc.body), Decoded: tc.decoded}
		for _, v := range tc.ce {
			m.Headers = append(m.Headers, Header{Name: "content-encoding", Value: v})
		}
		if got := m.Compressed(); got != tc.want {
			t.Errorf("%+v: Compressed %v, want %v", tc, got, tc.want)
		}
	}
}
