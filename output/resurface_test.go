package output

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"sniffer/model"
)

func formCall() *model.Call {
	c := &model.Call{
		Start:  time.UnixMilli(1764493200123),
		End:    time.UnixMilli(1764493200123).Add(42*time.Millisecond + 600*time.Microsecond),
		Client: netip.MustParseAddrPort("[::ffff:192.0.2.10]:51000"),
		Server: netip.MustParseAddrPort("192.0.2.1:8080"),
		URL:    "http://shop.example:8080/cart/add?Item=42&q=a%20b+c&empty=&&flag#frag",
		VNI:    -1,
	}
	c.Request.Method = "POST"
	c.Request.Headers = []model.Header{
		{Name: "Host", Value: "shop.example:8080"},
		{Name: "Content-Type", Value: "application/x-www-form-urlencoded; charset=UTF-8"},
		{Name: "Accept", Value: "text/html"},
		{Name: "Accept", Value: "application/json"},
		{Name: "X-Empty", Value: ""},
	}
	c.Request.Body = []byte("qty=3&Note=hello+world%21&bad=%zz")
	c.Response = &model.Response{Status: 201}
	c.Response.Headers = []model.Header{{Name: "Content-Type", Value: "application/json"}, {Name: "Set-Cookie", Value: "a=1"}, {Name: "Set-Cookie", Value: "b=2"}}
	c.Response.Body = []byte(`{"ok":true}`)
	return c
}

func TestResurfaceDetailsExact(t *testing.T) {
	got := Resurface(formCall(), "sniffer", "1.2.3")
	want := [][2]string{
		{"request_method", "POST"},
		{"request_url", "http://shop.example:8080/cart/add"},
		{"response_code", "201"},
		{"request_header:host", "shop.example:8080"},
		{"request_header:content-type", "application/x-www-form-urlencoded; charset=UTF-8"},
		{"request_header:accept", "text/html"},
		{"request_header:accept", "application/json"},
		{"request_header:x-forwarded-for", "192.0.2.10"},
		{"request_param:item", "42"},
		{"request_param:q", "a b c"},
		{"request_param:qty", "3"},
		{"request_param:note", "hello world!"},
		{"request_param:bad", "%zz"},
		{"response_header:content-type", "application/json"},
		{"response_header:set-cookie", "a=1"},
		{"response_header:set-cookie", "b=2"},
		{"request_body", "qty=3&Note=hello+world%21&bad=%zz"},
		{"response_body", `{"ok":true}`},
		{"now", "1764493200165"}, // the response's completion: Start + 42.6 ms, in whole ms
		{"interval", "42.600"},
		{"agent", "sniffer"},
		{"host", hostName()},
		{"version", "1.2.3"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
}

func TestResurfaceKeepsForwardedForAndHalfCalls(t *testing.T) {
	c := formCall()
	c.Request.Headers = append(c.Request.Headers, model.Header{Name: "X-Forwarded-For", Value: "203.0.113.9"})
	c.Response = nil
	d := ResurfaceDetails(c)
	if x := all(d, "request_header:x-forwarded-for"); !reflect.DeepEqual(x, []string{"203.0.113.9"}) {
		t.Errorf("x-forwarded-for = %q, want only the request's own", x)
	}
	for _, name := range []string{"response_code", "response_body", "interval"} {
		if get(d, name) != "" {
			t.Errorf("half call has %s", name)
		}
	}
	if get(d, "now") == "" || get(d, "request_method") != "POST" {
		t.Errorf("half call lost request details: %q", d)
	}
}

func TestResurfaceFormBodyOnlyWhenReadable(t *testing.T) {
	c := formCall()
	c.Request.Headers = append(c.Request.Headers, model.Header{Name: "Content-Encoding", Value: "gzip"})
	c.Request.Body = []byte("\x1f\x8b garbage qty=3")
	if got := get(ResurfaceDetails(c), "request_param:qty"); got != "" {
		t.Errorf("params parsed from an undecoded gzip body: %q", got)
	}
	c.Request.Decoded = true
	c.Request.Body = []byte("qty=3")
	if got := get(ResurfaceDetails(c), "request_param:qty"); got != "3" {
		t.Errorf("decoded form body: qty = %q", got)
	}
	c.Request.Body = []byte("qty=3&note=cut-at-the-li")
	c.Request.Truncated = true
	d := ResurfaceDetails(c)
	if get(d, "request_param:qty") != "3" || get(d, "request_param:note") != "" {
		t.Errorf("truncated form body: %q", d)
	}
	c = formCall()
	c.Request.Headers[1].Value = "application/json"
	if got := get(ResurfaceDetails(c), "request_param:qty"); got != "" {
		t.Errorf("params parsed from a JSON body: %q", got)
	}
}

func TestResurfaceJSONIsValidForAnyBytes(t *testing.T) {
	c := formCall()
	c.Response.Body = []byte("bin\x00\xff\xfe\"\\\n\t<a>&\u2028end")
	line := AppendResurfaceJSON(nil, Resurface(c, "sniffer", "1"))
	var m [][]string
	if err := json.Unmarshal(line, &m); err != nil {
		t.Fatalf("%v: %s", err, line)
	}
	if strings.ContainsRune(string(line), '\n') {
		t.Error("a message contains a raw newline: it would split the NDJSON line")
	}
	for _, kv := range m {
		if kv[0] == "response_body" && kv[1] != "bin\x00\ufffd\ufffd\"\\\n\t<a>&\u2028end" {
			t.Errorf("response_body round trip: %q", kv[1])
		}
	}
	if !strings.Contains(string(line), "<a>&") {
		t.Error("<, > and & were escaped; the loggers send them as they are")
	}
}

func TestSplitURL(t *testing.T) {
	for _, tc := range [][3]string{
		{"http://h/p?a=1", "http://h/p", "a=1"},
		{"http://h/p", "http://h/p", ""},
		{"http://h/p?", "http://h/p", ""},
		{"http://h/p#x?y", "http://h/p", ""},
		{"http://h/p?a=1#x", "http://h/p", "a=1"},
	} {
		u, q := splitURL(tc[0])
		if u != tc[1] || q != tc[2] {
			t.Errorf("splitURL(%q) = %q, %q", tc[0], u, q)
		}
	}
}

func TestParamsBounded(t *testing.T) {
	body := strings.Repeat("a=1&", 5000)
	d := appendParams(nil, body, false)
	if len(d) != maxParams {
		t.Errorf("%d params from one body, want the cap %d", len(d), maxParams)
	}
}

// FuzzResurfaceParams feeds arbitrary query strings and form bodies through Resurface and
// checks the message stays well formed: valid JSON of string pairs, no empty values, every
// param name lower-case and prefixed, at most maxParams per source.
func FuzzResurfaceParams(f *testing.F) {
	for _, s := range []string{"a=1&b=2", "a=%zz&=x&y=&&", "Name=J%C3%B6rg+M&x=%00%ff", "a", "%", "=&=&=", "k=v;k2=v2", strings.Repeat("x=y&", 40)} {
		f.Add(s, s, false)
	}
	f.Fuzz(func(t *testing.T, query, body string, truncated bool) {
		c := formCall()
		c.URL = "http://h/p?" + query
		c.Request.Body = []byte(body)
		c.Request.Truncated = truncated
		d := ResurfaceDetails(c)
		n := 0
		for _, kv := range d {
			if kv[1] == "" {
				t.Fatalf("empty value for %q", kv[0])
			}
			if name, ok := strings.CutPrefix(kv[0], "request_param:"); ok {
				n++
				if name == "" || name != strings.ToLower(name) {
					t.Fatalf("param name %q", name)
				}
			}
		}
		if n > 2*maxParams {
			t.Fatalf("%d params", n)
		}
		if get(d, "request_url") != "http://h/p" {
			t.Fatalf("request_url %q", get(d, "request_url"))
		}
		var m [][]string
		if err := json.Unmarshal(AppendResurfaceJSON(nil, d), &m); err != nil {
			t.Fatal(err)
		}
		for _, kv := range m {
			if len(kv) != 2 {
				t.Fatalf("pair %q", kv)
			}
		}
	})
}

func TestResurfaceURLFallsBackToServerAddress(t *testing.T) {
	c := formCall()
	c.URL, c.Request.Target = "", "/cart/add?Item=7"
	d := ResurfaceDetails(c)
	if got := get(d, "request_url"); got != "http://192.0.2.1:8080/cart/add" {
		t.Errorf("request_url %q", got)
	}
	if got := get(d, "request_param:item"); got != "7" {
		t.Errorf("request_param:item %q", got)
	}
}

// FuzzResurfaceJSON: any name and value encode to a line that parses back to the same
// strings (each invalid UTF-8 byte as U+FFFD, as []rune does) and holds no raw newline.
func FuzzResurfaceJSON(f *testing.F) {
	for _, s := range []string{"", "a", "\x00\x1f\"\\", "\xff\xfe", "<a href='x'>&amp;</a>", "\u2028\u2029", "line\nbreak\r\n"} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, name, value string) {
		line := AppendResurfaceJSON(nil, [][2]string{{name, value}, {"k", "v"}})
		if bytes.ContainsAny(line, "\n\r") {
			t.Fatalf("raw line break in %q", line)
		}
		var m [][]string
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("%v: %q", err, line)
		}
		if len(m) != 2 || m[0][0] != string([]rune(name)) || m[0][1] != string([]rune(value)) {
			t.Fatalf("round trip %q %q -> %q", name, value, m)
		}
	})
}
