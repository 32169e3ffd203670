// Package bufpool keeps the large buffers sniffer makes per call for reuse: decoded bodies
// (model) and the values the rules mask them into (rules). Each was a fresh buffer, zeroed
// by the runtime before it was written over, and together they were most of the bytes
// allocated on the bench capture, so most of the collections.
//
// Buffers are pooled by size class, four a power of two (1, 1.25, 1.5 and 1.75 times 2^k)
// from Min (4 KiB) to 1 MiB: a buffer is filed under the largest class it holds and taken
// for the smallest class that holds what is asked. Smaller and larger buffers are made and
// left to the garbage collector.
package bufpool

import (
	"math/bits"
	"sync"
)

// Min is the smallest buffer pooled.
const Min = 1 << minShift

const (
	minShift = 12
	maxShift = 20
	classes  = (maxShift-minShift)*4 + 1
)

var pools [classes]sync.Pool

type pooled struct{ b []byte }

// classSize is the size of class i.
func classSize(i int) int {
	k, q := minShift+i/4, i%4
	return 1<<k + q<<(k-2)
}

// classFor returns the smallest class of at least n bytes, or -1 outside the pooled range.
func classFor(n int) int {
	if n <= Min {
		if n < Min {
			return -1
		}
		return 0
	}
	k := bits.Len(uint(n-1)) - 1 // 2^k < n <= 2^(k+1)
	q := (n - 1<<k + 1<<(k-2) - 1) >> (k - 2)
	i := (k-minShift)*4 + q
	if i >= classes {
		return -1
	}
	return i
}

// Get returns an empty buffer with room for at least n bytes.
func Get(n int) []byte {
	i := classFor(n)
	if i < 0 {
		return make([]byte, 0, n)
	}
	if p, _ := pools[i].Get().(*pooled); p != nil {
		return p.b[:0]
	}
	return make([]byte, 0, classSize(i))
}

// Put files b's buffer for a later Get. Nothing may refer to b's bytes any more: the next
// Get may write over them.
func Put(b []byte) {
	c := cap(b)
	if c < Min {
		return
	}
	i := classFor(c)
	if i < 0 {
		return
	}
	if classSize(i) > c {
		i-- // c lies between two classes: the one below it
	}
	pools[i].Put(&pooled{b: b[:0]})
}
