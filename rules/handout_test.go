package rules

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"sniffer/internal/bufpool"
)

// TestKeepHandsOutScratch: a value from bufpool.Min bytes up that ApplyPooled built in a
// scratch buffer of fitting size leaves in that buffer, which the scratch lets go of; a
// value in a buffer more than twice its size, or with copyOut set, is copied into a
// pooled buffer of its own and the scratch keeps its buffer; Apply's values are copies.
func TestKeepHandsOutScratch(t *testing.T) {
	v := strings.Repeat("v", bufpool.Min+100)
	for _, tc := range []struct {
		name           string
		pooled, copyIt bool
		capacity       int
		handedOut      bool
	}{
		{"fitting", true, false, len(v) + 1000, true},
		{"twice", true, false, 2 * len(v), true},
		{"too large", true, false, 2*len(v) + 1, false},
		{"copyOut", true, true, len(v), false},
		{"Apply", false, false, len(v), false},
	} {
		sc := &scratch{}
		sc.buf[1] = append(make([]byte, 0, tc.capacity), v...)
		built := unsafe.SliceData(sc.buf[1])
		var bufs [][]byte
		st := &callState{r: &Rules{copyOut: tc.copyIt}}
		if tc.pooled {
			st.bufs = &bufs
		}
		got := st.keep(sc, 1, unsafe.String(built, len(v)))
		if got != v {
			t.Fatalf("%s: value changed", tc.name)
		}
		if out := unsafe.StringData(got) == built; out != tc.handedOut || (sc.buf[1] == nil) != tc.handedOut {
			t.Errorf("%s: value in the scratch buffer %v, scratch let go of it %v; want %v", tc.name, out, sc.buf[1] == nil, tc.handedOut)
		}
		if want := 0; tc.pooled {
			if want = 1; len(bufs) != want || unsafe.SliceData(bufs[0]) != unsafe.StringData(got) || len(bufs[0]) != len(got) {
				t.Errorf("%s: %d buffers handed out, want the value's", tc.name, len(bufs))
			}
		} else if len(bufs) != want {
			t.Errorf("%s: %d buffers handed out by Apply", tc.name, len(bufs))
		}
	}
}

// TestScratchFit: fit leaves a buffer that holds n bytes and at most 2n alone, and
// otherwise replaces it with a pooled one that does.
func TestScratchFit(t *testing.T) {
	const n = 10000
	for _, c := range []int{0, n - 1, n, 2 * n, 2*n + 1, 1 << 20} {
		sc := &scratch{}
		if c > 0 {
			sc.buf[0] = make([]byte, 0, c)
		}
		before := unsafe.SliceData(sc.buf[0])
		sc.fit(0, n)
		kept := unsafe.SliceData(sc.buf[0]) == before && before != nil
		if got := cap(sc.buf[0]); got < n || got > 2*n {
			t.Errorf("capacity %d: fit left capacity %d for %d bytes", c, got, n)
		}
		if want := c >= n && c <= 2*n; kept != want {
			t.Errorf("capacity %d: buffer kept %v, want %v", c, kept, want)
		}
	}
}

// TestIsASCII: isASCII, 32 bytes a step, agrees with a byte-by-byte check for every
// length around its steps and every position of one non-ASCII byte.
func TestIsASCII(t *testing.T) {
	plain := func(s string) bool {
		for i := 0; i < len(s); i++ {
			if s[i] >= 0x80 {
				return false
			}
		}
		return true
	}
	b := make([]byte, 0, 200)
	for n := range 140 {
		b = b[:n]
		for i := range b {
			b[i] = byte('a' + i%26)
		}
		if !isASCII(string(b)) {
			t.Fatalf("%d ASCII bytes: not ASCII", n)
		}
		for i := range n {
			for _, c := range []byte{0x80, 0xc3, 0xff} {
				b[i] = c
				if got := isASCII(string(b)); got != plain(string(b)) || got {
					t.Fatalf("%d bytes, %#x at %d: isASCII %v", n, c, i, got)
				}
				b[i] = 'a'
			}
		}
	}
}

// TestPrefilterFindsEveryAtom: the prefilter's scan (with its near table rejecting
// anchors no atom can stand around) finds exactly the atom occurrences a plain search
// finds, on text thick with atoms, their pieces and their anchors in both cases.
func TestPrefilterFindsEveryAtom(t *testing.T) {
	pieces := []string{`"password"`, `"Token"`, "TOKEN=", "api_key", "apikey=", "secret", "ſecret", "\u212a",
		"pass", "word", "k", "K", "p", "P", "c", "C", "example.com", "score", `"`, "=", " ", "é", "tok", "en"}
	rng := rand.New(rand.NewPCG(3, 4))
	r := Default()
	for _, rl := range r.replaces {
		for m := rl.value; m != nil; m = m.java {
			if m.pre == nil {
				continue
			}
			for range 500 {
				var b strings.Builder
				for range rng.IntN(40) {
					b.WriteString(pieces[rng.IntN(len(pieces))])
				}
				s := b.String()
				if !m.pre.foldSafe(s) {
					continue
				}
				var want []int
				for i := range len(s) {
					for _, a := range m.pre.atoms {
						if i+len(a) <= len(s) && asciiEqualFold(s[i:i+len(a)], a) {
							want = append(want, i)
							break
						}
					}
				}
				got, ok := m.pre.starts(nil, s, len(s))
				if !ok || !slices.Equal(got, want) {
					t.Fatalf("%s on %q: atoms at %v, want %v", m.src, s, got, want)
				}
				if m.pre.mayMatch(s) != (len(want) > 0) {
					t.Fatalf("%s on %q: mayMatch %v with atoms at %v", m.src, s, !(len(want) > 0), want)
				}
			}
		}
	}
}
