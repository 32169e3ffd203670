package output

import (
	"bytes"
	"encoding/binary"
	"io"

	"github.com/klauspost/compress/flate"
)

// compressors lends deflate writers to the senders, at most n of them (one per CPU): a writer
// holds about 0.9 MiB of match tables and history at level 1 (1.3 MiB at level 3), no
// more of them can run at once than there are CPUs, and a sender needs one only while it
// compresses, not while its post waits on the network or its retries back off. One writer
// per sender kept four of them (5 MiB) for the life of the process, more than the whole
// queue the memory budget gives the collector.
type compressors struct {
	level int
	free  chan *flate.Writer // nil entries: a writer not made yet
}

var newline = []byte{'\n'}

func newCompressors(level, n int) *compressors {
	c := &compressors{level: level, free: make(chan *flate.Writer, max(n, 1))}
	for range cap(c.free) {
		c.free <- nil
	}
	return c
}

// compress sets dst to the zlib stream (RFC 1950) of the NDJSON of msgs (each message
// followed by a newline), waiting for a writer if all are in use. The messages go into
// the compressor as they are, not joined first: the writer copies them into its window
// anyway, and the joined copy was one more pass over every byte and a second buffer of
// the bundle's size per sender.
//
// The stream is framed here rather than by klauspost's zlib.Writer, the same bytes (its
// header for the level, the deflate stream, the Adler-32 big-endian; TestCompressSameAsZlib)
// with the checksum taken by adler32Update, twice hash/adler32's speed: hash/adler32 was
// 0.23 of the 1.84 CPU-s compressing took in a profile of the bench workload posted.
func (c *compressors) compress(dst *bytes.Buffer, msgs [][]byte) {
	fw := <-c.free
	if fw == nil {
		fw, _ = flate.NewWriter(io.Discard, c.level) // the level is checked by setDefaults
	}
	dst.Reset()
	dst.Write(zlibHeader(c.level))
	fw.Reset(dst)
	sum := uint32(1)
	for _, m := range msgs { // a bytes.Buffer does not fail
		fw.Write(m)
		fw.Write(newline)
		sum = adler32Update(adler32Update(sum, m), newline)
	}
	fw.Close()
	dst.Write(binary.BigEndian.AppendUint32(nil, sum))
	fw.Reset(io.Discard) // do not keep dst alive
	c.free <- fw
}

// zlibHeader is the two bytes before the deflate stream: CM 8 (deflate) with a 32 KiB
// window, FLEVEL as zlib (and klauspost's zlib.Writer) set it for level, and FCHECK.
func zlibHeader(level int) []byte {
	var flevel byte
	switch {
	case level <= 1:
		flevel = 0
	case level <= 5:
		flevel = 1
	case level == 6:
		flevel = 2
	default:
		flevel = 3
	}
	h := []byte{0x78, flevel << 6}
	h[1] += byte(31 - binary.BigEndian.Uint16(h)%31)
	return h
}
