package rules

import (
	"encoding/json"
	"slices"
	"testing"
)

// wireCall is a login as a sniffer sees it: credentials in headers, cookies, a JSON body
// with an e-mail address, a password and a card number, a token in the query.
func wireCall() [][2]string {
	return [][2]string{
		{"request_method", "POST"},
		{"request_url", "http://api.example.com/v1/login?next=%2Fhome&access_token=abc123;x=1"},
		{"request_header:host", "api.example.com"},
		{"request_header:user-agent", "curl/8.5.0"},
		{"request_header:user-agent-extra", "kept by strict too (Java's look-ahead is a prefix test)"},
		{"request_header:authorization", "Bearer eyJhbGciOi.secret.token"},
		{"request_header:proxy-authorization", "Basic dXNlcjpwYXNz"},
		{"request_header:x-api-key", "k-123"},
		{"request_header:cookie", "session=s3cr3t"},
		{"request_header:cookies", "not a cookie header"},
		{"request_header:content-type", "application/json"},
		{"request_param:password", "hunter2"},
		{"request_param:access_token", "tok"},
		{"request_param:q", "call 555-123-4567-890 or mail jo@example.org"},
		{"request_body", `{"email":"jo@example.org","password":"hunter2","card":"4111 1111 1111 1111","cc":"4111111111111111","note":"pin \"1234\""}`},
		{"response_code", "200"},
		{"response_header:content-type", "application/json"},
		{"response_header:content-length", "87"},
		{"response_header:set-cookie", "session=s3cr3t; HttpOnly"},
		{"response_header:x-request-id", "r-1"},
		{"response_body", `{"access_token":"eyJz.ab","refresh_token":"r\"t","user":{"id":123456789012,"mail":"jo@example.org"}}`},
		{"session_field:user", "jo"},
		{"now", "1700000000000"},
	}
}

func applySet(t *testing.T, rules string) map[string]string {
	t.Helper()
	out, keep := apply(t, rules, wireCall())
	if !keep {
		t.Fatalf("%q dropped the call", rules)
	}
	m := map[string]string{}
	for _, d := range out {
		m[d[0]] = d[1]
	}
	return m
}

type expect map[string]any // detail name -> wanted value (string), or nil for "absent"

func check(t *testing.T, set string, got map[string]string, want expect) {
	t.Helper()
	for name, w := range want {
		v, ok := got[name]
		switch w := w.(type) {
		case nil:
			if ok {
				t.Errorf("%s: %s = %q, want it removed", set, name, v)
			}
		case string:
			if !ok || v != w {
				t.Errorf("%s: %s = %q (present %v), want %q", set, name, v, ok, w)
			}
		}
	}
}

func TestIncludeDebug(t *testing.T) {
	got := applySet(t, "include debug")
	want := expect{}
	for _, d := range wireCall() {
		want[d[0]] = d[1] // everything kept, session fields included
	}
	want["session_field:session"] = "s3cr3t" // copy_session_field /.*/ copies the cookie
	check(t, "debug", got, want)
	if len(got) != len(wireCall())+1 {
		t.Errorf("debug kept %d of %d details and one cookie", len(got), len(wireCall()))
	}
}

func TestIncludeStandard(t *testing.T) {
	got := applySet(t, "include standard")
	check(t, "standard", got, expect{
		"request_header:cookie":        nil,
		"response_header:set-cookie":   nil,
		"request_header:cookies":       "not a cookie header", // whole-name scopes
		"request_header:authorization": "Bearer eyJhbGciOi.secret.token",
		"request_url":                  "http://api.example.com/v1/login?next=%2Fhome&access_token=abc123;x=1",
		"request_param:q":              "call xyxy or mail x@y.com",
		"request_param:password":       "hunter2",
		"request_body":                 `{"email":"x@y.com","password":"hunter2","card":"4111 1111 1111 1111","cc":"xyxy","note":"pin \"1234\""}`,
		"response_body":                `{"access_token":"eyJz.ab","refresh_token":"r\"t","user":{"id":xyxy,"mail":"x@y.com"}}`,
		"response_header:x-request-id": "r-1",
		"session_field:user":           nil, // no copy_session_field rule
		"now":                          "1700000000000",
	})
}

func TestIncludeStrict(t *testing.T) {
	got := applySet(t, "include strict")
	check(t, "strict", got, expect{
		"request_method":                     "POST",
		"request_url":                        "http://api.example.com/v1/login",
		"request_header:user-agent":          "curl/8.5.0",
		"request_header:user-agent-extra":    "kept by strict too (Java's look-ahead is a prefix test)",
		"request_header:authorization":       nil,
		"request_header:proxy-authorization": nil,
		"request_header:cookie":              nil,
		"request_header:host":                nil,
		"request_param:password":             nil,
		"request_param:q":                    nil,
		"request_body":                       nil,
		"response_body":                      nil,
		"response_code":                      "200",
		"response_header:content-type":       "application/json",
		"response_header:content-length":     "87",
		"response_header:set-cookie":         nil,
		"response_header:x-request-id":       nil,
		"now":                                "1700000000000",
	})
	var kept []string
	for n := range got {
		kept = append(kept, n)
	}
	slices.Sort(kept)
	want := []string{"now", "request_header:user-agent", "request_header:user-agent-extra", "request_method",
		"request_url", "response_code", "response_header:content-length", "response_header:content-type"}
	if !slices.Equal(kept, want) {
		t.Errorf("strict kept %v, want %v", kept, want)
	}
	// The URL rule keeps everything up to the first ? or ;.
	out, _ := apply(t, "include strict", [][2]string{{"request_url", "http://h/a;jsessionid=1?x=2"}})
	if out[0][1] != "http://h/a" {
		t.Errorf("strict url = %q", out[0][1])
	}
}

func TestIncludeDefault(t *testing.T) {
	for _, text := range []string{"", "include default"} {
		got := applySet(t, text)
		check(t, "default", got, expect{
			"request_header:cookie":              nil,
			"response_header:set-cookie":         nil,
			"request_header:authorization":       nil,
			"request_header:proxy-authorization": nil,
			"request_header:x-api-key":           nil,
			"request_header:user-agent":          "curl/8.5.0",
			"request_url":                        "http://api.example.com/v1/login?next=%2Fhome&access_token=xxx;x=1",
			"request_param:password":             "xxx",
			"request_param:access_token":         "xxx",
			"request_param:q":                    "call 0 or mail x@y.com",
			"request_body":                       `{"email":"x@y.com","password":"xxx","card":"4111 1111 1111 1111","cc":"0","note":"pin \"1234\""}`,
			"response_body":                      `{"access_token":"xxx","refresh_token":"xxx","user":{"id":0,"mail":"x@y.com"}}`,
			"response_header:x-request-id":       "r-1",
			"now":                                "1700000000000",
		})
	}
	// Digit runs become 0, which keeps a JSON body valid JSON wherever the run stands.
	body := `{"score":0.8373475738,"at":1700000000123,"exp":1e-123456789,"neg":[-123456789012],"ssn":"123-45-6789"}`
	out, _ := Default().Apply([][2]string{{"response_body", body}})
	if !json.Valid([]byte(out[0][1])) || out[0][1] != `{"score":0,"at":0,"exp":1e0,"neg":[0],"ssn":"0"}` {
		t.Errorf("default masked %s into %s", body, out[0][1])
	}
	// A form-encoded login body.
	out, _ = Default().Apply([][2]string{{"request_body", "user=jo&password=hunter%212&remember=1"}})
	if out[0][1] != "user=jo&password=xxx&remember=1" {
		t.Errorf("form body = %q", out[0][1])
	}
	out, _ = Default().Apply([][2]string{{"request_param:pwd", "multi\nline"}})
	if out[0][1] != "xxx" {
		t.Errorf("multi-line secret param = %q", out[0][1])
	}
}

// Rules added after an include act together with it.
func TestIncludePlusCustomRules(t *testing.T) {
	got := applySet(t, "include standard\n/request_header:authorization/ remove\n"+
		`/request_body/ replace /"password":"[^"]*"/, /"password":"***"/`+"\n"+
		`/request_body/ replace /\d{4} \d{4} \d{4} \d{4}/, /#### #### #### ####/`)
	check(t, "standard+custom", got, expect{
		"request_header:authorization": nil,
		"request_header:cookie":        nil,
		"request_body":                 `{"email":"x@y.com","password":"***","card":"#### #### #### ####","cc":"xyxy","note":"pin \"1234\""}`,
	})
}
