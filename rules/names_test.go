package rules

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// Every scope of the predefined sets is matched by comparing strings, not by the engine
// (but strict's look-aheads, which need the backtracking engine).
func TestScopesUseNameSets(t *testing.T) {
	for _, set := range []string{"include default", "include standard", "include strict"} {
		r := mustParse(set)
		for _, g := range [][]*rule{r.removes, r.replaces} {
			for _, rl := range g {
				if rl.scope.names == nil && rl.scope.bt == nil {
					t.Errorf("%s: scope %s has no name set", set, rl.scope.src)
				}
			}
		}
	}
}

// Name sets must answer exactly as the anchored regex: random names built from the
// pieces of the scopes, in random case, with line ends, non-ASCII and invalid UTF-8.
func TestNameSetAgreesWithRegexp(t *testing.T) {
	scopes := []struct {
		re      string
		set     bool     // expected to get a name set
		matches []string // names that must match, among others tried
	}{
		{`request_header:cookie|response_header:set-cookie`, true, []string{"request_header:cookie", "response_header:set-cookie"}},
		{`(request|response)_body|request_param:.*`, true, []string{"response_body", "request_param:", "request_param:x\xff"}},
		{`request_body|request_param:.*|response_body`, true, []string{"request_body", "request_param:q"}},
		{`(?i)request_param:(?:` + secretNames + `)`, true, []string{"request_param:password", "REQUEST_param:Api_Key", "request_param:tOKEN"}},
		{`request_header:(authorization|proxy-authorization|x-api-key|api-key|x-auth-token|x-access-token|x-amz-security-token)`,
			true, []string{"request_header:x-api-key", "request_header:authorization"}},
		{`request_url|request_body`, true, []string{"request_url"}},
		{`a|b?c`, true, []string{"a", "c", "bc"}},
		{`[ab][cd]`, true, []string{"ac", "bd"}},
		{`x(y|z)?`, true, []string{"x", "xz"}},
		{`(?s)req.*`, true, []string{"req\n", "request"}},
		{`(?i)ke.*y`, false, []string{"KEy", "ke\xffy"}},
		{`(?i)k.*`, true, []string{"K", "k\xff"}}, // not the Kelvin sign: Java folds ASCII only
		{`é.*`, true, []string{"é", "é\xff"}},
		{`.*`, true, []string{"", "\xff\r"}},
		{`a(?:)b`, true, []string{"ab"}},
		{`(?i)s_k`, true, []string{"S_K", "s_K"}},
		{`[é€]x`, true, []string{"éx", "€x"}},
		{`(?i)[ab]c`, true, []string{"AC", "bC"}},
		{`req.*|res`, true, []string{"res", "req"}},
		{`(?i:ab)c`, false, []string{"ABc"}},
	}
	pieces := []string{"request", "response", "_", "body", "param", ":", "header", "cookie", "set-", "Cookie", "REQUEST",
		"password", "PassWord", "token", "api_key", "x-api-key", "url", "a", "b", "c", "d", "x", "y", "z", "k", "K",
		"\u212a", "s", "\u017f", "e", "é", "€", "\n", "\r", "\xff", "\xe2\x82", "req", "res", "ke"}
	rng := rand.New(rand.NewPCG(9, 10))
	for _, sc := range scopes {
		p := sc.re
		m, err := compileMatcher(p, true)
		if err != nil {
			t.Fatal(p, err)
		}
		plain := javaRE(t, p, true)
		check := func(s string) {
			want := plain.MatchString(s)
			if got, _ := m.match(s); got != want {
				t.Fatalf("%s full match %q: got %v, want %v", p, s, got, want)
			}
		}
		for _, s := range sc.matches {
			if !plain.MatchString(s) {
				t.Fatalf("%s: example %q does not match", p, s)
			}
			check(s)
			check(s + "\n")
			check(s[:len(s)/2])
		}
		for range 3000 {
			var b strings.Builder
			for range rng.IntN(6) {
				b.WriteString(pieces[rng.IntN(len(pieces))])
			}
			check(b.String())
		}
		if (m.names != nil) != sc.set {
			t.Errorf("%s: name set %v, want %v", p, m.names != nil, sc.set)
		}
	}
}

// Scopes with a negative look-ahead after a literal (strict's) are answered by comparing
// strings, exactly as the backtracking engine answers them.
func TestLookaheadNameSetAgreesWithEngine(t *testing.T) {
	scopes := []struct {
		re  string
		set bool
	}{
		{`request_body|response_body|request_param:.*|request_header:(?!user-agent).*|response_header:(?!(content-length)|(content-type)).*`, true},
		{`request_header:(?!user-agent).*`, true}, {`a(?!b|(cd)).*|x|y.*`, true}, {`(?!ab).*`, true},
		{`p:(?!x)`, false}, {`(?i)a(?!b).*`, false}, {`a(?!b.).*`, false}, {`a(?=b).*`, false}, {`a(?!b).+`, false},
		{`a\.(?!b).*`, false}, {`[ab](?!c).*`, false}, {`a(?!(?!b)).*`, false},
	}
	pieces := []string{"request_", "response_", "header:", "body", "param:", "user-agent", "user", "-agent", "content-length",
		"content-type", "content", "a", "b", "c", "d", "x", "y", "p:", "\n", "\r", "\xff", "é", "B", "A"}
	rng := rand.New(rand.NewPCG(13, 14))
	for _, sc := range scopes {
		m, err := compileMatcher(sc.re, true)
		if err != nil {
			t.Fatal(sc.re, err)
		}
		if m.bt == nil {
			t.Fatalf("%s: not on the backtracking engine", sc.re)
		}
		if (m.names != nil) != sc.set {
			t.Errorf("%s: name set %v, want %v", sc.re, m.names != nil, sc.set)
			continue
		}
		if m.names == nil {
			continue
		}
		hits := 0
		for range 4000 {
			var b strings.Builder
			starts := []string{"request_header:", "response_header:", "request_param:", "request_body", "a", "x", "y", ""}
			b.WriteString(starts[rng.IntN(len(starts))])
			for range rng.IntN(4) {
				b.WriteString(pieces[rng.IntN(len(pieces))])
			}
			s := b.String()
			want, err := btMatch(m.bt, s)
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := m.match(s); got != want {
				t.Fatalf("%s full match %q: got %v, engine %v", sc.re, s, got, want)
			}
			if want {
				hits++
			}
		}
		if hits < 50 {
			t.Errorf("%s: %d names matched; the test checks too little", sc.re, hits)
		}
	}
}
