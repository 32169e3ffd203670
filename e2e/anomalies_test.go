//go:build linux

package e2e

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLiveEvasions: a server on loopback answers with responses browsers accept but
// strict parsers misread (HTTP Evader's kinds), a client sends a request smuggling sign,
// and sniffer captures it all live with libpcap: every call comes out, read as browsers
// read it, with its anomalies.
func TestLiveEvasions(t *testing.T) {
	needRoot(t)
	bin := sniffer(t, true)
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write([]byte("decoded despite the CRC"))
	zw.Close()
	gz := z.Bytes()
	gz[len(gz)-8] ^= 0xff
	const chunks = "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
	cases := []struct {
		resp, body string
		odd        []string
	}{
		{"HTTP/1.1 200 ok\r\nTransfer-Encoding : chunked\r\nConnection: close\r\n\r\n" + chunks, "hello world", []string{"response:space-before-colon"}},
		{"HTTP/1.10 200 ok\r\nConnection: close\r\nTransfer-Encoding:\r\n chunked\r\n\r\n" + chunks, "hello world", []string{"response:odd-version", "response:obs-fold"}},
		{"HTTP/1.1 200 ok\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5x\r\nhello\r\n0x6\r\n world\r\n0\r\n\r\n", "hello world", []string{"response:chunk-size-junk", "response:chunk-size-0x"}},
		{"HTTP/1.1 200 ok\r\nTransfer-Encoding: chunked\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhello world", "hello world", []string{"response:te-and-cl", "response:not-chunked"}},
		{"HTTP/1.1 200 ok\r\nContent-Encoding: gzip\r\nContent-Length: " + strconv.Itoa(len(gz)) + "\r\n\r\n" + string(gz), "decoded despite the CRC", []string{"response:bad-gzip-trailer"}},
		{"HTTP/1.1 200 ok\nContent-Length: 5\nConnection: close\n\nhello", "hello", []string{"response:bare-lf"}},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				r := bufio.NewReader(c)
				line, _ := r.ReadString('\n') // GET /N HTTP/1.1
				for {
					if l, err := r.ReadString('\n'); err != nil || l == "\r\n" {
						break
					}
				}
				resp := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
				if f := strings.Fields(line); len(f) > 1 {
					if i, err := strconv.Atoi(strings.TrimPrefix(f[1], "/")); err == nil && i >= 0 && i < len(cases) {
						resp = cases[i].resp
					}
				}
				io.WriteString(c, resp)
				// FIN after the response, then read what the client still sends (a body),
				// so that the close is not a reset.
				c.(*net.TCPConn).CloseWrite()
				io.Copy(io.Discard, r)
			}()
		}
	}()
	sn := start(t, "sniffer", snifferCmd(exec.Command(bin, "-i", "lo", "-ports", strconv.Itoa(port), "-rules", "include debug")))
	waitCapturing(t, sn)
	send := func(req string) {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, req)
		io.Copy(io.Discard, c)
	}
	for i := range cases {
		send(fmt.Sprintf("GET /%d HTTP/1.1\r\nHost: evader.test\r\n\r\n", i))
	}
	send("POST /smuggle HTTP/1.1\r\nHost: evader.test\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
	time.Sleep(time.Second)
	if !sn.stop(t, syscall.SIGINT, 20*time.Second) {
		t.FailNow()
	}
	type call struct {
		Request struct {
			Target string `json:"target"`
		} `json:"request"`
		Response struct {
			Body string `json:"body"`
		} `json:"response"`
		Anomalies []string `json:"anomalies"`
	}
	got := map[string]call{}
	for _, line := range bytes.Split(bytes.TrimSpace(sn.stdout.Bytes()), []byte("\n")) {
		var c call
		if err := json.Unmarshal(line, &c); err == nil {
			got[c.Request.Target] = c
		}
	}
	if strings.Contains(sn.stderr.String(), "dropped by the kernel") && !strings.Contains(sn.stderr.String(), "0 dropped by the kernel") {
		t.Logf("kernel drops: %s", tail(sn.stderr.Bytes(), 500))
	}
	for i, tc := range cases {
		c, ok := got["/"+strconv.Itoa(i)]
		if !ok {
			t.Errorf("case %d: no call; sniffer said:\n%s", i, tail(sn.stderr.Bytes(), 2000))
			continue
		}
		if c.Response.Body != tc.body || strings.Join(c.Anomalies, ",") != strings.Join(tc.odd, ",") {
			t.Errorf("case %d: body %q anomalies %q, want %q %q", i, c.Response.Body, c.Anomalies, tc.body, tc.odd)
		}
	}
	if c, ok := got["/smuggle"]; !ok || strings.Join(c.Anomalies, ",") != "request:te-and-cl" || c.Response.Body != "ok" {
		t.Errorf("smuggling sign: %+v (found %v)", c, ok)
	}
	if !strings.Contains(sn.stderr.String(), "calls with anomaly request:te-and-cl: 1") {
		t.Errorf("summary:\n%s", tail(sn.stderr.Bytes(), 2000))
	}
}
