package rules

import (
	"regexp/syntax"
	"strings"
)

// lookaheadNameSet is newNameSet for a whole-value regex on the backtracking engine whose
// only Java-only construct is a negative look-ahead right after a literal prefix, as in
// the strict set's scope:
//
//	request_body|request_param:.*|request_header:(?!user-agent).*|response_header:(?!(content-length)|(content-type)).*
//
// A branch "P(?!A|B).*" matches a name that starts with P, does not continue with A or B,
// and holds no '\n' after P ('.' on the backtracking engine, as on RE2, is any character
// but '\n'; $ in RE2 mode is the end of the text). Other branches must be plain enough for
// newNameSet. Anything else returns nil and the engine decides, as before.
func lookaheadNameSet(src string) *nameSet {
	ns := &nameSet{}
	for _, branch := range splitTop(src) {
		if i := strings.Index(branch, "(?!"); i >= 0 {
			lit, rest := branch[:i], branch[i+3:]
			end := strings.LastIndex(rest, ").*")
			if end < 0 || end+3 != len(rest) || !plainLiteral(lit) {
				return nil
			}
			var excl []string
			for _, alt := range splitTop(rest[:end]) {
				if len(alt) >= 2 && alt[0] == '(' && alt[len(alt)-1] == ')' {
					alt = alt[1 : len(alt)-1]
				}
				if !plainLiteral(alt) || alt == "" {
					return nil
				}
				excl = append(excl, alt)
			}
			ns.prefixes = append(ns.prefixes, namePrefix{lit: lit, except: excl})
			continue
		}
		if strings.Contains(branch, "(?") || strings.Contains(branch, `\`) {
			return nil // flags, other look-arounds, escapes: left to the engine
		}
		re, err := syntax.Parse(branch, syntax.Perl)
		if err != nil {
			return nil
		}
		sub := newNameSet(re.Simplify())
		if sub == nil || sub.fold {
			return nil
		}
		ns.exact = append(ns.exact, sub.exact...)
		ns.prefixes = append(ns.prefixes, sub.prefixes...)
	}
	if len(ns.exact)+len(ns.prefixes) == 0 || len(ns.exact)+len(ns.prefixes) > maxNameSet {
		return nil
	}
	return ns
}

// splitTop splits a regex at the '|' outside parentheses and classes.
func splitTop(s string) []string {
	var out []string
	depth, start, inClass := 0, 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			i++
		case inClass:
			if c == ']' {
				inClass = false
			}
		case c == '[':
			inClass = true
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == '|' && depth == 0:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// plainLiteral tells whether s is made only of characters that mean themselves in a regex
// and fold to nothing else: ASCII letters, digits, '_', ':' and '-'.
func plainLiteral(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}
