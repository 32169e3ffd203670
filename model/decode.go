package model

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"unicode/utf8"
	"unsafe"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"

	"sniffer/internal/bufpool"
)

// Decode replaces the body with its content-decoded form when Content-Encoding names
// gzip, deflate, br or zstd (stacked codings are undone last first). At most limit
// decoded bytes are kept, so a compression bomb costs no more than a large body;
// Truncated is set when the decoded body was cut. The original headers are not changed.
//
// It decodes what a browser would show: Chromium and Firefox check neither the gzip CRC
// and length nor the zlib checksum, and show what decoded before a stream that stops
// short or is followed by junk, so the bytes before a damaged trailer are kept and the
// damage is returned as an anomaly. A body that was cut on the wire is decoded as far as
// it goes. When nothing decodes (or a coding is unknown) the body is left as captured,
// DecodeError says why, and the anomalies say so.
func (m *Message) Decode(limit int64) (anomalies []string) {
	if !m.Decodes() {
		return nil
	}
	codings := HeaderTokens(m.Headers, "Content-Encoding")
	add := func(a string) {
		if !slices.Contains(anomalies, a) {
			anomalies = append(anomalies, a)
		}
	}
	if len(codings)-countOf(codings, "identity") > 1 {
		add(SeveralEncodings)
	}
	body := m.Body
	truncated := false
	for i := len(codings) - 1; i >= 0; i-- {
		if codings[i] == "identity" {
			continue
		}
		out, cut, odd, err := decodeOne(codings[i], body, limit)
		if err != nil && len(out) == 0 {
			m.DecodeError = fmt.Sprintf("%s: %v", codings[i], err)
			if errors.Is(err, errUnknownCoding) {
				add(UnknownEncoding)
			}
			add(Undecodable)
			return anomalies
		}
		if err != nil && !m.Truncated {
			// Some bytes decoded before the error: keep them, as browsers show them.
			add(damage(err))
		}
		if odd != "" {
			add(odd)
		}
		if unsafe.SliceData(body) != unsafe.SliceData(m.Body) {
			RecycleBody(body) // a stacked coding's inner stream, decoded: the last step's input
		}
		body, truncated = out, truncated || cut
	}
	m.Body, m.Decoded = body, true
	m.Truncated = m.Truncated || truncated
	return anomalies
}

// Decodes tells whether Decode has work to do on m: a body not decoded yet and a
// Content-Encoding header naming some coding (identity included: Decode then marks the
// body Decoded, unchanged).
func (m *Message) Decodes() bool {
	if len(m.Body) == 0 || m.Decoded {
		return false
	}
	return hasTokenBut(m.Headers, "Content-Encoding", "")
}

func countOf(list []string, s string) int {
	n := 0
	for _, v := range list {
		if v == s {
			n++
		}
	}
	return n
}

var errUnknownCoding = errors.New("unknown content coding")

// damage names what stopped a decoder that had already produced bytes.
func damage(err error) string {
	switch {
	case errors.Is(err, gzip.ErrChecksum):
		return BadGzipTrailer
	case errors.Is(err, zlib.ErrChecksum):
		return BadDeflateTrailer
	case errors.Is(err, io.ErrUnexpectedEOF):
		return TruncatedCompression
	}
	var corrupt flate.CorruptInputError
	if errors.As(err, &corrupt) {
		return TruncatedCompression
	}
	return JunkAfterCompression
}

// gzipMembers reads a gzip body member by member, so that bytes after the last member
// that are not another member end the body (as Chromium's GzipSourceStream ignores them)
// instead of failing it; odd is set to JunkAfterCompression then.
type gzipMembers struct {
	zr   *gzip.Reader
	rest *bytes.Reader // what the members are read from (a flate.Reader: read exactly)
	odd  *string
}

func (g *gzipMembers) Read(p []byte) (int, error) {
	for {
		n, err := g.zr.Read(p)
		switch {
		case err != io.EOF:
			return n, err
		case n > 0:
			return n, nil // the member's end is looked past on the next call
		}
		var magic [2]byte
		if k, _ := g.rest.ReadAt(magic[:], g.rest.Size()-int64(g.rest.Len())); k < 2 || magic != [2]byte{0x1f, 0x8b} {
			if g.rest.Len() > 0 {
				*g.odd = JunkAfterCompression
			}
			return 0, io.EOF
		}
		if err := g.zr.Reset(g.rest); err != nil {
			return 0, err
		}
		g.zr.Multistream(false)
	}
}

// The decoders are kept between bodies (a 32 KiB window each for gzip and deflate, larger
// tables and buffers for brotli and zstd): making one per body cost more than many a
// small body's decoding.
var gzipReaders, zlibReaders, flateReaders, brotliReaders, zstdReaders sync.Pool

// decodeOne undoes one content coding. odd names an anomaly of a stream that decoded.
func decodeOne(coding string, b []byte, limit int64) (out []byte, cut bool, odd string, err error) {
	if coding == "gzip" || coding == "x-gzip" {
		if out, ok := inflateGzip(b, limit); ok {
			return out, false, "", nil
		}
	}
	return decodeStream(coding, b, limit)
}

// decodeStream is decodeOne with the streaming decoders, for any body.
func decodeStream(coding string, b []byte, limit int64) (out []byte, cut bool, odd string, err error) {
	var r io.Reader
	var size int64 // expected decoded size, when the format tells
	switch coding {
	case "gzip", "x-gzip":
		zr, _ := gzipReaders.Get().(*gzip.Reader)
		if zr == nil {
			zr = new(gzip.Reader)
		}
		defer gzipReaders.Put(zr)
		br := bytes.NewReader(b)
		if err := zr.Reset(br); err != nil {
			return nil, false, "", err
		}
		zr.Multistream(false)
		r = &gzipMembers{zr: zr, rest: br, odd: &odd}
		if n := len(b); n >= 18 {
			// The gzip trailer holds the uncompressed size (mod 2^32) of the last
			// member: size the buffer once.
			size = int64(binary.LittleEndian.Uint32(b[n-4:]))
		}
	case "deflate":
		// "deflate" is meant to be zlib-wrapped (RFC 9110 8.4.1.2), but some servers
		// send raw deflate: take the wrapper when it is there.
		if len(b) >= 2 && (uint16(b[0])<<8|uint16(b[1]))%31 == 0 && b[0]&0x0f == 8 {
			zr, _ := zlibReaders.Get().(io.ReadCloser)
			if zr == nil {
				var err error
				if zr, err = zlib.NewReader(bytes.NewReader(b)); err != nil {
					return nil, false, "", err
				}
			} else if err := zr.(zlib.Resetter).Reset(bytes.NewReader(b), nil); err != nil {
				zlibReaders.Put(zr)
				return nil, false, "", err
			}
			defer zlibReaders.Put(zr)
			r = zr
		} else {
			fr, _ := flateReaders.Get().(io.ReadCloser)
			if fr == nil {
				fr = flate.NewReader(bytes.NewReader(b))
			} else {
				_ = fr.(flate.Resetter).Reset(bytes.NewReader(b), nil) // never fails without a dictionary
			}
			defer flateReaders.Put(fr)
			r = fr
			odd = RawDeflate
		}
	case "br":
		br, _ := brotliReaders.Get().(*brotli.Reader)
		if br == nil {
			br = brotli.NewReader(bytes.NewReader(b))
		} else if err := br.Reset(bytes.NewReader(b)); err != nil {
			return nil, false, "", err
		}
		defer brotliReaders.Put(br)
		r = br
	case "zstd":
		zr, _ := zstdReaders.Get().(*zstd.Decoder)
		if zr == nil {
			var err error
			zr, err = zstd.NewReader(bytes.NewReader(b), zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(8<<20))
			if err != nil {
				return nil, false, "", err
			}
		} else if err := zr.Reset(bytes.NewReader(b)); err != nil {
			zstdReaders.Put(zr)
			return nil, false, "", err
		}
		defer zstdReaders.Put(zr)
		r = zr
	default:
		return nil, false, "", fmt.Errorf("%w %q", errUnknownCoding, coding)
	}
	if size <= 0 {
		size = 4*int64(len(b)) + 512
	}
	buf := bytes.NewBuffer(bufpool.Get(int(min(limit+1, size)) + bytes.MinRead)) // ReadFrom wants MinRead spare bytes
	n, err := io.Copy(buf, io.LimitReader(r, limit+1))
	if n > limit {
		return buf.Bytes()[:limit], true, odd, nil
	}
	return buf.Bytes(), false, odd, err
}

// Compressed tells whether m's body is still in a content coding: Content-Encoding names
// one other than identity, Decode has not replaced the body (decoding off, shed or
// failed), and the body is not UTF-8 text. Compressed streams are not (gzip's and zstd's
// magic bytes, zlib's header and entropy-coded bits are not valid UTF-8), while a body
// labelled gzip that is plain text, as some clients send, is text and is read as text.
// Such a body is not something the rules can read: see rules.Opaque.
func (m *Message) Compressed() bool {
	if len(m.Body) == 0 || m.Decoded || !m.encodingNamed() {
		return false
	}
	return !utf8.Valid(m.Body)
}

// encodingNamed tells whether Content-Encoding names a coding other than identity.
func (m *Message) encodingNamed() bool {
	return hasTokenBut(m.Headers, "Content-Encoding", "identity")
}
