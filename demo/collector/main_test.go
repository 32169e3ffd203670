package main

import (
	"bytes"
	"compress/zlib"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
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
	for _, want := range []string{"4 calls in 2 posts", "1 unreadable lines", "2 bad posts", "GET http://app:8080/api/items/4", "response body: {&#34;id&#34;:4}"} {
		if !strings.Contains(pg, want) {
			t.Errorf("page lacks %q:\n%s", want, pg)
		}
	}
	if strings.Contains(pg, "/api/items/1<") {
		t.Errorf("page still shows the forgotten call 1")
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
