package output

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// appendStringBytewise is the byte-at-a-time encoder appendString replaced, kept as the
// reference its output must equal byte for byte.
func appendStringBytewise(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		e := escape[s[i]]
		if e == 0 {
			i++
			continue
		}
		if e == 1 {
			r, size := utf8.DecodeRuneInString(s[i:min(len(s), i+utf8.UTFMax)])
			if r != utf8.RuneError || size != 1 {
				i += size
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[start:i]...)
			if e == 'u' {
				dst = append(dst, '\\', 'u', '0', '0', hex[s[i]>>4], hex[s[i]&0xF])
			} else {
				dst = append(dst, '\\', e)
			}
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// sameAsBytewise checks appendString (and, on valid UTF-8, appendJSONString's valid mode;
// and appendUTF8String, which must refuse invalid UTF-8) against the reference, appending
// to a prefix so that a write before or past dst's end shows.
func sameAsBytewise(t *testing.T, s string) {
	t.Helper()
	want := appendStringBytewise([]byte("prefix"), s)
	for _, capacity := range []int{0, 7, len(s) + 8, 3 * len(s)} {
		dst := append(make([]byte, 0, len("prefix")+capacity), "prefix"...)
		if got := appendString(dst, s); !bytes.Equal(got, want) {
			t.Fatalf("appendString(%q) (cap %d) = %q, bytewise %q", s, capacity, got, want)
		}
		valid := utf8.ValidString(s)
		if valid {
			dst = append(make([]byte, 0, len("prefix")+capacity), "prefix"...)
			if got := appendJSONString(dst, []byte(s), 0); !bytes.Equal(got, want) {
				t.Fatalf("appendJSONString(%q, valid) (cap %d) = %q, bytewise %q", s, capacity, got, want)
			}
		}
		// appendUTF8String: the same string when s is valid UTF-8, else dst as it was.
		dst = append(make([]byte, 0, len("prefix")+capacity), "prefix"...)
		got, ok := appendUTF8String(dst, []byte(s))
		if ok != valid {
			t.Fatalf("appendUTF8String(%q) (cap %d): ok %v, utf8.Valid %v", s, capacity, ok, valid)
		}
		if ok && !bytes.Equal(got, want) || !ok && string(got) != "prefix" {
			t.Fatalf("appendUTF8String(%q) (cap %d) = %q, %v; want %q", s, capacity, got, ok, want)
		}
	}
}

// Every byte value at every position of a word, next to plain bytes and to each other:
// the borrows between bytes of a word are where a word-at-a-time test goes wrong.
func TestAppendStringEveryByte(t *testing.T) {
	for c := range 256 {
		for pos := range 17 {
			s := []byte(strings.Repeat("a", 17))
			s[pos] = byte(c)
			sameAsBytewise(t, string(s))
			for _, other := range []byte{0, 0x1f, 0x20, '"', '\\', 0x21, 0x7f, 0x80, 0xc3, 0xff} {
				if pos+1 < len(s) {
					s2 := bytes.Clone(s)
					s2[pos+1] = other
					sameAsBytewise(t, string(s2))
				}
			}
		}
	}
	for _, s := range []string{"", "\"", "01234567", "0123456\"", "\"0123456", "é€𝄞 and more text than a word",
		"\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\xf7", "abcdefg\xc3", "abcdefg\xe2\x82", "\ufffd\ufffd ok \u2028",
		strings.Repeat(`{"id":1,"email":"a@b.c"}`+"\n", 40)} {
		sameAsBytewise(t, s)
	}
}

// Long strings drawn from the bytes that matter, sparse and dense, so that blocks of 16
// (escapeBlocks), words and the byte loop hand over to each other at every offset and
// with dst filling up.
func TestAppendStringMixed(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabets := []string{"\"\\\t\n\r\x00\x1f\x7f\x80\xc3\xa9\xe2\x82\xac\xff", "\"\\\t\n\r", "\"\x01\xc3"}
	for range 3000 {
		abc := alphabets[rng.IntN(len(alphabets))]
		dense := rng.IntN(100)
		b := make([]byte, rng.IntN(300))
		for i := range b {
			if rng.IntN(100) < dense {
				b[i] = abc[rng.IntN(len(abc))]
			} else {
				b[i] = byte('a' + rng.IntN(26))
			}
		}
		sameAsBytewise(t, string(b))
	}
}

// FuzzAppendStringSame: the word-at-a-time encoder gives the reference's bytes on any
// input.
func FuzzAppendStringSame(f *testing.F) {
	for _, s := range []string{"", "plain text longer than a word", "q\"uo\\te in the middle of words", "\n\r\t\x00\x1f\x7f", "é€𝄞 é€𝄞 é€𝄞", "\xff\xfe", "abcdefgh\xc3", "\u2028\u2029"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { sameAsBytewise(t, s) })
}
