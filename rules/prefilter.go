package rules

import (
	"regexp/syntax"
	"slices"
	"strings"
	"unicode/utf8"
)

// prefilter skips a find-regex on values that cannot match: every match contains one of
// its atoms (ASCII, compared case-insensitively). It serves regexes the segmenter cannot,
// such as the default set's JSON rule `(?i)"(password|token|...)"\s*:\s*"..."`, which
// otherwise runs Go's slowest engine over every large body.
//
// The atoms are not searched one by one (19 atoms, in two cases each, would be 38 scans
// of a 64 KiB body): a few anchor bytes are chosen so that every atom contains one of
// them, rare ones by preference ('k' for the *token and *key names, '=' for all of
// "password=", "token=", ...), and each anchor is scanned for once per case with
// strings.IndexByte; only where it occurs are the atoms that hold it compared.
type prefilter struct {
	atoms []string // lower-case
	// Anchors for text (picked by byteFreq) and for binary values such as compressed
	// bodies, where every byte is as common as any other and the fewest scans win.
	text, binary []pfAnchor
	// Some atom holds a 'k' or an 's', which the Kelvin sign or the long s could stand for.
	kelvin, longS bool
	// prefix: every match starts with an atom, so matches can only start where one occurs.
	prefix bool
}

// pfAnchor is one anchor byte and the atoms it stands for, filed by the (lower-case) byte
// that follows the anchor in the atom, or, for atoms it ends, the byte before it: where
// the anchor occurs only the atoms that agree on that byte are compared.
type pfAnchor struct {
	cases      []byte // the byte, and its upper-case form if it is a letter
	next, prev [256][]pfCand
	// near has bit 0 of byte b set when next[lowerASCII(b)] holds a candidate, bit 1 for
	// prev: where the anchor is frequent in text (the 'p' of "example", the 'c' of
	// ".com") and starts no atom, one lookup of the bytes beside it rejects it.
	near [256]uint8
}

type pfCand struct {
	atom string
	off  int // where the anchor byte is in atom
}

// minAtomLen keeps atoms selective enough to be worth the scan.
const minAtomLen = 3

func newPrefilter(re *syntax.Regexp) *prefilter {
	atoms, ok := prefixAtoms(re)
	prefix := ok && len(atoms) > 0 && shortest(atoms) >= minAtomLen
	if !prefix {
		atoms, ok = atomsOf(re)
	}
	if !ok || len(atoms) == 0 || len(atoms) > 64 {
		return nil
	}
	p := &prefilter{prefix: prefix}
	seen := map[string]bool{}
	for _, a := range atoms {
		if len(a) < minAtomLen {
			return nil
		}
		a = strings.Map(func(r rune) rune { return rune(lowerASCII(byte(r))) }, a)
		if !seen[a] {
			seen[a] = true
			p.atoms = append(p.atoms, a)
			p.kelvin = p.kelvin || strings.IndexByte(a, 'k') >= 0
			p.longS = p.longS || strings.IndexByte(a, 's') >= 0
		}
	}
	p.text = chooseAnchors(p.atoms, byteFreq)
	p.binary = chooseAnchors(p.atoms, func(byte) int { return 39 }) // 1/256
	return p
}

// chooseAnchors covers the atoms with anchor bytes, greedily taking the byte that covers
// the most atoms not yet covered per unit of estimated cost: a scan of the value per case
// of the byte, plus a comparison per atom wherever the byte occurs (freq estimates how
// often, in hundredths of a percent).
func chooseAnchors(atoms []string, freq func(byte) int) []pfAnchor {
	var anchors []pfAnchor
	covered := make([]bool, len(atoms))
	left := len(atoms)
	for left > 0 {
		best, bestScore := byte(0), -1.0
		for c := 0; c < utf8.RuneSelf; c++ {
			b := byte(c)
			if 'A' <= b && b <= 'Z' {
				continue // atoms are lower-case
			}
			n := 0
			for i, a := range atoms {
				if !covered[i] && strings.IndexByte(a, b) >= 0 {
					n++
				}
			}
			if n == 0 {
				continue
			}
			passes, f := 1, freq(b)
			if 'a' <= b && b <= 'z' {
				passes, f = 2, f+freq(b-'a'+'A')
			}
			cost := float64(passes*200) + float64(f)*(1+float64(n)/4)
			if score := float64(n) / cost; score > bestScore {
				best, bestScore = b, score
			}
		}
		an := pfAnchor{cases: []byte{best}}
		if 'a' <= best && best <= 'z' {
			an.cases = append(an.cases, best-'a'+'A')
		}
		for i, a := range atoms {
			if k := strings.IndexByte(a, best); !covered[i] && k >= 0 {
				covered[i] = true
				left--
				c := pfCand{atom: a, off: k}
				if k+1 < len(a) {
					an.next[a[k+1]] = append(an.next[a[k+1]], c)
					an.mark(a[k+1], 1)
				} else {
					an.prev[a[k-1]] = append(an.prev[a[k-1]], c)
					an.mark(a[k-1], 2)
				}
			}
		}
		anchors = append(anchors, an)
	}
	return anchors
}

// mark sets bit in near for the lower-case byte b and its upper-case form.
func (an *pfAnchor) mark(b byte, bit uint8) {
	an.near[b] |= bit
	if 'a' <= b && b <= 'z' {
		an.near[b-'a'+'A'] |= bit
	}
}

// prefixAtoms returns strings one of which every match of re starts with, case aside.
func prefixAtoms(re *syntax.Regexp) ([]string, bool) {
	if set, ok := foldSet(re, 64); ok {
		return set, true
	}
	switch re.Op {
	case syntax.OpCapture, syntax.OpPlus:
		return prefixAtoms(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min > 0 {
			return prefixAtoms(re.Sub[0])
		}
	case syntax.OpConcat:
		// The leading children with few possible strings, crossed ("pass" + (word|wd)),
		// else the first child's own prefixes.
		var run []string
		for _, sub := range re.Sub {
			set, ok := foldSet(sub, 64)
			if !ok {
				break
			}
			next := cross(run, set, 64)
			if run == nil {
				next = set
			}
			if next == nil {
				break
			}
			run = next
		}
		if run != nil {
			return run, true
		}
		return prefixAtoms(re.Sub[0])
	case syntax.OpAlternate:
		var all []string
		for _, s := range re.Sub {
			a, ok := prefixAtoms(s)
			if !ok || len(all)+len(a) > 64 {
				return nil, false
			}
			all = append(all, a...)
		}
		return all, true
	}
	return nil, false
}

// atomsOf returns strings one of which every match of re contains, case aside.
func atomsOf(re *syntax.Regexp) ([]string, bool) {
	switch re.Op {
	case syntax.OpLiteral:
		s := string(re.Rune)
		for i := 0; i < len(s); i++ {
			if s[i] >= utf8.RuneSelf {
				return nil, false
			}
		}
		return []string{s}, true
	case syntax.OpCapture, syntax.OpPlus:
		return atomsOf(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min > 0 {
			return atomsOf(re.Sub[0])
		}
	case syntax.OpConcat:
		// Any child's atoms will do, and runs of children with few possible strings
		// combine into longer atoms ("pass" + (word|wd) -> password, passwd); take the
		// most selective (longest shortest atom).
		var best []string
		bestLen := -1
		consider := func(a []string) {
			if l := shortest(a); len(a) > 0 && (l > bestLen || l == bestLen && len(a) < len(best)) {
				best, bestLen = a, l
			}
		}
		var run []string
		for _, sub := range re.Sub {
			if set, ok := foldSet(sub, 64); ok {
				run = cross(run, set, 64)
				if run != nil {
					continue
				}
				run = set
				continue
			}
			consider(run)
			run = nil
			if a, ok := atomsOf(sub); ok {
				consider(a)
			}
		}
		consider(run)
		return best, bestLen >= 0
	case syntax.OpAlternate:
		var all []string
		for _, s := range re.Sub {
			a, ok := atomsOf(s)
			if !ok {
				return nil, false
			}
			all = append(all, a...)
		}
		return all, true
	}
	return nil, false
}

func shortest(a []string) int {
	n := -1
	for _, s := range a {
		if n < 0 || len(s) < n {
			n = len(s)
		}
	}
	return max(n, 0)
}

// same tells whether q finds atoms exactly where p does (nil is no prefilter).
func (p *prefilter) same(q *prefilter) bool {
	if p == nil || q == nil {
		return p == q
	}
	return p.prefix == q.prefix && slices.Equal(p.atoms, q.atoms)
}

// foldSafe tells whether every occurrence of an atom in s can be found by comparing ASCII
// case-insensitively. Under Go's case folding the only non-ASCII runes equal to ASCII
// letters are the Kelvin sign (k) and the long s (s): a value holding one where an atom
// has that letter is handed to the regex whole.
func (p *prefilter) foldSafe(s string) bool {
	return !(p.kelvin && strings.Contains(s, "\u212a") || p.longS && strings.Contains(s, "\u017f"))
}

// mayMatch is false only when no atom occurs in s.
func (p *prefilter) mayMatch(s string) bool {
	if !p.foldSafe(s) {
		return true
	}
	return p.scan(s, func(int) bool { return false })
}

// scan calls found with the start of atom occurrences in s, in no particular order,
// until found returns false; it reports whether it was stopped.
func (p *prefilter) scan(s string, found func(start int) bool) bool {
	anchors := p.text
	if looksBinary(s) {
		anchors = p.binary
	}
	for i := range anchors {
		an := &anchors[i]
		for _, b := range an.cases {
			for q := 0; q < len(s); {
				j := strings.IndexByte(s[q:], b)
				if j < 0 {
					break
				}
				at := q + j
				q = at + 1
				if at+1 < len(s) && an.near[s[at+1]]&1 != 0 && try(s, at, an.next[lowerASCII(s[at+1])], found) ||
					at > 0 && an.near[s[at-1]]&2 != 0 && try(s, at, an.prev[lowerASCII(s[at-1])], found) {
					return true
				}
			}
		}
	}
	return false
}

// try compares the candidates at an anchor found at s[at]; true if found said stop.
func try(s string, at int, cands []pfCand, found func(int) bool) bool {
	for _, c := range cands {
		st := at - c.off
		if st >= 0 && st+len(c.atom) <= len(s) && asciiEqualFold(s[st:st+len(c.atom)], c.atom) && !found(st) {
			return true
		}
	}
	return false
}

// starts appends to dst, in order and once each, where atoms occur in s; valid only when
// foldSafe(s). It gives up (ok false) once it has found more than limit.
func (p *prefilter) starts(dst []int, s string, limit int) (out []int, ok bool) {
	n := len(dst)
	if p.scan(s, func(st int) bool {
		dst = append(dst, st)
		return len(dst)-n <= limit
	}) {
		return nil, false
	}
	slices.Sort(dst[n:])
	return append(dst[:n], slices.Compact(dst[n:])...), true
}

// looksBinary guesses that a value is binary (compressed, an image) from its first bytes:
// it then gets the anchors that take the fewest scans. A wrong guess costs time only.
func looksBinary(s string) bool {
	if len(s) < 1024 {
		return false
	}
	n := 0
	for i := range 64 {
		if c := s[i]; c >= utf8.RuneSelf || c < '\t' {
			n++
		}
	}
	return n >= 8
}

func asciiEqualFold(a, b string) bool {
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// foldSet lists, lower-cased, the strings re can match if they are few and ASCII.
func foldSet(re *syntax.Regexp, limit int) ([]string, bool) {
	switch re.Op {
	case syntax.OpLiteral:
		b := make([]byte, 0, len(re.Rune))
		for _, r := range re.Rune {
			if r >= utf8.RuneSelf {
				return nil, false
			}
			b = append(b, lowerASCII(byte(r)))
		}
		return []string{string(b)}, true
	case syntax.OpCharClass:
		seen := map[string]bool{}
		var out []string
		for i := 0; i+1 < len(re.Rune); i += 2 {
			if re.Rune[i+1] >= utf8.RuneSelf || re.Rune[i+1]-re.Rune[i] > rune(limit) {
				return nil, false
			}
			for r := re.Rune[i]; r <= re.Rune[i+1]; r++ {
				if c := string(lowerASCII(byte(r))); !seen[c] {
					seen[c] = true
					out = append(out, c)
				}
			}
		}
		return out, len(out) > 0 && len(out) <= limit
	case syntax.OpCapture:
		return foldSet(re.Sub[0], limit)
	case syntax.OpAlternate:
		var out []string
		for _, sub := range re.Sub {
			set, ok := foldSet(sub, limit)
			if !ok || len(out)+len(set) > limit {
				return nil, false
			}
			out = append(out, set...)
		}
		return out, true
	case syntax.OpConcat:
		out := []string{""}
		for _, sub := range re.Sub {
			set, ok := foldSet(sub, limit)
			if !ok {
				return nil, false
			}
			if out = cross(out, set, limit); out == nil {
				return nil, false
			}
		}
		return out, true
	}
	return nil, false
}

// cross returns every a+b, or nil if there would be more than limit (or a is empty).
func cross(a, b []string, limit int) []string {
	if len(a) == 0 || len(a)*len(b) > limit {
		return nil
	}
	out := make([]string, 0, len(a)*len(b))
	for _, x := range a {
		for _, y := range b {
			out = append(out, x+y)
		}
	}
	return out
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
