package callset

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
)

const served = `GET /large.json 200 17325 69 2 1
POST /users 201 175 94 3 1
GET /missing/4 404 308 45 4 1
GET /small.json?page=5 200 471 91 5 1
GET /small.json?page=5 200 471 91 5 2
`

func TestReadNginx(t *testing.T) {
	s, err := ReadNginx(strings.NewReader(served))
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 5 || len(s) != 4 || s[Key{"GET", "/small.json?page=5", 200}] != 2 {
		t.Fatalf("got %v", s)
	}
	if _, err := ReadNginx(strings.NewReader("GET /x notanumber 1 1 1 1\n")); err == nil {
		t.Fatal("a bad status must be an error")
	}
	if _, err := ReadNginx(strings.NewReader("GET\n")); err == nil {
		t.Fatal("a short line must be an error")
	}
}

func TestTarget(t *testing.T) {
	for in, want := range map[string]string{
		"http://10.0.0.1/a/b?c=d%20e": "/a/b?c=d%20e",
		"http://h:8080/":              "/",
		"http://h:8080":               "/",
		"http://h?x=1":                "/?x=1",
		"http://[fd00::1]:80/p":       "/p",
		"/already/a/path":             "/already/a/path",
	} {
		if got := Target(in); got != want {
			t.Errorf("Target(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTallyAndReport(t *testing.T) {
	want, err := ReadNginx(strings.NewReader(served))
	if err != nil {
		t.Fatal(err)
	}
	gz := base64.StdEncoding.EncodeToString([]byte{0x1f, 0x8b, 8, 0})
	out := strings.Join([]string{
		`{"request":{"method":"GET","url":"http://10.213.0.1/large.json"},"response":{"status":200,"body":"{\"items\":[]}"}}`,
		`{"request":{"method":"POST","url":"http://10.213.0.1/users","body":"{}"},"response":{"status":201,"body":"{\"created\":true}"}}`,
		`{"request":{"method":"GET","url":"http://10.213.0.1/missing/4"},"response":{"status":404}}`,
		`{"request":{"method":"GET","url":"http://10.213.0.1/small.json?page=5"},"response":{"status":200},"truncated":true}`,
		`{"request":{"method":"GET","url":"http://10.213.0.1/small.json?page=5"},"response":{"status":200}}`,
	}, "\n") + "\n"
	tl := NewTally("/large.json")
	if err := ReadNDJSON(strings.NewReader(out), tl.Add); err != nil {
		t.Fatal(err)
	}
	var rep bytes.Buffer
	if !Report(&rep, want, tl, 5) {
		t.Fatalf("same calls reported as different:\n%s", rep.String())
	}
	if tl.Calls != 5 || tl.Truncated != 1 || tl.Incomplete != 0 || tl.JSONValid != 1 {
		t.Fatalf("tally %+v", tl)
	}

	// One call missing, one printed twice, a raw gzip body where JSON was due, a half call.
	bad := strings.Join([]string{
		`{"request":{"method":"GET","url":"http://10.213.0.1/large.json"},"response":{"status":200,"body":"` + gz + `","body_encoding":"base64"}}`,
		`{"request":{"method":"POST","url":"http://10.213.0.1/users"},"response":{"status":201}}`,
		`{"request":{"method":"POST","url":"http://10.213.0.1/users"},"response":{"status":201}}`,
		`{"request":{"method":"GET","url":"http://10.213.0.1/small.json?page=5"},"response":{"status":200}}`,
		`{"request":{"method":"GET","url":"http://10.213.0.1/small.json?page=5"},"incomplete":"no response"}`,
	}, "\n")
	tl2 := NewTally("/large.json")
	if err := ReadNDJSON(strings.NewReader(bad), tl2.Add); err != nil {
		t.Fatal(err)
	}
	rep.Reset()
	if Report(&rep, want, tl2, 5) {
		t.Fatalf("different calls reported as matching:\n%s", rep.String())
	}
	for _, s := range []string{"matched 3 ", "missing 2", "extra 2", "1x GET /missing/4 404", "1x POST /users 201",
		"1x GET /small.json?page=5 0", "1 invalid", "incomplete 1"} {
		if !strings.Contains(rep.String(), s) {
			t.Errorf("report lacks %q:\n%s", s, rep.String())
		}
	}
	if tl.Sum() == tl2.Sum() {
		t.Error("different outputs gave the same digest")
	}
}

func TestReadNDJSONRejectsNonJSON(t *testing.T) {
	err := ReadNDJSON(strings.NewReader("{\"request\":{}}\nnot json\n"), func([]byte, *Call) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("want an error naming line 2, got %v", err)
	}
}

// TestCheckIDs: calls are checked one by one against the server's log through X-Request-Id:
// two /large.json responses swapped between connections keep the multiset intact, and only the
// ids show them.
func TestCheckIDs(t *testing.T) {
	const log = `GET /large.json 200 17325 69 2 1 aaaa 40001
GET /large.json 200 17325 69 3 1 bbbb 40002
POST /users 201 175 94 3 2 cccc 40002
GET /missing/4 404 308 45 4 1 dddd 40003
`
	want, ids, err := ReadServed(strings.NewReader(log))
	if err != nil {
		t.Fatal(err)
	}
	call := func(method, path string, port, status int, id string) string {
		h := ""
		if id != "" {
			h = fmt.Sprintf(`"headers":[["X-Request-Id",%q]],`, id)
		}
		return fmt.Sprintf(`{"client":"10.213.0.2:%d","request":{"method":%q,"url":"http://10.213.0.1%s"},"response":{%s"status":%d}}`, port, method, path, h, status)
	}
	for _, c := range []struct {
		name  string
		lines []string
		ok    bool
		field *int
	}{
		{"right", []string{call("GET", "/large.json", 40001, 200, "aaaa"), call("GET", "/large.json", 40002, 200, "bbbb"),
			call("POST", "/users", 40002, 201, "cccc"), call("GET", "/missing/4", 40003, 404, "")}, true, nil},
		{"swapped", []string{call("GET", "/large.json", 40001, 200, "bbbb"), call("GET", "/large.json", 40002, 200, "aaaa"),
			call("POST", "/users", 40002, 201, "cccc"), call("GET", "/missing/4", 40003, 404, "dddd")}, false, nil},
		{"unknown", []string{call("GET", "/large.json", 40001, 200, "aaaa"), call("GET", "/large.json", 40002, 200, "eeee"),
			call("POST", "/users", 40002, 201, "cccc"), call("GET", "/missing/4", 40003, 404, "dddd")}, false, nil},
		{"repeated", []string{call("GET", "/large.json", 40001, 200, "aaaa"), call("GET", "/large.json", 40002, 200, "aaaa"),
			call("POST", "/users", 40002, 201, "cccc"), call("GET", "/missing/4", 40003, 404, "dddd")}, false, nil},
	} {
		tally := NewTally()
		tally.CheckIDs(ids)
		if err := ReadNDJSON(strings.NewReader(strings.Join(c.lines, "\n")+"\n"), tally.Add); err != nil {
			t.Fatal(err)
		}
		var rep strings.Builder
		if ok := Report(&rep, want, tally, 10); ok != c.ok {
			t.Errorf("%s: Report says %v, want %v:\n%s", c.name, ok, c.ok, rep.String())
		}
		if _, extra, _ := Diff(want, tally.Got); c.name == "swapped" && len(extra) != 0 {
			t.Errorf("swapped: the multiset should not see the swap (that is why ids are checked)")
		}
		t.Logf("%s: %s", c.name, rep.String())
	}
	if _, _, err := ReadServed(strings.NewReader("GET / 200 1 1 1 1\n")); err == nil {
		t.Error("a log line without request id and client port must be an error for ReadServed")
	}
	if _, _, err := ReadServed(strings.NewReader("GET / 200 1 1 1 1 aaaa 1\nGET / 200 1 1 1 1 aaaa 2\n")); err == nil {
		t.Error("an id logged twice must be an error")
	}
}

// TestUnprinted: the calls not printed complete and right are listed, with their number on
// their connection.
func TestUnprinted(t *testing.T) {
	_, ids, err := ReadServed(strings.NewReader("GET /a 200 1 1 7 1 aaaa 40001\nGET /b 200 1 1 7 2 bbbb 40001\nGET /c 200 1 1 7 3 cccc 40001\n"))
	if err != nil {
		t.Fatal(err)
	}
	tally := NewTally()
	tally.CheckIDs(ids)
	out := `{"client":"10.0.0.2:40001","request":{"method":"GET","url":"http://h/a"},"response":{"headers":[["X-Request-Id","aaaa"]],"status":200}}
{"client":"10.0.0.2:40001","incomplete":"gap in response","request":{"method":"GET","url":"http://h/b"},"response":{"headers":[["X-Request-Id","bbbb"]],"status":200}}
{"client":"10.0.0.2:40001","request":{"method":"GET","url":"http://h/c"},"response":{"headers":[["X-Request-Id","aaaa"]],"status":200}}
`
	if err := ReadNDJSON(strings.NewReader(out), tally.Add); err != nil {
		t.Fatal(err)
	}
	got := tally.Unprinted()
	if len(got) != 2 || tally.IDRepeated != 1 {
		t.Fatalf("unprinted %v, repeated %d", got, tally.IDRepeated)
	}
	for _, s := range got {
		if s.Target == "/a" || s.ConnRequest < 2 {
			t.Errorf("unprinted %+v", s)
		}
	}
}
