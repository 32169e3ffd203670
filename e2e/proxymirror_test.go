//go:build linux

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"sniffer/internal/testenv"
	"sniffer/model"
)

// TestProxyMirrorNginx puts a real NGINX (mirror + mirror_request_body on) in front of a real
// app, drives it with a real HTTP client, and mirrors every request to sniffer's listener
// (SNIFFER_ENGINE=none SNIFFER_MIRROR_LISTEN). Every request in NGINX's access log must come out
// of sniffer exactly once as a mirrored call without response, with its method, target, the
// client's headers and body (cut at the body limit and marked so when longer), the original Host
// in its URL and the client's address from X-Forwarded-For.
func TestProxyMirrorNginx(t *testing.T) { proxyMirrorNginx(t, false) }

// TestProxyMirrorBesideCapture is TestProxyMirrorNginx with sniffer also capturing the traffic
// between NGINX and the app on lo: one process, two ways in. Every request must then come out
// twice, mirrored (as above) and captured with the app's response, unless the kernel dropped
// packets of the capture, which sniffer's summary would say.
func TestProxyMirrorBesideCapture(t *testing.T) {
	needRoot(t)
	proxyMirrorNginx(t, true)
}

func proxyMirrorNginx(t *testing.T, capture bool) {
	nginx := nginxPath(t)
	dir := t.TempDir()

	// The app: answers every request after reading its body, as an API would.
	app := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"got":%d}`, n)
	}), ReadHeaderTimeout: 5 * time.Second}
	appLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go app.Serve(appLn)
	t.Cleanup(func() { app.Close() })

	mirrorAddr, nginxAddr, metricsAddr := freePort(t), freePort(t), freePort(t)
	const bodyLimit = 200000
	out := filepath.Join(dir, "calls.ndjson")
	args := []string{"-engine", "none"}
	if capture {
		_, appPort, _ := net.SplitHostPort(appLn.Addr().String())
		args = []string{"-i", "lo", "-ports", appPort}
	}
	sn := start(t, "sniffer", snifferCmd(exec.Command(sniffer(t, true), append(args, "-mirror-listen", mirrorAddr,
		"-o", out, "-body-limit", strconv.Itoa(bodyLimit), "-metrics-addr", metricsAddr, "-rules", "include debug")...)))
	waitListening(t, sn, mirrorAddr)

	conf := filepath.Join(dir, "nginx.conf")
	os.WriteFile(conf, []byte(nginxMirrorConf(dir, nginxAddr, appLn.Addr().String(), mirrorAddr)), 0o644)
	ng := start(t, "nginx", exec.Command(nginx, "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log")))
	waitListening(t, ng, nginxAddr)

	// The client: six kinds of request over eight keep-alive connections.
	const n = 300
	sent := make([]sentRequest, n)
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 8, MaxIdleConnsPerHost: 8}, Timeout: 20 * time.Second}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	work := make(chan int)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				s := mirrorRequest(i)
				sent[i] = s
				var body io.Reader
				if s.body != "" {
					body = strings.NewReader(s.body)
					if s.chunked {
						body = io.MultiReader(strings.NewReader(s.body[:len(s.body)/2]), strings.NewReader(s.body[len(s.body)/2:]))
					}
				}
				req, _ := http.NewRequest(s.method, "http://"+nginxAddr+s.target, body)
				req.Host = "api.test"
				for _, h := range s.headers {
					req.Header.Set(h[0], h[1])
				}
				resp, err := client.Do(req)
				if err != nil {
					errs <- err
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errs <- fmt.Errorf("%s %s: %d from nginx", s.method, s.target, resp.StatusCode)
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("client: %v", err)
	}

	// NGINX finishes a mirror subrequest, and logs the request, after the client has its
	// answer: wait for sniffer to have received as many as were sent, then stop NGINX (which
	// completes its log) and sniffer.
	deadline := time.Now().Add(20 * time.Second)
	got := int64(-1)
	for time.Now().Before(deadline) {
		if got = metric(t, metricsAddr, "sniffer_mirror_calls_total"); got >= n {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	ng.stop(t, syscall.SIGQUIT, 15*time.Second)
	if !sn.stop(t, syscall.SIGINT, 15*time.Second) {
		return
	}
	logged := readNginxMirrorLog(t, filepath.Join(dir, "access.log"))
	t.Logf("nginx logged %d requests; sniffer received %d mirrored calls", len(logged), got)
	if len(logged) != n {
		t.Errorf("nginx logged %d requests, the client sent %d", len(logged), n)
	}

	all := readMirroredCalls(t, out)
	kernelDrops := regexp.MustCompile(`pcap: \d+ received, (\d+) dropped by the kernel`).FindStringSubmatch(sn.stderr.String())
	captured := 0
	for id, l := range logged {
		s := sent[id]
		var cs, caps []mirroredCall
		for _, c := range all[id] {
			if c.Mirrored {
				cs = append(cs, c)
			} else {
				caps = append(caps, c)
			}
		}
		captured += len(caps)
		if len(cs) != 1 {
			t.Errorf("request %d (%s %s) in nginx's log came out of sniffer %d times mirrored", id, l.method, l.uri, len(cs))
		} else if err := s.check(cs[0], l, bodyLimit); err != "" {
			t.Errorf("request %d (%s %s): %s", id, s.method, s.target, err)
		}
		switch {
		case !capture && len(caps) > 0:
			t.Errorf("request %d: %d calls not marked mirrored, with nothing captured", id, len(caps))
		case capture && len(caps) == 0 && kernelDrops != nil && kernelDrops[1] != "0":
			t.Logf("request %d was not captured; the kernel dropped %s packets", id, kernelDrops[1])
		case capture && len(caps) != 1:
			t.Errorf("request %d (%s %s) was captured %d times between nginx and the app", id, s.method, s.target, len(caps))
		case capture:
			if err := s.checkCaptured(caps[0], bodyLimit); err != "" {
				t.Errorf("request %d (%s %s) captured: %s", id, s.method, s.target, err)
			}
		}
	}
	if capture {
		t.Logf("%d of %d requests also captured between nginx and the app", captured, len(logged))
	}
	calls := all
	for id, cs := range calls {
		if _, ok := logged[id]; !ok {
			t.Errorf("sniffer has %d calls with X-Test-Id %d, which nginx never logged", len(cs), id)
		}
	}
	if !strings.Contains(sn.stderr.String(), fmt.Sprintf("proxy mirror: %d calls (0 dropped", n)) {
		t.Errorf("sniffer's summary does not account for %d mirrored calls:\n%s", n, sn.stderr.String())
	} else if t.Failed() {
		t.Logf("sniffer's stderr:\n%s", tail(sn.stderr.Bytes(), 4000))
	}
}

// sentRequest is what the client sent for one X-Test-Id.
type sentRequest struct {
	method, target, body string
	chunked              bool
	headers              [][2]string
}

func mirrorRequest(i int) sentRequest {
	s := sentRequest{headers: [][2]string{{"X-Test-Id", strconv.Itoa(i)}, {"User-Agent", "e2e-client/1"}, {"X-Custom", fmt.Sprintf("value %d, with \"quotes\"", i)}}}
	switch i % 6 {
	case 0:
		s.method, s.target = "GET", fmt.Sprintf("/items?id=%d&q=a%%20b", i)
	case 1:
		s.method, s.target, s.body = "POST", "/orders", fmt.Sprintf(`{"order":%d,"items":["a","b"],"note":"é ü"}`, i)
		s.headers = append(s.headers, [2]string{"Content-Type", "application/json"})
	case 2: // longer than the body limit: nginx buffers it to a file, sniffer cuts it
		s.method, s.target, s.body = "PUT", fmt.Sprintf("/blobs/%d", i), strings.Repeat(fmt.Sprintf("blob %06d ", i), 300000/12+1)[:300000]
		s.headers = append(s.headers, [2]string{"Content-Type", "application/octet-stream"})
	case 3: // chunked from the client; nginx reads it whole and mirrors it with a length
		s.method, s.target, s.body, s.chunked = "POST", "/upload", strings.Repeat(fmt.Sprintf("line %d\n", i), 700), true
		s.headers = append(s.headers, [2]string{"Content-Type", "text/plain"})
	case 4:
		s.method, s.target = "DELETE", fmt.Sprintf("/items/%d", i)
	case 5:
		s.method, s.target, s.body = "PATCH", fmt.Sprintf("/items/%d?v=2", i), fmt.Sprintf("name=item+%d&price=%d.50", i, i)
		s.headers = append(s.headers, [2]string{"Content-Type", "application/x-www-form-urlencoded"})
	}
	return s
}

// check returns what is wrong with call c for this request, as nginx logged it.
func (s sentRequest) check(c mirroredCall, l nginxLine, bodyLimit int) string {
	var bad []string
	req := c.Request
	if !c.Mirrored || c.Response != nil {
		bad = append(bad, fmt.Sprintf("mirrored %v, response %s", c.Mirrored, c.Response))
	}
	if req.Method != s.method || req.Method != l.method || req.Target != s.target || req.Target != l.uri {
		bad = append(bad, fmt.Sprintf("request %s %s, nginx logged %s %s", req.Method, req.Target, l.method, l.uri))
	}
	if want := "http://api.test" + s.target; req.URL != want {
		bad = append(bad, fmt.Sprintf("url %q, want %q", req.URL, want))
	}
	if !strings.HasPrefix(c.Client, "127.0.0.1:") {
		bad = append(bad, "client "+c.Client)
	}
	get := func(name string) []string {
		var vs []string
		for _, h := range req.Headers {
			if strings.EqualFold(h[0], name) {
				vs = append(vs, h[1])
			}
		}
		return vs
	}
	for _, h := range append(s.headers, [2]string{"Host", "api.test"}, [2]string{"X-Forwarded-For", "127.0.0.1"}) {
		if vs := get(h[0]); len(vs) != 1 || vs[0] != h[1] {
			bad = append(bad, fmt.Sprintf("header %s: %q, want %q", h[0], vs, h[1]))
		}
	}
	body := req.Body
	if req.BodyEncoding == "base64" {
		b, _ := base64.StdEncoding.DecodeString(body)
		body = string(b)
	}
	want, truncated := s.body, false
	if len(want) > bodyLimit {
		want, truncated = want[:bodyLimit], true
	}
	if c.Shed == model.ShedBodies { // the pipeline fell behind and said so: only the size is kept
		want, truncated = "", req.Truncated
	}
	if body != want || req.BodySize != int64(len(s.body)) || req.Truncated != truncated {
		bad = append(bad, fmt.Sprintf("body %d bytes of %d (truncated %v), sent %d", len(body), req.BodySize, req.Truncated, len(s.body)))
	}
	if l.status != "200" {
		bad = append(bad, "nginx answered "+l.status)
	}
	return strings.Join(bad, "; ")
}

// checkCaptured returns what is wrong with the call captured between NGINX and the app.
func (s sentRequest) checkCaptured(c mirroredCall, bodyLimit int) string {
	var resp struct{ Status int }
	json.Unmarshal(c.Response, &resp)
	want := s.body
	if len(want) > bodyLimit {
		want = want[:bodyLimit]
	}
	if c.Shed == model.ShedBodies { // the pipeline fell behind and said so: only the size is kept
		want = ""
	}
	if c.Request.Method != s.method || c.Request.Target != s.target || resp.Status != 200 || c.Request.Body != want || c.Request.BodySize != int64(len(s.body)) {
		return fmt.Sprintf("%s %s status %d, body %d bytes of %d", c.Request.Method, c.Request.Target, resp.Status, len(c.Request.Body), c.Request.BodySize)
	}
	return ""
}

// mirroredCall is the part of sniffer's NDJSON the test reads.
type mirroredCall struct {
	Client   string          `json:"client"`
	Mirrored bool            `json:"mirrored"`
	Shed     string          `json:"shed"` // what an overloaded pipeline left out (model.Shed*)
	Response json.RawMessage `json:"response"`
	Request  struct {
		Method       string      `json:"method"`
		URL          string      `json:"url"`
		Target       string      `json:"target"`
		Headers      [][2]string `json:"headers"`
		Body         string      `json:"body"`
		BodyEncoding string      `json:"body_encoding"`
		BodySize     int64       `json:"body_size"`
		Truncated    bool        `json:"truncated"`
	} `json:"request"`
}

// readMirroredCalls reads sniffer's NDJSON, by X-Test-Id.
func readMirroredCalls(t *testing.T, path string) map[int][]mirroredCall {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	calls := map[int][]mirroredCall{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var c mirroredCall
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatalf("sniffer wrote a line that is not JSON: %v", err)
		}
		id := -1
		for _, h := range c.Request.Headers {
			if h[0] == "X-Test-Id" {
				id, _ = strconv.Atoi(h[1])
			}
		}
		calls[id] = append(calls[id], c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return calls
}

// nginxLine is one request of nginx's access log.
type nginxLine struct{ method, uri, status string }

func readNginxMirrorLog(t *testing.T, path string) map[int]nginxLine {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	logged := map[int]nginxLine{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(l)
		if len(f) != 4 {
			t.Fatalf("bad access log line %q", l)
		}
		id, err := strconv.Atoi(f[0])
		if err != nil {
			t.Fatalf("access log line without a test id: %q", l)
		}
		if _, dup := logged[id]; dup {
			t.Fatalf("nginx logged request %d twice", id)
		}
		logged[id] = nginxLine{f[1], f[2], f[3]}
	}
	return logged
}

// nginxMirrorConf is the README's NGINX configuration, with the test's addresses and files.
func nginxMirrorConf(dir, listen, app, mirror string) string {
	return fmt.Sprintf(`daemon off;
master_process off;
pid %[1]s/nginx.pid;
events { worker_connections 1024; }
http {
    log_format mirrortest '$http_x_test_id $request_method $request_uri $status';
    access_log %[1]s/access.log mirrortest;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    client_max_body_size 10m;

    upstream app     { server %[3]s; keepalive 8; }
    upstream sniffer { server %[4]s; keepalive 16; }

    server {
        listen %[2]s;

        location / {
            mirror /sniffer-mirror;
            mirror_request_body on;
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
        }

        location = /sniffer-mirror {
            internal;
            proxy_pass http://sniffer$request_uri;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_connect_timeout 1s;
            proxy_read_timeout 5s;
        }
    }
}
`, dir, listen, app, mirror)
}

func nginxPath(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx"
	}
	testenv.Missing(t, "nginx is not installed (scripts/setup.sh installs nginx-light)")
	return ""
}

// freePort returns a loopback address with a port free at the time of the call.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitListening waits until addr accepts connections, or p exits, for at most 15 s.
func waitListening(t *testing.T, p *proc, addr string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return
		}
		if p.exited() {
			t.Fatalf("%s exited: %v\n%s", p.name, p.err, tail(p.stderr.Bytes(), 4000))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s is not listening on %s after 15 s:\n%s", p.name, addr, tail(p.stderr.Bytes(), 4000))
}

// metric reads one unlabelled value from sniffer's /metrics.
func metric(t *testing.T, addr, name string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, l := range bytes.Split(b, []byte("\n")) {
		if f := strings.Fields(string(l)); len(f) == 2 && f[0] == name {
			v, _ := strconv.ParseFloat(f[1], 64)
			return int64(v)
		}
	}
	return -1
}
