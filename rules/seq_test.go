package rules

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"regexp/syntax"
	"strings"
	"testing"
)

// The sequence matcher must give exactly regexp's matches: random sequences of classes
// and repeats (every one the matcher accepts is checked) on random strings made of the
// classes' characters, invalid UTF-8 and split multi-byte runes included.
func TestSeqMatcherAgreesWithRegexp(t *testing.T) {
	classes := []string{`[a-c]`, `[0-9]`, `[0-9.\-/]`, `x`, `@`, `\.`, `[a-z’]`, `(?i)k`, `(?i)s`, `[^\x00-\x7f]`,
		`é`, `[€é-]`, `[a-zA-Z0-9.!#$%&’*+\/=?^_` + "`" + `{|}~-]`, `[a-zA-Z0-9-]`, `\d`, `(?:b)`, `(c)`, `[\x{fffd}]`}
	quants := []string{"", "", "+", "*", "?", "{2}", "{2,}", "{9,}", "{1,3}", "{0,2}", "+?", "{3,}", "{12,}", "{17,}"}
	alphabet := []string{"a", "b", "c", "x", "k", "K", "\u212a", "s", "S", "\u017f", "0", "1", "9", ".", "-", "/", "@",
		"’", "é", "€", "\xe2\x80", "\x99", "\xff", "\xe2", "z", " ", `"`, "\ufffd", "_"}
	rng := rand.New(rand.NewPCG(5, 6))
	randStr := func() string {
		var b strings.Builder
		for range rng.IntN(40) {
			if rng.IntN(3) == 0 { // runs make long matches likely
				c := alphabet[rng.IntN(len(alphabet))]
				b.WriteString(strings.Repeat(c, 1+rng.IntN(10)))
				continue
			}
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		return b.String()
	}
	accepted, matches, strategies := 0, 0, map[string]int{}
	for range 8000 {
		var p strings.Builder
		for range 1 + rng.IntN(4) {
			p.WriteString(classes[rng.IntN(len(classes))])
			p.WriteString(quants[rng.IntN(len(quants))])
		}
		pat := p.String()
		re, err := syntax.Parse(pat, syntax.Perl)
		if err != nil {
			continue
		}
		sm := newSeqMatcher(re.Simplify())
		if sm == nil {
			continue
		}
		accepted++
		if sm.anchor >= 0 {
			strategies["anchor"]++
		} else if sm.run != nil {
			strategies["run"]++
		} else {
			strategies["skip"]++
		}
		plain := javaRE(t, pat, false)  // what the matcher answers (Java's folding)
		goRE := regexp.MustCompile(pat) // what the sequence matcher answers (Go's, run on ASCII)
		m, err := compileMatcher(pat, false)
		if err != nil {
			t.Fatal(pat, err)
		}
		if m.seq == nil {
			t.Fatalf("%s: matcher did not get the sequence fast path", pat)
		}
		parts, _ := parseReplacement("<$0>", m)
		for range 200 {
			s := randStr()
			var got [][]int
			for lo := 0; ; {
				a, b := sm.find(s, lo)
				if a < 0 {
					break
				}
				got = append(got, []int{a, b})
				lo = b
			}
			want := goRE.FindAllStringIndex(s, -1)
			matches += len(want)
			if len(got) != len(want) {
				t.Fatalf("%s on %q: got %v, want %v", pat, s, got, want)
			}
			for i := range got {
				if got[i][0] != want[i][0] || got[i][1] != want[i][1] {
					t.Fatalf("%s on %q: got %v, want %v", pat, s, got, want)
				}
			}
			if r, _ := replaceAll(m, parts, s); r != plain.ReplaceAllString(s, "<$0>") {
				t.Fatalf("%s replace on %q: got %q", pat, s, r)
			}
			if ok, _ := m.match(s); ok != plain.MatchString(s) {
				t.Fatalf("%s match on %q: got %v", pat, s, ok)
			}
		}
	}
	if accepted < 500 || strategies["anchor"] < 150 || strategies["skip"] < 150 || useClassRun && strategies["run"] < 100 || matches < 30000 {
		t.Errorf("only %d random regexes took the fast path (%v), %d matches; the test checks too little", accepted, strategies, matches)
	}
	t.Logf("%d regexes on the sequence matcher (%v), %d matches compared", accepted, strategies, matches)
}

// The standard set's two body regexes take the sequence matcher, and a replacement that
// names a group falls back to the engine with the right answer.
func TestSeqMatcherStandardRegexes(t *testing.T) {
	r := mustParse("include standard")
	for _, rl := range r.replaces {
		if rl.value.seq == nil {
			t.Errorf("%s: no sequence fast path", rl.value.src)
		}
	}
	if sm := r.replaces[0].value.seq; sm == nil || sm.anchor != 1 || sm.abyte != '@' {
		t.Errorf("e-mail regex is not anchored on '@': %+v", sm)
	}
	if sm := r.replaces[1].value.seq; sm == nil || sm.anchor != -1 || sm.items[0].min != 9 {
		t.Errorf("digit-run regex does not skip by 9: %+v", sm)
	}
	out, _ := mustParse(`/request_body/ replace /([a-z]+)@([a-z]+)\.com/, /$2 at $1/`).Apply([][2]string{{"request_body", "to jo@ex.com, al@b.com!"}})
	if want := "to ex at jo, b at al!"; len(out) != 1 || out[0][1] != want {
		t.Errorf("group replacement: got %q, want %q", out, want)
	}
}

// findRun (16 bytes at a time) against findSkip on long values where runs of the class
// start and end at every offset of a block, for classes of one and several ranges and
// repeats of 9 to 40.
func TestFindRunAgreesWithFindSkip(t *testing.T) {
	if !useClassRun {
		t.Log("no classRun on this CPU or architecture: findSkip alone is used")
		return
	}
	rng := rand.New(rand.NewPCG(7, 8))
	pieces := []string{"0", "1", "9", ".", "-", "/", "a", "z", "x", " ", `"`, "é", "\xff", "\x00", "\x7f", ":"}
	for _, cls := range []string{`[0-9.\-/]`, `[0-9]`, `[a-z0-9]`, `[^\x00-\x2f\x80-\x{10ffff}]`} {
		for _, m := range []int{9, 10, 12, 16, 17, 40} {
			pat := fmt.Sprintf("%s{%d,}", cls, m)
			re, err := syntax.Parse(pat, syntax.Perl)
			if err != nil {
				t.Fatal(err)
			}
			sm := newSeqMatcher(re.Simplify())
			if sm == nil || sm.run == nil {
				t.Fatalf("%s: not on classRun", pat)
			}
			for range 300 {
				var b strings.Builder
				for b.Len() < 400 {
					p := pieces[rng.IntN(len(pieces))]
					b.WriteString(strings.Repeat(p, 1+rng.IntN(2*m)*rng.IntN(2)))
				}
				s := b.String()
				for lo := 0; lo <= len(s); lo += 1 + rng.IntN(40) {
					a1, b1 := sm.findRun(s, lo)
					a2, b2 := sm.findSkip(s, lo)
					if a1 != a2 || b1 != b2 {
						t.Fatalf("%s on %q from %d: findRun %d-%d, findSkip %d-%d", pat, s, lo, a1, b1, a2, b2)
					}
				}
			}
		}
	}
}
