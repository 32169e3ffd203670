package output

// With SSSE3 appendBase64 hands the body to base64Blocks, which encodes 12 bytes into 16
// characters per step, in the way of Wojciech Muła's SSE base64 encoder
// (http://0x80.pl/notesen/2016-01-12-sse-base64-encoding.html): one PSHUFB puts the
// bytes of each 3-byte group in the lanes of a 32-bit word, two multiplies move the four
// 6-bit fields to the bottom of its bytes, and a PSHUFB of 16 offsets by range of the
// value (A-Z, a-z, 0-9, '+', '/') turns the fields into characters.

// base64Blocks encodes src into dst 12 bytes into 16 at a time while 16 bytes of src can
// be loaded and 16 of dst written, and returns the steps done.
//
//go:noescape
func base64Blocks(dst, src []byte) int

// b64Const holds base64Blocks's constants, 16 bytes each: the shuffle, the two masks and
// two multipliers that spread the fields, 51, 26 and 13 in every byte, and the offsets.
var b64Const = func() (c [144]byte) {
	copy(c[0:], []byte{1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10})
	for k := 0; k < 16; k += 4 {
		copy(c[16+k:], []byte{0x00, 0xfc, 0xc0, 0x0f}) // 0x0fc0fc00: fields 1 and 3 of a word
		copy(c[32+k:], []byte{0x40, 0x00, 0x00, 0x04}) // their shifts, by the high half of 16-bit products
		copy(c[48+k:], []byte{0xf0, 0x03, 0x3f, 0x00}) // 0x003f03f0: fields 2 and 4
		copy(c[64+k:], []byte{0x10, 0x00, 0x00, 0x01}) // their shifts, by the low half
	}
	for k := range 16 {
		c[80+k], c[96+k], c[112+k] = 51, 26, 13
	}
	// Offsets by the range index: 0 for 26-51 (a-z), 1-10 for 52-61 (0-9), 11 for 62
	// ('+'), 12 for 63 ('/'), 13 for 0-25 (A-Z).
	off := [16]int{'a' - 26, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '+' - 62, '/' - 63, 'A', 0, 0}
	for k, o := range off {
		c[128+k] = byte(o)
	}
	return
}()
