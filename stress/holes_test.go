package stress

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// TestHoles: connections whose data never fills: the first segment of each direction is
// lost and then one in ten, so that every byte after it waits in the out-of-order
// buffer, many times more than -max-buffered (8 MiB here) over all connections, all within
// the gap timeout so that only the byte caps can free it. Memory must stay near the cap,
// the holes be counted as gaps, nothing of the holey connections come out as complete,
// and every normal call between them be complete.
func TestHoles(t *testing.T) {
	conns := size(300, 3000)
	const segs = 100 // 1448 bytes each: about 140 KiB out of order a connection
	const maxBuffered = 8 * MiB
	pcap := filepath.Join(t.TempDir(), "holes.pcap")
	w := newCapture(t, pcap, 262144)
	normals := newNormal()
	var outOfOrder int64
	body := patternPrefix(segs * 1448)
	for c := 0; c < conns; c++ {
		f := w.newFlow(clientAddr(c), server, 1448)
		f.handshake()
		data := append(request("POST", fmt.Sprintf("/holes/%d", c), nil, fmt.Sprintf("Content-Length: %d", len(body))), body...)
		for i := 0; len(data) > 0; i++ {
			n := min(len(data), 1448)
			if i%10 == 0 {
				f.cseq += uint32(n) // lost on the way to the capture point
			} else {
				f.segment(true, false, true, false, false, data[:n])
				outOfOrder += int64(n)
			}
			data = data[n:]
		}
		// No FIN: a connection that is still open when the capture ends.
		if c%10 == 0 {
			normals.write(w, 100000+c, fmt.Sprint(c))
		}
		w.sleep(time.Millisecond)
		if f.err != nil {
			t.Fatal(f.err)
		}
	}
	if err := w.close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d MiB out of order in %d connections", outOfOrder>>20, conns)
	r := runSniffer(t, pcap, 2*time.Minute, "-max-buffered", fmt.Sprint(maxBuffered))
	// Bound: the buffer cap (pages of 1900 bytes hold 1448-byte segments: x1.3), twice
	// over for the page pool and the collector's headroom, plus the base. Without the
	// cap the full size would hold all 372 MiB.
	r.check(t, 0, 4*maxBuffered+64*MiB)
	r.calls(t, func(c *jsonCall) {
		if !normals.see(t, c) {
			t.Errorf("a call with holes came out as complete: %s (%q)", c.Request.Target, c.Incomplete)
		}
	})
	normals.missing(t)
	if r.counts["stream gaps (lost segments)"] == 0 {
		t.Errorf("no gap counted: %v", r.summary)
	}
	t.Logf("gaps %d, incomplete %d, skipped %d", r.counts["stream gaps (lost segments)"], r.counts["incomplete"], r.counts["bytes skipped resynchronising"])
}
