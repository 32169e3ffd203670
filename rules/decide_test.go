package rules

import (
	"slices"
	"strings"
	"testing"
)

// The names the pipeline asks StopsMayRead about: the details decoding may change.
var (
	decodedNames    = []string{"request_body", "response_body", "custom_field:anomalies"}
	decodedPrefixes = []string{"request_param:"}
)

// TestStopsMayRead: which rule sets may drop calls, and which of them have a stop rule
// that may read a detail decoding changes (and so must run after decoding).
func TestStopsMayRead(t *testing.T) {
	for _, tc := range []struct {
		rules       string
		drops, read bool
	}{
		{"include default", false, false},
		{"include standard", false, false},
		{"include strict", false, false},
		{"include debug", false, false},
		{"/.*/ remove", false, false},
		{"/response_body/ remove_if_found /x/", false, false},
		{"sample 10", true, false},
		{"include default\nsample 10", true, false},
		{"/request_url/ stop_if /.*large.*/", true, false},
		{"include debug\n/request_url/ stop_if /.*large.*/", true, false},
		{"/request_(url|method)/ stop_unless_found /api/", true, false},
		{"/request_header:user-agent/ stop", true, false},
		{"/request_url|response_code/ stop_if /x/", true, false},
		{"/request_(header:x-.*|url)/ stop_if /x/", true, false},
		{"/request_param/ stop", true, false}, // the whole name: no parameter is named so
		{"/request_param:.*/ stop", true, true},
		{"/request_(param|header):a/ stop", true, true},
		{"/request_p.*/ stop", true, true},
		{"/request_[a-z]+/ stop", true, true}, // a class: taken to read anything after request_
		{"/response_code/ stop_if /5../\n/request_url/ stop_unless /.*/", true, false},
		{"/response_body/ stop_if_found /secret/", true, true},
		{"/request_body|request_url/ stop_if /x/", true, true},
		{"/.*/ stop_if_found /x/", true, true},
		{"/.*_body/ stop", true, true},
		{"/request_param:token/ stop", true, true},
		{"/request_.*/ stop_if /x/", true, true},
		{"/custom_field:anomalies/ stop_unless_found /gzip/", true, true},
		{"/(?i)request_url/ stop_if /x/", true, true},                   // no literal prefix: taken to read anything
		{"/request_header:(?!x-).*/ stop", true, true},                  // backtracking engine: not analysed
		{"/request_url/ stop_if /x/\n/response_body/ stop", true, true}, // one rule is enough
	} {
		r := mustParse(tc.rules)
		if got := r.Drops(); got != tc.drops {
			t.Errorf("%q: Drops %v, want %v", tc.rules, got, tc.drops)
		}
		if got := r.StopsMayRead(decodedNames, decodedPrefixes); got != tc.read {
			t.Errorf("%q: StopsMayRead %v, want %v", tc.rules, got, tc.read)
		}
	}
}

// TestDecideThenApply: Decide, then ApplyDecided on details built afresh, gives what
// Apply gives, for rule sets that stop some calls and keep others.
func TestDecideThenApply(t *testing.T) {
	calls := [][][2]string{
		mockDetails(mockHTML, mockJSON),
		mockDetails("user@example.com 123456789", ""),
		{{"request_method", "GET"}, {"request_url", "http://api.test/large/1?token=abc"}, {"response_code", "500"},
			{"request_header:Cookie", "user=7; other=8"}, {"response_body", "abc"}},
		{{"request_method", "GET"}, {"request_url", "http://api.test/small"}, {"response_code", "200"}},
	}
	for _, set := range []string{
		"include default", "include strict", "include debug",
		"include debug\n/request_url/ stop_if /.*large.*/",
		"include strict\n/response_code/ stop_if /5../",
		"include default\n/request_url/ stop_unless_found /small/\ncopy_session_field /user/",
		"/request_header:(?!x-).*/ stop_if /never/\n/request_url/ replace /(?<=api)\\.test/, /.example/",
		"/request_method/ stop",
	} {
		r := mustParse(set)
		for i, c := range calls {
			want, wantKeep := r.Apply(slices.Clone(c))
			v, keep := r.Decide(slices.Clone(c))
			var got [][2]string
			if keep {
				got, keep = r.ApplyDecided(slices.Clone(c), nil, 0, v)
			}
			if keep != wantKeep || !slices.Equal(got, want) {
				t.Errorf("%q call %d: Decide+ApplyDecided %v %v, Apply %v %v", set, i, keep, got, wantKeep, want)
			}
		}
	}
}

// TestDecideSamplesOnce: sampling draws once per call, in Decide; ApplyDecided keeps every
// call Decide kept (drawing again would drop about half of them), and ApplyDecided with
// the zero Verdict samples as ApplyOpaque does.
func TestDecideSamplesOnce(t *testing.T) {
	r := mustParse("sample 50")
	const n = 400
	decided, applied, undecided := 0, 0, 0
	for range n {
		c := mockDetails(mockHTML, "")
		v, keep := r.Decide(slices.Clone(c))
		if keep {
			decided++
			if _, keep := r.ApplyDecided(slices.Clone(c), nil, 0, v); keep {
				applied++
			}
		}
		if _, keep := r.ApplyDecided(slices.Clone(c), nil, 0, Verdict{}); keep {
			undecided++
		}
	}
	if decided < n/5 || decided > n*4/5 || undecided < n/5 || undecided > n*4/5 {
		t.Errorf("sample 50 kept %d (Decide) and %d (zero Verdict) of %d calls", decided, undecided, n)
	}
	if applied != decided {
		t.Errorf("ApplyDecided kept %d of the %d calls Decide kept: it sampled again", applied, decided)
	}
}

// TestDecideKeepsBudget: a backtracking stop rule that gives up in Decide fails the
// call's later backtracking matches closed in ApplyDecided, as within one Apply.
func TestDecideKeepsBudget(t *testing.T) {
	r := mustParse("/request_url/ stop_unless /(?=x)(a+)+b/\n/response_body/ replace /(?<=a)b/, /c/")
	v := Verdict{decided: true, gaveUp: true}
	out, keep := r.ApplyDecided([][2]string{{"request_url", "u"}, {"response_body", "ab"}}, nil, 0, v)
	if !keep || slices.ContainsFunc(out, func(d [2]string) bool { return d[0] == "response_body" }) {
		t.Errorf("after the budget was spent: %v %v, want the body removed (failed closed)", out, keep)
	}
	out, keep = r.ApplyDecided([][2]string{{"request_url", "u"}, {"response_body", "ab"}}, nil, 0, Verdict{decided: true})
	if v, _ := value(out, "response_body"); !keep || v != "ac" {
		t.Errorf("with budget left: %v %v, want the body masked", out, keep)
	}
}

// FuzzDecide: Decide then ApplyDecided gives what Apply gives, and StopsMayRead is sound:
// when it says no stop rule may read a name, or names starting with a prefix, no stop
// rule's scope matches such a name.
func FuzzDecide(f *testing.F) {
	f.Add("/request_url/ stop_if /.*login.*/\ninclude default", "request_param:a", "v", 8)
	f.Add("/request_(url|param:x)/ stop_unless_found /z/", "request_param:x", "z", 14)
	f.Add("/request_url|response_code/ stop_if /x/", "response_body", "x", 3)
	f.Add("/(?i)request_url/ stop", "REQUEST_URL", "", 0)
	f.Add("/request_header:(?!x).*/ stop_if_found /a/\n/response_body/ replace /a/, /b/", "request_header:y", "a", 5)
	f.Fuzz(func(t *testing.T, rules, name, value string, cut int) {
		if strings.HasPrefix(rules, "file://") || len(rules) > 4096 {
			return
		}
		r, err := Parse(rules)
		if err != nil {
			return
		}
		prefix := name[:min(max(cut, 0), len(name))]
		for _, g := range [][]*rule{r.stop, r.stopIfFound, r.stopIf, r.stopUnlessFound, r.stopUnless} {
			for _, rl := range g {
				if ok, err := rl.scope.match(name); ok && err == nil {
					if !r.StopsMayRead([]string{name}, nil) || !r.StopsMayRead(nil, []string{prefix}) {
						t.Fatalf("%q: scope /%s/ matches %q, yet StopsMayRead says no (prefix %q)", rules, rl.scope.src, name, prefix)
					}
				}
			}
		}
		in := append(wireCall(), [2]string{name, value})
		want, wantKeep := r.Apply(clone(in))
		v, keep := r.Decide(clone(in))
		var got [][2]string
		if keep {
			got, keep = r.ApplyDecided(clone(in), nil, 0, v)
		}
		if r.EngineFailures() > 0 || r.Sample() > 0 {
			return
		}
		if keep != wantKeep || !slices.Equal(got, want) {
			t.Fatalf("%q on %q=%q: Decide+ApplyDecided %v %q, Apply %v %q", rules, name, value, keep, got, wantKeep, want)
		}
	})
}
