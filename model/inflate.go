package model

import (
	"encoding/binary"
	"hash/crc32"
	"math/bits"
	"sync"
	"unsafe"

	"sniffer/internal/bufpool"
)

// inflateGzip is the fast path for the common gzip body: one member with a plain header
// (no flags), whose CRC-32 and size trailer check and which ends the body exactly. It
// decodes the whole member at once into a buffer sized from the trailer, reading the
// stream 56 bits a refill and writing straight into the output (no 32 KiB window to copy
// out of, as a streaming decoder has). ok is false for anything else, and for any stream
// it finds damaged or odd: the caller then decodes the body with the streaming decoder,
// which says what was wrong (anomaly.go), so a body it takes comes out as the streaming
// decoder makes it, and the others exactly as before. It is stricter than that decoder,
// never more lenient (a code it would take that is not complete, a single-code distance
// tree, is left to it).
func inflateGzip(b []byte, limit int64) (out []byte, ok bool) {
	const header, trailer = 10, 8
	if len(b) < header+trailer || b[0] != 0x1f || b[1] != 0x8b || b[2] != 8 || b[3] != 0 {
		return nil, false
	}
	size := int64(binary.LittleEndian.Uint32(b[len(b)-4:]))
	if size == 0 || size > limit {
		return nil, false
	}
	d := inflaters.Get().(*inflater)
	defer inflaters.Put(d)
	out = bufpool.Get(int(size))[:size]
	n, end, ok := d.inflate(out, b[header:])
	if !ok || n != len(out) || header+end+trailer != len(b) ||
		crc32.ChecksumIEEE(out) != binary.LittleEndian.Uint32(b[len(b)-8:]) {
		bufpool.Put(out)
		return nil, false
	}
	return out, true
}

var inflaters = sync.Pool{New: func() any { return new(inflater) }}

// Table entries: the bits of the code (or, for a subtable's pointer, the root bits), what
// the symbol is, extra bits to read after it, and its value (a literal byte, the base of a
// length or distance, or where a subtable starts).
const (
	entryBits  = 0x1f
	kindShift  = 5
	kindMask   = 7 << kindShift
	kindLit    = 0 << kindShift
	kindBase   = 1 << kindShift // a length or a distance: value + extra bits
	kindEnd    = 2 << kindShift // end of block
	kindSub    = 3 << kindShift // the code goes on in a subtable
	kindBad    = 4 << kindShift // a symbol a stream may not use
	extraShift = 8
	valueShift = 16

	litRoot  = 10
	distRoot = 8
	// Room for the root table and its subtables: zlib's ENOUGH for complete codes
	// (enough 288 10 15: 1334; enough 30 8 15: 402), which build checks.
	litSize  = 1334
	distSize = 402
	lenRoot  = 7 // code length codes are at most 7 bits: no subtable
)

type inflater struct {
	lit  [litSize]uint32
	dist [distSize]uint32
	lens [320]uint8
}

var lengthBase = [29]uint16{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
var lengthExtra = [29]uint8{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
var distBase = [30]uint16{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
var distExtra = [30]uint8{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}

// litEntry and distEntry say what a symbol of each alphabet decodes to.
func litEntry(sym int) uint32 {
	switch {
	case sym < 256:
		return kindLit | uint32(sym)<<valueShift
	case sym == 256:
		return kindEnd
	case sym < 286:
		i := sym - 257
		return kindBase | uint32(lengthExtra[i])<<extraShift | uint32(lengthBase[i])<<valueShift
	}
	return kindBad
}

func distEntry(sym int) uint32 {
	if sym < 30 {
		return kindBase | uint32(distExtra[sym])<<extraShift | uint32(distBase[sym])<<valueShift
	}
	return kindBad
}

func lenEntry(sym int) uint32 { return uint32(sym) << valueShift }

// build fills table with the canonical Huffman code of lens (a root table of 1<<root
// entries indexed by the next root bits of the stream, least significant first, then
// subtables for the longer codes). It fails on a code that is not complete (over- or
// under-subscribed), which inflateGzip leaves to the streaming decoder.
func build(table []uint32, lens []uint8, root int, entry func(int) uint32) bool {
	var count [16]int
	for _, l := range lens {
		count[l]++
	}
	count[0] = 0
	left := 1
	maxLen := 0
	for l := 1; l < 16; l++ {
		left = left<<1 - count[l]
		if left < 0 {
			return false
		}
		if count[l] > 0 {
			maxLen = l
		}
	}
	rootSize := 1 << root
	if left != 0 {
		// Incomplete: as the streaming decoder, take the empty code (a distance code
		// of a block with no match) and a single code of one bit, whose unused bit
		// patterns fail the stream when read; refuse any other.
		if maxLen > 1 || maxLen == 1 && count[1] != 1 {
			return false
		}
		for i := range rootSize {
			table[i] = kindBad
		}
		if maxLen == 0 {
			return true
		}
	}
	if maxLen > root && root == lenRoot {
		return false
	}
	var next [16]int // the first code of each length
	code := 0
	for l := 1; l < 16; l++ {
		code = (code + count[l-1]) << 1
		next[l] = code
	}
	// Subtables: the long codes sharing the root bits of their (reversed) code share one,
	// as large as the longest of them needs.
	var subBits [1 << litRoot]uint8
	codes := next
	for _, l := range lens {
		if l == 0 {
			continue
		}
		r := int(bits.Reverse16(uint16(codes[l]))) >> (16 - int(l))
		codes[l]++
		if int(l) <= root {
			continue
		}
		p := r & (rootSize - 1)
		if sb := l - uint8(root); sb > subBits[p] {
			subBits[p] = sb
		}
	}
	end := rootSize
	for p := 0; p < rootSize && maxLen > root; p++ {
		if sb := subBits[p]; sb > 0 {
			if end+1<<sb > len(table) {
				return false
			}
			table[p] = kindSub | uint32(root) | uint32(sb)<<extraShift | uint32(end)<<valueShift
			end += 1 << sb
		}
	}
	codes = next
	for sym, l := range lens {
		if l == 0 {
			continue
		}
		r := int(bits.Reverse16(uint16(codes[l]))) >> (16 - int(l))
		codes[l]++
		e := entry(sym)
		if int(l) <= root {
			for j := r; j < rootSize; j += 1 << l {
				table[j] = e | uint32(l)
			}
			continue
		}
		sub := table[r&(rootSize-1)]
		start, sb := int(sub>>valueShift), int(sub>>extraShift&0xf)
		rest := int(l) - root
		for j := r >> root; j < 1<<sb; j += 1 << rest {
			table[start+j] = e | uint32(rest)
		}
	}
	return true
}

var fixedLit, fixedDist = func() (lit [litSize]uint32, dist [distSize]uint32) {
	var lens [288]uint8
	for i := range lens {
		switch {
		case i < 144:
			lens[i] = 8
		case i < 256:
			lens[i] = 9
		case i < 280:
			lens[i] = 7
		default:
			lens[i] = 8
		}
	}
	if !build(lit[:], lens[:], litRoot, litEntry) {
		panic("inflate: fixed literal code")
	}
	var dl [32]uint8
	for i := range dl {
		dl[i] = 5
	}
	if !build(dist[:], dl[:], distRoot, distEntry) {
		panic("inflate: fixed distance code")
	}
	return
}()

// order of the code length code lengths (RFC 1951 3.2.7).
var clOrder = [19]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}

// bitReader reads src least significant bit first: buf holds left bits of it not yet
// consumed (and above them, after a word load, the stream's next bits, the same a later
// load puts there); src[:in] is in buf or consumed, in counting the zeros read past the end.
type bitReader struct {
	buf  uint64
	left uint
	in   int
	src  []byte
}

// refill brings left to at least 56: a word while 8 bytes are left, then bytes, then zeros
// past the end.
func (r *bitReader) refill() {
	if r.in+8 <= len(r.src) {
		r.buf |= binary.LittleEndian.Uint64(r.src[r.in:]) << r.left
		r.in += int(63-r.left) >> 3
		r.left |= 56
		return
	}
	for r.left <= 56 {
		if r.in < len(r.src) {
			r.buf |= uint64(r.src[r.in]) << r.left
		}
		r.in++
		r.left += 8
	}
}

func (r *bitReader) take(k uint) uint32 {
	if r.left < k {
		r.refill()
	}
	v := uint32(r.buf & (1<<k - 1))
	r.buf >>= k
	r.left -= k
	return v
}

// inflate decodes the raw deflate stream at the start of src into out, which must hold it
// exactly or more. It returns the bytes written and where in src the stream ended (the byte
// after its last bit). ok is false on any stream it does not decode to its end.
func (d *inflater) inflate(out, src []byte) (n, end int, ok bool) {
	r := bitReader{src: src}
	for final := false; !final; {
		final = r.take(1) != 0
		lit, dist := &fixedLit, &fixedDist
		switch r.take(2) {
		case 0: // stored: from the next byte
			r.left &^= 7
			pos := r.in - int(r.left>>3)
			if pos+4 > len(src) {
				return 0, 0, false
			}
			l := int(binary.LittleEndian.Uint16(src[pos:]))
			if uint16(l) != ^binary.LittleEndian.Uint16(src[pos+2:]) || pos+4+l > len(src) || l > len(out)-n {
				return 0, 0, false
			}
			n += copy(out[n:], src[pos+4:pos+4+l])
			r.in, r.buf, r.left = pos+4+l, 0, 0
			continue
		case 1:
		case 2:
			if !d.dynamic(&r) {
				return 0, 0, false
			}
			lit, dist = &d.lit, &d.dist
		default:
			return 0, 0, false
		}
		var ok bool
		if n, ok = d.codes(&r, out, n, lit, dist); !ok {
			return 0, 0, false
		}
	}
	end = r.in - int(r.left>>3)
	if end > len(src) {
		return 0, 0, false
	}
	return n, end, true
}

// codes decodes a compressed block's symbols into out from n up to its end of block, and
// returns where out is written to. The reader is kept in locals (registers) here, and
// out and src are read and written through pointers where the bounds were checked.
func (d *inflater) codes(r *bitReader, out []byte, n int, lit *[litSize]uint32, dist *[distSize]uint32) (int, bool) {
	bitbuf, bitsleft, in, src := r.buf, r.left, r.in, r.src
	op, sp := unsafe.Pointer(unsafe.SliceData(out)), unsafe.Pointer(unsafe.SliceData(src))
	for {
		if bitsleft < 48 { // a length, a distance and their extra bits: 15+5+15+13
			if in+8 <= len(src) {
				bitbuf |= load64(unsafe.Add(sp, in)) << bitsleft
				in += int(63-bitsleft) >> 3
				bitsleft |= 56
			} else {
				r.buf, r.left, r.in = bitbuf, bitsleft, in
				r.refill()
				bitbuf, bitsleft, in = r.buf, r.left, r.in
				if in > len(src)+8 { // zeros past the end
					return 0, false
				}
			}
		}
		e := lit[bitbuf&(1<<litRoot-1)]
		if e&kindMask == kindLit {
			// A literal, and the next if it is one of the root table too: 10 bits
			// at most, which leave plenty of the 48 there were.
			bitbuf >>= e & entryBits
			bitsleft -= uint(e & entryBits)
			if uint(n) >= uint(len(out)) {
				return 0, false
			}
			*(*byte)(unsafe.Add(op, n)) = byte(e >> valueShift)
			n++
			e = lit[bitbuf&(1<<litRoot-1)]
			if e&kindMask != kindLit {
				continue
			}
			bitbuf >>= e & entryBits
			bitsleft -= uint(e & entryBits)
			if uint(n) >= uint(len(out)) {
				return 0, false
			}
			*(*byte)(unsafe.Add(op, n)) = byte(e >> valueShift)
			n++
			continue
		}
		if e&kindMask == kindSub {
			e = lit[e>>valueShift+uint32(bitbuf>>litRoot&(1<<(e>>extraShift&0xf)-1))]
			bitbuf >>= litRoot
			bitsleft -= litRoot
		}
		bitbuf >>= e & entryBits
		bitsleft -= uint(e & entryBits)
		switch e & kindMask {
		case kindLit:
			if uint(n) >= uint(len(out)) {
				return 0, false
			}
			*(*byte)(unsafe.Add(op, n)) = byte(e >> valueShift)
			n++
			continue
		case kindBase:
		case kindEnd:
			r.buf, r.left, r.in = bitbuf, bitsleft, in
			return n, true
		default:
			return 0, false
		}
		x := e >> extraShift & 0xf
		length := int(e>>valueShift) + int(bitbuf&(1<<x-1))
		bitbuf >>= x
		bitsleft -= uint(x)
		e = dist[bitbuf&(1<<distRoot-1)]
		if e&kindMask == kindSub {
			e = dist[e>>valueShift+uint32(bitbuf>>distRoot&(1<<(e>>extraShift&0xf)-1))]
			bitbuf >>= distRoot
			bitsleft -= distRoot
		}
		bitbuf >>= e & entryBits
		bitsleft -= uint(e & entryBits)
		if e&kindMask != kindBase {
			return 0, false
		}
		x = e >> extraShift & 0xf
		distance := int(e>>valueShift) + int(bitbuf&(1<<x-1))
		bitbuf >>= x
		bitsleft -= uint(x)
		if distance > n || length > len(out)-n {
			return 0, false
		}
		to, from := unsafe.Add(op, n), unsafe.Add(op, n-distance)
		switch {
		case distance >= 8 && n+length+8 <= len(out):
			// Words, each read from bytes already written (8 or more back); the last
			// store may run past the match into bytes written later, within out.
			for i := 0; i < length; i += 8 {
				store64(unsafe.Add(to, i), load64(unsafe.Add(from, i)))
			}
		case distance >= length:
			copy(out[n:n+length], out[n-distance:n-distance+length])
		default:
			for i := range length {
				*(*byte)(unsafe.Add(to, i)) = *(*byte)(unsafe.Add(from, i))
			}
		}
		n += length
	}
}

// load64 and store64 read and write the 8 bytes at p, little-endian.
func load64(p unsafe.Pointer) uint64 { return binary.LittleEndian.Uint64((*[8]byte)(p)[:]) }

func store64(p unsafe.Pointer, v uint64) { binary.LittleEndian.PutUint64((*[8]byte)(p)[:], v) }

// dynamic reads a dynamic block's code lengths and builds its tables.
func (d *inflater) dynamic(r *bitReader) bool {
	nlit := int(r.take(5)) + 257
	ndist := int(r.take(5)) + 1
	ncl := int(r.take(4)) + 4
	if nlit > 286 || ndist > 30 {
		return false
	}
	var cl [19]uint8
	for i := range ncl {
		cl[clOrder[i]] = uint8(r.take(3))
	}
	var clTable [1 << lenRoot]uint32
	if !build(clTable[:], cl[:], lenRoot, lenEntry) {
		return false
	}
	lens := d.lens[:nlit+ndist]
	for i := 0; i < len(lens); {
		if r.left < 14 {
			r.refill()
		}
		e := clTable[r.buf&(1<<lenRoot-1)]
		if e&kindMask == kindBad {
			return false
		}
		r.buf >>= e & entryBits
		r.left -= uint(e & entryBits)
		sym := e >> valueShift
		if sym < 16 {
			lens[i] = uint8(sym)
			i++
			continue
		}
		var rep int
		var v uint8
		switch sym {
		case 16:
			if i == 0 {
				return false
			}
			v = lens[i-1]
			rep = 3 + int(r.take(2))
		case 17:
			rep = 3 + int(r.take(3))
		default:
			rep = 11 + int(r.take(7))
		}
		if i+rep > len(lens) {
			return false
		}
		for range rep {
			lens[i] = v
			i++
		}
	}
	if lens[256] == 0 {
		return false
	}
	clear(d.lit[:])
	clear(d.dist[:])
	return build(d.lit[:], lens[:nlit], litRoot, litEntry) && build(d.dist[:], lens[nlit:], distRoot, distEntry)
}
