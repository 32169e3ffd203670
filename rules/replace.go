package rules

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/dlclark/regexp2/v2"
)

// replPart is one piece of a parsed replacement: literal text, or a group reference.
type replPart struct {
	lit   string
	group int // -1 for a literal
}

// parseReplacement reads a replacement string with java.util.regex.Matcher's syntax:
// $n and ${name} refer to groups, \x is a literal x. Java resolves "$12" to group 12
// only if the regex has that many groups (else group 1 followed by "2"); references to
// missing groups are reported here, at parse time, instead of failing on the first
// matching call as Java does.
func parseReplacement(s string, m *matcher) ([]replPart, error) {
	var parts []replPart
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			parts = append(parts, replPart{lit: lit.String(), group: -1})
			lit.Reset()
		}
	}
	groups := m.numGroups()
	for i := 0; i < len(s); {
		c := s[i]
		switch c {
		case '\\':
			if i+1 >= len(s) {
				return nil, fmt.Errorf(`replacement ends with a lone backslash; write \\ for a backslash`)
			}
			_, w := utf8.DecodeRuneInString(s[i+1:])
			lit.WriteString(s[i+1 : i+1+w])
			i += 1 + w
		case '$':
			i++
			if i >= len(s) {
				return nil, fmt.Errorf(`replacement ends with a lone $; write \$ for a dollar sign`)
			}
			if s[i] == '{' {
				end := strings.IndexByte(s[i:], '}')
				if end < 0 {
					return nil, fmt.Errorf("replacement has ${ without a closing }")
				}
				name := s[i+1 : i+end]
				if !validGroupName(name) {
					return nil, fmt.Errorf("replacement refers to group ${%s}: a group name is a letter followed by letters or digits", name)
				}
				g := m.groupIndex(name)
				if g < 0 {
					return nil, fmt.Errorf("replacement refers to group ${%s}, which the regex does not define", name)
				}
				flush()
				parts = append(parts, replPart{group: g})
				i += end + 1
				continue
			}
			if s[i] < '0' || s[i] > '9' {
				return nil, fmt.Errorf(`replacement has $ followed by %q; write $0-$9 or ${name} for a group, \$ for a dollar sign`, s[i])
			}
			ref := int(s[i] - '0')
			if ref > groups {
				return nil, fmt.Errorf("replacement refers to group $%d but the regex has %d group(s)", ref, groups)
			}
			i++
			for i < len(s) && s[i] >= '0' && s[i] <= '9' {
				next := ref*10 + int(s[i]-'0')
				if next > groups {
					break
				}
				ref = next
				i++
			}
			flush()
			parts = append(parts, replPart{group: ref})
		default:
			lit.WriteByte(c)
			i++
		}
	}
	flush()
	return parts, nil
}

func validGroupName(name string) bool {
	if name == "" {
		return false
	}
	for i, r := range name {
		letter := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
		if !letter && (i == 0 || r < '0' || r > '9') {
			return false
		}
	}
	return true
}

// replaceAll replaces every match of m in s, like Java's Matcher.replaceAll. It returns s
// itself (no copy) when nothing matches. The error is non-nil only when the backtracking
// engine gave up.
func replaceAll(m *matcher, parts []replPart, s string) (string, error) {
	m = m.forInput(s)
	if m.re == nil {
		out, _, err := btReplaceAll(m.bt, parts, s)
		return out, err
	}
	out, changed := appendReplaced(nil, m, parts, s)
	if !changed {
		return s, nil
	}
	return string(out), nil
}

// appendReplaced appends s with every match of m (on the RE2 engine) replaced to dst, and
// reports whether anything matched; if not, dst is returned as it was.
func appendReplaced(dst []byte, m *matcher, parts []replPart, s string) ([]byte, bool) {
	if m.seq != nil && !usesGroups(parts) {
		return seqAppendReplaced(dst, m.seq, parts, s)
	}
	var locs [][]int
	done := false
	if m.anch != nil && m.pre.foldSafe(s) {
		locs, done = m.anchoredAll(s)
	}
	if !done {
		if m.pre != nil && !m.pre.mayMatch(s) {
			return dst, false
		}
		if m.seg != nil {
			locs = m.seg.allIndex(m.re, s)
		} else {
			locs = m.re.FindAllStringSubmatchIndex(s, -1)
		}
	}
	if len(locs) == 0 {
		return dst, false
	}
	dst = slices.Grow(dst, len(s))
	last := 0
	if lit, ok := onlyLiteral(parts); ok {
		for _, loc := range locs {
			dst = append(append(dst, s[last:loc[0]]...), lit...)
			last = loc[1]
		}
		return append(dst, s[last:]...), true
	}
	for _, loc := range locs {
		dst = append(dst, s[last:loc[0]]...)
		for _, p := range parts {
			if p.group < 0 {
				dst = append(dst, p.lit...)
			} else if lo := loc[2*p.group]; lo >= 0 {
				dst = append(dst, s[lo:loc[2*p.group+1]]...)
			}
		}
		last = loc[1]
	}
	return append(dst, s[last:]...), true
}

// onlyLiteral returns the text of a replacement that is one literal, as the predefined
// sets' are ("x@y.com", "0", "xxx"): the replacing loops then append it without going over
// the parts per match.
func onlyLiteral(parts []replPart) (string, bool) {
	if len(parts) == 1 && parts[0].group < 0 {
		return parts[0].lit, true
	}
	return "", false
}

// usesGroups tells whether a replacement refers to a group other than the whole match.
func usesGroups(parts []replPart) bool {
	for _, p := range parts {
		if p.group > 0 {
			return true
		}
	}
	return false
}

// seqAppendReplaced is appendReplaced for a sequence matcher (no group but $0 referred to).
func seqAppendReplaced(dst []byte, sm *seqMatcher, parts []replPart, s string) ([]byte, bool) {
	start, end := sm.find(s, 0)
	if start < 0 {
		return dst, false
	}
	dst = slices.Grow(dst, len(s))
	last := 0
	if lit, ok := onlyLiteral(parts); ok {
		for start >= 0 {
			dst = append(append(dst, s[last:start]...), lit...)
			last = end
			start, end = sm.find(s, end)
		}
		return append(dst, s[last:]...), true
	}
	for start >= 0 {
		dst = append(dst, s[last:start]...)
		for _, p := range parts {
			if p.group < 0 {
				dst = append(dst, p.lit...)
			} else {
				dst = append(dst, s[start:end]...)
			}
		}
		last = end
		start, end = sm.find(s, end)
	}
	return append(dst, s[last:]...), true
}

// btReplaceAll is replaceAll on the backtracking engine, which works on runes; invalid
// UTF-8 in s comes out as U+FFFD when anything matched. changed is false when nothing
// matched (out is then s).
func btReplaceAll(re *regexp2.Regexp, parts []replPart, s string) (out string, changed bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, changed, err = "", false, errEngine
		}
	}()
	rs := []rune(s)
	var b strings.Builder
	last, matched := 0, false
	err = re.FindRunesMatches(rs, 0, func(v regexp2.MatchView) bool {
		idx, n, ok := v.GroupRange(0)
		if !ok {
			return true
		}
		if !matched {
			b.Grow(len(s))
			matched = true
		}
		b.WriteString(string(rs[last:idx]))
		for _, p := range parts {
			if p.group < 0 {
				b.WriteString(p.lit)
			} else if gi, gn, ok := v.GroupRange(p.group); ok {
				b.WriteString(string(rs[gi : gi+gn]))
			}
		}
		last = idx + n
		return true
	})
	if err != nil {
		return "", false, errEngine
	}
	if !matched {
		return s, false, nil
	}
	b.WriteString(string(rs[last:]))
	return b.String(), true, nil
}
