package rules

import (
	"regexp/syntax"
	"strings"
	"unicode/utf8"
)

// prefilter skips a find-regex on values that cannot match: every match contains one of
// its atoms (ASCII, compared case-insensitively). It serves regexes the segmenter cannot,
// such as the default set's JSON rule `(?i)"(password|token|...)"\s*:\s*"..."`, which
// otherwise runs Go's slowest engine over every large body.
type prefilter struct {
	atoms []string
}

// minAtomLen keeps atoms selective enough to be worth the scan.
const minAtomLen = 3

func newPrefilter(re *syntax.Regexp) *prefilter {
	atoms, ok := atomsOf(re)
	if !ok || len(atoms) == 0 || len(atoms) > 64 {
		return nil
	}
	for _, a := range atoms {
		if len(a) < minAtomLen {
			return nil
		}
	}
	return &prefilter{atoms: atoms}
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

// mayMatch is false only when no atom occurs in s. Under Go's case folding the only
// non-ASCII runes equal to ASCII letters are the Kelvin sign and the long s; a value
// holding either is always passed on to the regex.
func (p *prefilter) mayMatch(s string) bool {
	if strings.Contains(s, "\u212a") || strings.Contains(s, "\u017f") {
		return true
	}
	for _, a := range p.atoms {
		if containsFoldASCII(s, a) {
			return true
		}
	}
	return false
}

func containsFoldASCII(s, lit string) bool {
	k := anchorOf(lit)
	c := lowerASCII(lit[k])
	cases := [2]byte{c, c}
	if 'a' <= c && c <= 'z' {
		cases[1] = c - 'a' + 'A'
	}
	for n, b := range cases {
		if n == 1 && b == cases[0] {
			break
		}
		for i := k; i+len(lit)-k <= len(s); {
			j := strings.IndexByte(s[i:len(s)-(len(lit)-k)+1], b)
			if j < 0 {
				break
			}
			i += j
			if asciiEqualFold(s[i-k:i-k+len(lit)], lit) {
				return true
			}
			i++
		}
	}
	return false
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

// rareness orders letters from rare to common in English text and JSON keys; the rarest
// letter of an atom is the byte searched for.
const rareness = "zqxjkvbpygfwmucldrhsnioate"

func anchorOf(lit string) int {
	best, rank := 0, len(rareness)+1
	for i := 0; i < len(lit); i++ {
		if r := strings.IndexByte(rareness, lowerASCII(lit[i])); r >= 0 && r < rank {
			best, rank = i, r
		}
	}
	return best
}
