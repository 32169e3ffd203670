package output

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// appendString must agree with encoding/json on every input, valid UTF-8 or not.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "q\"uo\\te", "\n\r\t\x00\x1f", "é€𝄞", "\xff\xfe", "a\xc3", "\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := appendString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("%q encodes to invalid JSON %s: %v", s, got, err)
		}
		want := s
		if !utf8.ValidString(s) {
			want = string([]rune(s)) // invalid bytes become U+FFFD, one per byte
		}
		if back != want {
			t.Fatalf("%q round-trips to %q, want %q", s, back, want)
		}
	})
}

// BenchmarkAppendStringBody encodes a decoded JSON body (the bench workload's kind: a '"'
// every few bytes) and a text body (an escape now and then) as sniffer does (words) and
// with the byte-at-a-time loop it replaced (bytewise), side by side.
func BenchmarkAppendStringBody(b *testing.B) {
	for _, kind := range []struct{ name, unit string }{
		{"json", `{"id":1,"name":"user00001","email":"user00001@example.com","ssn":"001-01-0001","score":0.5}`},
		{"text", "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.\n"},
	} {
		body := []byte(kind.unit)
		for len(body) < 64<<10 {
			body = append(body, body...)
		}
		for _, enc := range []struct {
			name string
			f    func([]byte, []byte) []byte
		}{{"words", func(dst, s []byte) []byte { dst, _ = appendUTF8String(dst, s); return dst }}, {"bytewise", func(dst, s []byte) []byte { return appendStringBytewise(dst, string(s)) }}} {
			b.Run(kind.name+"/"+enc.name, func(b *testing.B) {
				b.SetBytes(int64(len(body)))
				dst := make([]byte, 0, 2*len(body))
				for b.Loop() {
					dst = enc.f(dst[:0], body)
				}
			})
		}
	}
}

func BenchmarkEncodingJSONBody(b *testing.B) {
	body := `{"id":1,"name":"user00001","email":"user00001@example.com","ssn":"001-01-0001","score":0.5}`
	for len(body) < 64<<10 {
		body += body
	}
	b.SetBytes(int64(len(body)))
	for i := 0; i < b.N; i++ {
		_, _ = json.Marshal(body)
	}
}
