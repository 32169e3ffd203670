package rules

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// parsed describes the single rule a line should compile to.
type parsed struct {
	verb         string // verb name, or allow_http_url, copy_session_field, sample, skip_*
	scope, value string // regex sources after delimiter unescaping ("" when none)
	repl         string // replacement after unescaping, re-rendered from parts
	sample       int
}

// only returns the one rule in r, as a parsed.
func only(t *testing.T, line string) parsed {
	t.Helper()
	r, err := Parse(line)
	if err != nil {
		t.Fatalf("Parse(%q): %v", line, err)
	}
	if r.Len() != 1 {
		t.Fatalf("Parse(%q): %d rules, want 1", line, r.Len())
	}
	switch {
	case r.allowHTTPURL:
		return parsed{verb: "allow_http_url"}
	case r.skipCompression:
		return parsed{verb: "skip_compression"}
	case r.skipSubmission:
		return parsed{verb: "skip_submission"}
	case r.sample != 0:
		return parsed{verb: "sample", sample: r.sample}
	case len(r.copySession) == 1:
		return parsed{verb: "copy_session_field", value: r.copySession[0].src}
	}
	var all []*rule
	for _, g := range [][]*rule{r.stop, r.stopIf, r.stopIfFound, r.stopUnless, r.stopUnlessFound, r.removes, r.replaces} {
		all = append(all, g...)
	}
	rl := all[0]
	p := parsed{verb: rl.verb.String(), scope: rl.scope.src}
	if rl.value != nil {
		p.value = rl.value.src
	}
	for _, part := range rl.repl {
		if part.group < 0 {
			p.repl += part.lit
		} else {
			p.repl += "$" + string(rune('0'+part.group))
		}
	}
	return p
}

// The accepted forms come from the Java logger's HttpRulesTest (parse_ok), with Java's
// added ^...$ left off the expected regexes (matching is whole-value either way).
func TestParseValidRules(t *testing.T) {
	tests := []struct {
		line string
		want parsed
	}{
		{"allow_http_url", parsed{verb: "allow_http_url"}},
		{"allow_http_url # be safe bro!", parsed{verb: "allow_http_url"}},
		{"copy_session_field !.*!", parsed{verb: "copy_session_field", value: ".*"}},
		{"copy_session_field /.*/", parsed{verb: "copy_session_field", value: ".*"}},
		{"copy_session_field /^.*/", parsed{verb: "copy_session_field", value: "^.*"}},
		{"copy_session_field /^.*$/", parsed{verb: "copy_session_field", value: "^.*$"}},
		{`copy_session_field !A\!|B!`, parsed{verb: "copy_session_field", value: "A!|B"}},
		{`copy_session_field |A\|B|`, parsed{verb: "copy_session_field", value: "A|B"}},
		{`copy_session_field |A\|B\|C|`, parsed{verb: "copy_session_field", value: "A|B|C"}},
		{`copy_session_field /A\/B\/C/`, parsed{verb: "copy_session_field", value: "A/B/C"}},
		{"%request_header:cookie|response_header:set-cookie% remove", parsed{verb: "remove", scope: "request_header:cookie|response_header:set-cookie"}},
		{"/request_header:cookie|response_header:set-cookie/ remove", parsed{verb: "remove", scope: "request_header:cookie|response_header:set-cookie"}},
		{"/request_header:cookie|response_header:set-cookie/remove", parsed{verb: "remove", scope: "request_header:cookie|response_header:set-cookie"}},
		{`!request_header\!|response_header:set-cookie! remove`, parsed{verb: "remove", scope: "request_header!|response_header:set-cookie"}},
		{`|request_header:cookie\|response_header:set-cookie\|boo| remove`, parsed{verb: "remove", scope: "request_header:cookie|response_header:set-cookie|boo"}},
		{`/request_header:cookie\/response_header:set-cookie\/boo/ remove`, parsed{verb: "remove", scope: "request_header:cookie/response_header:set-cookie/boo"}},
		{"~request_body~ remove # comment", parsed{verb: "remove", scope: "request_body"}},
		{"%response_body% remove_if %<!--SKIP_BODY_LOGGING-->%", parsed{verb: "remove_if", scope: "response_body", value: "<!--SKIP_BODY_LOGGING-->"}},
		{"/response_body/ remove_if /<!--SKIP_BODY_LOGGING-->/", parsed{verb: "remove_if", scope: "response_body", value: "<!--SKIP_BODY_LOGGING-->"}},
		{`!request_body|response_body! remove_if |<!--IGNORE_LOGGING-->\|<!-SKIP-->|`, parsed{verb: "remove_if", scope: "request_body|response_body", value: "<!--IGNORE_LOGGING-->|<!-SKIP-->"}},
		{`/request_body\/response_body\/boo/ remove_if |<!--IGNORE_LOGGING-->\|<!-SKIP-->\|asdf|`, parsed{verb: "remove_if", scope: "request_body/response_body/boo", value: "<!--IGNORE_LOGGING-->|<!-SKIP-->|asdf"}},
		{"/response_body/ remove_if_found /<!--SKIP_BODY_LOGGING-->/", parsed{verb: "remove_if_found", scope: "response_body", value: "<!--SKIP_BODY_LOGGING-->"}},
		{`|request_body\|response_body| remove_if_found |<!--IGNORE_LOGGING-->\|<!-SKIP-->|`, parsed{verb: "remove_if_found", scope: "request_body|response_body", value: "<!--IGNORE_LOGGING-->|<!-SKIP-->"}},
		{"%response_body% remove_unless %<!--PERFORM_BODY_LOGGING-->%", parsed{verb: "remove_unless", scope: "response_body", value: "<!--PERFORM_BODY_LOGGING-->"}},
		{`|request_body\|response_body\|boo| remove_unless |<!--PERFORM_LOGGING-->\|<!-SKIP-->\|skipit|`, parsed{verb: "remove_unless", scope: "request_body|response_body|boo", value: "<!--PERFORM_LOGGING-->|<!-SKIP-->|skipit"}},
		{"/response_body/ remove_unless_found /<!--PERFORM_BODY_LOGGING-->/", parsed{verb: "remove_unless_found", scope: "response_body", value: "<!--PERFORM_BODY_LOGGING-->"}},
		{"%response_body% replace %kurt%, %vagner%", parsed{verb: "replace", scope: "response_body", value: "kurt", repl: "vagner"}},
		{"/response_body/ replace /kurt/, /vagner/", parsed{verb: "replace", scope: "response_body", value: "kurt", repl: "vagner"}},
		{"%response_body|.+_header:.+% replace %kurt%, %vagner%", parsed{verb: "replace", scope: "response_body|.+_header:.+", value: "kurt", repl: "vagner"}},
		{`|response_body\|.+_header:.+| replace |kurt|, |vagner\|frazier|`, parsed{verb: "replace", scope: "response_body|.+_header:.+", value: "kurt", repl: "vagner|frazier"}},
		{`|response_body| replace |kurt\|bruce\|kevin|, |vagner|`, parsed{verb: "replace", scope: "response_body", value: "kurt|bruce|kevin", repl: "vagner"}},
		{`|response_body| replace /kurt\/bruce\/kevin/, |vagner|`, parsed{verb: "replace", scope: "response_body", value: "kurt/bruce/kevin", repl: "vagner"}},
		{"!response_body! replace !World!, !!", parsed{verb: "replace", scope: "response_body", value: "World", repl: ""}},
		{"/request_url/ replace /([^\\?;]+).*/, /$1/", parsed{verb: "replace", scope: "request_url", value: `([^\?;]+).*`, repl: "$1"}},
		{"sample 50", parsed{verb: "sample", sample: 50}},
		{"sample 72 # comment", parsed{verb: "sample", sample: 72}},
		{"sample 1", parsed{verb: "sample", sample: 1}},
		{"sample 99", parsed{verb: "sample", sample: 99}},
		{"skip_compression", parsed{verb: "skip_compression"}},
		{"skip_compression # slightly faster!", parsed{verb: "skip_compression"}},
		{"skip_submission", parsed{verb: "skip_submission"}},
		{"  skip_submission   ", parsed{verb: "skip_submission"}},
		{"%request_header:skip_usage_logging% stop", parsed{verb: "stop", scope: "request_header:skip_usage_logging"}},
		{`!request_header\!! stop`, parsed{verb: "stop", scope: "request_header!"}},
		{`|request_header\|response_header\|boo| stop`, parsed{verb: "stop", scope: "request_header|response_header|boo"}},
		{"/response_body/ stop_if /<!--IGNORE_LOGGING-->/", parsed{verb: "stop_if", scope: "response_body", value: "<!--IGNORE_LOGGING-->"}},
		{`|request_body\|response_body| stop_if |<!--IGNORE_LOGGING-->\|<!-SKIP-->\|pipe\||`, parsed{verb: "stop_if", scope: "request_body|response_body", value: "<!--IGNORE_LOGGING-->|<!-SKIP-->|pipe|"}},
		{`!request_body|response_body|boo\!! stop_if_found |<!--IGNORE_LOGGING-->\|<!-SKIP-->|`, parsed{verb: "stop_if_found", scope: "request_body|response_body|boo!", value: "<!--IGNORE_LOGGING-->|<!-SKIP-->"}},
		{"%response_body% stop_unless %<!--DO_LOGGING-->%", parsed{verb: "stop_unless", scope: "response_body", value: "<!--DO_LOGGING-->"}},
		{`/request_body\/response_body/ stop_unless_found |<!--DO_LOGGING-->\|<!-NOSKIP-->\|pipe\||`, parsed{verb: "stop_unless_found", scope: "request_body/response_body", value: "<!--DO_LOGGING-->|<!-NOSKIP-->|pipe|"}},
		{"\t/a/\tremove_if_found\t/b/\t#\tc", parsed{verb: "remove_if_found", scope: "a", value: "b"}},
	}
	for _, tc := range tests {
		if got := only(t, tc.line); got != tc.want {
			t.Errorf("Parse(%q) = %+v, want %+v", tc.line, got, tc.want)
		}
	}
}

// The refused forms come from the Java logger's HttpRulesTest (parse_fail).
func TestParseInvalidRules(t *testing.T) {
	var lines []string
	for _, v := range []string{"b", "bozo", "*", ".*"} {
		lines = append(lines, v, "!.*! "+v, "/.*/ "+v, "%request_body% "+v, "/^request_header:.*/ "+v)
	}
	for _, s := range []string{"request_body", "*", ".*"} {
		lines = append(lines, "/"+s, "/"+s+" 1", "/"+s+" # 1", "/"+s+"/", "/"+s+"/ # 1", " / "+s,
			"// "+s, "/// "+s, "/* "+s, "/? "+s, "/+ "+s, "/( "+s, "/(.* "+s, "/(.*)) "+s,
			"~"+s, "!"+s+" 1", "|"+s+" # 1", "|"+s+"|", "%"+s+"% # 1", " % "+s, "%% "+s, "%%% "+s,
			"~"+s+"%", "!"+s+"%# 1", "|"+s+"% # 1", "|"+s+"%", "%"+s+"| # 1", "~(.*! "+s, "/(.*))! "+s)
	}
	lines = append(lines, "allow_http_url whaa", "skip_compression whaa", "skip_submission whaa",
		"sample", "sample 50 50", "sample 0", "sample 100", "sample 105", "sample 10.5", "sample blue",
		"sample # bleep", "sample //", "sample /42/", "sample 99999999999999999999")
	twoArg := []string{"remove_if", "remove_if_found", "remove_unless", "remove_unless_found",
		"stop_if", "stop_if_found", "stop_unless", "stop_unless_found", "copy_session_field"}
	for _, v := range twoArg {
		lines = append(lines,
			"|.*| "+v+" %1%, %2%", "!.*! "+v+" /1/, 2", "/.*/ "+v+" /1/, /2", "/.*/ "+v+" /1/, /2/",
			"/.*/ "+v+" /1/, /2/, /3/ # blah", "!.*! "+v, "/.*/ "+v, "/.*/ "+v+" /", "/.*/ "+v+" //",
			"/.*/ "+v+" blah", "/.*/ "+v+" # bleep", "/.*/ "+v+" blah # bleep", "/.*/ "+v+" ///",
			"/.*/ "+v+" /(/", "/.*/ "+v+" /(.*/", "/.*/ "+v+" /(.*))/")
	}
	for _, v := range []string{"remove_if", "remove_unless", "stop_if", "stop_unless", "copy_session_field"} {
		lines = append(lines, "/.*/ "+v+" /*/", "/.*/ "+v+" /?/", "/.*/ "+v+" /+/")
	}
	for _, v := range []string{"remove", "stop"} {
		lines = append(lines, "|.*| "+v+" %1%", "~.*~ "+v+" 1", "/.*/ "+v+" /1/", "/.*/ "+v+" 1 # bleep",
			"/.*/ "+v+" /1/, /2/", "%.*% "+v+" /1/, /2/, /3/ # blah")
	}
	lines = append(lines, "!.*! replace %1%, %2%, %3%", "/.*/ replace /1/, /2/, 3", "/.*/ replace /1/, /2/, /3/",
		"!.*! replace", "/.*/ replace", "/.*/ replace /", "/.*/ replace //", "/.*/ replace blah",
		"/.*/ replace boo yah # bro", "/.*/ replace /.*/ # bleep", "/.*/ replace /.*/, # bleep",
		"/.*/ replace /.*/, /# bleep", "/.*/ replace // # bleep", "/.*/ replace // // # bleep",
		"/.*/ replace /(/", "/.*/ replace /(.*))/", "/.*/ replace /1/, ~", "/.*/ replace /1/, |",
		"/.*/ replace /1/, /", "/.*/ replace /(a)/, /$2/", `/.*/ replace /a/, /$/`, `/.*/ replace /a/, /x\/`,
		`/.*/ replace /a/, /${nope}/`, "include", "include nothing", "include standard strict",
		"sample 10\nsample 99")
	for _, line := range lines {
		if _, err := Parse(line); err == nil {
			t.Errorf("Parse(%q) succeeded; want an error", line)
		}
	}
}

func TestParseErrorsSayWhereAndWhat(t *testing.T) {
	tests := []struct {
		text     string
		line     int
		bad      string
		contains string
	}{
		{"# ok\ninclude standard\n/x/ bozo\n", 3, "/x/ bozo", "unknown verb"},
		{"sample 123", 1, "sample 123", "1 to 99"},
		{"\n\n!!! stop", 3, "!!! stop", "unescaped delimiter !"},
		{"/*! stop", 1, "/*! stop", "must start and end with the same delimiter"},
		{"/*/ stop", 1, "/*/ stop", "nothing to repeat"},
		{"/boo", 1, "/boo", "not a rule"},
		{"sample 10\r\nsample 20", 2, "sample 20", "more than one sample"},
		{"/a/ remove\n/b(/ stop", 2, "/b(/ stop", "invalid regex"},
		{"/a/ replace /(a)/, /$3/", 1, "/a/ replace /(a)/, /$3/", "has 1 group"},
		{"/a/ remove_if /[a&&b]/", 1, "/a/ remove_if /[a&&b]/", "intersection"},
		{"/a/ remove_if /(?U)a/", 1, "/a/ remove_if /(?U)a/", "ungreedy"},
		{"include bogus", 1, "include bogus", "unknown rule set"},
		{"/a/ remove_if", 1, "/a/ remove_if", "/scope/ remove_if /regex/"},
	}
	for _, tc := range tests {
		_, err := Parse(tc.text)
		var pe *Error
		if !errors.As(err, &pe) {
			t.Errorf("Parse(%q) error = %v; want *Error", tc.text, err)
			continue
		}
		if pe.Line != tc.line || pe.Text != tc.bad || !strings.Contains(pe.Msg, tc.contains) {
			t.Errorf("Parse(%q) = line %d %q %q; want line %d %q containing %q", tc.text, pe.Line, pe.Text, pe.Msg, tc.line, tc.bad, tc.contains)
		}
		if !strings.Contains(err.Error(), "line ") || !strings.Contains(err.Error(), tc.bad) {
			t.Errorf("error text %q lacks the line number or the line", err)
		}
	}
}

// Include counts follow the Java logger's HttpRulesTest (includesDebugRulesTest etc.).
func TestIncludeSizes(t *testing.T) {
	tests := []struct {
		text string
		size int
	}{
		{"include debug", 2}, {"include debug\n", 2}, {"include debug\nsample 50", 3},
		{" include debug\ninclude debug", 4}, {"include debug\nsample 50\ninclude debug", 5},
		{"include standard", 3}, {"include standard\nsample 50", 4}, {" include standard\ninclude standard", 6},
		{"include strict", 2}, {"include strict\nsample 50\ninclude strict", 5},
		{"include standard # the usual", 3},
		{"# 123", 0}, {"   # nothing\n\n", 0},
	}
	for _, tc := range tests {
		r, err := Parse(tc.text)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.text, err)
		}
		if r.Len() != tc.size {
			t.Errorf("Parse(%q).Len() = %d, want %d", tc.text, r.Len(), tc.size)
		}
	}
	def := Default().Len()
	for _, blank := range []string{"", " ", "\t", "\n", "include default"} {
		r, err := Parse(blank)
		if err != nil || r.Len() != def {
			t.Errorf("Parse(%q) = %v, %v; want the default set of %d rules", blank, r.Len(), err, def)
		}
	}
	r, _ := Parse("include default\nsample 42")
	if r.Len() != def+1 || r.Sample() != 42 {
		t.Errorf("include default + sample: %d rules, sample %d", r.Len(), r.Sample())
	}
	r, _ = Parse("include debug")
	if !r.AllowHTTPURL() || len(r.copySession) != 1 {
		t.Errorf("include debug: allow_http_url=%v copy_session_field=%d", r.AllowHTTPURL(), len(r.copySession))
	}
	if Default().AllowHTTPURL() || Default().SkipCompression() || Default().SkipSubmission() || Default().Sample() != 0 {
		t.Error("the default set must not allow http, skip compression or submission, or sample")
	}
}

func TestFlags(t *testing.T) {
	r, err := Parse("allow_http_url\nskip_compression\nskip_submission\nallow_http_url\nsample 33")
	if err != nil {
		t.Fatal(err)
	}
	if !r.AllowHTTPURL() || !r.SkipCompression() || !r.SkipSubmission() || r.Sample() != 33 || r.Len() != 5 {
		t.Errorf("flags: %v %v %v %d %d", r.AllowHTTPURL(), r.SkipCompression(), r.SkipSubmission(), r.Sample(), r.Len())
	}
	r, _ = Parse("/a/ remove")
	if r.AllowHTTPURL() || r.SkipCompression() || r.SkipSubmission() || r.Sample() != 0 {
		t.Error("flags set by a rule set that has none")
	}
}

func TestFileRules(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p1 := write("rules1.txt", "sample 55\n")
	p2 := write("rules2.txt", "include debug\n\nsample 56\n")
	p3 := write("rules3.txt", "\n  /request_header:cookie/ remove\n/request_body/ replace /x/, /y/ # mask\r\nsample 57\n")
	for _, tc := range []struct {
		text   string
		size   int
		sample int
	}{{"file://" + p1, 1, 55}, {"file://" + p2, 3, 56}, {"file://" + p3 + " ", 3, 57}} {
		r, err := Parse(tc.text)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.text, err)
		}
		if r.Len() != tc.size || r.Sample() != tc.sample {
			t.Errorf("Parse(%q): %d rules, sample %d; want %d, %d", tc.text, r.Len(), r.Sample(), tc.size, tc.sample)
		}
	}
	bad := write("bad.txt", "sample 5\n\n/x/ frobnicate\n")
	_, err := Parse("file://" + bad)
	var pe *Error
	if !errors.As(err, &pe) || pe.Source != bad || pe.Line != 3 || !strings.Contains(err.Error(), bad+" line 3") {
		t.Errorf("bad file error = %v", err)
	}
	if _, err := Parse("file://" + filepath.Join(dir, "missing.txt")); err == nil || !strings.Contains(err.Error(), "missing.txt") {
		t.Errorf("missing file error = %v", err)
	}
	big := write("big.txt", strings.Repeat("# filler line\n", maxRulesBytes/14+10))
	if _, err := Parse("file://" + big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("oversized file error = %v", err)
	}
	if _, err := Parse("file://" + dir); err == nil {
		t.Error("a directory parsed as a rules file")
	}
}

func TestDelimitersAndEscapes(t *testing.T) {
	details := [][2]string{{"request_body", "a/b~c!d%e|f"}}
	for _, line := range []string{
		`/request_body/ replace /\//, /X/`,
		`~request_body~ replace ~/~, ~X~`,
		`!request_body! replace !/!, !X!`,
		`%request_body% replace %/%, %X%`,
		`|request_body| replace |/|, |X|`,
	} {
		r, err := Parse(line)
		if err != nil {
			t.Fatalf("Parse(%q): %v", line, err)
		}
		out, _ := r.Apply(clone(details))
		if out[0][1] != "aXb~c!d%e|f" {
			t.Errorf("%q: got %q", line, out[0][1])
		}
	}
	for _, tc := range []struct{ line, want string }{
		{`~request_body~ replace ~\~~, ~T~`, "a/bTc!d%e|f"},
		{`!request_body! replace !\!!, !B!`, "a/b~cBd%e|f"},
		{`%request_body% replace %\%%, %P%`, "a/b~c!dPe|f"},
		{`/request_body/ replace /\|/, /V/`, "a/b~c!d%eVf"},   // \| stays an escaped pipe under /
		{`|request_body| replace |c\|d|, |Z|`, "a/b~Z!Z%e|f"}, // \| unescapes to alternation under |
		{`/request_body/ replace /[~!%|]/, /\$/`, "a/b$c$d$e$f"},
		{`/request_body/ replace /(b)~(c)/, /$2\\$1/`, `a/c\b!d%e|f`},
	} {
		r, err := Parse(tc.line)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.line, err)
		}
		out, _ := r.Apply(clone(details))
		if out[0][1] != tc.want {
			t.Errorf("%q: got %q, want %q", tc.line, out[0][1], tc.want)
		}
	}
}

func clone(d [][2]string) [][2]string { return append([][2]string(nil), d...) }
