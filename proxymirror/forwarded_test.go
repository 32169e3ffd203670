package proxymirror

import (
	"strings"
	"testing"

	"sniffer/model"
)

// h makes headers of name, value pairs.
func h(kv ...string) []model.Header {
	var hs []model.Header
	for i := 0; i < len(kv); i += 2 {
		hs = append(hs, model.Header{Name: kv[i], Value: kv[i+1]})
	}
	return hs
}

func TestOrigin(t *testing.T) {
	for _, tc := range []struct {
		name           string
		hs             []model.Header
		client, host   string
		scheme, target string
	}{
		{"nginx", h("Host", "api.example.com", "X-Real-IP", "198.51.100.7", "X-Forwarded-For", "203.0.113.9, 198.51.100.7", "X-Forwarded-Proto", "https"),
			"203.0.113.9:0", "api.example.com", "https", ""},
		{"nginx without forwarded-for", h("Host", "api.example.com", "X-Real-IP", "198.51.100.7"), "198.51.100.7:0", "api.example.com", "http", ""},
		{"envoy shadow", h("host", "api.example.com-shadow", "x-forwarded-for", "10.1.2.3", "x-forwarded-proto", "http"), "10.1.2.3:0", "api.example.com", "http", ""},
		{"envoy shadow with port", h("Host", "api.example.com-shadow:8080"), "invalid AddrPort", "api.example.com:8080", "http", ""},
		{"envoy shadow ipv6", h("Host", "[2001:db8::1]:8080"), "invalid AddrPort", "[2001:db8::1]:8080", "http", ""},
		{"traefik", h("Host", "shop.local", "X-Forwarded-For", "192.0.2.44", "X-Forwarded-Host", "shop.example.com", "X-Forwarded-Proto", "https", "X-Real-Ip", "192.0.2.44"),
			"192.0.2.44:0", "shop.example.com", "https", ""},
		{"forwarded wins", h("Forwarded", `for="[2001:db8:cafe::17]:4711";proto=https;host="a.example", for=192.0.2.1`, "X-Forwarded-For", "192.0.2.99", "Host", "b.example"),
			"[2001:db8:cafe::17]:4711", "a.example", "https", ""},
		{"forwarded obfuscated", h("Forwarded", "for=_hidden, for=192.0.2.1", "X-Forwarded-For", "unknown, 192.0.2.2"), "192.0.2.2:0", "", "http", ""},
		{"forwarded obfuscated port", h("Forwarded", `for="192.0.2.3:_port"`), "192.0.2.3:0", "", "http", ""},
		{"xff with ports", h("X-Forwarded-For", "[2001:db8::5]:1234, 192.0.2.1"), "[2001:db8::5]:1234", "", "http", ""},
		{"xff ipv4-mapped", h("X-Forwarded-For", "::ffff:192.0.2.8"), "192.0.2.8:0", "", "http", ""},
		{"bad proto", h("X-Forwarded-Proto", "gopher", "Host", "x"), "invalid AddrPort", "x", "http", ""},
		{"first of several headers", h("X-Forwarded-For", "192.0.2.1", "X-Forwarded-For", "192.0.2.2"), "192.0.2.1:0", "", "http", ""},
		{"only -shadow", h("Host", "-shadow"), "invalid AddrPort", "-shadow", "http", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := originOf(tc.hs)
			if got := o.client.String(); got != tc.client {
				t.Errorf("client %s, want %s", got, tc.client)
			}
			if o.host != tc.host {
				t.Errorf("host %q, want %q", o.host, tc.host)
			}
			if o.scheme != tc.scheme {
				t.Errorf("scheme %q, want %q", o.scheme, tc.scheme)
			}
		})
	}
}

func TestCallURL(t *testing.T) {
	o := origin{host: "api.example.com", scheme: "https"}
	for target, want := range map[string]string{
		"/v1/items?id=3":            "https://api.example.com/v1/items?id=3",
		"*":                         "https://api.example.com",
		"HTTP://other.example/x":    "http://other.example/x",
		"https://other.example/y?z": "https://other.example/y?z",
		"weird":                     "https://api.example.com/weird",
	} {
		if got := callURL(o, target); got != want {
			t.Errorf("callURL(%q) = %q, want %q", target, got, want)
		}
	}
	if got := callURL(origin{scheme: "http"}, "/x"); got != "" {
		t.Errorf("no host: %q, want empty", got)
	}
}

func TestParseHeaders(t *testing.T) {
	raw := "Host: a.example\r\nX-Custom-CASE:  v1 \r\ncontent-type:application/json\r\nX-Folded: one\r\n two\r\n\tthree\r\nno colon line\r\n: empty name\r\nEmpty:\r\nX-Lf: lf\n\r\n"
	got := parseHeaders([]byte(raw))
	want := h("Host", "a.example", "X-Custom-CASE", "v1", "content-type", "application/json",
		"X-Folded", "one two three", "Empty", "", "X-Lf", "lf")
	if len(got) != len(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("header %d: %q, want %q", i, got[i], want[i])
		}
	}
	if parseHeaders(nil) != nil {
		t.Error("no block: want nil")
	}
}

// FuzzParseHeaders: any block parses without a panic, and every header it yields comes from
// a line of the block that has a colon.
func FuzzParseHeaders(f *testing.F) {
	f.Add("Host: a\r\nX: y\r\n\r\n")
	f.Add(" fold\r\nA:b\r\n c\r\n")
	f.Add("::::\n\r\n\t\t")
	f.Fuzz(func(t *testing.T, raw string) {
		hs := parseHeaders([]byte(raw))
		if len(hs) > strings.Count(raw, ":") {
			t.Fatalf("%d headers from %d colons", len(hs), strings.Count(raw, ":"))
		}
		for _, h := range hs {
			if h.Name == "" || strings.ContainsAny(h.Name, ":\r\n") {
				t.Fatalf("bad name %q", h.Name)
			}
			if !strings.Contains(raw, h.Name+":") {
				t.Fatalf("name %q not in the block", h.Name)
			}
		}
	})
}

// FuzzOrigin: any forwarded headers give a valid-or-invalid client without a panic, a scheme
// of http or https, and a host that is one of the values sent (less Envoy's -shadow).
func FuzzOrigin(f *testing.F) {
	f.Add(`for="[2001:db8::1]:80";proto=https;host=x`, "1.2.3.4, 5.6.7.8", "9.9.9.9", "h-shadow:1")
	f.Add(`for="\"quoted,comma\"", for=1.1.1.1`, "[::1]:_x", "", "")
	f.Fuzz(func(t *testing.T, fwd, xff, xrip, host string) {
		o := originOf(h("Forwarded", fwd, "X-Forwarded-For", xff, "X-Real-IP", xrip, "Host", host))
		if o.scheme != "http" && o.scheme != "https" {
			t.Fatalf("scheme %q", o.scheme)
		}
		if o.client.IsValid() && o.client.Addr().Is4In6() {
			t.Fatalf("client %v not unmapped", o.client)
		}
		if o.host != "" && !strings.Contains(fwd, `\`) && !strings.Contains(fwd, o.host) && o.host != shadowHost(host) {
			t.Fatalf("host %q from nowhere", o.host)
		}
	})
}
