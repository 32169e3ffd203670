package stress

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPipelineFlood: clients that pipeline far more requests than -max-pending (256)
// without a response in between. On the silent connections no response ever comes; on
// the late ones the server answers every request, in order, after the last one. The
// requests over the cap must be counted (too many pending requests), the late responses
// to them discarded rather than paired with later requests, and the last 256 requests of
// each late connection paired with their own responses.
func TestPipelineFlood(t *testing.T) {
	perConn := size(5000, 50000)
	const conns = 4 // two silent, two answered late
	const maxPending = 256
	pcap := filepath.Join(t.TempDir(), "pipeline.pcap")
	w := newCapture(t, pcap, 262144)
	normals := newNormal()
	for c := 0; c < conns; c++ {
		f := w.newFlow(clientAddr(c), server, 1448)
		f.handshake()
		var batch []byte
		for i := 0; i < perConn; i++ {
			batch = append(batch, request("GET", fmt.Sprintf("/pipe/%d/%d", c, i), nil)...)
			if len(batch) > 32<<10 {
				f.send(true, batch)
				batch = batch[:0]
			}
			if i%1000 == 0 {
				normals.write(w, 1000+c*100+i/1000, fmt.Sprintf("%d-%d", c, i))
			}
		}
		f.send(true, batch)
		if c%2 == 1 {
			batch = batch[:0]
			for i := 0; i < perConn; i++ {
				batch = append(batch, response(200, []byte(fmt.Sprintf(`{"pipe":"%d/%d"}`, c, i)))...)
				if len(batch) > 32<<10 {
					f.send(false, batch)
					batch = batch[:0]
				}
			}
			f.send(false, batch)
		}
		f.close()
		if f.err != nil {
			t.Fatal(f.err)
		}
	}
	if err := w.close(); err != nil {
		t.Fatal(err)
	}
	r := runSniffer(t, pcap, 2*time.Minute, "-max-pending", fmt.Sprint(maxPending))
	r.check(t, 0, 64*MiB)
	answered := 0
	r.calls(t, func(c *jsonCall) {
		if normals.see(t, c) {
			return
		}
		var conn, i int
		if _, err := fmt.Sscanf(c.Request.Target, "/pipe/%d/%d", &conn, &i); err != nil {
			t.Errorf("unexpected call %s", c.Request.Target)
			return
		}
		answered++
		switch {
		case conn%2 == 0:
			t.Errorf("a call on a connection without responses came out: %s", c.Request.Target)
		case i < perConn-maxPending:
			t.Errorf("call %s over the pending cap came out", c.Request.Target)
		case c.Incomplete != "" || c.Response == nil || !strings.Contains(c.Response.Body, fmt.Sprintf(`"%d/%d"`, conn, i)):
			t.Errorf("call %s: incomplete %q, paired with %v", c.Request.Target, c.Incomplete, c.Response)
		}
	})
	if want := conns / 2 * maxPending; answered != want {
		t.Errorf("%d pipelined calls complete, want the last %d of each answered connection (%d)", answered, maxPending, want)
	}
	normals.missing(t)
	over := int64(conns * (perConn - maxPending))
	if got := r.counts["incomplete, too many pending requests"]; got != over {
		t.Errorf("%d calls counted over the pending cap, want %d", got, over)
	}
	if got := r.counts["incomplete, no response"]; got != int64(conns/2*maxPending) {
		t.Errorf("%d calls counted without response, want %d (the last %d of each silent connection)", got, conns/2*maxPending, maxPending)
	}
}
