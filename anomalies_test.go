package main

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
)

// TestAnomaliesEndToEnd reads a pcap of evasions and smuggling signs with the sniffer:
// every call comes out, read as browsers read it, with its anomalies in the NDJSON, the
// summary counts them, and a rule on the anomalies detail picks the calls.
func TestAnomaliesEndToEnd(t *testing.T) {
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write([]byte(`{"decoded":true}`))
	zw.Close()
	gz := z.Bytes()
	gz[len(gz)-8] ^= 0xff // a wrong CRC
	get := "GET /x HTTP/1.1\r\nHost: api.test\r\n\r\n"
	conv := func(i int, req, resp string) testConv {
		return testConv{netip.AddrPortFrom(netip.MustParseAddr("10.0.0.2"), uint16(40000+i)), netip.MustParseAddrPort("10.0.0.1:80"), req, resp}
	}
	pcap := writeConvs(t, []testConv{
		conv(0, "POST /smuggle HTTP/1.1\r\nHost: api.test\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
			"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
		conv(1, get, "HTTP/1.10 200 ok\r\nTransfer-Encoding : chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n"),
		conv(2, get, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: "+strconv.Itoa(len(gz))+"\r\n\r\n"+string(gz)),
		conv(3, get, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nplain"),
	})
	code, out, errs := runSniffer(t, nil, "-r", pcap)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	type call struct {
		Request   struct{ Body string }
		Response  struct{ Body string }
		Anomalies []string
	}
	var calls []call
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var c call
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		calls = append(calls, c)
	}
	if len(calls) != 4 {
		t.Fatalf("%d calls, want 4:\n%s", len(calls), out)
	}
	want := [][]string{
		{"request:te-and-cl"},
		{"response:odd-version", "response:space-before-colon", "response:chunk-size-space"},
		{"response:bad-gzip-trailer"},
		nil,
	}
	bodies := []string{"ok", "hello", `{"decoded":true}`, "plain"}
	for i, c := range calls {
		if strings.Join(c.Anomalies, ",") != strings.Join(want[i], ",") || c.Response.Body != bodies[i] {
			t.Errorf("call %d: anomalies %q body %q, want %q %q", i, c.Anomalies, c.Response.Body, want[i], bodies[i])
		}
	}
	if calls[0].Request.Body != "hello" {
		t.Errorf("smuggled request body %q: Transfer-Encoding wins over Content-Length", calls[0].Request.Body)
	}
	for _, line := range []string{"calls with anomaly request:te-and-cl: 1", "calls with anomaly response:bad-gzip-trailer: 1", "calls with anomaly response:odd-version: 1"} {
		if !strings.Contains(errs, line) {
			t.Errorf("summary lacks %q:\n%s", line, errs)
		}
	}

	code, out, errs = runSniffer(t, map[string]string{"USAGE_LOGGERS_RULES": "/custom_field:anomalies/ stop_unless /.*te-and-cl.*/"}, "-q", "-r", pcap)
	if code != 0 || strings.Count(out, "\n") != 1 || !strings.Contains(out, "/smuggle") {
		t.Errorf("rule on the anomalies: exit %d, calls:\n%s%s", code, out, errs)
	}
}
