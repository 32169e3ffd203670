package rules

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"sniffer/internal/bufpool"
)

// plainRules parses text with every fast path turned off: each regex runs on its engine,
// each scope is matched per detail and rule. It is the reference the fast paths must equal.
func plainRules(t testing.TB, text string) *Rules {
	t.Helper()
	r, err := Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range [][]*rule{r.stop, r.stopIf, r.stopIfFound, r.stopUnless, r.stopUnlessFound, r.removes, r.replaces} {
		for _, rl := range g {
			rl.scopeBit = -1
			if _, ok := onlyLiteral(rl.repl); ok {
				// The same replacement as two parts: the general loop.
				rl.repl = append([]replPart{{group: -1}}, rl.repl...)
			}
			for _, m := range []*matcher{rl.scope, rl.value} {
				plainMatcher(m)
			}
		}
	}
	r.cache.matchers = nil
	r.copyOut = true
	return r
}

// plainMatcher turns m's fast paths off, its java form's too.
func plainMatcher(m *matcher) {
	for ; m != nil; m = m.java {
		m.names, m.seq, m.seg, m.pre, m.anch = nil, nil, nil, nil, nil
		m.preFirst = false
	}
}

var equivSets = []string{"include default", "include standard", "include strict", "include debug",
	// Sets that put the fast paths in other orders and combinations.
	"/.*/ replace /[0-9]{3,}/, /N/\n/request_body|response_body/ replace /(?i)token=[a-z0-9]*/, /token=?/\n/(?i)request_header:x-.*/ remove",
	"/request_body|response_body/ replace /[a-z0-9.]+@[a-z]+\\.[a-z]+/, /<$0>/\n/response_.*/ remove_if_found /\\d{9,}/\n/request_url/ stop_if_found /secret=/",
	"/(?i)request_param:(p|q)/ stop_unless /.+/\n/request_header:(?!host).*/ remove\n/response_body/ replace /\\d+/, //",
	// Only scopes on the backtracking engine: nothing cached.
	"/(?<=q)x/ stop\n/(?<!z)request_.*/ remove_if /(?<=a)1/\n/(?<=_)body|(?<=e)url/ replace /(?<=@)\\w+/, /h/",
}

// The fast paths change nothing: every set gives the same result with them as without,
// on the workload mix, on a login call, and on random calls made of the pieces the
// predefined sets look for.
func TestFastPathsGiveTheSameResults(t *testing.T) {
	inputs := append(mixCalls(10, false), mixCalls(10, true)...)
	inputs = append(inputs, wireCall())
	rng := rand.New(rand.NewPCG(11, 12))
	names := []string{"request_body", "response_body", "request_url", "request_param:password", "request_param:Token",
		"request_param:q", "request_header:cookie", "request_header:authorization", "request_header:x-api-key",
		"request_header:host", "response_header:set-cookie", "response_header:content-type", "request_header:user-agent",
		"request_header:x-\u212a", "session_field:user", "now", "request_param:api_key\n", "request_header:\xff"}
	pieces := []string{"jo@example.org", "a.b@c-d.e", "@", "x@", ".", "4111111111111111", "123-45-6789", "12/31/2024",
		"0.123456789", `"password"`, `"Token" : "t\"k"`, `"secret":`, " ", `"`, "password=hunter2&", "access_token=abc;",
		"ſecret", "\u212aey", "é", "€", "\xff", "’x@y.z", "\n", "000000000", "9", "-", "/"}
	for range 300 {
		var call [][2]string
		for range 1 + rng.IntN(12) {
			var b strings.Builder
			for range rng.IntN(10) {
				b.WriteString(pieces[rng.IntN(len(pieces))])
			}
			call = append(call, [2]string{names[rng.IntN(len(names))], b.String()})
		}
		inputs = append(inputs, call)
	}
	// Bodies from bufpool.Min bytes up, which ApplyPooled masks in pooled buffers, of the
	// same pieces, some starting with non-ASCII text.
	for i := range 60 {
		var b strings.Builder
		if i%3 == 0 {
			b.WriteString("é\u212a")
		}
		for b.Len() < bufpool.Min+rng.IntN(40<<10) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		inputs = append(inputs, [][2]string{{"request_url", "/x?token=1"}, {names[rng.IntN(2)], b.String()}})
	}
	kept := 0
	for _, text := range equivSets {
		fast, plain := mustParse(text), plainRules(t, text)
		// ApplyPooled's values are kept, their buffers not handed back, until every call of
		// the set is compared again at the end: a buffer still written after it was handed
		// out would change an earlier call's values.
		var bufs [][]byte
		pooled := make([][][2]string, len(inputs))
		wants := make([][][2]string, len(inputs))
		for i, in := range inputs {
			got, gotKeep := fast.Apply(slices.Clone(in))
			want, wantKeep := plain.Apply(slices.Clone(in))
			if gotKeep != wantKeep || !slices.Equal(got, want) {
				t.Fatalf("%q on %.300q:\n got %v %.500q\nwant %v %.500q", text, in, gotKeep, got, wantKeep, want)
			}
			if gotKeep {
				kept++
			}
			pooled[i], _ = fast.ApplyPooled(slices.Clone(in), &bufs)
			wants[i] = want
		}
		for i := range inputs {
			if !slices.Equal(pooled[i], wants[i]) {
				t.Fatalf("%q on %.300q: ApplyPooled gave, once all calls were made,\n%.500q\nwant %.500q", text, inputs[i], pooled[i], wants[i])
			}
		}
		for _, b := range bufs {
			bufpool.Put(b)
		}
	}
	if kept < len(inputs) {
		t.Errorf("only %d calls kept over %d sets; the test checks too little", kept, len(equivSets))
	}
}

// The scope cache stays bounded however many names clients make up, and answers right
// past its bound.
func TestScopeCacheBounded(t *testing.T) {
	r := mustParse("include default")
	plain := plainRules(t, "include default")
	for i := range maxCachedNames + 500 {
		in := [][2]string{{fmt.Sprintf("request_header:x-made-up-%d", i), "v"}, {"request_header:cookie", "c"},
			{"request_param:password", "p"}, {fmt.Sprintf("request_param:pass%d", i%3), "p"}}
		got, _ := r.Apply(slices.Clone(in))
		want, _ := plain.Apply(slices.Clone(in))
		if !slices.Equal(got, want) {
			t.Fatalf("name %d: got %q, want %q", i, got, want)
		}
	}
	if n := len(*r.cache.names.Load()); n != maxCachedNames {
		t.Errorf("cache holds %d names, want the bound %d", n, maxCachedNames)
	}
	long := "request_param:" + strings.Repeat("p", maxCachedNameLen)
	r2 := mustParse("include default")
	r2.Apply([][2]string{{long, "x"}})
	if _, ok := (*r2.cache.names.Load())[long]; ok {
		t.Error("a name longer than maxCachedNameLen was cached")
	}
}

// Values made to defeat the fast paths (an atom or an anchor byte every few bytes, runs
// that never end in a match) still cost linear time, and give the plain answer.
func TestFastPathsStayLinear(t *testing.T) {
	if m, _ := compileMatcher(`a{2,}b[ab]+c`, false); m.seq != nil {
		t.Error("a{2,}b[ab]+c took the sequence matcher: matching on from each run could read the rest of the value")
	}
	if m, _ := compileMatcher(`@[a@]+x`, false); m.seq != nil {
		t.Error("@[a@]+x took the sequence matcher: matching on from each '@' could read the rest of the value")
	}
	const n = 256 << 10
	cases := []struct{ rules, value string }{
		{"include default", strings.Repeat(`"token" `, n/8)},
		{"include default", strings.Repeat(`"password":"\`, n/13)},
		{"include default", strings.Repeat("a@b.", n/4)},
		{"include default", strings.Repeat("12345678-", n/9)},
		{"/request_body/ replace /(?i)token[a-z ]*!/, /x/", strings.Repeat("token ", n/6)},
		{"/request_body/ replace /a{2,}b[ab]+c/, /x/", strings.Repeat("aab", n/3)},
		{"/request_body/ replace /@[a@]+x/, /x/", strings.Repeat("@a", n/2)},
	}
	for _, tc := range cases {
		fast, plain := mustParse(tc.rules), plainRules(t, tc.rules)
		in := [][2]string{{"request_body", tc.value}}
		start := time.Now()
		got, _ := fast.Apply(slices.Clone(in))
		took := time.Since(start)
		want, _ := plain.Apply(slices.Clone(in))
		if !slices.Equal(got, want) {
			t.Errorf("%q on %.40q...: result differs from the plain engine", tc.rules, tc.value)
		}
		if took > 5*time.Second {
			t.Errorf("%q on %.40q... (%d bytes) took %v", tc.rules, tc.value, len(tc.value), took)
		}
	}
}
