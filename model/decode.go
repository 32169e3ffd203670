package model

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"sync"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
)

// Decode replaces the body with its content-decoded form when Content-Encoding names
// gzip, deflate, br or zstd (stacked codings are undone last first). At most limit
// decoded bytes are kept, so a compression bomb costs no more than a large body;
// Truncated is set when the decoded body was cut. A body that was cut on the wire is
// decoded as far as it goes. On failure the body is left as captured and DecodeError
// says why. The original headers are not changed.
func (m *Message) Decode(limit int64) {
	codings := HeaderTokens(m.Headers, "Content-Encoding")
	if len(codings) == 0 || len(m.Body) == 0 || m.Decoded {
		return
	}
	body := m.Body
	truncated := false
	for i := len(codings) - 1; i >= 0; i-- {
		if codings[i] == "identity" {
			continue
		}
		out, cut, err := decodeOne(codings[i], body, limit)
		if err != nil && !(m.Truncated && len(out) > 0) {
			m.DecodeError = fmt.Sprintf("%s: %v", codings[i], err)
			return
		}
		body, truncated = out, truncated || cut
	}
	m.Body, m.Decoded = body, true
	m.Truncated = m.Truncated || truncated
}

// gzipReaders keeps gzip readers (and their 32 KiB windows) between bodies.
var gzipReaders sync.Pool

func decodeOne(coding string, b []byte, limit int64) (out []byte, cut bool, err error) {
	var r io.Reader
	var size int64 // expected decoded size, when the format tells
	switch coding {
	case "gzip", "x-gzip":
		zr, _ := gzipReaders.Get().(*gzip.Reader)
		if zr == nil {
			zr = new(gzip.Reader)
		}
		defer gzipReaders.Put(zr)
		if err := zr.Reset(bytes.NewReader(b)); err != nil {
			return nil, false, err
		}
		r = zr
		if n := len(b); n >= 18 {
			// The gzip trailer holds the uncompressed size (mod 2^32) of the last
			// member: size the buffer once.
			size = int64(binary.LittleEndian.Uint32(b[n-4:]))
		}
	case "deflate":
		// "deflate" is meant to be zlib-wrapped (RFC 9110 8.4.1.2), but some servers
		// send raw deflate: take the wrapper when it is there.
		if len(b) >= 2 && (uint16(b[0])<<8|uint16(b[1]))%31 == 0 && b[0]&0x0f == 8 {
			zr, err := zlib.NewReader(bytes.NewReader(b))
			if err != nil {
				return nil, false, err
			}
			r = zr
		} else {
			r = flate.NewReader(bytes.NewReader(b))
		}
	case "br":
		r = brotli.NewReader(bytes.NewReader(b))
	case "zstd":
		zr, err := zstd.NewReader(bytes.NewReader(b), zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(8<<20))
		if err != nil {
			return nil, false, err
		}
		defer zr.Close()
		r = zr
	default:
		return nil, false, fmt.Errorf("unknown content coding %q", coding)
	}
	if size <= 0 {
		size = 4*int64(len(b)) + 512
	}
	var buf bytes.Buffer
	buf.Grow(int(min(limit+1, size)) + bytes.MinRead) // ReadFrom wants MinRead spare bytes
	n, err := io.Copy(&buf, io.LimitReader(r, limit+1))
	if n > limit {
		return buf.Bytes()[:limit], true, nil
	}
	return buf.Bytes(), false, err
}
