package main

import (
	"bytes"
	"compress/zlib"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"sniffer/capture"
	"sniffer/rules"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// writeCapture writes a pcap of one connection, 10.0.0.2:40000 to 10.0.0.1:80,
// carrying the given request and response bytes.
func writeCapture(t *testing.T, req, resp string) string {
	t.Helper()
	return writeConvs(t, []testConv{{netip.MustParseAddrPort("10.0.0.2:40000"), netip.MustParseAddrPort("10.0.0.1:80"), req, resp}})
}

const (
	secretReq = "POST /login?user=alice@example.com HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer s3cret-token\r\n" +
		"Cookie: session=abc\r\nContent-Type: application/json\r\nContent-Length: 61\r\n\r\n" +
		`{"email":"alice@example.com","password":"hunter2","n":"x"}` + "\n\n\n"
	secretResp = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nSet-Cookie: id=42\r\nContent-Length: 27\r\n\r\n" +
		`{"card":"4111111111111111"}`
)

func runSniffer(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// The default rules keep credentials and personal data out of the NDJSON output.
func TestDefaultRulesMaskStdout(t *testing.T) {
	pcap := writeCapture(t, secretReq, secretResp)
	code, out, errs := runSniffer(t, nil, "-q", "-r", pcap)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if strings.Count(out, "\n") != 1 {
		t.Fatalf("want one call, got %q", out)
	}
	for _, secret := range []string{"s3cret-token", "alice@example.com", "hunter2", "session=abc", "id=42", "4111111111111111"} {
		if strings.Contains(out, secret) {
			t.Errorf("output leaks %q: %s", secret, out)
		}
	}
	var c struct {
		Request struct {
			Method string
			URL    string
			Body   string
		}
		Response struct{ Status int }
	}
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatal(err)
	}
	if c.Request.Method != "POST" || c.Response.Status != 200 || !strings.HasPrefix(c.Request.URL, "http://api.test/login?user=") || !strings.Contains(c.Request.Body, `"n":"x"`) {
		t.Errorf("masking lost the call's shape: %+v", c)
	}

	code, out, _ = runSniffer(t, nil, "-q", "-rules", "include debug", "-r", pcap)
	if code != 0 || !strings.Contains(out, "s3cret-token") || !strings.Contains(out, "hunter2") {
		t.Errorf("include debug must keep everything (exit %d): %s", code, out)
	}
}

// testCollector is a Resurface collector on loopback: it inflates each post (when
// deflated), splits the NDJSON and keeps every message and the last post's headers.
type testCollector struct {
	url  string
	mu   sync.Mutex
	msgs [][][2]string
	hdr  http.Header
}

func newTestCollector(t *testing.T) *testCollector {
	c := &testCollector{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "deflated" {
			zr, err := zlib.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
			body = zr
		}
		b, _ := io.ReadAll(body)
		c.mu.Lock()
		defer c.mu.Unlock()
		c.hdr = r.Header.Clone()
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var m [][2]string
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
			c.msgs = append(c.msgs, m)
		}
		w.WriteHeader(204)
	}))
	t.Cleanup(srv.Close)
	c.url = srv.URL + "/message"
	return c
}

func (c *testCollector) received() ([][][2]string, http.Header) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.msgs, c.hdr
}

// Calls reach a collector as NDJSON Resurface messages, masked: zlib-compressed with
// SNIFFER_COMPRESS=on, plain by default to this loopback collector (and said so).
func TestPostsToCollector(t *testing.T) {
	for _, compress := range []string{"on", ""} {
		t.Run("SNIFFER_COMPRESS="+compress, func(t *testing.T) { testPostsToCollector(t, compress) })
	}
}

func testPostsToCollector(t *testing.T, compress string) {
	col := newTestCollector(t)
	pcap := writeCapture(t, secretReq, secretResp)
	env := map[string]string{"USAGE_LOGGERS_URL": col.url}
	if compress != "" {
		env["SNIFFER_COMPRESS"] = compress
	}
	code, out, errs := runSniffer(t, env, "-r", pcap)
	if code != 0 || out != "" {
		t.Fatalf("exit %d, stdout %q, stderr %s", code, out, errs)
	}
	msgs, hdr := col.received()
	if len(msgs) != 1 {
		t.Fatalf("collector got %d messages, want 1; stderr: %s", len(msgs), errs)
	}
	wantCE, said := "deflated", strings.Contains(errs, "uncompressed: the collector is on loopback")
	if compress == "" {
		wantCE = ""
	}
	if said != (wantCE == "") {
		t.Errorf("stderr says it posts uncompressed: %v, want %v: %s", said, wantCE == "", errs)
	}
	if hdr.Get("Content-Encoding") != wantCE || !strings.HasPrefix(hdr.Get("Content-Type"), "application/ndjson") || !strings.HasPrefix(hdr.Get("User-Agent"), "sniffer/") {
		t.Errorf("headers: %v", hdr)
	}
	got := map[string]string{}
	for _, kv := range msgs[0] {
		got[kv[0]] = kv[1]
		for _, secret := range []string{"s3cret-token", "alice@example.com", "hunter2", "4111111111111111"} {
			if strings.Contains(kv[1], secret) {
				t.Errorf("detail %s leaks %q", kv[0], secret)
			}
		}
	}
	if got["request_method"] != "POST" || got["request_url"] != "http://api.test/login" || got["response_code"] != "200" || got["request_header:x-forwarded-for"] != "10.0.0.2" {
		t.Errorf("details: %v", msgs[0])
	}
	if !strings.Contains(errs, "delivered=1") {
		t.Errorf("summary does not report the delivery: %s", errs)
	}
}

// A collector that cannot be reached: sniffer gives up at the flush deadline, says how
// many calls were not delivered, and exits 1.
func TestUnreachableCollector(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	pcap := writeCapture(t, secretReq, secretResp)
	start := time.Now()
	code, _, errs := runSniffer(t, map[string]string{"USAGE_LOGGERS_URL": "http://" + addr + "/message", "SNIFFER_FLUSH_TIMEOUT": "1s"}, "-r", pcap)
	if code != 1 || !strings.Contains(errs, "1 calls were not delivered") {
		t.Errorf("exit %d, stderr %s", code, errs)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %s to give up, flush timeout was 1s", d)
	}
}

// Bad settings are refused with exit 2 before anything is captured.
// TestCompressPosts: auto compresses except to a loopback host; the rule
// skip_compression turns it off whatever SNIFFER_COMPRESS says.
func TestCompressPosts(t *testing.T) {
	skip, err := rules.Parse("include debug\nskip_compression")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		setting, url string
		r            *rules.Rules
		compressed   bool
	}{
		{"auto", "http://localhost:7701/message", rules.Default(), false},
		{"auto", "http://127.0.0.1:7701/message", rules.Default(), false},
		{"auto", "http://[::1]:7701/message", rules.Default(), false},
		{"auto", "http://api.localhost/message", rules.Default(), false},
		{"auto", "https://collector.example.com/message", rules.Default(), true},
		{"auto", "http://10.0.0.7:7701/message", rules.Default(), true},
		{"auto", "http://localhost.example.com/message", rules.Default(), true},
		{"on", "http://localhost:7701/message", rules.Default(), true},
		{"on", "http://localhost:7701/message", skip, false},
		{"off", "https://collector.example.com/message", rules.Default(), false},
		{"auto", "https://collector.example.com/message", skip, false},
	} {
		why := compressPosts(&Config{Compress: tc.setting, URL: tc.url}, tc.r)
		if (why == "") != tc.compressed {
			t.Errorf("%s to %s (skip_compression %v): compressed %v (%q), want %v", tc.setting, tc.url, tc.r.SkipCompression(), why == "", why, tc.compressed)
		}
	}
}

func TestBadSettings(t *testing.T) {
	pcap := writeCapture(t, secretReq, secretResp)
	for _, tc := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{nil, []string{"-rules", "/x/ frobnicate", "-r", pcap}, "rules line 1"},
		{nil, []string{"-url", "ftp://x/message", "-r", pcap}, "must start with https://"},
		{nil, []string{"-url", "http://collector.example.com/message", "-r", pcap}, "allow_http_url"},
		{map[string]string{"SNIFFER_IDLE_TIMEOUT": "soon"}, []string{"-r", pcap}, "SNIFFER_IDLE_TIMEOUT"},
		{map[string]string{"APP_PORTS": "80,http"}, []string{"-r", pcap}, "bad port"},
		{nil, []string{"-engine", "warp", "-r", pcap}, "want auto, libpcap, afpacket, mirror (or vxlan), afpacket+mirror or none"},
		{nil, []string{"-r", pcap, "extra"}, "unexpected arguments"},
		{map[string]string{"SNIFFER_COMPRESS": "yes"}, []string{"-r", pcap}, "SNIFFER_COMPRESS/-compress must be auto, on or off"},
		{nil, []string{"-engine", "none"}, "SNIFFER_ENGINE=none captures nothing"},
		{nil, []string{"-r", pcap, "-mirror-listen", "256.0.0.1:8445"}, "SNIFFER_MIRROR_LISTEN"},
		{nil, []string{"-r", pcap, "-mirror-listen", ":8445", "-mirror-read-timeout", "0s"}, "SNIFFER_MIRROR_READ_TIMEOUT"},
	} {
		code, out, errs := runSniffer(t, tc.env, tc.args...)
		if code != 2 || out != "" || !strings.Contains(errs, tc.want) {
			t.Errorf("%v %v: exit %d, stdout %q, stderr %q; want exit 2 and %q", tc.env, tc.args, code, out, errs, tc.want)
		}
		for k := range tc.env {
			os.Unsetenv(k)
		}
	}
}

// SNIFFER_ENGINE=auto (the default) does not fall back to libpcap over an afpacket setting
// that is wrong: the error is said and sniffer stops, as with -engine afpacket.
func TestAutoRefusesBadAFPacketSetting(t *testing.T) {
	if e := capture.AutoEngine(capture.Config{Device: "lo"}); e != "afpacket" {
		t.Logf("auto takes %s for lo in this build: no afpacket setting applies", e)
		return
	}
	type result struct {
		code      int
		out, errs string
	}
	done := make(chan result, 1)
	go func() { // a fallback would capture on lo until stopped
		code, out, errs := runSniffer(t, nil, "-i", "lo", "-afpacket-block-size", "70000")
		done <- result{code, out, errs}
	}()
	var r result
	select {
	case r = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("still running after 20 s: auto fell back to libpcap instead of refusing the block size")
	}
	code, out, errs := r.code, r.out, r.errs
	if code == 0 || out != "" || !strings.Contains(errs, "multiple of the page size") || strings.Contains(errs, "libpcap instead") {
		t.Errorf("exit %d, stdout %q, stderr %q; want an exit code other than 0 and the block size error, no fallback", code, out, errs)
	}
}

// A corrupt capture file is one clear error line and exit 1, never a panic.
func TestCorruptCapture(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.pcap")
	if err := os.WriteFile(path, []byte("this is not a capture file at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errs := runSniffer(t, nil, "-q", "-r", path)
	if code != 1 || !strings.Contains(errs, "bad.pcap") || strings.Contains(errs, "panic") {
		t.Errorf("exit %d, stderr %q", code, errs)
	}
}

// Issue 4's end-to-end check: a login call with a JSON body, an Authorization header, a
// cookie and a card number, run with include standard plus custom rules, reaches the
// collector with those values masked or removed and the rest intact.
func TestStandardPlusCustomRulesToCollector(t *testing.T) {
	col := newTestCollector(t)
	reqBody := `{"user":"alice","email":"alice@example.com","password":"hunter2","card":"4111 1111 1111 1111"}`
	respBody := `{"ok":true,"user":"alice"}`
	req := "POST /api/login HTTP/1.1\r\nHost: shop.test\r\nAuthorization: Basic YWxpY2U6aHVudGVyMg==\r\n" +
		"Cookie: sid=deadbeef\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(reqBody)) + "\r\n\r\n" + reqBody
	resp := "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nSet-Cookie: sid=cafe\r\nContent-Length: " + strconv.Itoa(len(respBody)) + "\r\n\r\n" + respBody
	pcap := writeCapture(t, req, resp)
	rules := "include standard\n" +
		"/request_header:authorization/ remove\n" +
		"/request_body/ replace /\"password\":\"[^\"]*\"/, /\"password\":\"xxx\"/\n" +
		"/request_body|response_body/ replace /\\b\\d{4}[ -]\\d{4}[ -]\\d{4}[ -]\\d{4}\\b/, /xxxx/\n"
	code, _, errs := runSniffer(t, map[string]string{"USAGE_LOGGERS_URL": col.url, "USAGE_LOGGERS_RULES": rules}, "-r", pcap)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	msgs, _ := col.received()
	if len(msgs) != 1 {
		t.Fatalf("collector got %d messages, want 1", len(msgs))
	}
	got := map[string]string{}
	for _, kv := range msgs[0] {
		got[kv[0]] = kv[1]
	}
	for name, v := range got {
		for _, secret := range []string{"YWxpY2U6aHVudGVyMg", "deadbeef", "cafe", "hunter2", "alice@example.com", "4111"} {
			if strings.Contains(v, secret) {
				t.Errorf("%s leaks %q: %q", name, secret, v)
			}
		}
	}
	for _, gone := range []string{"request_header:authorization", "request_header:cookie", "response_header:set-cookie"} {
		if _, ok := got[gone]; ok {
			t.Errorf("%s should be removed", gone)
		}
	}
	if b := got["request_body"]; !strings.Contains(b, `"user":"alice"`) || !strings.Contains(b, `"password":"xxx"`) || !strings.Contains(b, `"card":"xxxx`) {
		t.Errorf("request body not masked as the rules say, or its rest lost: %q", b)
	}
	if got["request_method"] != "POST" || got["request_url"] != "http://shop.test/api/login" || got["response_code"] != "200" ||
		got["request_header:content-type"] != "application/json" || got["response_body"] != respBody {
		t.Errorf("what the rules do not touch must arrive intact: %v", msgs[0])
	}
}
