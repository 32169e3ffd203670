package rules

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"sniffer/internal/bufpool"
)

// Seeds are also kept in testdata/fuzz/FuzzParse and testdata/fuzz/FuzzApply.
var fuzzRuleSeeds = []string{
	"include standard", "include strict", "include debug", "include default", "",
	"allow_http_url\nskip_compression\nskip_submission\nsample 50",
	"copy_session_field /.*/",
	`include debug\nallow_http_url`, `include debug\n/request_body/ replace /\n/, / /\n# c`,
	`(?i)\0141\s/ remove_if_found /(?iu)[k\S]/`, `/request_body/ replace /(?i)[^\x{212a}k]\w/, /$0/`,
	"/request_header:cookie|response_header:set-cookie/remove",
	"!request_body|response_body! remove_if |<!--IGNORE_LOGGING-->\\|<!-SKIP-->|",
	"%response_body% replace %kurt%, %vagner%",
	"/request_url/ replace /([^\\?;]+).*/, /$1/",
	"/request_header:(?!user-agent).*/ remove",
	"/request_body/ replace /(?<=card=)\\d+/, /****/",
	"/request_body/ remove_if /(\\w+)-\\1/",
	"~a~ stop_unless_found ~b~\n~c~ stop_if ~d~\n~e~ stop_if_found ~f~\n~g~ stop_unless ~h~\n~i~ stop",
	"/x/ remove_unless /y/\n/x/ remove_unless_found /z/\n/x/ remove_if_found /q/",
	"/a/ replace /(?<n>b)/, /${n}\\$$0/",
	"/[a&&b]/ remove", "/(?U)a/ remove", "sample 0", "sample 10\nsample 20", "file:///nonexistent",
	"/\\Qa.b/ remove", "/a{2,}+/ remove",
}

func FuzzParse(f *testing.F) {
	for _, s := range fuzzRuleSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		if strings.HasPrefix(text, "file://") {
			return // reads files; covered by TestFileRules
		}
		r, err := Parse(text)
		if err != nil {
			if r != nil {
				t.Fatal("rules returned with an error")
			}
			var pe *Error
			if len(text) <= maxRulesBytes && !asError(err, &pe) {
				t.Fatalf("error without a line number: %v", err)
			}
			return
		}
		in := wireCall()
		out, keep := r.Apply(clone(in))
		checkApplyInvariants(t, in, out, keep)
	})
}

func asError(err error, pe **Error) bool {
	e, ok := err.(*Error)
	*pe = e
	return ok
}

func checkApplyInvariants(t *testing.T, in, out [][2]string, keep bool) {
	t.Helper()
	if !keep {
		if out != nil {
			t.Fatal("dropped call returned details")
		}
		return
	}
	added := 0 // session fields copied from cookies (copy_session_field)
	for _, d := range out {
		if isSessionField(d[0]) && !slices.Contains(in, d) {
			added++
		}
	}
	if len(out) == 0 || len(out)-added > len(in) {
		t.Fatalf("kept %d details of %d (%d session fields added)", len(out), len(in), added)
	}
	for _, d := range out {
		if d[1] == "" {
			t.Fatalf("empty value kept for %s", d[0])
		}
	}
}

var (
	fuzzSets = map[string]*Rules{}
	digits9  = regexp.MustCompile(`[0-9.\-/]{9,}`)
)

func init() {
	for _, s := range []string{"include standard", "include strict", "include default",
		"/request_body/ replace /(?<=k=)[^&]*/, /x/\n/(?!now).*/ remove_if_found /(?<=x)y/"} {
		fuzzSets[s] = mustParse(s)
	}
}

// FuzzApply runs fuzzed rules, and the predefined sets, on a call with a fuzzed detail.
func FuzzApply(f *testing.F) {
	f.Add("include standard", "request_body", `{"mail":"jo@example.org","cc":"4111111111111111"}`)
	f.Add("/request_body/ replace /(\\d{4})\\d+/, /$1****/", "request_body", "card 4111111111111111")
	f.Add("/request_header:(?!user-agent).*/ remove", "request_header:x", "v")
	f.Add("!.*! replace !.*!, !!", "response_body", "x")
	f.Add("/(request|response)_body/ replace /\\\\/, /\\$/", "request_body", "a\\b\xff\xfe")
	f.Fuzz(func(t *testing.T, rules, name, value string) {
		in := append(wireCall(), [2]string{name, value})
		if !strings.HasPrefix(rules, "file://") && len(rules) < 4096 {
			if r, err := Parse(rules); err == nil {
				out, keep := r.Apply(clone(in))
				checkApplyInvariants(t, in, out, keep)
			}
		}
		for text, r := range fuzzSets {
			out, keep := r.Apply(clone(in))
			checkApplyInvariants(t, in, out, keep)
			for _, d := range out {
				switch text {
				case "include standard", "include default":
					if d[0] == "request_header:cookie" || d[0] == "response_header:set-cookie" {
						t.Fatalf("%s kept %s", text, d[0])
					}
					if (d[0] == "request_body" || d[0] == "response_body") && digits9.MatchString(d[1]) {
						t.Fatalf("%s left a run of 9+ digits in %s: %q", text, d[0], d[1])
					}
				case "include strict":
					if strings.ContainsAny(d[0], "\n") {
						continue // Java's '.' (and so its strict scope) stops at line ends too
					}
					if strings.HasPrefix(d[0], "request_param:") || d[0] == "request_body" || d[0] == "response_body" ||
						strings.HasPrefix(d[0], "request_header:") && !strings.HasPrefix(d[0], "request_header:user-agent") {
						t.Fatalf("strict kept %s", d[0])
					}
				}
			}
		}
	})
}

// FuzzFastPaths checks that the fast paths (name sets, the scope cache, the sequence
// matcher, the prefilter and anchored search) give what the plain regex engines give, on
// fuzzed rules and a fuzzed detail added to a login call. A run where the backtracking
// engine gave up is not compared: its answer depends on time.
func FuzzFastPaths(f *testing.F) {
	f.Add("include default", "response_body", `{"mail":"jo@example.org","password":"x","n":0.1234567891}`)
	f.Add("include strict", "request_header:user-agent-x", "v")
	f.Add("/request_body/ replace /[a-z’]+@[a-z]+\\.[a-z]+/, /<$0>/", "request_body", "’a@b.c x@y.z")
	f.Add("/(?i)request_param:(a|b).*/ remove", "request_param:A\n", "v")
	f.Add("/request_url|request_body/ replace /(?i)((?:token|key)=)[^&]*/, /$1x/", "request_body", "TOKEN=1&\u212aey=2")
	f.Fuzz(func(t *testing.T, rules, name, value string) {
		if strings.HasPrefix(rules, "file://") || len(rules) > 4096 {
			return
		}
		fast, err := Parse(rules)
		if err != nil {
			return
		}
		plain := plainRules(t, rules)
		in := append(wireCall(), [2]string{name, value})
		got, gotKeep := fast.Apply(clone(in))
		want, wantKeep := plain.Apply(clone(in))
		if fast.EngineFailures() > 0 || plain.EngineFailures() > 0 || fast.Sample() > 0 {
			return
		}
		if gotKeep != wantKeep || !slices.Equal(got, want) {
			t.Fatalf("%q on %q=%q:\n got %v %q\nwant %v %q", rules, name, value, gotKeep, got, wantKeep, want)
		}
		// The value repeated past bufpool.Min, through ApplyPooled (values masked in pooled
		// buffers, handed out of the scratch).
		if value == "" {
			return
		}
		big := strings.Repeat(value, bufpool.Min/len(value)+1)
		in = append(wireCall(), [2]string{name, big})
		var bufs [][]byte
		got, gotKeep = fast.ApplyPooled(clone(in), &bufs)
		want, wantKeep = plain.Apply(clone(in))
		if fast.EngineFailures() > 0 || plain.EngineFailures() > 0 {
			return
		}
		if gotKeep != wantKeep || !slices.Equal(got, want) {
			t.Fatalf("%q on %q=%q repeated to %d bytes, pooled:\n got %v %.300q\nwant %v %.300q", rules, name, value, len(big), gotKeep, got, wantKeep, want)
		}
		for _, b := range bufs {
			bufpool.Put(b)
		}
	})
}
