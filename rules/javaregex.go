package rules

import (
	"fmt"
	"strings"
)

// scanResult is what checkJava learned about a rule's regex before it is compiled.
type scanResult struct {
	backtrack bool // needs look-around, backreferences, atomic groups or possessive quantifiers
	openQuote bool // ends inside \Q... with no \E
}

// javaPosixClasses are Java's ASCII-only \p{...} names. regexp2 knows some of the same
// names as Unicode properties (Alpha = Alphabetic, any script), so passing them through
// would silently widen the class; they are rejected with a portable spelling instead.
var javaPosixClasses = map[string]string{
	"Lower": "[a-z]", "Upper": "[A-Z]", "ASCII": `[\x00-\x7F]`, "Alpha": "[a-zA-Z]",
	"Digit": "[0-9]", "Alnum": "[a-zA-Z0-9]", "Punct": "[[:punct:]] outside a class, or list the characters",
	"Graph": `[\x21-\x7E]`, "Print": `[\x20-\x7E]`, "Blank": `[ \t]`, "Cntrl": `[\x00-\x1F\x7F]`,
	"XDigit": "[0-9a-fA-F]", "Space": `[ \t\n\x0B\f\r]`,
}

// checkJava walks a regex written for java.util.regex and finds the constructs that
// Go's RE2 engine lacks (they need the backtracking engine) or that both Go engines would
// accept with a different meaning than Java gives them. The latter are rejected: a
// rule must never match something else than its author meant.
func checkJava(p string) (scanResult, error) {
	var res scanResult
	rs := []rune(p)
	n := len(rs)
	for i := 0; i < n; i++ {
		c := rs[i]
		switch c {
		case '\\':
			j, err := checkEscape(rs, i, false, &res)
			if err != nil {
				return res, err
			}
			i = j
		case '[':
			j, err := checkClass(rs, i, &res)
			if err != nil {
				return res, err
			}
			i = j
		case '(':
			if i+1 < n && rs[i+1] == '?' {
				if err := checkGroup(rs, i, &res); err != nil {
					return res, err
				}
			}
		case '*', '+', '?', '}':
			// A '+' right after a quantifier makes it possessive (Java and regexp2 agree;
			// RE2 has none). "a++" needs the backtracker; "a+?" is a plain lazy quantifier.
			if i+1 < n && rs[i+1] == '+' && (c != '?' || isQuantified(rs, i)) {
				res.backtrack = true
				i++
			}
		}
	}
	return res, nil
}

// isQuantified tells whether the '?' at i is itself a quantifier (not a lazy marker or
// part of a group opener), so that "?+" is possessive.
func isQuantified(rs []rune, i int) bool {
	if i == 0 {
		return false
	}
	switch rs[i-1] {
	case '*', '+', '?', '}', '(':
		return false
	}
	return true
}

// checkEscape inspects the escape at rs[i] == '\\' and returns the index of its last rune.
func checkEscape(rs []rune, i int, inClass bool, res *scanResult) (int, error) {
	n := len(rs)
	if i+1 >= n {
		return i, fmt.Errorf("regex ends with a lone backslash")
	}
	c := rs[i+1]
	switch {
	case c == 'Q':
		// Quote to \E (or to the end of the regex, as Java allows).
		for j := i + 2; j+1 < n; j++ {
			if rs[j] == '\\' && rs[j+1] == 'E' {
				return j + 1, nil
			}
		}
		res.openQuote = true
		return n - 1, nil
	case c >= '1' && c <= '9' && !inClass:
		res.backtrack = true // backreference
	case c == 'k' && !inClass:
		res.backtrack = true // named backreference \k<name>
	case c == 'G' || c == 'Z':
		res.backtrack = true
	case c == 'v':
		return i, fmt.Errorf(`\v means any vertical whitespace in Java but only \x0B in Go; write [\n\x0B\f\r\x{85}\x{2028}\x{2029}] or \x0B`)
	case c == 'h' || c == 'H' || c == 'V' || c == 'R' || c == 'X':
		return i, fmt.Errorf(`\%c is not supported; write the characters as a class instead`, c)
	case c == 'p' || c == 'P':
		if i+2 < n && rs[i+2] == '{' {
			end := i + 3
			for end < n && rs[end] != '}' {
				end++
			}
			name := string(rs[i+3 : min(end, n)])
			name = strings.TrimPrefix(name, "Is")
			if alt, ok := javaPosixClasses[name]; ok {
				return i, fmt.Errorf(`\%c{%s} is Java's ASCII-only class, which the Go engines read differently; write %s`, c, name, alt)
			}
			if strings.HasPrefix(name, "java") {
				return i, fmt.Errorf(`\%c{%s} is a Java-only class; write the characters as a class instead`, c, name)
			}
			return min(end, n-1), nil
		}
	}
	return i + 1, nil
}

// checkClass inspects the character class opened at rs[i] == '[' and returns the index of
// its closing ']'. Java's nested classes ([a[b]]) and intersections ([a-z&&[^b]]) would be
// read by Go as literal '[' and '&' characters, so they are rejected.
func checkClass(rs []rune, i int, res *scanResult) (int, error) {
	n := len(rs)
	j := i + 1
	if j < n && rs[j] == '^' {
		j++
	}
	if j < n && rs[j] == ']' {
		j++ // a leading ']' is a literal in both Java and Go
	}
	for ; j < n; j++ {
		switch rs[j] {
		case '\\':
			k, err := checkEscape(rs, j, true, res)
			if err != nil {
				return j, err
			}
			j = k
		case '[':
			return j, fmt.Errorf("nested or POSIX character classes ([a[b]], [[:alpha:]]) mean different things in Java and Go; escape '[' inside a class as \\[")
		case '&':
			if j+1 < n && rs[j+1] == '&' {
				return j, fmt.Errorf("class intersection (&&) is Java-only; list the characters you want instead")
			}
		case ']':
			return j, nil
		}
	}
	return n - 1, fmt.Errorf("unclosed character class")
}

// checkGroup inspects a "(?" group opener at rs[i].
func checkGroup(rs []rune, i int, res *scanResult) error {
	rest := string(rs[i+2:])
	switch {
	case strings.HasPrefix(rest, "="), strings.HasPrefix(rest, "!"),
		strings.HasPrefix(rest, "<="), strings.HasPrefix(rest, "<!"), strings.HasPrefix(rest, ">"):
		res.backtrack = true
		return nil
	case strings.HasPrefix(rest, "<"), strings.HasPrefix(rest, "P<"), strings.HasPrefix(rest, ":"):
		return nil
	}
	// Inline flags: (?flags) or (?flags:...).
	for _, f := range rest {
		switch f {
		case 'i', 'm', 's', '-':
			continue
		case ')', ':':
			return nil
		case 'U':
			return fmt.Errorf("flag U means Unicode classes in Java but ungreedy in Go; remove it")
		case 'x':
			return fmt.Errorf("flag x (comments mode) is not supported in rules; remove spaces and comments from the regex")
		case 'd', 'c':
			return fmt.Errorf("flag %c is not supported; only i, u, m and s are", f)
		default:
			return nil // not a flag group; let the engine report it
		}
	}
	return nil
}
