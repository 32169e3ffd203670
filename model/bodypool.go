package model

import (
	"unsafe"

	"sniffer/internal/bufpool"
)

// Decode makes decoded bodies in buffers of internal/bufpool: a decoded body whose bytes
// nothing holds any more (the rules masked it into a new value, or removed it) is handed
// back with RecycleBody, and its buffer reused for a later body.

// RecycleBody files the buffer of b, a body Decode made (see DecodedBody), for a later
// body. Nothing may refer to b's bytes any more: the next body decoded may be written
// over them.
func RecycleBody(b []byte) { bufpool.Put(b) }

// DecodedBody returns m's body when Decode made it, in a buffer of its own that nothing
// else refers to (so that RecycleBody may take it once the body is no longer used), or
// nil when the body is not a decoder's output: nothing was decoded, or only identity.
// captured is the body m held before Decode.
func (m *Message) DecodedBody(captured []byte) []byte {
	if !m.Decoded || cap(m.Body) == 0 || unsafe.SliceData(m.Body) == unsafe.SliceData(captured) {
		return nil
	}
	return m.Body
}
