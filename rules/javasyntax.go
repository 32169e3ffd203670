package rules

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// javaRewrite rewrites a regex written for java.util.regex into one the Go engines read
// with Java's meaning where the two differ on the same text:
//
//   - \s is Java's [ \t\n\x0B\f\r]; Go's \s lacks \x0B (vertical tab). \S likewise.
//   - \0n, \0nn, \0mnn (m at most 3) are Java's octal escapes; Go reads \0 with at most two
//     more digits, so \0141 ('a' in Java) would be \014 followed by '1'. They become \x{..},
//     as do Java's \e, \cX and \uHHHH.
//   - (?i) alone is ASCII-only in Java (CASE_INSENSITIVE without UNICODE_CASE): k and s do
//     not match the Kelvin sign (U+212A) and the long s (U+017F), and é does not match É.
//     Go folds all of Unicode. Under (?i), k, s and every non-ASCII character are written
//     with folding off ((?-i:[kK]), (?-i:\x{e9})), and classes and \w, which Go would fold,
//     are spelt out with their ASCII other cases and folding off. Every other ASCII letter
//     folds only to its other case in both engines, so it keeps Go's folding.
//   - (?iu) (and (?u) with i) is Java's Unicode folding, which Go's (?i) gives: the u is
//     dropped.
//
// What cannot be given Java's meaning under (?i) (\p{...} classes, whose case-insensitive
// meaning differs between the engines) is refused with an error that says how to write it.
//
// With exactFold false the folding is left as Go's (only \s, \S, the escapes and the u
// flag are rewritten): the two agree on ASCII text, and the fast paths keep their literals.
// With exactFold true the result has Java's ASCII-only folding too; a matcher runs that
// version on text that holds non-ASCII characters (see matcher.java).
//
// nonASCII reports that the exact version folds a non-ASCII character of the regex (a
// literal or a class member under (?i) alone): Go's folding of it differs from Java's on
// ASCII text too ((?i)\x{212a} matches k in Go), so only the exact version may run.
func javaRewrite(p string, exactFold bool) (out string, nonASCII bool, err error) {
	w := &javaWriter{rs: []rune(p), exact: exactFold}
	if err := w.run(); err != nil {
		return "", false, err
	}
	return w.out.String(), w.nonASCII, nil
}

// foldState is the case-folding flags in force: i (CASE_INSENSITIVE), u (UNICODE_CASE).
type foldState struct{ i, u bool }

type javaWriter struct {
	rs    []rune
	pos   int
	out   strings.Builder
	exact bool // write Java's ASCII-only folding out
	// nonASCII: a non-ASCII character was written with folding off (see javaRewrite)
	nonASCII bool
	cur      foldState
	stack    []foldState
}

// ascii tells whether Java's ASCII-only folding is in force and is to be written out.
func (w *javaWriter) ascii() bool { return w.exact && w.cur.i && !w.cur.u }

// Java's \s and \S, spelt out (the same in and outside a class).
const (
	javaSpace    = `\t\n\x0B\f\r `
	javaNonSpace = `\x00-\x08\x0E-\x1F\x21-\x{10FFFF}`
)

func (w *javaWriter) run() error {
	for w.pos < len(w.rs) {
		c := w.rs[w.pos]
		switch c {
		case '\\':
			if err := w.escape(); err != nil {
				return err
			}
		case '[':
			if err := w.class(); err != nil {
				return err
			}
		case '(':
			w.group()
		case ')':
			if n := len(w.stack); n > 0 {
				w.cur, w.stack = w.stack[n-1], w.stack[:n-1]
			}
			w.out.WriteRune(c)
			w.pos++
		case '{':
			// A quantifier {n}, {n,}, {n,m} (or a literal brace): no letters to fold.
			end := w.pos + 1
			for end < len(w.rs) && (w.rs[end] >= '0' && w.rs[end] <= '9' || w.rs[end] == ',') {
				end++
			}
			w.out.WriteString(string(w.rs[w.pos:end]))
			w.pos = end
		default:
			w.pos++
			if strings.ContainsRune(`.^$|*+?}`, c) {
				w.out.WriteRune(c)
				continue
			}
			w.literal(c, string(c))
		}
	}
	return nil
}

// literal writes one character that matches itself; text is how it was written.
func (w *javaWriter) literal(r rune, text string) {
	switch {
	case w.ascii() && (r == 'k' || r == 'K' || r == 's' || r == 'S'):
		fmt.Fprintf(&w.out, "(?-i:[%c%c])", r|0x20, r&^0x20)
	case w.ascii() && r >= utf8.RuneSelf:
		fmt.Fprintf(&w.out, `(?-i:\x{%x})`, r)
		w.nonASCII = true
	case needsHex(text):
		fmt.Fprintf(&w.out, `\x{%x}`, r)
	default:
		w.out.WriteString(text)
	}
}

// escape handles the escape at w.pos (a backslash).
func (w *javaWriter) escape() error {
	rs, i := w.rs, w.pos
	if i+1 >= len(rs) {
		w.out.WriteRune('\\') // checkJava reports the lone backslash
		w.pos++
		return nil
	}
	c := rs[i+1]
	switch c {
	case 'Q':
		j := i + 2
		for ; j < len(rs); j++ {
			if rs[j] == '\\' && j+1 < len(rs) && rs[j+1] == 'E' {
				break
			}
			if isMeta(rs[j]) {
				w.literal(rs[j], `\`+string(rs[j]))
			} else {
				w.literal(rs[j], string(rs[j]))
			}
		}
		w.pos = min(j+2, len(rs))
		return nil
	case 's', 'S':
		if c == 's' {
			w.out.WriteString("[" + javaSpace + "]")
		} else {
			w.out.WriteString("[" + javaNonSpace + "]")
		}
		w.pos += 2
		return nil
	case 'w', 'W':
		if w.ascii() {
			fmt.Fprintf(&w.out, `(?-i:\%c)`, c)
		} else {
			fmt.Fprintf(&w.out, `\%c`, c)
		}
		w.pos += 2
		return nil
	case 'p', 'P':
		n, err := w.property(rs[i:])
		if err != nil {
			return err
		}
		if w.ascii() {
			fmt.Fprintf(&w.out, "(?-i:%s)", string(rs[i:i+n]))
			w.nonASCII = true
		} else {
			w.out.WriteString(string(rs[i : i+n]))
		}
		w.pos += n
		return nil
	}
	if r, n, ok := charEscape(rs[i:]); ok {
		w.literal(r, string(rs[i:i+n]))
		w.pos += n
		return nil
	}
	// Anything else (\d, \b, back-references, an escaped punctuation mark...) is the
	// same in both engines or refused later by checkJava.
	w.out.WriteString(string(rs[i : i+2]))
	w.pos += 2
	return nil
}

// charEscape decodes an escape that stands for one character, at rs[0] == '\\': Java's
// octal \0ooo, \xHH, \x{H...}, \uHHHH, \t \n \r \f \a \e, \cX, and an escaped
// non-alphanumeric character. n is the escape's length in runes.
func charEscape(rs []rune) (r rune, n int, ok bool) {
	if len(rs) < 2 {
		return 0, 0, false
	}
	switch c := rs[1]; {
	case c == '0':
		// \0n, \0nn, \0mnn with m <= 3 (java.util.regex.Pattern.o()).
		v, k := 0, 2
		for k < len(rs) && k < 5 && rs[k] >= '0' && rs[k] <= '7' {
			if k == 4 && rs[2] > '3' {
				break
			}
			v = v*8 + int(rs[k]-'0')
			k++
		}
		if k == 2 {
			return 0, 0, false // Java refuses a bare \0; let the engine say so
		}
		return rune(v), k, true
	case c == 'x':
		if len(rs) > 2 && rs[2] == '{' {
			end := 3
			for end < len(rs) && rs[end] != '}' {
				end++
			}
			v, err := strconv.ParseUint(string(rs[3:min(end, len(rs))]), 16, 32)
			if end >= len(rs) || err != nil || v > utf8.MaxRune {
				return 0, 0, false
			}
			return rune(v), end + 1, true
		}
		if len(rs) >= 4 {
			if v, err := strconv.ParseUint(string(rs[2:4]), 16, 8); err == nil {
				return rune(v), 4, true
			}
		}
	case c == 'u':
		if len(rs) >= 6 {
			if v, err := strconv.ParseUint(string(rs[2:6]), 16, 16); err == nil {
				return rune(v), 6, true
			}
		}
	case c == 'c':
		if len(rs) >= 3 && rs[2] < utf8.RuneSelf {
			return rs[2] ^ 64, 3, true
		}
	default:
		if v, known := map[rune]rune{'t': '\t', 'n': '\n', 'r': '\r', 'f': '\f', 'a': '\a', 'e': 0x1b}[c]; known {
			return v, 2, true
		}
		if c < utf8.RuneSelf && !isAlnum(c) {
			return c, 2, true
		}
	}
	return 0, 0, false
}

// needsHex tells whether an escape is one Go reads differently or not at all: Java's
// octal \0ooo, \cX, \e, \uHHHH.
func needsHex(text string) bool {
	return len(text) > 1 && text[0] == '\\' && strings.ContainsRune("0ceu", rune(text[1]))
}

func isAlnum(c rune) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func isMeta(c rune) bool { return strings.ContainsRune(`\.+*?()|[]{}^$`, c) }

// group handles '(' at w.pos: inline flags change the folding state (and lose their u,
// which only Java knows), other groups open a scope that ')' closes.
func (w *javaWriter) group() {
	rs, i := w.rs, w.pos
	w.stack = append(w.stack, w.cur)
	if i+1 >= len(rs) || rs[i+1] != '?' {
		w.out.WriteRune('(')
		w.pos++
		return
	}
	rest := string(rs[i+2:])
	for _, opener := range []string{"<=", "<!", "=", "!", ">", ":"} {
		if strings.HasPrefix(rest, opener) {
			w.out.WriteString("(?" + opener)
			w.pos += 2 + len(opener)
			return
		}
	}
	if strings.HasPrefix(rest, "<") || strings.HasPrefix(rest, "P<") {
		end := strings.IndexByte(rest, '>')
		if end < 0 {
			end = len(rest) - 1
		}
		w.out.WriteString("(?" + rest[:end+1])
		w.pos += 2 + utf8.RuneCountInString(rest[:end+1])
		return
	}
	// Inline flags: (?flags) for the rest of the group, (?flags:...) for a group of their own.
	j := i + 2
	on, next := true, w.cur
	var kept []rune
	for ; j < len(rs) && rs[j] != ')' && rs[j] != ':'; j++ {
		switch f := rs[j]; f {
		case '-':
			on = false
		case 'i':
			next.i = on
		case 'u':
			next.u = on
			continue // Go folds Unicode under (?i) already
		}
		kept = append(kept, rs[j])
	}
	if j >= len(rs) {
		w.out.WriteString(string(rs[i:])) // unterminated: the engine reports it
		w.pos = len(rs)
		return
	}
	flags := strings.TrimSuffix(string(kept), "-")
	if rs[j] == ')' {
		w.stack = w.stack[:len(w.stack)-1] // (?flags) opens no group
		w.cur = next
		if flags != "" {
			w.out.WriteString("(?" + flags + ")")
		}
	} else {
		w.cur = next
		w.out.WriteString("(?" + flags + ":")
	}
	w.pos = j + 1
}

// class handles the character class opened at w.pos. Under ASCII-only (?i) it is written
// with every ASCII letter's other case added and folding off; \s and \S become Java's;
// escaped characters are written as \x{..}. A class the writer does not understand (a
// nested class, an intersection) is copied for checkJava to refuse.
func (w *javaWriter) class() error {
	rs, i := w.rs, w.pos
	j := i + 1
	var b strings.Builder
	b.WriteRune('[')
	if j < len(rs) && rs[j] == '^' {
		b.WriteRune('^')
		j++
	}
	type span struct{ lo, hi rune }
	var spans []span
	item := func(r rune) {
		if r > ' ' && r < utf8.RuneSelf && !strings.ContainsRune(`\]^-[&`, r) {
			b.WriteRune(r)
		} else {
			fmt.Fprintf(&b, `\x{%x}`, r)
		}
	}
	first, changed := true, w.ascii()
	for ; j < len(rs); j++ {
		c := rs[j]
		if c == ']' && !first {
			break
		}
		first = false
		if c == '[' || c == '&' && j+1 < len(rs) && rs[j+1] == '&' {
			return w.copyClass()
		}
		var lo rune
		if c == '\\' {
			if j+1 < len(rs) {
				switch e := rs[j+1]; e {
				case 's':
					b.WriteString(javaSpace)
					j, changed = j+1, true
					continue
				case 'S':
					b.WriteString(javaNonSpace)
					j, changed = j+1, true
					continue
				case 'p', 'P':
					n, err := w.property(rs[j:])
					if err != nil {
						return err
					}
					b.WriteString(string(rs[j : j+n])) // folding is off inside the class under (?i)
					changed = changed || w.ascii()
					w.nonASCII = w.nonASCII || w.ascii()
					j += n - 1
					continue
				}
			}
			r, n, ok := charEscape(rs[j:])
			if !ok { // \d, \w, \p{..}: copied (w's folding is off inside the class)
				if j+1 < len(rs) {
					b.WriteString(string(rs[j : j+2]))
					j++
				}
				continue
			}
			lo = r
			changed = changed || needsHex(string(rs[j:j+n]))
			j += n - 1
		} else {
			lo = c
		}
		hi := lo
		if j+2 < len(rs) && rs[j+1] == '-' && rs[j+2] != ']' {
			k := j + 2
			if rs[k] == '\\' {
				r, n, ok := charEscape(rs[k:])
				if !ok {
					return w.copyClass()
				}
				changed = changed || needsHex(string(rs[k:k+n]))
				hi, j = r, k+n-1
			} else {
				hi, j = rs[k], k
			}
		}
		spans = append(spans, span{lo, hi})
		item(lo)
		if hi != lo {
			b.WriteRune('-')
			item(hi)
		}
	}
	if j >= len(rs) {
		return w.copyClass() // unclosed: checkJava reports it
	}
	if !changed {
		w.out.WriteString(string(rs[i : j+1]))
		w.pos = j + 1
		return nil
	}
	if w.ascii() {
		for _, s := range spans {
			w.nonASCII = w.nonASCII || s.hi >= utf8.RuneSelf
			for _, cs := range [2][2]rune{{'a', 'z'}, {'A', 'Z'}} {
				lo, hi := max(s.lo, cs[0]), min(s.hi, cs[1])
				if lo <= hi {
					item(lo ^ 0x20)
					b.WriteRune('-')
					item(hi ^ 0x20)
				}
			}
		}
	}
	b.WriteRune(']')
	if w.ascii() {
		w.out.WriteString("(?-i:" + b.String() + ")")
	} else {
		w.out.WriteString(b.String())
	}
	w.pos = j + 1
	return nil
}

// caseProperties are the \p{...} classes that hold one case of letters: what they match
// under (?i) differs between Java and Go, so they are refused there.
var caseProperties = map[string]bool{"lu": true, "ll": true, "lt": true, "lc": true, "l&": true,
	"upper": true, "lower": true, "uppercase": true, "lowercase": true, "titlecase": true,
	"javauppercase": true, "javalowercase": true, "javatitlecase": true}

// property measures the \p{Name}, \pX, \P{Name} or \PX at rs[0] and refuses, under
// (?i), one whose meaning depends on case.
func (w *javaWriter) property(rs []rune) (int, error) {
	n, name := 3, ""
	if len(rs) < 3 {
		return len(rs), nil // checkJava or the engine reports it
	}
	if rs[2] == '{' {
		end := 3
		for end < len(rs) && rs[end] != '}' {
			end++
		}
		name, n = string(rs[3:min(end, len(rs))]), min(end+1, len(rs))
	} else {
		name = string(rs[2])
	}
	key := strings.ToLower(strings.TrimPrefix(strings.TrimPrefix(name, "Is"), "general_category="))
	if w.cur.i && caseProperties[key] {
		return 0, fmt.Errorf(`\%c{%s} under (?i) matches differently in Java and Go; list the characters in a class instead`, rs[1], name)
	}
	return n, nil
}

// copyClass copies the rest of the regex unchanged from the class at w.pos: checkJava
// then refuses the construct with its own message.
func (w *javaWriter) copyClass() error {
	w.out.WriteString(string(w.rs[w.pos:]))
	w.pos = len(w.rs)
	return nil
}
