package model

import (
	"math/bits"
	"sync"
	"unsafe"
)

// Decoded bodies are the largest thing sniffer allocates per call (a 64 KiB body inflated
// from 17 KiB on the bench capture): each was a fresh buffer, zeroed by the runtime before
// the decoder wrote over it, and they were two fifths of all the bytes allocated, so as
// large a part of the collections. A decoded body whose bytes nothing holds any more (the
// rules masked it into a new string, or removed it) is handed back with RecycleBody, and
// its buffer is reused for a later body.
//
// Buffers are pooled by size class, four a power of two (1, 1.25, 1.5 and 1.75 times
// 2^k) from 4 KiB to 1 MiB: a buffer is filed under the largest class it holds and
// taken for the smallest class that holds what is asked.
const (
	minPoolShift = 12
	maxPoolShift = 20
	poolClasses  = (maxPoolShift-minPoolShift)*4 + 1
)

var bodyPools [poolClasses]sync.Pool

type pooledBody struct{ b []byte }

// classSize is the size of class i.
func classSize(i int) int {
	k, q := minPoolShift+i/4, i%4
	return 1<<k + q<<(k-2)
}

// classFor returns the smallest class of at least n bytes, or -1 outside the pooled range.
func classFor(n int) int {
	if n <= 1<<minPoolShift {
		if n < 1<<minPoolShift {
			return -1
		}
		return 0
	}
	k := bits.Len(uint(n-1)) - 1 // 2^k < n <= 2^(k+1)
	q := (n - 1<<k + 1<<(k-2) - 1) >> (k - 2)
	i := (k-minPoolShift)*4 + q
	if i >= poolClasses {
		return -1
	}
	return i
}

// bodyBuffer returns an empty buffer with room for at least n bytes.
func bodyBuffer(n int) []byte {
	i := classFor(n)
	if i < 0 {
		return make([]byte, 0, n)
	}
	if p, _ := bodyPools[i].Get().(*pooledBody); p != nil {
		return p.b[:0]
	}
	return make([]byte, 0, classSize(i))
}

// RecycleBody files the buffer of b, a body Decode made (see DecodedBody), for a later
// body. Nothing may refer to b's bytes any more: the next body decoded may be written
// over them.
func RecycleBody(b []byte) {
	c := cap(b)
	if c < 1<<minPoolShift {
		return
	}
	i := classFor(c)
	if i < 0 {
		return
	}
	if classSize(i) > c {
		i-- // c lies between two classes: the one below it
	}
	bodyPools[i].Put(&pooledBody{b: b[:0]})
}

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
