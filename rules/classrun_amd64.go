package rules

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// On amd64 with SSSE3 the skip strategy of a class repeated at least 9 times (the digit
// runs [0-9.\-/]{9,} of the default and standard sets, which scan every body) classifies
// 16 bytes at a time: two PSHUFB lookups by nibble say which bytes are in the class, and
// the run is followed across blocks by its length. Probing every ninth byte (findSkip)
// walks back byte by byte wherever the probe is in the class, which on a JSON body full
// of digits mispredicts often.
var useClassRun = cpu.X86.HasSSSE3

// classRun looks at s 16 bytes at a time for the first run of at least m bytes of the
// class of t (classTables), m from 9 up, and returns where it starts and ends; run is
// then 1 when end may stop short of the run's end (in the last 15 bytes of s, which it
// does not look at), else 0. With none, start is -1, i the bytes it looked at (the rest,
// less than 16, is left) and run the in-class bytes just before i. center is
// classCenter(m).
//
//go:noescape
func classRun(s []byte, t *[48]byte, m int, center uint64) (start, end, i, run int)

// findRun is findSkip by classRun.
func (sm *seqMatcher) findRun(s string, lo int) (int, int) {
	first := &sm.items[0]
	in, m := &first.ascii, first.min
	b := unsafe.Slice(unsafe.StringData(s), len(s))
	for lo < len(s) {
		start, end, i, run := classRun(b[lo:], sm.run, m, sm.center)
		if start >= 0 {
			start, end = start+lo, end+lo
			for ; run > 0 && end < len(s) && in[s[end]]; end++ {
			}
		} else {
			for i += lo; i < len(s); i++ {
				if !in[s[i]] {
					run = 0
					continue
				}
				if run++; run >= m {
					start, end = i+1-run, i+1
					break
				}
			}
			if start < 0 {
				return -1, -1
			}
			for end < len(s) && in[s[end]] {
				end++
			}
		}
		if r := sm.rest(s, end); r >= 0 {
			return start, r
		}
		lo = end // every start in this run ends the first class here, and fails the same way
	}
	return -1, -1
}
