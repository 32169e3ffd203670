package output

import (
	"encoding/binary"
	"slices"
	"unicode/utf8"
	"unsafe"
)

// JSON strings: bodies dominate the output (a decoded 64 KiB JSON body is mostly bytes
// that need no escape, with a '"' every few bytes), so the bytes are taken eight at a
// time: each word is stored into dst whole, and a few word operations find the first byte
// in it that needs attention, up to which the store stands. A JSON body costs about half
// the CPU the byte-at-a-time table loop did (BenchmarkAppendStringJSONBody), with the
// same output (FuzzAppendStringSame holds it to that loop, kept in the test).

// escape holds, for each byte, 0 when it goes into a JSON string as it is, the character
// to write after a backslash for the short escapes, 'u' for the \u00XX ones, and 1 for
// the first byte of a multi-byte UTF-8 sequence (checked by utf8.DecodeRune).
var escape = func() (t [256]byte) {
	for i := 0; i < 0x20; i++ {
		t[i] = 'u'
	}
	t['"'], t['\\'], t['\n'], t['\r'], t['\t'] = '"', '\\', 'n', 'r', 't'
	for i := 0x80; i < 0x100; i++ {
		t[i] = 1
	}
	return
}()

const hex = "0123456789abcdef"

const (
	lanes1 = 0x0101010101010101 // 1 in each byte of a word
	lanes8 = 0x8080808080808080 // the top bit of each byte
)

// attention sets the top bit of the bytes of w (little-endian, byte i of the string in
// bits 8i..8i+7) that cannot be copied as they are: below 0x20, '"', '\\', and with
// high = lanes8 those from 0x80 (possibly invalid UTF-8). Only the lowest byte so marked
// is sure: a borrow out of a marked byte may mark the byte above it. The caller uses only
// the lowest.
func attention(w, high uint64) uint64 {
	q := w ^ (lanes1 * '"')
	b := w ^ (lanes1 * '\\')
	return ((w-lanes1*0x20)&^w|(q-lanes1)&^q|(b-lanes1)&^b)&lanes8 | w&high
}

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, one per byte, as
// encoding/json does.
func appendString(dst []byte, s string) []byte {
	return appendJSONString(dst, unsafe.Slice(unsafe.StringData(s), len(s)), lanes8)
}

// denseRun is how many bytes go one by one once a word has something to escape.
const denseRun = 32

// appendJSONString is appendString; high is lanes8, or 0 when s is known to be valid UTF-8
// (bytes from 0x80 are then copied without looking at them).
func appendJSONString(dst, s []byte, high uint64) []byte {
	dst, _ = escapeFrom(append(dst, '"'), s, 0, high, false)
	return append(dst, '"')
}

// appendUTF8String appends s as a JSON string when s is valid UTF-8, and reports whether
// it did (dst is returned unchanged when not). It spares a body a pass of utf8.Valid
// before appendJSONString: the ASCII part is escaped with its bytes from 0x80 looked at
// (which costs the escape loops nothing more), and only from the first of them is the
// rest checked, once, and copied as valid. ASCII before it is whole runes, so that check
// answers for all of s.
func appendUTF8String(dst, s []byte) ([]byte, bool) {
	mark := len(dst)
	dst, i := escapeFrom(append(dst, '"'), s, 0, lanes8, true)
	if i < len(s) {
		if !utf8.Valid(s[i:]) {
			return dst[:mark], false
		}
		dst, _ = escapeFrom(dst, s, i, 0, false)
	}
	return append(dst, '"'), true
}

// escapeFrom appends s[i:], escaped, and returns the index where it stopped: len(s), or
// with stop (and high lanes8) the first byte from 0x80, before which it stops.
func escapeFrom(dst, s []byte, i int, high uint64, stop bool) ([]byte, int) {
	tab := &plainAny
	if high == 0 {
		tab = &plainValid
	}
	out, n := dst[:cap(dst)], len(dst) // out[:n] is written
	for i+8 <= len(s) {
		if len(out)-n < 2*denseRun { // denseRun bytes, each escaped in two
			out = slices.Grow(out[:n], 2*denseRun+(len(s)-i)+(len(s)-i)/8)
			out = out[:cap(out)]
		}
		if hasSSSE3 && len(s)-i >= 16 {
			// Blocks while they take nothing but backslashes and there is room; then
			// the word loop, for one word at least.
			k, j := escapeBlocks(out[n:], s[i:], high)
			n, i = n+k, i+j
			if i+8 > len(s) {
				break
			}
			if len(out)-n < 2*denseRun {
				continue
			}
		}
		w := binary.LittleEndian.Uint64(s[i:])
		if attention(w, high) == 0 {
			binary.LittleEndian.PutUint64(out[n:], w)
			n += 8
			i += 8
			continue
		}
		// A word with something to escape: this and the bytes after it, denseRun in all,
		// one by one without a branch that depends on the byte (a JSON body has a '"'
		// every few bytes, which a branch per byte would mispredict, and most of its words
		// have one: testing each word costs more than it saves), up to one that takes
		// appendEscape.
		end := min(i+denseRun, len(s))
		for ; i < end; i++ {
			t := tab[s[i]]
			if t&plainSlow != 0 {
				break
			}
			out[n] = '\\'
			d := int(t>>8) & 1
			out[n+d] = byte(t)
			n += 1 + d
		}
		if i < end {
			if stop && s[i] >= utf8.RuneSelf {
				return out[:n], i
			}
			dst, i = appendEscape(out[:n], s, i)
			out, n = dst[:cap(dst)], len(dst)
		}
	}
	dst = out[:n]
	for i < len(s) {
		// With high 0 the words may have ended inside a rune: its bytes are copied too.
		c := s[i]
		if escape[c] == 0 || c >= utf8.RuneSelf && high == 0 {
			dst = append(dst, c)
			i++
			continue
		}
		if stop && c >= utf8.RuneSelf {
			return dst, i
		}
		dst, i = appendEscape(dst, s, i)
	}
	return dst, i
}

// plainAny and plainValid say, for each byte, what goes out for it in a word with
// something to escape: the byte to write (itself, or the letter of its short escape),
// plainEsc when a backslash goes before it, plainSlow when it takes appendEscape (a
// \u00XX escape; with plainAny a byte from 0x80 as well, whose rune must be checked).
var plainAny, plainValid = plainTables()

const (
	plainEsc  = 1 << 8
	plainSlow = 1 << 9
)

func plainTables() (anyUTF8, valid [256]uint16) {
	for c := range 256 {
		t := uint16(c)
		switch e := escape[c]; e {
		case 0:
		case 1:
			valid[c] = t
			anyUTF8[c] = plainSlow
			continue
		case 'u':
			t = plainSlow
		default:
			t = plainEsc | uint16(e)
		}
		anyUTF8[c], valid[c] = t, t
	}
	return
}

// appendEscape appends s[i], a byte escape does not pass as it is, and returns the index
// of the byte after it: a multi-byte rune whole, U+FFFD for an invalid byte, the short or
// \u00XX escape of the others.
func appendEscape(dst, s []byte, i int) ([]byte, int) {
	c := s[i]
	switch e := escape[c]; e {
	case 1:
		r, size := utf8.DecodeRune(s[i:min(len(s), i+utf8.UTFMax)])
		if r != utf8.RuneError || size != 1 {
			return append(dst, s[i:i+size]...), i + size
		}
		return append(dst, `\ufffd`...), i + 1
	case 'u':
		return append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF]), i + 1
	default:
		return append(dst, '\\', e), i + 1
	}
}
