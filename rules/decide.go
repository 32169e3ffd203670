package rules

import (
	"regexp/syntax"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Verdict is what the stop rules and sampling decided about a call ahead of the rest of
// the rules (Decide), for ApplyDecided to honour. So a caller can drop a call before doing
// costly work on it (the pipeline decoding its bodies) while the stop rules still run, and
// sampling still draws, once per call. The zero Verdict decides nothing: ApplyDecided is
// then ApplyOpaque.
type Verdict struct {
	decided bool
	// The call's backtracking budget as the stop rules left it (see callState): the
	// rules after them go on from there, as in one Apply.
	gaveUp   bool
	deadline time.Time
}

// Drops tells whether the rules may drop a call by its details: there is a stop rule or
// a sample rule. (Apply also drops a call the remove rules leave without details.)
func (r *Rules) Drops() bool {
	return r.sample > 0 || slices.ContainsFunc(r.stops(), func(g []*rule) bool { return len(g) > 0 })
}

// StopsMayRead tells whether some stop rule's scope may match a detail named one of
// names, or one whose name starts with one of prefixes: whether the stop rules' verdict
// may depend on those details. It errs towards true: a scope on the backtracking engine
// is taken to match anything, and one on RE2 a prefix family unless the literals every
// match starts with (see literals) rule it out. Decide may run before such details are
// final only when this is false.
func (r *Rules) StopsMayRead(names, prefixes []string) bool {
	for _, group := range r.stops() {
		for _, rl := range group {
			for _, m := range [...]*matcher{rl.scope, rl.scope.java} {
				if m != nil && mayMatchName(m, names, prefixes) {
					return true
				}
			}
		}
	}
	return false
}

// mayMatchName is StopsMayRead for one whole-name matcher.
func mayMatchName(m *matcher, names, prefixes []string) bool {
	if m.re == nil || !m.full {
		return true // the backtracking engine, or not a scope: not analysed
	}
	for _, n := range names {
		if m.re.MatchString(n) {
			return true
		}
	}
	if len(prefixes) == 0 {
		return false
	}
	re, err := syntax.Parse(m.re.String(), syntax.Perl)
	if err != nil {
		return true
	}
	starts, whole := literals(re.Simplify())
	if starts == nil {
		return true // a match may start with anything
	}
	for _, p := range prefixes {
		for _, s := range starts {
			// A name starting with p matches only if s (all of a match, when whole) does or
			// can go on to start with p.
			if strings.HasPrefix(s, p) || !whole && strings.HasPrefix(p, s) {
				return true
			}
		}
	}
	return false
}

// maxLiterals bounds the strings literals lists.
const maxLiterals = 64

// literals returns strings one of which starts every match of re (whole: is every match),
// or nil when it cannot tell: a case-folded literal or one holding U+FFFD, a class, a repeat before any literal,
// or too many strings. Anchors match the empty string.
func literals(re *syntax.Regexp) (starts []string, whole bool) {
	switch re.Op {
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 || slices.Contains(re.Rune, utf8.RuneError) {
			return nil, false // U+FFFD matches any byte of invalid UTF-8 too
		}
		return []string{string(re.Rune)}, true
	case syntax.OpEmptyMatch, syntax.OpBeginText, syntax.OpEndText, syntax.OpBeginLine, syntax.OpEndLine:
		return []string{""}, true
	case syntax.OpCapture:
		return literals(re.Sub[0])
	case syntax.OpAlternate:
		whole = true
		for _, sub := range re.Sub {
			s, w := literals(sub)
			if s == nil || len(starts)+len(s) > maxLiterals {
				return nil, false
			}
			starts, whole = append(starts, s...), whole && w
		}
		return starts, whole
	case syntax.OpConcat:
		starts = []string{""}
		for _, sub := range re.Sub {
			s, w := literals(sub)
			if s == nil {
				return starts, false
			}
			if len(starts)*len(s) > maxLiterals {
				return starts, false
			}
			next := make([]string, 0, len(starts)*len(s))
			for _, a := range starts {
				for _, b := range s {
					next = append(next, a+b)
				}
			}
			if starts = next; !w {
				return starts, false
			}
		}
		return starts, true
	}
	return nil, false
}

// Decide runs the stop rules and sampling on a call's details, as Apply would first:
// keep is false when the call is to be dropped. Otherwise the call's rules are to be
// finished by ApplyDecided with v, on its details built afresh (Decide works in place,
// like Apply): it runs the remove and replace rules only. Whether the details Decide saw
// may differ from those ApplyDecided gets (bodies not yet decoded) is for the caller to
// make sure of with StopsMayRead.
func (r *Rules) Decide(details [][2]string) (v Verdict, keep bool) {
	if len(details) == 0 {
		return Verdict{}, false
	}
	st := &callState{r: r}
	var scopeBuf [32]uint64
	details, scopes := st.begin(details, scopeBuf[:0])
	if !st.passes(details, scopes) {
		return Verdict{}, false
	}
	return Verdict{decided: true, gaveUp: st.gaveUp, deadline: st.deadline}, true
}

// ApplyDecided is ApplyOpaque for a call Decide kept with verdict v: the stop rules and
// sampling are not run again.
func (r *Rules) ApplyDecided(details [][2]string, bufs *[][]byte, opaque Opaque, v Verdict) (out [][2]string, keep bool) {
	return r.apply(details, bufs, opaque, v)
}
