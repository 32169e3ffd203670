package rules

import (
	"encoding/binary"
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/dlclark/regexp2/v2"
)

// MatchTimeout bounds the time regexes that need the backtracking engine (look-around,
// backreferences) may take: any one match, and all such matches of one Apply call
// together. Such a regex can take exponential time on hostile input; a match that runs
// out of time fails closed (see Apply). It is wall-clock time, so it is set well above
// what sane matches take even on a starved CPU (micro- to milliseconds). It applies to
// rules parsed after it is set.
var MatchTimeout = 500 * time.Millisecond

// maxBacktrackStack bounds the backtracking engine's stack per match (in slots).
const maxBacktrackStack = 1 << 20

// errEngine is returned when the backtracking engine gives up (timeout, stack limit)
// or fails in a way it should not (a recovered panic).
var errEngine = errors.New("regex engine gave up")

// matcher is one compiled regex of a rule. Exactly one of re and bt is set: re (Go's
// linear-time RE2 engine) whenever the regex can be expressed there with Java's meaning,
// bt (regexp2, backtracking, with MatchTimeout) otherwise.
type matcher struct {
	src  string // the regex as the user wrote it (after delimiter unescaping)
	full bool   // must match the whole value (Java's Matcher.matches)
	re   *regexp.Regexp
	bt   *regexp2.Regexp

	// Fast paths, all exact (they never change what matches):
	names *nameSet    // full match of a few literals, each possibly followed by .*
	seq   *seqMatcher // find: a sequence of classes, matched without the engine
	seg   *segmenter  // find: matches can only lie inside runs of certain bytes
	pre   *prefilter  // find: every match contains one of a few literals
	// anch is the regex anchored (^), for a find-regex without assertions whose every
	// match starts with one of pre's atoms: it runs only where an atom starts.
	anch *regexp.Regexp

	// java, when set, is the regex with Java's ASCII-only (?i) written out (javaRewrite):
	// it runs on text holding non-ASCII characters, where Go's folding differs (the Kelvin
	// sign matching k). On ASCII text both agree, and this matcher's fast paths run.
	java *matcher
	// preFirst: java is set and its prefilter is pre's (the same atoms), so that pre
	// finding no atom rules out a match on either (ruledOut), before forInput.
	preFirst bool
}

// forInput returns the matcher to run on s: java when s holds a non-ASCII byte.
func (m *matcher) forInput(s string) *matcher {
	if m.java != nil && !isASCII(s) {
		return m.java
	}
	return m
}

// ruledOut tells, by m's prefilter alone, that neither m nor m.java finds anything in s;
// it runs before forInput's isASCII, so that a body no atom occurs in is read once, not
// twice. Only for a matcher with preFirst.
func (m *matcher) ruledOut(s string) bool {
	return m.preFirst && !m.pre.mayMatch(s)
}

// isASCII tells whether s holds only ASCII bytes, 32 at a time (bodies are long): four
// words or'ed together before the test, so that the loop branches once per 32 bytes.
func isASCII(s string) bool {
	b := unsafe.Slice(unsafe.StringData(s), len(s))
	const hi = 0x8080808080808080
	i := 0
	for ; i+32 <= len(b); i += 32 {
		w := binary.LittleEndian.Uint64(b[i:]) | binary.LittleEndian.Uint64(b[i+8:]) |
			binary.LittleEndian.Uint64(b[i+16:]) | binary.LittleEndian.Uint64(b[i+24:])
		if w&hi != 0 {
			return false
		}
	}
	for ; i+8 <= len(b); i += 8 {
		if binary.LittleEndian.Uint64(b[i:])&hi != 0 {
			return false
		}
	}
	for ; i < len(b); i++ {
		if b[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// compileMatcher compiles a rule's regex. full selects Java matches() semantics (the
// whole string must match) over find() (a match anywhere).
func compileMatcher(src string, full bool) (*matcher, error) {
	return compileMatcherFor(src, full, false)
}

// compileMatcherFor is compileMatcher; replacing says the regex is a replace rule's.
//
// Where an empty match directly follows another match, Java (and the backtracking
// engine, after .NET) replaces it too, while Go's regexp skips it: "abc" with .* becomes
// "ZZ" in Java but "Z" in Go. So a replace regex that can match the empty string runs on
// the backtracking engine, which gives Java's answer.
func compileMatcherFor(src string, full, replacing bool) (*matcher, error) {
	if len(src) > maxRegexLen {
		return nil, fmt.Errorf("regex is %d bytes long; at most %d are allowed", len(src), maxRegexLen)
	}
	p, _, err := javaRewrite(src, false)
	if err != nil {
		return nil, err
	}
	exact, nonASCII, err := javaRewrite(src, true)
	if err != nil {
		return nil, err
	}
	if nonASCII {
		return compileRewritten(src, exact, full, replacing) // Go's folding is wrong on ASCII too
	}
	m, err := compileRewritten(src, p, full, replacing)
	if err != nil {
		return nil, err
	}
	if exact != p {
		if m.java, err = compileRewritten(src, exact, full, replacing); err != nil {
			return nil, err
		}
		m.preFirst = m.pre != nil && m.pre.same(m.java.pre)
	}
	return m, nil
}

// compileRewritten compiles p, the rule's regex src as javaRewrite wrote it.
func compileRewritten(src, p string, full, replacing bool) (*matcher, error) {
	sc, err := checkJava(p)
	if err != nil {
		return nil, err
	}
	if sc.openQuote {
		p += `\E`
	}
	m := &matcher{src: src, full: full}
	expr := p
	if full {
		expr = `^(?:` + p + `)$`
	}
	if !sc.backtrack {
		re, err := regexp.Compile(expr)
		if err == nil && !(replacing && canMatchEmpty(p)) {
			m.re = re
			m.addFastPaths(p)
			return m, nil
		}
		// RE2 refused it; the backtracking engine may still know the syntax (\uFFFF, \e, ...).
		bt, err2 := compileBacktrack(expr)
		if err2 != nil {
			if err == nil {
				err = err2
			}
			return nil, fmt.Errorf("invalid regex: %v", cleanRegexErr(err))
		}
		m.bt = bt
		return m, nil
	}
	bt, err := compileBacktrack(expr)
	if err != nil {
		return nil, fmt.Errorf("invalid regex: %v", err)
	}
	m.bt = bt
	if full && !sc.openQuote {
		m.names = lookaheadNameSet(p)
	}
	return m, nil
}

const maxRegexLen = 16 << 10

// compileBacktrack compiles with regexp2 in RE2 mode (ASCII \d \w \s like Java, and the
// same meaning as the RE2 path for everything both know), numbering groups in pattern
// order as Java does.
func compileBacktrack(expr string) (re *regexp2.Regexp, err error) {
	defer func() {
		if r := recover(); r != nil {
			re, err = nil, fmt.Errorf("regex rejected by the backtracking engine: %v", r)
		}
	}()
	re, err = regexp2.Compile(expr, regexp2.RE2, regexp2.OptionMaintainCaptureOrder(),
		regexp2.OptionMaxBacktrackingStackSize(maxBacktrackStack))
	if err != nil {
		return nil, err
	}
	re.MatchTimeout = MatchTimeout
	return re, nil
}

func cleanRegexErr(err error) string {
	return strings.TrimPrefix(err.Error(), "error parsing regexp: ")
}

// canMatchEmpty tells whether the RE2-compatible regex p matches the empty string
// somewhere (assertions aside).
func canMatchEmpty(p string) bool {
	re, err := syntax.Parse(p, syntax.Perl)
	if err != nil {
		return true
	}
	return minLen(re.Simplify()) == 0
}

// numGroups is the number of capturing groups.
func (m *matcher) numGroups() int {
	if m.re != nil {
		return m.re.NumSubexp()
	}
	nums := m.bt.GetGroupNumbers()
	return len(nums) - 1
}

// groupIndex returns the number of the named group, or -1.
func (m *matcher) groupIndex(name string) int {
	if m.re != nil {
		return m.re.SubexpIndex(name)
	}
	n := m.bt.GroupNumberFromName(name)
	if n <= 0 {
		return -1
	}
	return n
}

// match reports whether s matches (whole or anywhere, per m.full). The error is
// non-nil only when the backtracking engine gave up; callers fail closed.
func (m *matcher) match(s string) (bool, error) {
	if m.ruledOut(s) {
		return false, nil
	}
	if m.java != nil {
		if j := m.forInput(s); j != m {
			return j.match(s)
		}
	}
	if m.names != nil {
		if ok, known := m.names.match(s); known {
			return ok, nil
		}
	}
	if m.re != nil {
		if m.seq != nil {
			return m.seq.any(s), nil
		}
		if m.anch != nil && m.pre.foldSafe(s) {
			if ok, done := m.anchoredAny(s); done {
				return ok, nil
			}
		}
		if m.pre != nil && !m.pre.mayMatch(s) {
			return false, nil
		}
		if m.seg != nil {
			return m.seg.any(m.re, s), nil
		}
		return m.re.MatchString(s), nil
	}
	return btMatch(m.bt, s)
}

func btMatch(re *regexp2.Regexp, s string) (ok bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			ok, err = false, errEngine
		}
	}()
	ok, err = re.MatchString(s)
	if err != nil {
		return false, errEngine
	}
	return ok, nil
}

// addFastPaths analyses the RE2-compatible regex p for exact shortcuts.
func (m *matcher) addFastPaths(p string) {
	re, err := syntax.Parse(p, syntax.Perl)
	if err != nil {
		return
	}
	re = re.Simplify()
	if m.full {
		m.names = newNameSet(re)
		return
	}
	m.seq = newSeqMatcher(re)
	m.seg = newSegmenter(re)
	m.pre = newPrefilter(re)
	if m.pre != nil && m.pre.prefix && !hasAssertions(re) {
		m.anch, _ = regexp.Compile(`^(?:` + p + `)`)
	}
}

// hasAssertions tells whether re holds an empty-width assertion (^ $ \A \z \b \B), whose
// answer depends on what lies around a match.
func hasAssertions(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText,
		syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return true
	}
	for _, sub := range re.Sub {
		if hasAssertions(sub) {
			return true
		}
	}
	return false
}

// anchoredAll is re.FindAllStringSubmatchIndex(s, -1) for a matcher with anch, when
// pre.foldSafe(s). Every match starts where an atom does, so the leftmost match is at the
// first atom, at or after the end of the previous match, where the anchored regex
// matches, and it is the match the anchored regex finds there: the regex has no
// assertions to look beyond the match.
//
// Each anchored run may read to the end of s, so with more than maxAnchored atoms in s
// it returns ok false and the caller searches the usual way, in linear time.
func (m *matcher) anchoredAll(s string) (locs [][]int, ok bool) {
	var buf [maxAnchored + 1]int
	starts, ok := m.pre.starts(buf[:0], s, maxAnchored)
	if !ok {
		return nil, false
	}
	var out [][]int
	lo := 0
	for _, st := range starts {
		if st < lo {
			continue
		}
		loc := m.anch.FindStringSubmatchIndex(s[st:])
		if loc == nil {
			continue
		}
		for k := range loc {
			if loc[k] >= 0 {
				loc[k] += st
			}
		}
		out = append(out, loc)
		lo = loc[1]
	}
	return out, true
}

// maxAnchored bounds the anchored runs per value (see anchoredAll).
const maxAnchored = 16

// anchoredAny is re.MatchString(s) for a matcher with anch, when pre.foldSafe(s); ok is
// false when s holds more than maxAnchored atoms.
func (m *matcher) anchoredAny(s string) (match, ok bool) {
	var buf [maxAnchored + 1]int
	starts, ok := m.pre.starts(buf[:0], s, maxAnchored)
	if !ok {
		return false, false
	}
	for _, st := range starts {
		if m.anch.MatchString(s[st:]) {
			return true, true
		}
	}
	return false, true
}
