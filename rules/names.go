package rules

import (
	"regexp/syntax"
	"strings"
	"unicode/utf8"
)

// nameSet matches a whole-value regex that is a small set of literal strings, each
// possibly followed by .* — the shape of nearly every scope, such as
// "(request|response)_body|request_param:.*" or "(?i)request_param:(?:password|token)" —
// by comparing strings instead of running the regex engine on every detail name for
// every rule.
//
// Under (?i) (every literal case-folded) the strings are compared ASCII-case-insensitively,
// and names with non-ASCII bytes are left to the regex, since Go folds the Kelvin sign
// and the long s to k and s.
type nameSet struct {
	exact    []string
	prefixes []namePrefix
	fold     bool
}

// namePrefix is a literal followed by .* : nl tells whether the rest may hold '\n' ((?s));
// the rest must not start with any of except (a negative look-ahead, see lookahead.go).
type namePrefix struct {
	lit    string
	nl     bool
	except []string
}

// maxNameSet bounds the strings a set may list.
const maxNameSet = 64

// nameEntry is one string of the set and what may follow it.
type nameEntry struct {
	s    string
	tail int // tailNone, tailLine (.* without the s flag) or tailAll ((?s).*)
}

const (
	tailNone = iota
	tailLine
	tailAll
)

// newNameSet returns nil when re (simplified) is not such a set.
func newNameSet(re *syntax.Regexp) *nameSet {
	fold := -1 // unknown until the first literal
	entries, ok := nameEntries(re, &fold)
	if !ok || len(entries) == 0 {
		return nil
	}
	ns := &nameSet{fold: fold == 1}
	for _, e := range entries {
		if ns.fold {
			for i := 0; i < len(e.s); i++ {
				if e.s[i] >= utf8.RuneSelf {
					return nil
				}
			}
			e.s = strings.ToLower(e.s)
		}
		if e.tail == tailNone {
			ns.exact = append(ns.exact, e.s)
		} else {
			ns.prefixes = append(ns.prefixes, namePrefix{lit: e.s, nl: e.tail == tailAll})
		}
	}
	return ns
}

// nameEntries lists what re matches in full. fold is -1 before the first literal, then 1
// if literals are case-folded, 0 if not; a mix of the two is refused.
func nameEntries(re *syntax.Regexp, fold *int) ([]nameEntry, bool) {
	switch re.Op {
	case syntax.OpEmptyMatch:
		return []nameEntry{{}}, true
	case syntax.OpLiteral:
		f := 0
		if re.Flags&syntax.FoldCase != 0 {
			f = 1
		}
		if *fold >= 0 && *fold != f {
			return nil, false
		}
		*fold = f
		return []nameEntry{{s: string(re.Rune)}}, true
	case syntax.OpCharClass:
		if *fold == 1 {
			return nil, false // a folded class lists the Kelvin sign; leave it to the regex
		}
		var out []nameEntry
		for i := 0; i+1 < len(re.Rune); i += 2 {
			if re.Rune[i+1]-re.Rune[i] >= maxNameSet {
				return nil, false
			}
			for r := re.Rune[i]; r <= re.Rune[i+1]; r++ {
				if len(out) >= maxNameSet || r == utf8.RuneError || (r >= 0xD800 && r <= 0xDFFF) {
					return nil, false
				}
				out = append(out, nameEntry{s: string(r)})
			}
		}
		return out, true
	case syntax.OpStar:
		switch re.Sub[0].Op {
		case syntax.OpAnyCharNotNL:
			return []nameEntry{{tail: tailLine}}, true
		case syntax.OpAnyChar:
			return []nameEntry{{tail: tailAll}}, true
		}
	case syntax.OpCapture:
		return nameEntries(re.Sub[0], fold)
	case syntax.OpQuest:
		sub, ok := nameEntries(re.Sub[0], fold)
		if !ok || len(sub) >= maxNameSet {
			return nil, false
		}
		return append(sub, nameEntry{}), true
	case syntax.OpAlternate:
		var out []nameEntry
		for _, s := range re.Sub {
			sub, ok := nameEntries(s, fold)
			if !ok || len(out)+len(sub) > maxNameSet {
				return nil, false
			}
			out = append(out, sub...)
		}
		return out, true
	case syntax.OpConcat:
		out := []nameEntry{{}}
		for _, s := range re.Sub {
			sub, ok := nameEntries(s, fold)
			if !ok || len(out)*len(sub) > maxNameSet {
				return nil, false
			}
			next := make([]nameEntry, 0, len(out)*len(sub))
			for _, a := range out {
				for _, b := range sub {
					if a.tail != tailNone {
						// Only a final .* is understood: ".*x" is refused, ".*" followed by
						// the empty string is fine.
						if b.s != "" || b.tail != tailNone {
							return nil, false
						}
						next = append(next, a)
						continue
					}
					next = append(next, nameEntry{s: a.s + b.s, tail: b.tail})
				}
			}
			out = next
		}
		return out, true
	}
	return nil, false
}

// match reports whether s is in the set; known is false when the regex must decide (a
// case-folded set and a name with non-ASCII bytes).
func (ns *nameSet) match(s string) (ok, known bool) {
	if ns.fold {
		for i := 0; i < len(s); i++ {
			if s[i] >= utf8.RuneSelf {
				return false, false
			}
		}
	}
	for _, e := range ns.exact {
		if len(e) == len(s) && ns.equal(s, e) {
			return true, true
		}
	}
	for _, p := range ns.prefixes {
		if len(s) >= len(p.lit) && ns.equal(s[:len(p.lit)], p.lit) &&
			(p.nl || strings.IndexByte(s[len(p.lit):], '\n') < 0) && !hasAnyPrefix(s[len(p.lit):], p.except) {
			return true, true
		}
	}
	return false, true
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func (ns *nameSet) equal(a, b string) bool {
	if ns.fold {
		return asciiEqualFold(a, b)
	}
	return a == b
}
