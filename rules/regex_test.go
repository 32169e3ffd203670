package rules

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// Java rules use look-around and backreferences; they run on the backtracking engine
// with Java's meaning.
func TestLookAroundAndBackreferences(t *testing.T) {
	tests := []struct {
		rules   string
		in      [][2]string
		want    [][2]string
		keep    bool
		engine2 bool // expected on the backtracking engine
	}{
		{`/request_header:(?!user-agent).*/ remove`,
			[][2]string{{"request_header:user-agent", "c"}, {"request_header:host", "h"}, {"now", "1"}},
			[][2]string{{"request_header:user-agent", "c"}, {"now", "1"}}, true, true},
		{`/request_body/ replace /(?<=card=)\d+/, /****/`,
			[][2]string{{"request_body", "card=4111&x=12"}},
			[][2]string{{"request_body", "card=****&x=12"}}, true, true},
		{`/request_body/ replace /(?<!x=)\b\d+\b/, /N/`,
			[][2]string{{"request_body", "a=1&x=2"}},
			[][2]string{{"request_body", "a=N&x=2"}}, true, true},
		{`/request_body/ remove_if /(\w+)-\1/`,
			[][2]string{{"request_body", "abc-abc"}, {"now", "1"}},
			[][2]string{{"now", "1"}}, true, true},
		{`/request_body/ remove_if /(\w+)-\1/`,
			[][2]string{{"request_body", "abc-abd"}},
			[][2]string{{"request_body", "abc-abd"}}, true, true},
		{`/request_body/ replace /(?<q>["'])(.*?)\k<q>/, /$2/`,
			[][2]string{{"request_body", `say "hi" and 'yo'`}},
			[][2]string{{"request_body", `say hi and yo`}}, true, true},
		{`/request_body/ replace /a++b/, /X/`,
			[][2]string{{"request_body", "aaab aa"}},
			[][2]string{{"request_body", "X aa"}}, true, true},
		{`/request_body/ replace /(?>a|ab)c/, /X/`,
			[][2]string{{"request_body", "abc ac"}},
			[][2]string{{"request_body", "abc X"}}, true, true},
		{`/request_body/ stop_if_found /\Gx/`,
			[][2]string{{"request_body", "xyz"}}, nil, false, true},
		{`/request_body/ stop_unless /(?=.*a)(?=.*b).*/`,
			[][2]string{{"request_body", "ba"}},
			[][2]string{{"request_body", "ba"}}, true, true},
		// Non-ASCII text, rune offsets on the backtracking engine.
		{`/request_body/ replace /(?<=ü)\d+/, /N/`,
			[][2]string{{"request_body", "ü12 €34 ü56"}},
			[][2]string{{"request_body", "üN €34 üN"}}, true, true},
		// Syntax RE2 lacks but the backtracking engine has, with Java's meaning.
		{`/request_body/ replace /\u00e9/, /e/`,
			[][2]string{{"request_body", "café"}},
			[][2]string{{"request_body", "cafe"}}, true, false}, // \uHHHH is written \x{..} for RE2
		{`/request_body/ replace /\Qa.b\E/, /X/`,
			[][2]string{{"request_body", "a.b axb"}},
			[][2]string{{"request_body", "X axb"}}, true, false},
		{`/request_body/ replace /\Qa.b/, /X/`,
			[][2]string{{"request_body", "a.b axb"}},
			[][2]string{{"request_body", "X axb"}}, true, false},
	}
	for _, tc := range tests {
		r, err := Parse(tc.rules)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.rules, err)
			continue
		}
		var all []*rule
		for _, g := range [][]*rule{r.stop, r.stopIf, r.stopIfFound, r.stopUnless, r.stopUnlessFound, r.removes, r.replaces} {
			all = append(all, g...)
		}
		onBT := all[0].scope.bt != nil || all[0].value != nil && all[0].value.bt != nil
		if onBT != tc.engine2 {
			t.Errorf("%q: backtracking engine = %v, want %v", tc.rules, onBT, tc.engine2)
		}
		out, keep := r.Apply(clone(tc.in))
		if keep != tc.keep || !slices.Equal(out, tc.want) {
			t.Errorf("%q: got %q %v, want %q %v", tc.rules, out, keep, tc.want, tc.keep)
		}
	}
}

// Constructs both Go engines would read differently from Java are refused, never
// silently given another meaning.
func TestJavaOnlySyntaxRejected(t *testing.T) {
	for _, re := range []string{
		`[a-z&&[^aeiou]]`, `[a[b]]`, `[[:alpha:]]`, `(?U)\w+`, `(?x)a b`, `(?d)a`, `(?i)\p{Lu}`, `(?i)[\p{Ll}]`, `(?i)\p{IsLowercase}`,
		`\p{Alpha}`, `\p{IsDigit}`, `\p{javaLowerCase}`, `\v`, `\h`, `\R`, `\X`, `[\v]`, `[abc`, `a\`,
	} {
		line := "/request_body/ remove_if_found /" + strings.ReplaceAll(re, "/", `\/`) + "/"
		if _, err := Parse(line); err == nil {
			t.Errorf("Parse(%q) accepted Java-only syntax", line)
		}
	}
	for _, re := range []string{`\p{L}+`, `[\[\]]`, `(?i)abc`, `(?s:a.b)`, `(?m)^a$`, `[]a]`, `[^]a]`, `a{2}`, `\x{41}`, `(?<n>a)`, `\d\w\s\b`, `(?u)a`, `(?iu)k`, `\0141`, `\e\cA`, `(?i)\p{L}`, `(?i)[\p{Greek}x]`} {
		line := "/request_body/ remove_if_found /" + re + "/"
		if _, err := Parse(line); err != nil {
			t.Errorf("Parse(%q): %v", line, err)
		}
	}
}

// A regex whose match runs out of time fails closed and is counted.
func TestBacktrackingTimeoutFailsClosed(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for MatchTimeout")
	}
	defer func(d time.Duration) { MatchTimeout = d }(MatchTimeout)
	MatchTimeout = 100 * time.Millisecond
	evil := strings.Repeat("a", 40) + "!"
	tests := []struct {
		rules string
		keep  bool
		want  [][2]string
	}{
		{`/request_body/ stop_if_found /^(a|aa)+(?=b)$/`, false, nil},
		{`/request_body/ stop_unless_found /^(a|aa)+(?=!)$/`, false, nil},
		{`/request_body/ remove_if_found /^(a|aa)+(?=b)$/`, true, [][2]string{{"now", "1"}}},
		{`/request_body/ remove_unless /(a|aa)+(?=b)b/`, true, [][2]string{{"now", "1"}}},
		{`/request_body/ replace /^(a|aa)+(?=b)$/, /x/`, true, [][2]string{{"now", "1"}}},
		{`/(a|aa)+(?=b)b/ remove`, true, [][2]string{{"request_body", evil}, {"now", "1"}}},
	}
	for _, tc := range tests {
		r, err := Parse(tc.rules)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		in := [][2]string{{"request_body", evil}, {"now", "1"}}
		if strings.HasPrefix(tc.rules, "/(a") {
			in = append(in, [2]string{evil, "scope regex gives up on this name"})
		}
		out, keep := r.Apply(in)
		if d := time.Since(start); d > 20*MatchTimeout {
			t.Errorf("%q took %v", tc.rules, d)
		}
		if keep != tc.keep || !slices.Equal(out, tc.want) {
			t.Errorf("%q: got %q %v, want %q %v", tc.rules, out, keep, tc.want, tc.keep)
		}
		if r.EngineFailures() == 0 {
			t.Errorf("%q: engine failure not counted", tc.rules)
		}
	}
}

// The fast paths (finite scopes, segmented search) must give exactly what the plain
// regex gives, on random inputs built from the characters that matter.
func TestFastPathsAgreeWithRegexp(t *testing.T) {
	finds := []string{
		"[a-zA-Z0-9.!#$%&’*+/=?^_`{|}~-]+@[a-zA-Z0-9-]+(?:\\.[a-zA-Z0-9-]+)",
		`[0-9\.\-\/]{9,}`, `ab+c`, `(x|yz)+w`, `é+`, `[^a-f]{3}`, `(?i)k+`, `\d{2,3}-\d`,
	}
	full := []string{
		`request_header:cookie|response_header:set-cookie`, `(request|response)_body|request_param:.*`,
		`a|b?c`, `[ab][cd]`, `x(y|z)?`,
	}
	alphabet := []rune("abcdefwxyzkK0123456789.-/@_ é€\"\xff")
	rng := rand.New(rand.NewPCG(1, 2))
	randStr := func() string {
		var b strings.Builder
		for range rng.IntN(60) {
			b.WriteRune(alphabet[rng.IntN(len(alphabet))])
		}
		if rng.IntN(4) == 0 {
			b.WriteString("\xff\xfe")
		}
		return b.String()
	}
	for _, p := range finds {
		m, err := compileMatcher(p, false)
		if err != nil {
			t.Fatal(p, err)
		}
		plain := javaRE(t, p, false)
		parts, _ := parseReplacement("<$0>", m)
		for range 3000 {
			s := randStr()
			got, _ := replaceAll(m, parts, s)
			if want := plain.ReplaceAllString(s, "<$0>"); got != want {
				t.Fatalf("%s on %q: got %q, want %q", p, s, got, want)
			}
			if ok, _ := m.match(s); ok != plain.MatchString(s) {
				t.Fatalf("%s match %q: got %v", p, s, ok)
			}
		}
	}
	for _, p := range full {
		m, err := compileMatcher(p, true)
		if err != nil {
			t.Fatal(p, err)
		}
		plain := javaRE(t, p, true)
		for _, s := range []string{"", "a", "c", "bc", "ac", "x", "xy", "xz", "xyz", "request_header:cookie",
			"response_header:set-cookie", "request_header:cookie2", "request_body", "request_param:q", "request_param"} {
			if ok, _ := m.match(s); ok != plain.MatchString(s) {
				t.Errorf("%s full match %q: got %v", p, s, ok)
			}
		}
	}
	if m, _ := compileMatcher(`request_header:cookie|response_header:set-cookie`, true); m.names == nil {
		t.Error("literal scope did not get the name set fast path")
	}
	if m, _ := compileMatcher(`[0-9\.\-\/]{9,}`, false); m.seg == nil || m.seg.minLen != 9 {
		t.Error("digit run regex did not get the segment fast path")
	}
}

// The prefilter must never hide a match, nor the anchored search (matches tried only where
// an atom starts) find another: random strings of pieces of the atoms, in every case,
// with the two non-ASCII runes that fold to ASCII letters, short and long (long ones
// that look binary take the binary anchors).
func TestPrefilterAgreesWithRegexp(t *testing.T) {
	pats := []struct {
		re       string
		anchored bool
	}{
		{`(?i)("(?:` + secretNames + `)"\s*:\s*)"(?:[^"\\]|\\.)*"`, true},
		{`(?i)((?:` + secretNames + `)=)[^&;#\s"]*`, true},
		{`(?i)api[-_]?key\d+`, true}, {`(ab|cd)ef+`, true}, {`x(?i:kelvin)y`, true},
		{`(?i)(?:key|keykey)(?:key)*z?`, true}, {`(?i)(pass|passw)(word)?`, true}, {`a+bcd`, false},
		{`(?i)tok(en)?|secret`, true}, {`\bkey\w*`, false},
	}
	pieces := []string{`"`, "password", "PassWord", "pass", "word", "ſecret", "SECRET", "\u212aey", "api", "_", "-", "key", "KEY",
		"token", ":", " ", "x", `\`, "1", "ab", "cd", "ef", "f", "y", "kelvin", "\u212aelvin", "é", "=", "&", "\xff", "\x00", "z", "a", "bcd"}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, pt := range pats {
		p := pt.re
		m, err := compileMatcher(p, false)
		if err != nil {
			t.Fatal(p, err)
		}
		if m.pre == nil && m.seg == nil {
			t.Errorf("%s got no fast path", p)
		}
		if (m.anch != nil) != pt.anchored {
			t.Errorf("%s: anchored search %v, want %v", p, m.anch != nil, pt.anchored)
		}
		plain := javaRE(t, p, false)
		parts, _ := parseReplacement("<$0>", m)
		for n := range 4000 {
			var b strings.Builder
			count := rng.IntN(12)
			if n%20 == 0 {
				count = 400 + rng.IntN(400) // long enough to be looked at as text or binary
			}
			for range count {
				b.WriteString(pieces[rng.IntN(len(pieces))])
			}
			s := b.String()
			got, _ := replaceAll(m, parts, s)
			if want := plain.ReplaceAllString(s, "<$0>"); got != want {
				t.Fatalf("%s on %q: got %q, want %q", p, s, got, want)
			}
			if ok, _ := m.match(s); ok != plain.MatchString(s) {
				t.Fatalf("%s match %q: got %v", p, s, ok)
			}
		}
	}
}

// Pathological regexes cost a call about one MatchTimeout, not one per detail and rule.
func TestTimeoutOncePerCall(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for MatchTimeout")
	}
	defer func(d time.Duration) { MatchTimeout = d }(MatchTimeout)
	MatchTimeout = 100 * time.Millisecond
	text := "/request_param:.*/ remove_if_found /^(a|aa)+(?=b)$/\n/request_body/ replace /^(a|aa)+(?=b)$/, /x/\n"
	for i := range 10 { // ten more distinct pathological regexes
		text += fmt.Sprintf("/request_param:.*/ remove_unless /(a|aa){%d,}(?=b)b/\n", i+1)
	}
	r, err := Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	evil := strings.Repeat("a", 40) + "!"
	in := [][2]string{{"now", "1"}}
	for i := range 20 {
		in = append(in, [2]string{"request_param:p" + string(rune('a'+i)), evil}, [2]string{"request_body", evil})
	}
	start := time.Now()
	out, keep := r.Apply(in)
	if d := time.Since(start); d > 5*MatchTimeout {
		t.Errorf("Apply took %v for 40 details with 2 pathological regexes", d)
	}
	if !keep || !slices.Equal(out, [][2]string{{"now", "1"}}) {
		t.Errorf("got %q", out)
	}
	if n := r.EngineFailures(); n != 1 {
		t.Errorf("EngineFailures = %d, want 1", n)
	}
}

// javaRE compiles p (whole-value when full) as the reference for a matcher: Go's regexp
// given Java's meaning by javaRewrite (ASCII-only (?i), Java's \s, octal escapes).
func javaRE(t *testing.T, p string, full bool) *regexp.Regexp {
	t.Helper()
	if full {
		p = `^(?:` + p + `)$`
	}
	j, _, err := javaRewrite(p, true)
	if err != nil {
		t.Fatal(p, err)
	}
	return regexp.MustCompile(j)
}
