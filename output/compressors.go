package output

import (
	"bytes"
	"io"

	"github.com/klauspost/compress/zlib"
)

// compressors lends zlib writers to the senders, at most n of them (one per CPU): a writer
// holds about 1.2 MiB of match tables and history at level 3, no more of them can run at
// once than there are CPUs, and a sender needs one only while it compresses, not while its
// post waits on the network or its retries back off. One writer per sender kept four of
// them (5 MiB) for the life of the process, more than the whole queue the memory budget
// gives the collector.
type compressors struct {
	level int
	free  chan *zlib.Writer // nil entries: a writer not made yet
}

func newCompressors(level, n int) *compressors {
	c := &compressors{level: level, free: make(chan *zlib.Writer, max(n, 1))}
	for range cap(c.free) {
		c.free <- nil
	}
	return c
}

// compress sets dst to the zlib stream (RFC 1950) of src, waiting for a writer if all are
// in use.
func (c *compressors) compress(dst *bytes.Buffer, src []byte) {
	zw := <-c.free
	if zw == nil {
		zw, _ = zlib.NewWriterLevel(io.Discard, c.level) // the level is checked by setDefaults
	}
	dst.Reset()
	zw.Reset(dst)
	zw.Write(src) // a bytes.Buffer does not fail
	zw.Close()
	zw.Reset(io.Discard) // do not keep dst alive
	c.free <- zw
}
