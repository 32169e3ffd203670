package main

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"sniffer/output"
)

func post(t *testing.T, url, ce string, body []byte) int {
	t.Helper()
	req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	if ce != "" {
		req.Header.Set("Content-Encoding", ce)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	return string(b)
}

func deflate(b []byte) []byte {
	var z bytes.Buffer
	w := zlib.NewWriter(&z)
	w.Write(b)
	w.Close()
	return z.Bytes()
}

func msg(i int) string {
	return fmt.Sprintf(`[["request_method","GET"],["request_url","http://app:8080/api/items/%d"],["response_code","200"],["response_body","{\"id\":%d}"],["now","1764496800000"]]`, i, i)
}

func TestReceiveAndShow(t *testing.T) {
	st := newStore(3)
	srv := httptest.NewServer(st.handler())
	defer srv.Close()

	if c := post(t, srv.URL+"/message", "deflated", deflate([]byte(msg(1)+"\n"+msg(2)+"\n"))); c != 204 {
		t.Fatalf("zlib bundle: status %d", c)
	}
	if c := post(t, srv.URL+"/message", "", []byte(msg(3)+"\nnot json\n\n"+msg(4))); c != 204 {
		t.Fatalf("plain bundle: status %d", c)
	}
	if c := post(t, srv.URL+"/message", "deflated", []byte(msg(5))); c != 400 {
		t.Fatalf("deflated header on a plain body: status %d, want 400", c)
	}
	if c := post(t, srv.URL+"/message", "br", []byte(msg(5))); c != 400 {
		t.Fatalf("unknown encoding: status %d, want 400", c)
	}
	// Four good messages into a ring of three: 2, 3, 4 kept, oldest first.
	nd := get(t, srv.URL+"/messages")
	lines := strings.Split(strings.TrimSpace(nd), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "/api/items/2") || !strings.Contains(lines[2], "/api/items/4") {
		t.Fatalf("/messages:\n%s", nd)
	}
	pg := get(t, srv.URL+"/")
	for _, want := range []string{"4 calls received in 2 posts, 3 kept", "1 unreadable lines", "2 bad posts", ">http://app:8080/api/items/4</a>", `<code class="resp">{&#34;id&#34;:4}</code>`} {
		if !strings.Contains(pg, want) {
			t.Errorf("page lacks %q:\n%s", want, pg)
		}
	}
	if strings.Contains(pg, "/api/items/1<") {
		t.Errorf("page still shows the forgotten call 1")
	}
	// Message 1 was forgotten; 2 to 4 are kept under their numbers.
	for id, want := range map[string]int{"1": 404, "2": 200, "4": 200, "5": 404, "0": 404, "x": 404} {
		resp, err := http.Get(srv.URL + "/calls/" + id)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want || want == 200 && !strings.Contains(string(b), "/api/items/"+id+"</span>") {
			t.Errorf("/calls/%s: %d, want %d:\n%s", id, resp.StatusCode, want, b)
		}
	}
	if get(t, srv.URL+"/healthz") != "ok\n" {
		t.Errorf("healthz")
	}
}

// TestFromPoster sends real calls with sniffer's own Poster (zlib bundles, as in the demo).
func TestFromPoster(t *testing.T) {
	st := newStore(100)
	srv := httptest.NewServer(st.handler())
	defer srv.Close()
	p, err := output.NewPoster(output.PostConfig{URL: srv.URL + "/message", Compress: true, FlushInterval: 50 * time.Millisecond, Agent: "test", Version: "1"})
	if err != nil {
		t.Fatal(err)
	}
	const n = 25
	for i := range n {
		if err := p.WriteDetails([][2]string{{"request_method", "POST"}, {"request_url", fmt.Sprintf("http://app/api/items/%d", i)}, {"response_code", "201"}, {"now", "1764496800000"}}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sum, err := p.Close(ctx)
	if err != nil || sum.Delivered != n {
		t.Fatalf("poster: %v, %v", sum, err)
	}
	msgs, total, bad, posts, badPosts := st.snapshot()
	if total != n || len(msgs) != n || bad != 0 || badPosts != 0 || posts == 0 {
		t.Fatalf("collector: total %d kept %d bad %d posts %d bad posts %d", total, len(msgs), bad, posts, badPosts)
	}
	for i, m := range msgs {
		if want := fmt.Sprintf("http://app/api/items/%d", i); m.Pairs[1][1] != want {
			t.Fatalf("message %d: %v, want url %s", i, m.Pairs, want)
		}
	}
}

// call posts one message with the given details (plain NDJSON).
func postCall(t *testing.T, base string, pairs ...[2]string) {
	t.Helper()
	b, _ := json.Marshal(pairs)
	if c := post(t, base+"/message", "", b); c != 204 {
		t.Fatalf("post: status %d", c)
	}
}

// rowURLs is the list page's URL column, top to bottom.
var rowURLRE = regexp.MustCompile(`<td class="url"><a href="/calls/(\d+)[^"]*">([^<]*)</a>`)

func rowURLs(page string) []string {
	var urls []string
	for _, m := range rowURLRE.FindAllStringSubmatch(page, -1) {
		urls = append(urls, m[2])
	}
	return urls
}

// TestListOrderAndFilter: newest first by the calls' own time (not arrival), and the path and
// status filters, alone and together, with a bad status filter said on the page.
func TestListOrderAndFilter(t *testing.T) {
	st := newStore(100)
	srv := httptest.NewServer(st.handler())
	defer srv.Close()
	calls := []struct {
		url, status, now string
	}{ // posted in this order; their times put them in another
		{"http://a/api/items", "200", "1000"},
		{"http://a/api/items/7", "404", "4000"},
		{"http://a/healthz", "200", "2000"},
		{"http://a/api/items", "201", "3000"},
		{"http://a/api/ITEMS/9", "500", "5000"},
		{"http://a/mirrored", "", "6000"},
	}
	for _, c := range calls {
		pairs := [][2]string{{"request_method", "GET"}, {"request_url", c.url}, {"now", c.now}}
		if c.status != "" {
			pairs = append(pairs, [2]string{"response_code", c.status})
		} else {
			pairs = append(pairs, [2]string{"custom_field:mirrored", "true"})
		}
		postCall(t, srv.URL, pairs...)
	}
	for _, tc := range []struct {
		query string
		want  []string // URLs, top to bottom
	}{
		{"", []string{"http://a/mirrored", "http://a/api/ITEMS/9", "http://a/api/items/7", "http://a/api/items", "http://a/healthz", "http://a/api/items"}},
		{"?path=/api/items/", []string{"http://a/api/ITEMS/9", "http://a/api/items/7"}},
		{"?status=2xx", []string{"http://a/api/items", "http://a/healthz", "http://a/api/items"}},
		{"?status=404,5xx", []string{"http://a/api/ITEMS/9", "http://a/api/items/7"}},
		{"?status=none", []string{"http://a/mirrored"}},
		{"?path=items&status=201", []string{"http://a/api/items"}},
		{"?path=nothing", nil},
	} {
		pg := get(t, srv.URL+"/"+tc.query)
		if got := rowURLs(pg); !slices.Equal(got, tc.want) {
			t.Errorf("/%s lists %q, want %q", tc.query, got, tc.want)
		}
	}
	pg := get(t, srv.URL+"/?status=40x")
	if !strings.Contains(pg, `id="filter-error"`) || len(rowURLs(pg)) != len(calls) {
		t.Errorf("a bad status filter: want the error said and every call listed:\n%s", pg)
	}
	// A call's link keeps the filter, and its page leads back to the filtered list.
	pg = get(t, srv.URL+"/?path=healthz&status=200")
	if !strings.Contains(pg, `href="/calls/3?path=healthz&amp;status=200"`) {
		t.Errorf("the call's link lost the filter:\n%s", pg)
	}
	if cp := get(t, srv.URL+"/calls/3?path=healthz&status=200"); !strings.Contains(cp, `href="/?path=healthz&amp;status=200" id="back"`) {
		t.Errorf("the call's page does not lead back to the filtered list:\n%s", cp)
	}
}

// TestUntrustedValuesEscaped: every value of a call is the monitored API's; none may become
// markup on either page, and the pages forbid inline script besides.
func TestUntrustedValuesEscaped(t *testing.T) {
	st := newStore(10)
	srv := httptest.NewServer(st.handler())
	defer srv.Close()
	const evil = `<script>alert(1)</script><img src=x onerror=alert(2)>"'&`
	postCall(t, srv.URL, [2]string{"request_method", "POST" + evil}, [2]string{"request_url", "http://a/x?" + evil},
		[2]string{"response_code", "200"}, [2]string{"request_header:x-" + evil, evil}, [2]string{"response_header:content-type", evil},
		[2]string{"request_param:" + evil, evil}, [2]string{"request_body", `{"name":"` + evil + `"}`},
		[2]string{"response_body", evil}, [2]string{"custom_field:anomalies", evil}, [2]string{"session_field:" + evil, evil})
	for _, path := range []string{"/", "/calls/1", "/?path=" + url.QueryEscape(evil)} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		pg := string(b)
		if strings.Contains(pg, "<script>alert") || strings.Contains(pg, "<img") || strings.Contains(pg, "onerror=alert") && !strings.Contains(pg, "&lt;img src=x onerror=alert(2)&gt;") {
			t.Errorf("%s: a value became markup:\n%s", path, pg)
		}
		if !strings.Contains(pg, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Errorf("%s: the value is not shown as text:\n%s", path, pg)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("%s: Content-Security-Policy %q", path, csp)
		}
	}
	for name, ct := range map[string]string{"page.js": "text/javascript; charset=utf-8", "page.css": "text/css; charset=utf-8", "list.html": "", "nope.js": ""} {
		resp, err := http.Get(srv.URL + "/static/" + name)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if ct == "" && resp.StatusCode != 404 || ct != "" && (resp.StatusCode != 200 || resp.Header.Get("Content-Type") != ct) {
			t.Errorf("/static/%s: %d %q", name, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
}
