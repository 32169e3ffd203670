package stress

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// writeFlood writes syns half-open connections (two in three a bare SYN, one in three
// SYN and SYN-ACK with no final ACK, as a SYN flood and a port scan leave them), one
// normal call after every `every` of them, at the rate of a real flood: 20,000 SYNs a
// capture second, so that none reaches the idle timeout and all are tracked at once.
func writeFlood(t *testing.T, path string, syns, every int) *normal {
	w := newCapture(t, path, 262144)
	n := newNormal()
	for i := 0; i < syns; i++ {
		f := w.newFlow(clientAddr(i), server, 1448)
		f.segment(true, true, false, false, false, nil)
		if i%3 == 2 {
			f.segment(false, true, true, false, false, nil)
		}
		w.sleep(50 * time.Microsecond)
		if (i+1)%every == 0 {
			n.write(w, 1_000_000+i, fmt.Sprint(i))
		}
		if f.err != nil {
			t.Fatal(f.err)
		}
	}
	if err := w.close(); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSYNFlood: 100,000 half-open connections (20,000 without STRESS=1) mixed with normal
// calls, under the default -max-streams of 100,000. Every connection is counted as a
// stream or as refused; every normal call is complete, but for one written after the
// 100,000th SYN, when the table is full: it is refused and counted (half-open
// connections are not evicted early, see TestSYNFloodOverCap).
func TestSYNFlood(t *testing.T) {
	syns := size(20000, 100000)
	pcap := filepath.Join(t.TempDir(), "flood.pcap")
	n := writeFlood(t, pcap, syns, 100)
	r := runSniffer(t, pcap, 2*time.Minute)
	r.check(t, 0, int64(size(100, 250))*MiB)
	checkFlood(t, r, n, syns, 100000)
	if r.counts["incomplete"] != 0 {
		t.Errorf("%d incomplete calls from connections that never sent a byte", r.counts["incomplete"])
	}
}

// TestSYNFloodOverCap: four times more half-open connections than -max-streams. Those
// over the cap are refused and counted once each, and never reach gopacket (which would
// keep a connection of its own for each until the idle timeout), so memory stays near
// what the cap allows instead of growing with the flood. Normal calls that come before
// the table fills are complete; those after it are refused with the flood (the cap
// makes no room for them: half-open connections are not evicted early) and counted.
func TestSYNFloodOverCap(t *testing.T) {
	syns := size(40000, 400000)
	limit := syns / 4
	pcap := filepath.Join(t.TempDir(), "flood.pcap")
	n := writeFlood(t, pcap, syns, 100)
	r := runSniffer(t, pcap, 2*time.Minute, "-max-streams", fmt.Sprint(limit))
	// Bound: that of a flood of the cap's size under the default cap.
	r.check(t, 0, int64(size(100, 250))*MiB)
	checkFlood(t, r, n, syns, limit)
}

// checkFlood checks the output of a flood written by writeFlood against the stream cap:
// the normal call after SYN i opens connection i+1 (the earlier normal calls are closed)
// and is refused once i+1 reaches the cap; every other normal call must be complete.
func checkFlood(t *testing.T, r *result, n *normal, syns, limit int) {
	t.Helper()
	got := r.calls(t, func(c *jsonCall) {
		if !n.see(t, c) {
			t.Errorf("a call that is not a normal one: %s %s", c.Request.Method, c.Request.Target)
		}
	})
	before := 0
	for id, seen := range n.want {
		var i int
		fmt.Sscan(id, &i)
		if i+1 < limit {
			before++
		}
		if seen != (i+1 < limit) {
			t.Errorf("normal call %d: came out %v, written when %d connections were open (cap %d)", i, seen, i+1, limit)
		}
	}
	t.Logf("normal calls complete: %d of %d (%d written while the table had room)", got, len(n.want), before)
	if r.counts["calls"] != int64(before) || got != before {
		t.Errorf("summary says %d calls, output has %d, want %d", r.counts["calls"], got, before)
	}
	refused := r.counts["streams refused (max-streams)"]
	over := max(0, syns-limit) + len(n.want) - before
	if refused != int64(over) {
		t.Errorf("%d streams refused, want %d (the SYNs and normal calls over the cap)", refused, over)
	}
	if want := int64(syns + len(n.want)); r.counts["streams"]+refused != want {
		t.Errorf("streams %d + refused %d, want the %d connections written", r.counts["streams"], refused, want)
	}
}
