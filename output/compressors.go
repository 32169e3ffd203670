package output

import (
	"bytes"
	"io"

	"github.com/klauspost/compress/zlib"
)

// compressors lends zlib writers to the senders, at most n of them (one per CPU): a writer
// holds about 0.9 MiB of match tables and history at level 1 (1.3 MiB at level 3), no
// more of them can run at once than there are CPUs, and a sender needs one only while it
// compresses, not while its post waits on the network or its retries back off. One writer
// per sender kept four of them (5 MiB) for the life of the process, more than the whole
// queue the memory budget gives the collector.
type compressors struct {
	level int
	free  chan *zlib.Writer // nil entries: a writer not made yet
}

var newline = []byte{'\n'}

func newCompressors(level, n int) *compressors {
	c := &compressors{level: level, free: make(chan *zlib.Writer, max(n, 1))}
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
func (c *compressors) compress(dst *bytes.Buffer, msgs [][]byte) {
	zw := <-c.free
	if zw == nil {
		zw, _ = zlib.NewWriterLevel(io.Discard, c.level) // the level is checked by setDefaults
	}
	dst.Reset()
	zw.Reset(dst)
	for _, m := range msgs { // a bytes.Buffer does not fail
		zw.Write(m)
		zw.Write(newline)
	}
	zw.Close()
	zw.Reset(io.Discard) // do not keep dst alive
	c.free <- zw
}
