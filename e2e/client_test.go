//go:build linux

package e2e

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// step is one request the client makes.
type step struct{ method, target string }

// round is one pass over every endpoint; i varies the targets and bodies between rounds.
func round(i int) []step {
	return []step{
		{"GET", "/hello"},
		{"GET", "/hello?x=1&y=two%20words"},
		{"HEAD", "/hello"},
		{"GET", fmt.Sprintf("/json?page=%d", i)},
		{"GET", "/chunked"},
		{"GET", "/gzip"},
		{"GET", "/gzip-chunked"},
		{"GET", "/big"},
		{"POST", fmt.Sprintf("/echo?n=%d", i)},
		{"PUT", fmt.Sprintf("/echo?n=%d", 100+i)},
		{"POST", fmt.Sprintf("/upload?n=%d", i)}, // with Expect: 100-continue
		{"GET", "/nocontent"},
		{"DELETE", "/nocontent"},
		{"GET", fmt.Sprintf("/missing/%d", i)},
	}
}

// clientMain runs in the client namespace and makes every call of the live test against
// SNIFFER_E2E_V4 and SNIFFER_E2E_V6 (captured) and SNIFFER_E2E_OTHER (a port sniffer must
// ignore). It checks every answer against expect(), prints "CALL addr method target status" for
// each call, and exits 1 at the first wrong answer.
func clientMain() int {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	v4, v6, other := os.Getenv("SNIFFER_E2E_V4"), os.Getenv("SNIFFER_E2E_V6"), os.Getenv("SNIFFER_E2E_OTHER")
	err := func() error {
		// Three keep-alive rounds on one IPv4 connection, one round over IPv6.
		if err := goClient(ctx, v4, 1, round(1), round(2), round(3)); err != nil {
			return err
		}
		if err := goClient(ctx, v6, 1, round(50)); err != nil {
			return err
		}
		if err := goClient(ctx, other, 1, []step{{"GET", "/hello?uncaptured=1"}, {"POST", "/echo?n=3"}}); err != nil {
			return err
		}
		if err := pipelined(ctx, v4); err != nil {
			return err
		}
		if err := http10(ctx, v4); err != nil {
			return err
		}
		// SNIFFER_E2E_EXTRA_CONNS more calls to v4, each on a connection of its own: flows
		// for a test of how the kernel spreads them.
		n, _ := strconv.Atoi(os.Getenv("SNIFFER_E2E_EXTRA_CONNS"))
		for i := range n {
			if err := goClient(ctx, v4, 1, []step{{"GET", fmt.Sprintf("/hello?conn=%d", i)}}); err != nil {
				return err
			}
		}
		if _, err := exec.LookPath("curl"); err == nil {
			return curlCalls(ctx, v4)
		}
		return nil
	}()
	if err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		return 1
	}
	return 0
}

func printCall(addr, method, target string, status int) {
	fmt.Printf("CALL %s %s %s %d\n", addr, method, target, status)
}

// check compares an answer with expect(); raw is the body as received, still gzip'd if it was sent so.
func check(method, target string, status int, raw []byte) error {
	e := expect(method, target)
	body := raw
	if e.gzipped {
		var err error
		if body, err = gunzip(raw); err != nil {
			return fmt.Errorf("%s %s: gzip body: %v", method, target, err)
		}
	}
	if status != e.status || !bytes.Equal(body, e.respBody) {
		return fmt.Errorf("%s %s: got %d with %d body bytes, want %d with %d", method, target, status, len(body), e.status, len(e.respBody))
	}
	return nil
}

func gunzip(b []byte) ([]byte, error) {
	z, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(z)
}

// goClient makes the rounds with net/http's client over keep-alive, and fails unless they took
// exactly wantConns connections.
func goClient(ctx context.Context, addr string, wantConns int, rounds ...[]step) error {
	tr := &http.Transport{DisableCompression: true, MaxConnsPerHost: 1, ExpectContinueTimeout: 5 * time.Second}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	conns := 0
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) {
		if !i.Reused {
			conns++
		}
	}}
	for _, r := range rounds {
		for _, s := range r {
			e := expect(s.method, s.target)
			var body io.Reader
			if e.reqBody != nil {
				body = bytes.NewReader(e.reqBody)
			}
			req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), s.method, "http://"+addr+s.target, body)
			if err != nil {
				return err
			}
			if e.gzipped {
				req.Header.Set("Accept-Encoding", "gzip")
			}
			if strings.HasPrefix(s.target, "/upload") {
				req.Header.Set("Expect", "100-continue")
			}
			resp, err := c.Do(req)
			if err != nil {
				return err
			}
			raw, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				return fmt.Errorf("%s %s: %v", s.method, s.target, err)
			}
			if err := check(s.method, s.target, resp.StatusCode, raw); err != nil {
				return err
			}
			printCall(addr, s.method, s.target, resp.StatusCode)
		}
	}
	if conns != wantConns {
		return fmt.Errorf("the calls to %s took %d connections, want %d (keep-alive not exercised)", addr, conns, wantConns)
	}
	return nil
}

// pipelined sends several requests in one write before reading any response.
func pipelined(ctx context.Context, addr string) error {
	steps := []step{{"GET", "/json?page=901"}, {"HEAD", "/hello?pipelined=2"}, {"GET", "/chunked?pipelined=3"}, {"GET", "/missing/pipelined"}}
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	var out bytes.Buffer
	for _, s := range steps {
		fmt.Fprintf(&out, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: e2e-pipelined\r\n\r\n", s.method, s.target, addr)
	}
	if _, err := conn.Write(out.Bytes()); err != nil {
		return err
	}
	br := bufio.NewReader(conn)
	for _, s := range steps {
		resp, err := http.ReadResponse(br, &http.Request{Method: s.method})
		if err != nil {
			return fmt.Errorf("pipelined %s %s: %v", s.method, s.target, err)
		}
		raw, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if err := check(s.method, s.target, resp.StatusCode, raw); err != nil {
			return fmt.Errorf("pipelined: %v", err)
		}
		printCall(addr, s.method, s.target, resp.StatusCode)
	}
	return nil
}

// http10 makes an HTTP/1.0 call, which net/http answers with a body delimited by closing the connection.
func http10(ctx context.Context, addr string) error {
	const target = "/chunked?v=10"
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", target, addr); err != nil {
		return err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: "GET"})
	if err != nil {
		return fmt.Errorf("HTTP/1.0: %v", err)
	}
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("HTTP/1.0: %v", err)
	}
	if resp.ContentLength != -1 || len(resp.TransferEncoding) != 0 {
		return errors.New("HTTP/1.0: the server sent a length; the test means to exercise a close-delimited body")
	}
	if err := check("GET", target, resp.StatusCode, raw); err != nil {
		return fmt.Errorf("HTTP/1.0: %v", err)
	}
	printCall(addr, "GET", target, resp.StatusCode)
	return nil
}

// curlCalls drives curl, a second, independent client: two GETs on one keep-alive connection,
// an HTTP/1.0 GET and a POST of a file.
func curlCalls(ctx context.Context, addr string) error {
	dir, err := os.MkdirTemp("", "sniffer-e2e-curl-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	post := filepath.Join(dir, "post")
	if err := os.WriteFile(post, expect("POST", "/echo?n=7").reqBody, 0o600); err != nil {
		return err
	}
	runs := []struct {
		args  []string
		steps []step
	}{
		{[]string{"--http1.1", "-H", "Accept-Encoding: gzip"}, []step{{"GET", "/hello?curl=1"}, {"GET", "/gzip?curl=2"}}},
		{[]string{"--http1.0"}, []step{{"GET", "/hello?curl=3"}}},
		{[]string{"--http1.1", "--data-binary", "@" + post}, []step{{"POST", "/echo?n=7"}}},
	}
	for ri, r := range runs {
		args := append([]string{"-sS", "--max-time", "20", "-w", `%{http_code}\n`}, r.args...)
		for i, s := range r.steps {
			args = append(args, "-o", filepath.Join(dir, fmt.Sprintf("%d-%d", ri, i)), "http://"+addr+s.target)
		}
		out, err := exec.CommandContext(ctx, "curl", args...).Output()
		if err != nil {
			return fmt.Errorf("curl %v: %v", args, err)
		}
		codes := strings.Fields(string(out))
		if len(codes) != len(r.steps) {
			return fmt.Errorf("curl %v printed %q, want %d status codes", args, out, len(r.steps))
		}
		for i, s := range r.steps {
			raw, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("%d-%d", ri, i)))
			if err != nil {
				return err
			}
			var status int
			fmt.Sscan(codes[i], &status)
			if err := check(s.method, s.target, status, raw); err != nil {
				return fmt.Errorf("curl: %v", err)
			}
			printCall(addr, s.method, s.target, status)
		}
	}
	return nil
}
