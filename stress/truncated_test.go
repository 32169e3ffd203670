package stress

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSnaplen96: a capture written with snap length 96, as tcpdump -s 96 records, so
// every frame longer than 96 bytes keeps only its first 42 bytes of TCP payload. Calls
// whose segments all fit (a client and server sending 40-byte segments) must come out
// complete; calls with full-size segments lose bytes in every segment and must be
// counted incomplete (never glued), and every cut frame must be counted.
func TestSnaplen96(t *testing.T) {
	calls := size(1000, 10000)
	pcap := filepath.Join(t.TempDir(), "snap96.pcap")
	w := newCapture(t, pcap, 96)
	small := map[string]bool{}
	for i := 0; i < calls; i++ {
		id := fmt.Sprint(i)
		mss := 40 // 14 + 20 + 20 + 40 = 94 bytes: fits
		if i%2 == 1 {
			mss = 1448
		}
		f := w.newFlow(clientAddr(i), server, mss)
		f.handshake()
		body := []byte(`{"id":"` + id + `","pad":"` + strings.Repeat("p", 200) + `"}`)
		f.send(true, request("POST", "/snap/"+id, body))
		f.send(false, response(200, []byte(`{"id":"`+id+`"}`), "X-Id: "+id))
		f.close()
		if mss == 40 {
			small[id] = false
		}
	}
	if err := w.close(); err != nil {
		t.Fatal(err)
	}
	r := runSniffer(t, pcap, 2*time.Minute)
	r.check(t, 0, 64*MiB)
	r.calls(t, func(c *jsonCall) {
		id, _ := strings.CutPrefix(c.Request.Target, "/snap/")
		done, ok := small[id]
		switch {
		case !ok:
			t.Errorf("call %s with cut segments came out as complete", c.Request.Target)
		case done:
			t.Errorf("call %s came out twice", c.Request.Target)
		case c.Incomplete != "" || c.header("X-Id") != id || !strings.Contains(c.Request.Body, `"id":"`+id+`"`):
			t.Errorf("call %s: incomplete %q, X-Id %q, body %q", c.Request.Target, c.Incomplete, c.header("X-Id"), c.Request.Body)
		}
		small[id] = true
	})
	lost := 0
	for _, done := range small {
		if !done {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d calls made of 40-byte segments lost", lost, len(small))
	}
	if got := r.counts["packets truncated by snaplen"]; got != w.cut {
		t.Errorf("summary counts %d packets truncated by snaplen, the file has %d", got, w.cut)
	}
	// A call with cut segments leaves a request head and a response head cut short:
	// the request counted incomplete, the response without request.
	if cut := int64(calls - len(small)); r.counts["incomplete"] != cut || r.counts["responses without request"] != cut {
		t.Errorf("%d incomplete calls and %d responses without request counted, want the %d calls with cut segments each",
			r.counts["incomplete"], r.counts["responses without request"], cut)
	}
	t.Logf("complete %d of %d small-segment calls; %d cut frames", len(small)-lost, len(small), w.cut)
}

// TestCutCapture: a capture file cut in the middle of a packet (a full disk, a copy of a
// file still being written). The calls wholly before the cut must come out complete, the
// binary must warn once, clearly, and exit 0.
func TestCutCapture(t *testing.T) {
	calls := size(2000, 20000)
	dir := t.TempDir()
	pcap := filepath.Join(dir, "whole.pcap")
	w := newCapture(t, pcap, 262144)
	ends := make([]int64, calls) // file offset after each call's last response byte
	for i := 0; i < calls; i++ {
		f := w.newFlow(clientAddr(i), server, 1448)
		f.handshake()
		f.send(true, request("GET", fmt.Sprintf("/cut/%d", i), nil))
		f.send(false, response(200, []byte(strings.Repeat("r", 3000))))
		ends[i] = w.off
		f.close()
	}
	if err := w.close(); err != nil {
		t.Fatal(err)
	}
	whole, err := os.ReadFile(pcap)
	if err != nil {
		t.Fatal(err)
	}
	// Cut inside the response data packet of a call two thirds of the way in.
	k := calls * 2 / 3
	cutAt := ends[k] - 1000
	cut := filepath.Join(dir, "cut.pcap")
	if err := os.WriteFile(cut, whole[:cutAt], 0o644); err != nil {
		t.Fatal(err)
	}
	r := runSniffer(t, cut, 2*time.Minute)
	r.check(t, 0, 64*MiB)
	const warning = "sniffer: warning: capture file is truncated (cut in the middle of a packet); the packets before the cut were read"
	if strings.Count(r.stderr, warning) != 1 {
		t.Errorf("want the warning %q once; stderr:\n%s", warning, tail(r.stderr))
	}
	for _, line := range strings.Split(r.stderr, "\n") {
		if strings.Contains(line, "truncated") {
			t.Logf("message: %s", line)
		}
	}
	seen := make([]bool, calls)
	r.calls(t, func(c *jsonCall) {
		var i int
		if _, err := fmt.Sscanf(c.Request.Target, "/cut/%d", &i); err != nil || i >= k {
			t.Errorf("call %s came out although its response was cut", c.Request.Target)
			return
		}
		if c.Incomplete != "" || len(c.Response.Body) != 3000 {
			t.Errorf("call %d: incomplete %q, body %d bytes", i, c.Incomplete, len(c.Response.Body))
		}
		seen[i] = true
	})
	for i := 0; i < k; i++ {
		if !seen[i] {
			t.Errorf("call %d, wholly before the cut, did not come out", i)
		}
	}
	if r.counts["incomplete, capture ended"] != 1 {
		t.Errorf("want the call cut in its response counted incomplete (capture ended); summary: %v", r.summary)
	}
}

// TestCorruptCapture: a file that is not a capture, and a capture whose packet header
// claims a huge length: one clear error line, exit 1, no panic.
func TestCorruptCapture(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.pcap")
	os.WriteFile(junk, []byte("this is not a capture file\n"), 0o644)
	r := runSniffer(t, junk, time.Minute)
	if r.exit != 1 || !strings.Contains(r.stderr, "capture file "+junk) {
		t.Errorf("not a capture: exit %d, stderr:\n%s", r.exit, r.stderr)
	}
	// A valid file header, then a packet header with a captured length of 2 GiB.
	hdr := []byte{0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 1, 0, 0, 0,
		1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0, 0, 0, 0x80}
	huge := filepath.Join(dir, "huge.pcap")
	os.WriteFile(huge, append(hdr, make([]byte, 100)...), 0o644)
	r = runSniffer(t, huge, time.Minute)
	t.Logf("huge packet length: exit %d, stderr: %s", r.exit, strings.TrimSpace(r.stderr))
	if r.exit == 0 || strings.Count(strings.TrimSpace(r.stderr), "\n") > 3 {
		t.Errorf("huge packet length: exit %d, stderr:\n%s", r.exit, r.stderr)
	}
	if r.maxRSS > 64*MiB {
		t.Errorf("a packet header claiming 2 GiB made the sniffer take %d MiB", r.maxRSS>>20)
	}
}
