package rules

import (
	"fmt"
	"strings"
	"testing"
)

// jsonBody builds a realistic JSON API response of about size bytes: a page of user
// records with e-mail addresses, phone and card numbers, ids and free text.
func jsonBody(size int) string {
	var b strings.Builder
	b.WriteString(`{"page":1,"per_page":50,"data":[`)
	for i := 0; b.Len() < size-200; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":%d,"uuid":"6f1c2a9e-%04d-4b7e-9c1d-3a5b7c9d%04d","name":"User %d","email":"user%d@example.com",`+
			`"phone":"+1 555-01%02d","card":"41111111111%05d","created_at":"2024-05-%02dT10:%02d:00Z","active":%v,`+
			`"bio":"Lorem ipsum dolor sit amet, consectetur adipiscing elit."}`,
			1000+i, i, i, i, i, i%100, i, 1+i%28, i%60, i%2 == 0)
	}
	b.WriteString(`],"total":5000}`)
	return b.String()
}

// benchCall is one realistic call: a JSON POST with a ~16 KiB JSON response.
func benchCall(body string) [][2]string {
	return [][2]string{
		{"request_method", "POST"},
		{"request_url", "https://api.example.com/v2/users/search?page=1&per_page=50&sort=created_at"},
		{"request_header:host", "api.example.com"},
		{"request_header:user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36"},
		{"request_header:accept", "application/json"},
		{"request_header:authorization", "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.sig"},
		{"request_header:cookie", "session=abc123; theme=dark"},
		{"request_header:content-type", "application/json"},
		{"request_header:content-length", "64"},
		{"request_body", `{"query":"jo@example.org","filters":{"active":true,"since":"2024-01-01"}}`},
		{"response_code", "200"},
		{"response_header:content-type", "application/json; charset=utf-8"},
		{"response_header:content-length", fmt.Sprint(len(body))},
		{"response_header:date", "Mon, 30 Nov 2026 10:00:00 GMT"},
		{"response_header:set-cookie", "session=abc123; Path=/; HttpOnly"},
		{"response_header:x-request-id", "3f2a9c1e-8b7d-4e6f-a5c3-1d2e3f4a5b6c"},
		{"response_body", body},
		{"now", "1796032800000"},
		{"interval", "12.5"},
	}
}

func benchApply(b *testing.B, text string) {
	r, err := Parse(text)
	if err != nil {
		b.Fatal(err)
	}
	body := jsonBody(16 << 10)
	call := benchCall(body)
	buf := make([][2]string, len(call))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		copy(buf, call)
		if _, keep := r.Apply(buf); !keep {
			b.Fatal("call dropped")
		}
	}
}

func BenchmarkApplyStandard(b *testing.B) { benchApply(b, "include standard") }
func BenchmarkApplyDefault(b *testing.B)  { benchApply(b, "") }
func BenchmarkApplyStrict(b *testing.B)   { benchApply(b, "include strict") }
func BenchmarkApplyDebug(b *testing.B)    { benchApply(b, "include debug") }

// The same standard rules without the exact fast paths, to show what they buy.
func BenchmarkApplyStandardNoFastPaths(b *testing.B) {
	r, err := Parse("include standard")
	if err != nil {
		b.Fatal(err)
	}
	for _, group := range [][]*rule{r.removes, r.replaces} {
		for _, rl := range group {
			for _, m := range []*matcher{rl.scope, rl.value} {
				plainMatcher(m)
			}
		}
	}
	body := jsonBody(16 << 10)
	call := benchCall(body)
	buf := make([][2]string, len(call))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		copy(buf, call)
		r.Apply(buf)
	}
}

func TestBenchCallIsMasked(t *testing.T) {
	body := jsonBody(16 << 10)
	if len(body) < 15<<10 || len(body) > 17<<10 {
		t.Fatalf("body is %d bytes", len(body))
	}
	out, keep := mustParse("include standard").Apply(benchCall(body))
	if !keep {
		t.Fatal("dropped")
	}
	v, _ := value(out, "response_body")
	if strings.Contains(v, "@example.com") || strings.Contains(v, "4111111111") || !strings.Contains(v, `"email":"x@y.com"`) {
		t.Errorf("standard did not mask the benchmark body: %.300s", v)
	}
}
