package rules

import (
	"errors"
	"strings"
	"testing"
)

// Java's meaning of \s, octal escapes and (?i), from java.util.regex.Pattern's
// documentation: "\s  A whitespace character: [ \t\n\x0B\f\r]"; "\0n, \0nn, \0mnn  The
// character with octal value 0n, 0nn, 0mnn (0 <= m <= 3, 0 <= n <= 7)"; CASE_INSENSITIVE
// "by default ... assumes that only characters in the US-ASCII charset are being matched.
// Unicode-aware case-insensitive matching can be enabled by specifying the UNICODE_CASE
// flag" (embedded: (?u)).
func TestJavaSemantics(t *testing.T) {
	for _, tc := range []struct {
		re    string
		s     string
		found bool
	}{
		{`a\sb`, "a\x0Bb", true}, // Go's \s lacks the vertical tab
		{`a[\s]b`, "a\x0Bb", true},
		{`a\Sb`, "a\x0Bb", false},
		{`a[\S]b`, "a\x0Bb", false},
		{`a[^\s]b`, "a\x0Bb", false},
		{`\s`, "\u00a0", false}, // ASCII only, as in Go
		{`^\0141$`, "a", true},  // octal 141; Go would read \014 then "1"
		{`^\0141$`, "\x0c1", false},
		{`^\012$`, "\n", true},
		{`^\0400$`, " 0", true}, // m = 4 > 3: \040 then "0"
		{`^[\0141-\0143]+$`, "abc", true},
		{`^\e\cA$`, "\x1b\x01", true},
		{`^(?i)k$`, "K", true},
		{`^(?i)k$`, "\u212a", false}, // the Kelvin sign folds to k in Unicode only
		{`^(?i)s$`, "\u017f", false}, // the long s likewise
		{`^(?i)é$`, "É", false},      // non-ASCII letters do not fold without u
		{`^(?i)é$`, "é", true},
		{`^(?i)[a-z]+$`, "SKIP", true},
		{`^(?i)[a-z]+$`, "\u017fkip", false},
		{`^(?i)[^k]$`, "\u212a", true},
		{`^(?i)[^k]$`, "K", false},
		{`^(?i)\w$`, "\u212a", false},
		{`^(?i)\Qk.s\E$`, "K.S", true},
		{`^(?i)\Qk.s\E$`, "\u212a.s", false},
		{`^(?i)\x6b$`, "\u212a", false},
		{`^(?i:k)\u212a$`, "K\u212a", true},
		{`^(?iu)k$`, "\u212a", true}, // UNICODE_CASE: Unicode folding, which Go has
		{`^(?iu)é$`, "É", true},
		{`^(?ui)[a-z]$`, "\u017f", true},
		{`^(?i)a(?u)é$`, "AÉ", true},
		{`^(?i)a(?-i)b$`, "Ab", true},
		{`^(?i)a(?-i)b$`, "AB", false},
		{`^(?i)(?<name>k)\k<name>$`, "kk", true},
		{`^(?i)\x{212a}$`, "k", false}, // Go would fold the Kelvin sign to k
		{`^(?i)\x{212a}$`, "\u212a", true},
		{`^(?i)[^\x{212a}]$`, "k", true},
		{`^(?i)[\x{e0}-\x{ff}]$`, "\u00c0", false},
		{`^(?i)\p{Greek}$`, "\u0345", false}, // Go folds the ypogegrammeni to iota
		{`^(?i)[\p{Greek}k]+$`, "\u03b1K", true},
		{`^(?i)[\p{Greek}k]+$`, "\u212a", false},
		{`(?<=\0141)b`, "ab", true}, // the same on the backtracking engine
		{`(?<=a\s)b`, "a\x0Bb", true},
		{`(?i)(?<=k)b`, "\u212ab", false},
		{`(?i)(?<=k)b`, "Kb", true},
		{`(?i)password`, "PassWord", true},
		{`(?i)password`, "pa\u017f\u017fword", false},
	} {
		m, err := compileMatcher(tc.re, false)
		if err != nil {
			t.Errorf("%s: %v", tc.re, err)
			continue
		}
		if got, err := m.match(tc.s); got != tc.found || err != nil {
			t.Errorf("%s on %q: %v (%v), want %v", tc.re, tc.s, got, err, tc.found)
		}
	}
}

// What cannot be given Java's meaning is refused naming the rule's line.
func TestJavaFoldRefusedWithLine(t *testing.T) {
	_, err := Parse("include standard\n/request_body/ remove_if_found /x/\n/request_body/ remove_if_found /(?i)\\p{Lu}+/\n")
	var pe *Error
	if !errors.As(err, &pe) || pe.Line != 3 || !strings.Contains(pe.Error(), "line 3") || !strings.Contains(pe.Msg, "(?i)") {
		t.Fatalf("got %v", err)
	}
}

// The default set's case-insensitive masks keep working on ASCII and follow Java on the
// rest: a key spelt with a long s is not a password key for Java, nor for sniffer.
func TestDefaultSetJavaFolding(t *testing.T) {
	out, _ := Default().Apply([][2]string{{"request_body", `{"PassWord":"hunter2","pa` + "\u017f\u017f" + `word":"x"}`}, {"now", "1"}})
	if got := out[0][1]; got != `{"PassWord":"xxx","pa`+"\u017f\u017f"+`word":"x"}` {
		t.Errorf("default set gave %q", got)
	}
}

// FuzzJavaRewrite: any regex is rewritten without a panic; when it compiles, its Go-folding
// matcher (run on ASCII text) and its Java-folding one (run on the rest) agree on ASCII
// text, where the two foldings are the same, and the Java one never folds the Kelvin sign
// or the long s under (?i) alone.
func FuzzJavaRewrite(f *testing.F) {
	for _, s := range []string{`(?i)k\s+\0141`, `(?iu)[a-z]`, `(?i:s)[^k]\w`, `\Qa(?i)\E`, `[\0101-\0132]`, `(?i)(?<n>x)\k<n>`, `(?i)(?=k)K`, `[a-\x{7a}]`, `(?i)\x{212a}|[^\x{17f}]`} {
		f.Add(s, "k K s S \u212a \u017f é É a\x0Bb")
	}
	f.Fuzz(func(t *testing.T, re, s string) {
		if len(re) > 200 || len(s) > 200 {
			return
		}
		m, err := compileMatcher(re, false)
		if err != nil || m.java == nil {
			return
		}
		ascii := strings.Map(func(r rune) rune {
			if r >= 0x80 {
				return -1
			}
			return r
		}, s)
		a, errA := m.match(ascii)
		b, errB := m.java.match(ascii)
		if errA == nil && errB == nil && a != b {
			t.Fatalf("%q on %q: Go folding %v, Java folding %v", re, ascii, a, b)
		}
	})
}
