package rules

import (
	"slices"
	"strings"
	"testing"
)

// The Java logger's test fixtures (Helper.java): mockRequestWithJson2 and
// mockResponseWithHtml, as HttpMessage.build turns them into details.
const (
	mockHTML  = "<html>Hello World!</html>"
	mockHTML3 = "<html>1 World 2 World Red World Blue World!</html>"
	mockHTML4 = "<html>1 World\n2 World\nRed World \nBlue World!\n</html>"
	mockHTML5 = "<html>\n<input type=\"hidden\">SENSITIVE</input>\n<input class='foo' type=\"hidden\">\nSENSITIVE\n</input>\n</html>"
	mockJSON  = `{ "hello" : "world" }`
)

func mockDetails(responseBody, requestBody string) [][2]string {
	d := [][2]string{
		{"request_method", "POST"},
		{"request_url", "http://something.com:3000/index.html?foo=bar"},
		{"response_code", "200"},
		{"request_header:content-type", "Application/JSON"},
		{"request_header:abc", "123"},
		{"request_header:a", "1"},
		{"request_header:a", "2"},
		{"request_param:message", mockJSON},
		{"request_param:abc", "123"},
		{"request_param:abc", "234"},
		{"response_header:content-type", "text/html; charset=utf-8"},
	}
	if requestBody != "" {
		d = append(d, [2]string{"request_body", requestBody})
	}
	if responseBody != "" {
		d = append(d, [2]string{"response_body", responseBody})
	}
	return append(d, [2]string{"now", "1455908640173"})
}

func apply(t *testing.T, rules string, details [][2]string) ([][2]string, bool) {
	t.Helper()
	r, err := Parse(rules)
	if err != nil {
		t.Fatalf("Parse(%q): %v", rules, err)
	}
	return r.Apply(details)
}

func value(out [][2]string, name string) (string, bool) {
	for _, d := range out {
		if d[0] == name {
			return d[1], true
		}
	}
	return "", false
}

func names(out [][2]string) string {
	var s []string
	for _, d := range out {
		s = append(s, d[0])
	}
	return strings.Join(s, ",")
}

// keepCase is one row of the per-verb tables, taken from the Java logger's
// HttpLoggerRulesTest: the rules, the bodies, whether the call is logged, and which
// details must be present or absent.
type keepCase struct {
	rules              string
	respBody, reqBody  string
	keep               bool
	present, absent    []string
	wantValue, wantVal string // detail name and its expected value, when set
}

func runKeepCases(t *testing.T, cases []keepCase) {
	t.Helper()
	for _, tc := range cases {
		out, keep := apply(t, tc.rules, mockDetails(tc.respBody, tc.reqBody))
		if keep != tc.keep {
			t.Errorf("%q: keep = %v, want %v (%s)", tc.rules, keep, tc.keep, names(out))
			continue
		}
		for _, n := range tc.present {
			if _, ok := value(out, n); !ok {
				t.Errorf("%q: %s missing from %s", tc.rules, n, names(out))
			}
		}
		for _, n := range tc.absent {
			if _, ok := value(out, n); ok {
				t.Errorf("%q: %s present in %s", tc.rules, n, names(out))
			}
		}
		if tc.wantValue != "" {
			if v, _ := value(out, tc.wantValue); v != tc.wantVal {
				t.Errorf("%q: %s = %q, want %q", tc.rules, tc.wantValue, v, tc.wantVal)
			}
		}
	}
}

const H, J = mockHTML, mockJSON

func TestRemove(t *testing.T) {
	runKeepCases(t, []keepCase{
		{rules: "!.*! remove", respBody: H, reqBody: J, keep: false},
		{rules: "!request_body! remove", respBody: H, reqBody: J, keep: true, present: []string{"response_body"}, absent: []string{"request_body"}},
		{rules: "!response_body! remove", respBody: H, reqBody: J, keep: true, present: []string{"request_body"}, absent: []string{"response_body"}},
		{rules: "!request_body|response_body! remove", respBody: H, reqBody: J, keep: true, absent: []string{"request_body", "response_body"}},
		{rules: "!request_header:.*! remove", respBody: H, reqBody: J, keep: true, present: []string{"request_body", "response_body"}, absent: []string{"request_header:abc", "request_header:a", "request_header:content-type"}},
		{rules: "!request_header:abc! remove\n!response_body! remove", respBody: H, reqBody: J, keep: true, present: []string{"request_body", "request_header:a"}, absent: []string{"request_header:abc", "response_body"}},
		// Scopes are anchored at both ends of every alternative (Java's matches()).
		{rules: "!request_header:ab! remove", respBody: H, reqBody: J, keep: true, present: []string{"request_header:abc"}},
		{rules: "!request_header:a|bogus! remove", respBody: H, reqBody: J, keep: true, present: []string{"request_header:abc"}, absent: []string{"request_header:a"}},
		{rules: "!bogus|equest_header:abc! remove", respBody: H, reqBody: J, keep: true, present: []string{"request_header:abc"}},
	})
}

func TestRemoveIf(t *testing.T) {
	runKeepCases(t, []keepCase{
		{rules: "!response_header:blahblahblah! remove_if !.*!", respBody: H, reqBody: J, keep: true},
		{rules: "!.*! remove_if !.*!", respBody: H, reqBody: J, keep: false},
		{rules: "!request_body! remove_if !.*!", respBody: H, reqBody: J, keep: true, present: []string{"response_body"}, absent: []string{"request_body"}},
		{rules: "!response_body! remove_if !.*!", respBody: H, reqBody: J, keep: true, present: []string{"request_body"}, absent: []string{"response_body"}},
		{rules: "!response_body|request_body! remove_if !.*World.*!", respBody: H, reqBody: J, keep: true, present: []string{"request_body"}, absent: []string{"response_body"}},
		{rules: "!response_body|request_body! remove_if !.*blahblahblah.*!", respBody: H, reqBody: J, keep: true, present: []string{"request_body", "response_body"}},
		{rules: "!request_body! remove_if !.*!\n!response_body! remove_if !.*!", respBody: H, reqBody: J, keep: true, absent: []string{"request_body", "response_body"}},
		// _if matches the whole value: a part is not enough.
		{rules: "!response_body! remove_if !World!", respBody: H, reqBody: J, keep: true, present: []string{"response_body"}},
	})
}

func TestRemoveIfFound(t *testing.T) {
	runKeepCases(t, []keepCase{
		{rules: "!response_header:blahblahblah! remove_if_found !.*!", respBody: H, reqBody: J, keep: true},
		{rules: "!.*! remove_if_found !.*!", respBody: H, reqBody: J, keep: false},
		{rules: "!request_body! remove_if_found !.*!", respBody: H, reqBody: J, keep: true, present: []string{"response_body"}, absent: []string{"request_body"}},
		{rules: "!response_body! remove_if_found !.*!", respBody: H, reqBody: J, keep: true, present: []string{"request_body"}, absent: []string{"response_body"}},
		{rules: "!response_body|request_body! remove_if_found !World!", respBody: H, reqBody: J, keep: true, present: []string{"request_body"}, absent: []string{"response_body"}},
		{rules: "!response_body|request_body! remove_if_found !.*World.*!", respBody: H, reqBody: J, keep: true, present: []string{"request_body"}, absent: []string{"response_body"}},
		{rules: "!response_body|request_body! remove_if_found !blahblahblah!", respBody: H, reqBody: J, keep: true, present: []string{"request_body", "response_body"}},
	})
}

func TestRemoveUnless(t *testing.T) {
	runKeepCases(t, []keepCase{
		{rules: "!response_header:blahblahblah! remove_unless !.*!", respBody: H, reqBody: J, keep: true},
		{rules: "!.*! remove_unless !.*blahblahblah.*!", respBody: H, reqBody: J, keep: false},
		{rules: "!request_body! remove_unless !.*blahblahblah.*!", respBody: H, reqBody: J, keep: true, present: []string{"response_body"}, absent: []string{"request_body"}},
		{rules: "!response_body! remove_unless !.*blahblahblah.*!", respBody: H, reqBody: J, keep: true, present: []string{"request_body"}, absent: []string{"response_body"}},
		{rules: "!response_body|request_body! remove_unless !.*World.*!", respBody: H, reqBody: J, keep: true, present: []string{"response_body"}, absent: []string{"request_body"}},
		{rules: "!response_body|request_body! remove_unless !.*!", respBody: H, reqBody: J, keep: true, present: []string{"request_body", "response_body"}},
		{rules: "!response_body! remove_unless !.*!\n!request_body! remove_unless !.*!", respBody: H, reqBody: J, keep: true, present: []string{"request_body", "response_body"}},
		{rules: "!response_body! remove_unless !World!", respBody: H, reqBody: J, keep: true, absent: []string{"response_body"}},
	})
}

func TestRemoveUnlessFound(t *testing.T) {
	runKeepCases(t, []keepCase{
		{rules: "!response_header:blahblahblah! remove_unless_found !.*!", respBody: H, reqBody: J, keep: true},
		{rules: "!.*! remove_unless_found !blahblahblah!", respBody: H, reqBody: J, keep: false},
		{rules: "!request_body! remove_unless_found !blahblahblah!", respBody: H, reqBody: J, keep: true, present: []string{"response_body"}, absent: []string{"request_body"}},
		{rules: "!response_body! remove_unless_found !blahblahblah!", respBody: H, reqBody: J, keep: true, present: []string{"request_body"}, absent: []string{"response_body"}},
		{rules: "!response_body|request_body! remove_unless_found !World!", respBody: H, reqBody: J, keep: true, present: []string{"response_body"}, absent: []string{"request_body"}},
		{rules: "!response_body|request_body! remove_unless_found !.*World.*!", respBody: H, reqBody: J, keep: true, present: []string{"response_body"}, absent: []string{"request_body"}},
		{rules: "!response_body|request_body! remove_unless_found !.*!", respBody: H, reqBody: J, keep: true, present: []string{"request_body", "response_body"}},
	})
}

func TestReplace(t *testing.T) {
	runKeepCases(t, []keepCase{
		{rules: "!response_body! replace !blahblahblah!, !ZZZZZ!", respBody: H, reqBody: J, keep: true, wantValue: "response_body", wantVal: H},
		{rules: "!response_body! replace !World!, !Mundo!", respBody: H, reqBody: J, keep: true, wantValue: "response_body", wantVal: "<html>Hello Mundo!</html>"},
		{rules: "!request_body|response_body! replace !^.*!, !ZZZZZ!", respBody: H, reqBody: J, keep: true, wantValue: "request_body", wantVal: "ZZZZZ"},
		{rules: "!request_body|response_body! replace !^.*!, !ZZZZZ!", respBody: H, reqBody: J, keep: true, wantValue: "response_body", wantVal: "ZZZZZ"},
		{rules: "!request_body! replace !^.*!, !QQ!\n!response_body! replace !^.*!, !SS!", respBody: H, reqBody: J, keep: true, wantValue: "request_body", wantVal: "QQ"},
		{rules: "!request_body! replace !^.*!, !QQ!\n!response_body! replace !^.*!, !SS!", respBody: H, reqBody: J, keep: true, wantValue: "response_body", wantVal: "SS"},
		{rules: "!response_body! replace !World!, !!", respBody: H, reqBody: J, keep: true, wantValue: "response_body", wantVal: "<html>Hello !</html>"},
		{rules: "!response_body! replace !.*!, !!", respBody: H, reqBody: J, keep: true, absent: []string{"response_body"}},
		{rules: "!response_body! replace !World!, !Z!", respBody: mockHTML3, reqBody: J, keep: true, wantValue: "response_body", wantVal: "<html>1 Z 2 Z Red Z Blue Z!</html>"},
		{rules: "!response_body! replace !World!, !Z!", respBody: mockHTML4, reqBody: J, keep: true, wantValue: "response_body", wantVal: "<html>1 Z\n2 Z\nRed Z \nBlue Z!\n</html>"},
		// usesReplaceRulesWithComplexExpressionsTest
		{rules: "/response_body/ replace /[a-zA-Z0-9.!#$%&’*+\\/=?^_`{|}~-]+@[a-zA-Z0-9-]+(?:\\.[a-zA-Z0-9-]+)/, /x@y.com/", respBody: strings.Replace(H, "World", "rob@resurface.io", 1), reqBody: J, keep: true, wantValue: "response_body", wantVal: "<html>Hello x@y.com!</html>"},
		{rules: "/response_body/ replace /[0-9\\.\\-\\/]{9,}/, /xyxy/", respBody: strings.Replace(H, "World", "123-45-1343", 1), reqBody: J, keep: true, wantValue: "response_body", wantVal: "<html>Hello xyxy!</html>"},
		{rules: "!response_body! replace !World!, !<b>$0</b>!", respBody: H, reqBody: J, keep: true, wantValue: "response_body", wantVal: "<html>Hello <b>World</b>!</html>"},
		{rules: "!response_body! replace !(World)!, !<b>$1</b>!", respBody: H, reqBody: J, keep: true, wantValue: "response_body", wantVal: "<html>Hello <b>World</b>!</html>"},
		{rules: "!response_body! replace !<input([^>]*)>([^<]*)</input>!, !<input$1></input>!", respBody: mockHTML5, reqBody: J, keep: true, wantValue: "response_body", wantVal: "<html>\n<input type=\"hidden\"></input>\n<input class='foo' type=\"hidden\"></input>\n</html>"},
		// Named groups, $ escaping, a group that did not take part, and Java's $nn rule.
		{rules: "!response_body! replace !(?<w>World)!, !${w}\\$!", respBody: H, reqBody: J, keep: true, wantValue: "response_body", wantVal: "<html>Hello World$!</html>"},
		{rules: "!response_body! replace !(X)?(World)!, ![$1|$2]!", respBody: H, reqBody: J, keep: true, wantValue: "response_body", wantVal: "<html>Hello [|World]!</html>"},
		{rules: "!response_body! replace !(World)!, !$10!", respBody: H, reqBody: J, keep: true, wantValue: "response_body", wantVal: "<html>Hello World0!</html>"},
		// Replace rules run in the order written, each on the result of the last.
		{rules: "!response_body! replace !World!, !Earth!\n!response_body! replace !Earth!, !Mars!", respBody: H, reqBody: J, keep: true, wantValue: "response_body", wantVal: "<html>Hello Mars!</html>"},
		// Empty matches right after a match are replaced too, as java.util.regex does.
		{rules: "!response_body! replace !.*!, !Z!", respBody: "abc", keep: true, wantValue: "response_body", wantVal: "ZZ"},
		{rules: "!response_body! replace !\\d*!, !-!", respBody: "a1b", keep: true, wantValue: "response_body", wantVal: "-a--b-"},
		{rules: "!response_body! replace !x*!, !-!", respBody: "abc", keep: true, wantValue: "response_body", wantVal: "-a-b-c-"},
		{rules: "!response_body! replace !\\b!, !|!", respBody: "ab cd", keep: true, wantValue: "response_body", wantVal: "|ab| |cd|"},
		// Replacing every detail's value with nothing drops the call.
		{rules: "!.*! replace !^.*$!, !!", respBody: H, reqBody: J, keep: false},
	})
}

func TestStop(t *testing.T) {
	runKeepCases(t, []keepCase{
		{rules: "!response_header:blahblahblah! stop", respBody: H, keep: true},
		{rules: "!.*! stop", respBody: H, reqBody: J, keep: false},
		{rules: "!request_body! stop", reqBody: J, keep: false},
		{rules: "!response_body! stop", respBody: H, keep: false},
		{rules: "!request_body! stop\n!response_body! stop", reqBody: J, keep: false},
		{rules: "!request_body! stop", respBody: H, keep: true},
	})
}

func TestStopIf(t *testing.T) {
	runKeepCases(t, []keepCase{
		{rules: "!response_header:blahblahblah! stop_if !.*!", respBody: H, keep: true},
		{rules: "!response_body! stop_if !.*!", respBody: H, reqBody: J, keep: false},
		{rules: "!response_body! stop_if !.*World.*!", respBody: H, reqBody: J, keep: false},
		{rules: "!response_body! stop_if !.*blahblahblah.*!", respBody: H, reqBody: J, keep: true},
		{rules: "!response_body! stop_if !World!", respBody: H, reqBody: J, keep: true},
	})
}

func TestStopIfFound(t *testing.T) {
	runKeepCases(t, []keepCase{
		{rules: "!response_header:blahblahblah! stop_if_found !.*!", respBody: H, keep: true},
		{rules: "!response_body! stop_if_found !.*!", respBody: H, reqBody: J, keep: false},
		{rules: "!response_body! stop_if_found !World!", respBody: H, reqBody: J, keep: false},
		{rules: "!response_body! stop_if_found !.*World.*!", respBody: H, reqBody: J, keep: false},
		{rules: "!response_body! stop_if_found !blahblahblah!", respBody: H, reqBody: J, keep: true},
	})
}

func TestStopUnless(t *testing.T) {
	runKeepCases(t, []keepCase{
		{rules: "!response_header:blahblahblah! stop_unless !.*!", respBody: H, keep: false},
		{rules: "!response_body! stop_unless !.*!", respBody: H, keep: true},
		{rules: "!response_body! stop_unless !.*World.*!", respBody: H, keep: true},
		{rules: "!response_body! stop_unless !.*blahblahblah.*!", respBody: H, keep: false},
		{rules: "!response_body! stop_unless !World!", respBody: H, keep: false},
		// Every stop_unless rule must be met. (Java counts matches across all such rules,
		// so its "a" header matching twice would wrongly cover for "nope" matching none.)
		{rules: "!request_header:a! stop_unless !\\d!\n!request_header:nope! stop_unless !.*!", respBody: H, keep: false},
		{rules: "!request_header:a! stop_unless !\\d!\n!request_header:abc! stop_unless !123!", respBody: H, keep: true},
	})
}

func TestStopUnlessFound(t *testing.T) {
	runKeepCases(t, []keepCase{
		{rules: "!response_header:blahblahblah! stop_unless_found !.*!", respBody: H, keep: false},
		{rules: "!response_body! stop_unless_found !.*!", respBody: H, keep: true},
		{rules: "!response_body! stop_unless_found !World!", respBody: H, keep: true},
		{rules: "!response_body! stop_unless_found !.*World.*!", respBody: H, keep: true},
		{rules: "!response_body! stop_unless_found !blahblahblah!", respBody: H, keep: false},
	})
}

// Stop rules see the details before removes; removes happen before replaces; replaces
// can empty a value, which then disappears.
func TestOrderOfApplication(t *testing.T) {
	runKeepCases(t, []keepCase{
		{rules: "!response_body! remove\n!response_body! stop", respBody: H, keep: false},
		{rules: "!response_body! replace !World!, !stop!\n!response_body! stop_if_found !stop!", respBody: H, keep: true, wantValue: "response_body", wantVal: "<html>Hello stop!</html>"},
		{rules: "!response_body! replace !World!, !Mundo!\n!response_body! remove_if_found !Mundo!", respBody: H, keep: true, wantValue: "response_body", wantVal: "<html>Hello Mundo!</html>"},
		{rules: "!response_body! remove_if_found !World!\n!response_body! replace !World!, !Mundo!", respBody: H, keep: true, absent: []string{"response_body"}},
	})
}

func TestCopySessionField(t *testing.T) {
	withSession := func() [][2]string {
		return append(mockDetails(H, J), [2]string{"session_field:butterfly", "poison"}, [2]string{"session_field:session_id", "asdf1234"})
	}
	tests := []struct {
		rules           string
		keep            bool
		present, absent []string
	}{
		{"copy_session_field /.*/", true, []string{"session_field:butterfly", "session_field:session_id"}, nil},
		{"copy_session_field /session_id/", true, []string{"session_field:session_id"}, []string{"session_field:butterfly"}},
		{"copy_session_field /blah/", true, nil, []string{"session_field:butterfly", "session_field:session_id"}},
		{"copy_session_field /butterfly/\ncopy_session_field /session_id/", true, []string{"session_field:butterfly", "session_field:session_id"}, nil},
		{"/request_body/ remove", true, nil, []string{"session_field:butterfly", "session_field:session_id"}},
		{"copy_session_field !.*!\n!session_field:.*! remove", true, nil, []string{"session_field:butterfly", "session_field:session_id"}},
		{"copy_session_field !.*!\n!session_field:butterfly! remove", true, []string{"session_field:session_id"}, []string{"session_field:butterfly"}},
		{"copy_session_field !.*!\n!session_field:.*! remove_if !poi.*!", true, []string{"session_field:session_id"}, []string{"session_field:butterfly"}},
		{"copy_session_field !.*!\n!session_field:.*! remove_unless !sugar!", true, nil, []string{"session_field:butterfly", "session_field:session_id"}},
		{"copy_session_field !.*!\n!session_field:butterfly! stop", false, nil, nil},
		{"copy_session_field !.*!\n!session_field:butterfly! stop_if !poi.*!", false, nil, nil},
		{"copy_session_field !.*!\n!session_field:butterfly! stop_unless !sugar!", false, nil, nil},
		{"copy_session_field !session_id!\n!session_field:butterfly! stop", true, []string{"session_field:session_id"}, nil},
	}
	for _, tc := range tests {
		out, keep := apply(t, tc.rules, withSession())
		if keep != tc.keep {
			t.Errorf("%q: keep = %v", tc.rules, keep)
			continue
		}
		for _, n := range tc.present {
			if _, ok := value(out, n); !ok {
				t.Errorf("%q: %s missing", tc.rules, n)
			}
		}
		for _, n := range tc.absent {
			if _, ok := value(out, n); ok {
				t.Errorf("%q: %s present", tc.rules, n)
			}
		}
	}
	r, _ := Parse("copy_session_field /user.*/")
	if !r.CopySessionField("user_id") || r.CopySessionField("session") {
		t.Error("CopySessionField answers wrongly")
	}
}

func TestSample(t *testing.T) {
	r, err := Parse("sample 10")
	if err != nil {
		t.Fatal(err)
	}
	kept := 0
	for range 2000 {
		if _, keep := r.Apply(mockDetails(H, J)); keep {
			kept++
		}
	}
	// 10% of 2000 is 200; the bounds are over 7 standard deviations (13.4) away.
	if kept < 100 || kept > 300 {
		t.Errorf("sample 10 kept %d of 2000 calls", kept)
	}
	r, _ = Parse("sample 99\n!.*! stop")
	if _, keep := r.Apply(mockDetails(H, J)); keep {
		t.Error("stop rules must win over sampling")
	}
}

func TestHeaderAndParamNamesAreLowerCased(t *testing.T) {
	out, keep := Default().Apply([][2]string{{"request_header:Cookie", "s=1"}, {"request_header:AUTHORIZATION", "Bearer x"},
		{"response_header:Set-Cookie", "s=1"}, {"request_param:PassWord", "p"}, {"request_header:X-Trace", "t"}, {"session_field:UserId", "u"}, {"now", "1"}})
	want := [][2]string{{"request_param:password", "xxx"}, {"request_header:x-trace", "t"}, {"now", "1"}}
	if !keep || !slices.Equal(out, want) {
		t.Errorf("got %q, want %q", out, want)
	}
}

func TestApplyEdges(t *testing.T) {
	r, _ := Parse("/x/ remove")
	if out, keep := r.Apply(nil); keep || out != nil {
		t.Error("no details must not be kept")
	}
	if out, keep := r.Apply([][2]string{{"a", ""}, {"b", ""}}); keep || out != nil {
		t.Error("only empty values must not be kept")
	}
	out, keep := r.Apply([][2]string{{"x", "1"}, {"a", ""}, {"b", "2"}})
	if !keep || !slices.Equal(out, [][2]string{{"b", "2"}}) {
		t.Errorf("got %v %v", out, keep)
	}
	// Values are strings of bytes: invalid UTF-8 passes through untouched on the RE2 path.
	r, _ = Parse("/request_body/ replace /[0-9]{9,}/, /N/")
	out, _ = r.Apply([][2]string{{"request_body", "\xff\xfe 1234567890 \xc3"}})
	if out[0][1] != "\xff\xfe N \xc3" {
		t.Errorf("invalid UTF-8 body: %q", out[0][1])
	}
}
