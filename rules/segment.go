package rules

import (
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// segmenter speeds up find-regexes on large values (bodies) without changing results.
//
// Go's regexp falls back to its slowest engine on inputs of more than a few KiB, and the
// standard set's regexes have no literal prefix to skip ahead with. But those regexes can
// only ever match a few kinds of bytes ([0-9.\-/] for long digit runs), so a body splits
// into short runs of such bytes separated by bytes no match can contain. When the regex
// has no zero-width assertions (^ $ \b) and cannot match the empty string, matching each
// run on its own finds exactly the matches a scan of the whole value finds: a match can
// neither cross a separator nor depend on what lies beyond one. Runs shorter than the
// shortest possible match, or lacking a literal every match contains, are skipped.
type segmenter struct {
	in      [256]bool // bytes that can be part of a match
	minLen  int       // bytes in the shortest possible match
	require []string  // literals every match contains
	// wholeRun is set for a regex of the form [class]{n,} over ASCII: every run of at
	// least minLen bytes is then exactly one (greedy) match, found without the regex.
	wholeRun bool
}

// newSegmenter returns nil when the regex does not qualify.
func newSegmenter(re *syntax.Regexp) *segmenter {
	sg := &segmenter{}
	if !sg.collect(re) {
		return nil
	}
	sg.minLen = minLen(re)
	if sg.minLen == 0 {
		return nil
	}
	sg.require = required(re)
	n := 0
	for _, b := range sg.in {
		if b {
			n++
		}
	}
	if n == 256 {
		return nil // every byte can match: no gain
	}
	sg.wholeRun = isClassRun(re)
	return sg
}

// isClassRun tells whether re (simplified) is C{n,} for an ASCII-only class C: Simplify
// writes it as n-1 copies of C followed by C+.
func isClassRun(re *syntax.Regexp) bool {
	var class *syntax.Regexp
	same := func(c *syntax.Regexp) bool {
		if c.Op != syntax.OpCharClass {
			return false
		}
		if class == nil {
			for _, r := range c.Rune {
				if r >= utf8.RuneSelf {
					return false
				}
			}
			class = c
			return true
		}
		return slices.Equal(c.Rune, class.Rune)
	}
	subs := []*syntax.Regexp{re}
	if re.Op == syntax.OpConcat {
		subs = re.Sub
	}
	last := subs[len(subs)-1]
	if last.Op != syntax.OpPlus || !same(last.Sub[0]) {
		return false
	}
	for _, c := range subs[:len(subs)-1] {
		if !same(c) {
			return false
		}
	}
	return true
}

// collect marks the bytes each part of re can match; false if re has assertions or
// matches arbitrary characters.
func (sg *segmenter) collect(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpLiteral:
		for _, r := range re.Rune {
			if re.Flags&syntax.FoldCase != 0 {
				for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
					sg.addRune(f)
				}
			}
			sg.addRune(r)
		}
		return true
	case syntax.OpCharClass:
		for i := 0; i+1 < len(re.Rune); i += 2 {
			lo, hi := re.Rune[i], re.Rune[i+1]
			if lo < utf8.RuneSelf {
				for r := lo; r <= min(hi, utf8.RuneSelf-1); r++ {
					sg.in[r] = true
				}
			}
			if hi >= utf8.RuneSelf {
				sg.addRune(utf8.RuneSelf)
			}
		}
		return true
	case syntax.OpCapture, syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat,
		syntax.OpConcat, syntax.OpAlternate:
		for _, s := range re.Sub {
			if !sg.collect(s) {
				return false
			}
		}
		return true
	case syntax.OpEmptyMatch:
		return true
	}
	return false // assertions, any-char, no-match
}

// addRune marks the bytes of r; any non-ASCII rune marks every byte >= 0x80, since
// invalid UTF-8 reads as U+FFFD and multi-byte runes share lead and continuation bytes.
func (sg *segmenter) addRune(r rune) {
	if r < utf8.RuneSelf {
		sg.in[r] = true
		return
	}
	for b := 0x80; b < 0x100; b++ {
		sg.in[b] = true
	}
}

// minLen is a lower bound, in bytes, of the length of any match.
func minLen(re *syntax.Regexp) int {
	switch re.Op {
	case syntax.OpLiteral:
		return len(re.Rune) // each rune is at least one byte
	case syntax.OpCharClass, syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return 1
	case syntax.OpCapture, syntax.OpPlus:
		return minLen(re.Sub[0])
	case syntax.OpRepeat:
		return re.Min * minLen(re.Sub[0])
	case syntax.OpConcat:
		n := 0
		for _, s := range re.Sub {
			n += minLen(s)
		}
		return n
	case syntax.OpAlternate:
		n := -1
		for _, s := range re.Sub {
			if l := minLen(s); n < 0 || l < n {
				n = l
			}
		}
		return max(n, 0)
	}
	return 0
}

// required lists case-sensitive literals that every match contains.
func required(re *syntax.Regexp) []string {
	switch re.Op {
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase == 0 {
			return []string{string(re.Rune)}
		}
	case syntax.OpCapture, syntax.OpPlus:
		return required(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min > 0 {
			return required(re.Sub[0])
		}
	case syntax.OpConcat:
		var out []string
		for _, s := range re.Sub {
			out = append(out, required(s)...)
		}
		return out
	}
	return nil
}

// next returns the bounds of the next run at or after i that could hold a match, or
// start == len(s) when there is none.
func (sg *segmenter) next(s string, i int) (start, end int) {
	in := &sg.in
	if len(sg.require) > 0 {
		// Jump to the next occurrence of a required literal (its bytes are match bytes,
		// so it lies inside a run) and widen it to its run.
		lit := sg.require[0]
		for i < len(s) {
			j := strings.Index(s[i:], lit)
			if j < 0 {
				break
			}
			start, end = i+j, i+j+len(lit)
			for start > i && in[s[start-1]] {
				start--
			}
			for end < len(s) && in[s[end]] {
				end++
			}
			if end-start >= sg.minLen && sg.hasRequired(s[start:end]) {
				return start, end
			}
			i = end
		}
		return len(s), len(s)
	}
	for i < len(s) {
		for i < len(s) && !in[s[i]] {
			i++
		}
		start = i
		for i < len(s) && in[s[i]] {
			i++
		}
		if i-start >= sg.minLen {
			return start, i
		}
	}
	return len(s), len(s)
}

func (sg *segmenter) hasRequired(run string) bool {
	for _, lit := range sg.require {
		if !strings.Contains(run, lit) {
			return false
		}
	}
	return true
}

// any reports whether re matches anywhere in s.
func (sg *segmenter) any(re *regexp.Regexp, s string) bool {
	for i := 0; i < len(s); {
		start, end := sg.next(s, i)
		if start >= len(s) {
			return false
		}
		if sg.wholeRun || re.MatchString(s[start:end]) {
			return true
		}
		i = end
	}
	return false
}

// allIndex returns the submatch indexes of every match in s, like
// re.FindAllStringSubmatchIndex(s, -1).
func (sg *segmenter) allIndex(re *regexp.Regexp, s string) [][]int {
	var out [][]int
	for i := 0; i < len(s); {
		start, end := sg.next(s, i)
		if start >= len(s) {
			break
		}
		if sg.wholeRun {
			out = append(out, []int{start, end})
			i = end
			continue
		}
		for _, loc := range re.FindAllStringSubmatchIndex(s[start:end], -1) {
			for k := range loc {
				if loc[k] >= 0 {
					loc[k] += start
				}
			}
			out = append(out, loc)
		}
		i = end
	}
	return out
}
