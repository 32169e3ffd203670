package model

import (
	"bytes"
	"encoding/binary"
	"slices"
	"strings"
	"testing"
)

// TestDecodeDamaged: each kind of damaged or unusual content coding, with what a browser
// shows (Chromium and Firefox check neither gzip's CRC and length nor zlib's checksum,
// and show what decoded before a stream that stops short) and the anomalies marked.
func TestDecodeDamaged(t *testing.T) {
	plain := []byte(strings.Repeat("the bytes a browser shows, ", 40))
	gz := compress(t, "gzip", plain)
	zl := compress(t, "deflate", plain)
	badCRC := slices.Clone(gz)
	badCRC[len(badCRC)-8] ^= 0xff
	badSize := slices.Clone(gz)
	binary.LittleEndian.PutUint32(badSize[len(badSize)-4:], 7)
	badAdler := slices.Clone(zl)
	badAdler[len(badAdler)-1] ^= 0xff
	for _, tc := range []struct {
		name, enc string
		body      []byte
		want      []byte // nil: the body is left as captured
		odd       []string
	}{
		{"gzip, CRC wrong", "gzip", badCRC, plain, []string{BadGzipTrailer}},
		{"gzip, length wrong", "gzip", badSize, plain, []string{BadGzipTrailer}},
		{"gzip, trailer missing", "gzip", gz[:len(gz)-8], plain, []string{TruncatedCompression}},
		{"gzip, junk after it", "gzip", append(slices.Clone(gz), "junk"...), plain, []string{JunkAfterCompression}},
		{"gzip, cut in the middle", "x-gzip", gz[:len(gz)/2], plain, []string{TruncatedCompression}},
		{"two gzip members", "gzip", append(slices.Clone(gz), gz...), append(slices.Clone(plain), plain...), nil},
		{"deflate, checksum wrong", "deflate", badAdler, plain, []string{BadDeflateTrailer}},
		{"deflate without the zlib wrapper", "deflate", compress(t, "raw-deflate", plain), plain, []string{RawDeflate}},
		{"gzip twice", "gzip, gzip", compress(t, "gzip", gz), plain, []string{SeveralEncodings}},
		{"two Content-Encoding fields", "gzip\x00gzip", compress(t, "gzip", gz), plain, []string{SeveralEncodings}},
		{"unknown coding", "compress", []byte("LZW bytes"), nil, []string{UnknownEncoding, Undecodable}},
		{"said gzip, is not", "gzip", plain, nil, []string{Undecodable}},
		{"identity is no coding", "identity, gzip", gz, plain, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &Message{Body: tc.body, BodySize: int64(len(tc.body))}
			for _, v := range strings.Split(tc.enc, "\x00") {
				m.Headers = append(m.Headers, Header{Name: "Content-Encoding", Value: v})
			}
			odd := m.Decode(1 << 20)
			if !slices.Equal(odd, tc.odd) {
				t.Errorf("anomalies %q, want %q", odd, tc.odd)
			}
			switch {
			case tc.want == nil && (m.Decoded || m.DecodeError == "" || !bytes.Equal(m.Body, tc.body)):
				t.Errorf("decoded %v error %q: the body should be left as captured", m.Decoded, m.DecodeError)
			case tc.want != nil && tc.name == "gzip, cut in the middle":
				if !m.Decoded || len(m.Body) == 0 || !bytes.HasPrefix(tc.want, m.Body) {
					t.Errorf("decoded %v error %q, %d bytes: want a prefix of the plain text", m.Decoded, m.DecodeError, len(m.Body))
				}
			case tc.want != nil && (!m.Decoded || !bytes.Equal(m.Body, tc.want)):
				t.Errorf("decoded %v error %q, %d bytes, want %d", m.Decoded, m.DecodeError, len(m.Body), len(tc.want))
			}
		})
	}
}

func TestCallMark(t *testing.T) {
	var c Call
	c.Mark("request", TEAndCL)
	c.Mark("response", BareLF)
	c.Mark("request", TEAndCL)
	if !slices.Equal(c.Anomalies, []string{"request:te-and-cl", "response:bare-lf"}) {
		t.Errorf("%q", c.Anomalies)
	}
	var n AnomalyCounts
	n.Add(c.Anomalies)
	n.Add(c.Anomalies[1:])
	counts, names := n.Snapshot()
	if !slices.Equal(names, c.Anomalies) || counts["response:bare-lf"] != 2 || counts["request:te-and-cl"] != 1 {
		t.Errorf("%v %v", counts, names)
	}
}
