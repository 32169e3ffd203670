package output

import (
	"math/bits"

	"golang.org/x/sys/cpu"
)

// On amd64 with SSSE3 (every x86-64 CPU since about 2008; hasSSSE3) appendJSONString hands the
// string to escapeBlocks, which takes 16 bytes per step: copied whole when none needs an
// escape, and when some take a backslash ('"', '\\', and '\t', '\n', '\r' as their
// letters), each half of the block is spread by one PSHUFB with a table of 256 shuffles,
// so a dense JSON body (a '"' every few bytes) costs no branch per byte. It stops at a
// block with anything else to escape (another byte below 0x20 takes \u00XX; from 0x80
// when the string may not be valid UTF-8, a rune to check), which the word loop takes.
var hasSSSE3 = cpu.X86.HasSSSE3

// escapeBlocks escapes src into dst 16 bytes at a time while 16 are left in src and 32 in
// dst, and returns the bytes written and read. high is lanes8 or 0 as for
// appendJSONString.
//
//go:noescape
func escapeBlocks(dst, src []byte, high uint64) (n, i int)

// escapeSpread is, for each mask of the bytes of an 8-byte half that take a backslash,
// the PSHUFB control that spreads the half over 8+popcount(mask) bytes (0x80, a zero, at
// each backslash) and the bytes to OR in after it (the backslashes); escapeLen is
// 8+popcount(mask).
var escapeSpread, escapeLen = func() (spread [256][32]byte, length [256]byte) {
	for m := range 256 {
		p := 0
		for j := range 8 {
			if m&(1<<j) != 0 {
				spread[m][p], spread[m][16+p] = 0x80, '\\'
				p++
			}
			spread[m][p] = byte(j)
			p++
		}
		for ; p < 16; p++ {
			spread[m][p] = 0x80
		}
		length[m] = byte(8 + bits.OnesCount8(uint8(m)))
	}
	return
}()

// escapeConst holds what escapeBlocks compares with, 16 bytes of each: '"', '\\', 0x1f;
// then two tables by low nibble for '\t', '\n' and '\r': the byte itself (0xff for the
// other nibbles, which no byte below 0x10 equals), and the byte XOR the letter of its
// short escape (0 for the others).
var escapeConst = func() (c [80]byte) {
	for i := range 16 {
		c[i], c[16+i], c[32+i], c[48+i] = '"', '\\', 0x1f, 0xff
	}
	for _, b := range []byte{'\t', '\n', '\r'} {
		c[48+b], c[64+b] = b, b^escape[b]
	}
	return
}()
