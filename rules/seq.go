package rules

import (
	"regexp/syntax"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// seqMatcher finds the matches of a find-regex that is a plain sequence of character
// classes, each repeated a number of times, without running a regex engine: the standard
// set's e-mail regex [a-zA-Z0-9.!#$%&’*+/=?^_`{|}~-]+@[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)
// and its digit-run regex [0-9.\-/]{9,}, which scan every body of every call.
//
// It gives exactly Go's regexp answer (leftmost-first matches, greedy repeats, rune
// by rune over invalid UTF-8 too) because it only accepts sequences where that answer
// needs no backtracking: wherever a class may repeat a variable number of times, it
// shares no character with what can follow it, so the greedy choice is the only one
// that can lead to a match. From a given start there is then a single way to match,
// found by consuming each class as far as it goes.
//
// Where a match can start is found without looking at every byte:
//
//   - anchor: some class is one ASCII byte matched exactly once (the '@' of an e-mail
//     address) with at most one class before it; bytes.IndexByte finds each occurrence,
//     the class before it is walked back from it, the rest matched forward.
//   - skip: the first class repeats at least n >= 2 times (digit runs, n = 9) and is
//     ASCII: a run of n such bytes covers every n-th byte, so only every n-th byte is
//     looked at until one is in the class.
type seqMatcher struct {
	items  []seqItem
	anchor int       // index of the anchor item, or -1 for the skip strategy
	abyte  byte      // the anchor's byte
	groups bool      // the regex has capturing groups (whose bounds this matcher does not report)
	run    *[48]byte // skip strategy by classRun (classrun_amd64.go): the first class's tables
	center uint64    // and classCenter of its repeats
}

// seqItem is one class of a sequence, repeated min to max times (max < 0: unbounded).
type seqItem struct {
	ascii    [256]bool // ASCII members (bytes >= 0x80 are never set)
	runes    []rune    // non-ASCII members, sorted; never utf8.RuneError
	min, max int
}

// maxSeqRunes bounds the non-ASCII members a class may list; bigger classes ([^"]) are
// left to the regex engine.
const maxSeqRunes = 16

func (it *seqItem) has(r rune) bool {
	if r < utf8.RuneSelf {
		return r >= 0 && it.ascii[r]
	}
	_, ok := slices.BinarySearch(it.runes, r)
	return ok
}

func (it *seqItem) sameClass(o *seqItem) bool {
	return it.ascii == o.ascii && slices.Equal(it.runes, o.runes)
}

func (it *seqItem) intersects(o *seqItem) bool {
	for i := range utf8.RuneSelf {
		if it.ascii[i] && o.ascii[i] {
			return true
		}
	}
	for _, r := range it.runes {
		if o.has(r) {
			return true
		}
	}
	return false
}

func (it *seqItem) asciiOnly() bool { return len(it.runes) == 0 }

// oneByte returns the byte of a class that is exactly one ASCII byte.
func (it *seqItem) oneByte() (byte, bool) {
	if len(it.runes) > 0 {
		return 0, false
	}
	n, b := 0, byte(0)
	for i, in := range it.ascii {
		if in {
			n, b = n+1, byte(i)
		}
	}
	return b, n == 1
}

func (it *seqItem) addRune(r rune) bool {
	switch {
	case r < 0 || r > unicode.MaxRune || r == utf8.RuneError:
		return false
	case r < utf8.RuneSelf:
		it.ascii[r] = true
	default:
		if i, ok := slices.BinarySearch(it.runes, r); !ok {
			if len(it.runes) >= maxSeqRunes {
				return false
			}
			it.runes = slices.Insert(it.runes, i, r)
		}
	}
	return true
}

// newSeqMatcher returns nil when the (simplified) regex is not such a sequence.
func newSeqMatcher(re *syntax.Regexp) *seqMatcher {
	sm := &seqMatcher{anchor: -1}
	var items []seqItem
	if !sm.flatten(re, &items) || len(items) == 0 {
		return nil
	}
	// Merge repeats of one class (Simplify writes x{9,} as eight x and x+).
	merged := items[:1]
	for _, it := range items[1:] {
		last := &merged[len(merged)-1]
		if !last.sameClass(&it) {
			merged = append(merged, it)
			continue
		}
		last.min += it.min
		if last.max < 0 || it.max < 0 {
			last.max = -1
		} else {
			last.max += it.max
		}
	}
	items = merged
	minLen := 0
	for i := range items {
		minLen += items[i].min
		if items[i].max == items[i].min {
			continue
		}
		// A variable repeat must share nothing with what can follow it: the following
		// classes up to and including the first that must occur.
		for j := i + 1; j < len(items); j++ {
			if items[i].intersects(&items[j]) {
				return nil
			}
			if items[j].min > 0 {
				break
			}
		}
	}
	if minLen == 0 {
		return nil
	}
	sm.items = items
	// Anchor: a single ASCII byte matched once, at index 0 or 1, the rarest there is.
	best := -1
	for k := 0; k < len(items) && k <= 1; k++ {
		b, ok := items[k].oneByte()
		if !ok || items[k].min != 1 || items[k].max != 1 {
			continue
		}
		if k == 1 && items[0].ascii[b] {
			continue // the class before the anchor must not contain it
		}
		if slices.ContainsFunc(items[k+1:], func(it seqItem) bool { return it.ascii[b] }) {
			// The classes after it must not contain it either: then matching forward from
			// one occurrence stops at the next, and the work stays linear in the value.
			continue
		}
		if best < 0 || byteFreq(b) < byteFreq(sm.abyte) {
			best, sm.abyte = k, b
		}
	}
	if best >= 0 {
		sm.anchor = best
		return sm
	}
	if first := &items[0]; first.asciiOnly() && first.min >= 2 && first.max < 0 &&
		!slices.ContainsFunc(items[1:], func(it seqItem) bool { return it.intersects(first) }) {
		// Skip strategy. The classes after the first share nothing with it, so matching
		// them forward stops before the next run of the first: linear work.
		if useClassRun && first.min >= 9 {
			sm.run, sm.center = classTables(first), classCenter(first.min)
		}
		return sm
	}
	return nil
}

// flatten appends the items of re; false if re is not a sequence of classes.
func (sm *seqMatcher) flatten(re *syntax.Regexp, items *[]seqItem) bool {
	switch re.Op {
	case syntax.OpEmptyMatch:
		return true
	case syntax.OpLiteral, syntax.OpCharClass:
		if re.Op == syntax.OpLiteral && len(re.Rune) > 1 {
			for _, r := range re.Rune {
				one := *re
				one.Rune = []rune{r}
				if !sm.flatten(&one, items) {
					return false
				}
			}
			return true
		}
		it, ok := classItem(re)
		if !ok {
			return false
		}
		it.min, it.max = 1, 1
		*items = append(*items, it)
		return true
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat:
		if re.Flags&syntax.NonGreedy != 0 {
			return false
		}
		sub := re.Sub[0]
		for sub.Op == syntax.OpCapture {
			sm.groups = true
			sub = sub.Sub[0]
		}
		it, ok := classItem(sub)
		if !ok {
			return false
		}
		switch re.Op {
		case syntax.OpStar:
			it.min, it.max = 0, -1
		case syntax.OpPlus:
			it.min, it.max = 1, -1
		case syntax.OpQuest:
			it.min, it.max = 0, 1
		default:
			if re.Min < 0 {
				return false
			}
			it.min, it.max = re.Min, re.Max
		}
		*items = append(*items, it)
		return true
	case syntax.OpCapture:
		sm.groups = true
		return sm.flatten(re.Sub[0], items)
	case syntax.OpConcat:
		for _, sub := range re.Sub {
			if !sm.flatten(sub, items) {
				return false
			}
		}
		return true
	}
	return false // alternation, any character, assertions
}

// classItem is the class of a single-character regex: a one-rune literal (case folded
// if so flagged) or a character class.
func classItem(re *syntax.Regexp) (seqItem, bool) {
	var it seqItem
	switch {
	case re.Op == syntax.OpLiteral && len(re.Rune) == 1:
		r := re.Rune[0]
		if !it.addRune(r) {
			return it, false
		}
		if re.Flags&syntax.FoldCase != 0 {
			for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
				if !it.addRune(f) {
					return it, false
				}
			}
		}
		return it, true
	case re.Op == syntax.OpCharClass:
		for i := 0; i+1 < len(re.Rune); i += 2 {
			lo, hi := re.Rune[i], re.Rune[i+1]
			if hi >= utf8.RuneSelf && hi-max(lo, utf8.RuneSelf) >= maxSeqRunes {
				return it, false
			}
			for r := lo; r <= hi; r++ {
				if !it.addRune(r) {
					return it, false
				}
			}
		}
		return it, true
	}
	return it, false
}

// runeAt decodes the rune at s[i] as Go's regexp steps over it (invalid bytes are
// utf8.RuneError, one byte wide, which no class holds).
func runeAt(s string, i int) (rune, int) {
	if c := s[i]; c < utf8.RuneSelf {
		return rune(c), 1
	}
	return utf8.DecodeRuneInString(s[i:])
}

// matchFrom matches items from s[i] the one way they can match and returns the end, or
// -1.
func matchFrom(s string, i int, items []seqItem) int {
	for k := range items {
		it := &items[k]
		if len(it.runes) == 0 {
			// ASCII only: one byte per repeat.
			end := len(s)
			if it.max >= 0 {
				end = min(end, i+it.max)
			}
			st := i
			for i < end && it.ascii[s[i]] {
				i++
			}
			if i-st < it.min {
				return -1
			}
			continue
		}
		limit := it.max // in runes
		if limit < 0 {
			limit = len(s)
		}
		n := 0
		for {
			for i < len(s) && n < limit && it.ascii[s[i]] {
				i++
				n++
			}
			if i == len(s) || n == limit || s[i] < utf8.RuneSelf {
				break
			}
			r, w := utf8.DecodeRuneInString(s[i:])
			if !it.has(r) {
				break
			}
			i += w
			n++
		}
		if n < it.min {
			return -1
		}
	}
	return i
}

// find returns the leftmost match in s at or after lo, as regexp's FindStringIndex on
// s[lo:] would (offsets into s), or start < 0.
func (sm *seqMatcher) find(s string, lo int) (start, end int) {
	if sm.anchor >= 0 {
		return sm.findAnchored(s, lo)
	}
	if sm.run != nil {
		return sm.findRun(s, lo)
	}
	return sm.findSkip(s, lo)
}

func (sm *seqMatcher) findAnchored(s string, lo int) (int, int) {
	rest := sm.items[sm.anchor+1:]
	for q := lo; q < len(s); {
		j := strings.IndexByte(s[q:], sm.abyte)
		if j < 0 {
			break
		}
		a := q + j
		q = a + 1
		// The rest first: after most occurrences of the anchor it fails at once.
		end := matchFrom(s, a+1, rest)
		if end < 0 {
			continue
		}
		start := a
		if sm.anchor == 1 {
			// Walk the class before the anchor back as far as it repeats (not before lo).
			// Every valid rune starts at a byte forward decoding also stops at, so walking
			// back sees the runes the regex sees.
			p := &sm.items[0]
			limit := p.max // in runes
			if limit < 0 {
				limit = len(s)
			}
			n := 0
			for {
				// ASCII bytes (p.ascii is false from 0x80 up), then a non-ASCII rune if p
				// has such members.
				for start > lo && n < limit && p.ascii[s[start-1]] {
					start--
					n++
				}
				if start == lo || n == limit || s[start-1] < utf8.RuneSelf || len(p.runes) == 0 {
					break
				}
				r, w := utf8.DecodeLastRuneInString(s[lo:start])
				if !p.has(r) {
					break
				}
				start -= w
				n++
			}
			if n < p.min {
				continue
			}
		}
		return start, end
	}
	return -1, -1
}

func (sm *seqMatcher) findSkip(s string, lo int) (int, int) {
	in := &sm.items[0].ascii // ASCII only: bytes >= 0x80 are not in it
	m := sm.items[0].min
	known := -1 // s[i:known+1] is known to be in the class
	for i := lo; i+m <= len(s); {
		// No match starts in [lo, i), and s[i-1] is not in the class (or i == lo).
		e := i + m - 1
		if !in[s[e]] {
			i = e + 1
			continue
		}
		j := e - 1
		for j >= i && j > known && in[s[j]] {
			j--
		}
		if j >= i && j > known {
			i, known = j+1, e
			continue
		}
		end := e + 1
		for end < len(s) && in[s[end]] {
			end++
		}
		if r := sm.rest(s, end); r >= 0 {
			return i, r
		}
		i = end // every start in this run ends the first class here, and fails the same way
	}
	return -1, -1
}

// rest matches the items after the first from end, where a run of the first class ends,
// and returns the match's end, or -1 (findSkip and findRun).
func (sm *seqMatcher) rest(s string, end int) int {
	if len(sm.items) == 1 {
		return end
	}
	return matchFrom(s, end, sm.items[1:])
}

// any reports whether the regex matches anywhere in s.
func (sm *seqMatcher) any(s string) bool {
	start, _ := sm.find(s, 0)
	return start >= 0
}

// byteFreq estimates how often a byte occurs in API payloads (JSON, forms, HTML, text),
// in hundredths of a percent; it picks the rarer byte to search for.
func byteFreq(b byte) int {
	switch {
	case 'a' <= b && b <= 'z':
		return letterFreq[b-'a']
	case 'A' <= b && b <= 'Z':
		return letterFreq[b-'A'] / 8
	case '0' <= b && b <= '9':
		return 150
	}
	switch b {
	case '"':
		return 600
	case ' ':
		return 800
	case ':', ',':
		return 200
	case '.', '-', '/', '_':
		return 100
	case '=', '&', '<', '>':
		return 60
	case '@':
		return 10
	}
	if b >= utf8.RuneSelf || b < ' ' {
		return 20
	}
	return 30
}

// letterFreq is the frequency of lower-case letters in English text, in hundredths of a
// percent.
var letterFreq = [26]int{
	820, 150, 280, 430, 1270, 220, 200, 610, 700, 15, 77, 400, 240,
	670, 750, 190, 10, 600, 630, 910, 280, 98, 240, 15, 200, 7,
}
