package output

import "encoding/binary"

// Adler-32 (RFC 1950), the zlib stream's checksum of the uncompressed NDJSON, sixteen bytes
// a step instead of hash/adler32's one at a time: s2 gains 16 times s1 plus the bytes
// weighted 16, 15, ... 1, s1 their sum. The bytes of two words are spread into 16-bit
// lanes (even and odd bytes of each), and one multiplication of a lane vector by its
// weights in reverse order gathers the weighted sum in the top lane; no lane carries into
// the next (each lane at most 255 x 136 = 34,680). s1 before each step is summed as it
// goes and multiplied once per chunk. The sums are those of the byte-wise loop, so the
// NMAX bound on s2 holds; wrap-around in between cancels as the final value fits in 32
// bits. Same results as hash/adler32 (TestAdler32Same, FuzzAdler32Same); BenchmarkAdler32,
// 200 KiB: 2.5 GB/s for hash/adler32, 5.4 GB/s for this.

const (
	adlerMod  = 65521
	adlerNmax = 5552 // the most bytes before s2 can overflow 32 bits (zlib's NMAX)
	lanes16   = 0x00ff00ff00ff00ff
)

// adler32Update returns the Adler-32 of what d covered followed by p; d is 1 for nothing.
func adler32Update(d uint32, p []byte) uint32 {
	s1, s2 := d&0xffff, d>>16
	for len(p) > 0 {
		q := p
		if len(q) > adlerNmax {
			q = q[:adlerNmax]
		}
		p = p[len(q):]
		var s1s, ws uint32
		for ; len(q) >= 16; q = q[16:] {
			w := binary.LittleEndian.Uint64(q)
			v := binary.LittleEndian.Uint64(q[8:])
			e, o := w&lanes16, w>>8&lanes16
			f, g := v&lanes16, v>>8&lanes16
			s1s += s1
			ws += uint32((e*(16<<48|14<<32|12<<16|10) + o*(15<<48|13<<32|11<<16|9) + f*(8<<48|6<<32|4<<16|2) + g*(7<<48|5<<32|3<<16|1)) >> 48)
			s1 += uint32((e + o + f + g) * 0x0001000100010001 >> 48)
		}
		s2 += s1s<<4 + ws
		for _, b := range q {
			s1 += uint32(b)
			s2 += s1
		}
		s1 %= adlerMod
		s2 %= adlerMod
	}
	return s2<<16 | s1
}
