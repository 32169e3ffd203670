package observe

import (
	"testing"
	"time"
)

// TestProgressLine drives the status line with a clock of its own: the share read, the rate
// over the last five seconds (following a reader that slows down) and the time left.
func TestProgressLine(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	const mib = 1 << 20
	var p progress
	steps := []struct {
		at         time.Duration
		read, size int64
		want       string
	}{
		// One sample: no rate yet.
		{0, 10 * mib, 1000 * mib, "sniffer: 1% of 1000 MiB, 1 packets, 2 calls"},
		// 10 MiB/s, 980 MiB left: 1m38s.
		{time.Second, 20 * mib, 1000 * mib, "sniffer: 2% of 1000 MiB, 10.0 MiB/s, 1m38s left, 1 packets, 2 calls"},
		{2 * time.Second, 30 * mib, 1000 * mib, "sniffer: 3% of 1000 MiB, 10.0 MiB/s, 1m37s left, 1 packets, 2 calls"},
		// The reader stalls: the rate falls within the window and there is no time left.
		{3 * time.Second, 30 * mib, 1000 * mib, "sniffer: 3% of 1000 MiB, 6.67 MiB/s, 2m26s left, 1 packets, 2 calls"},
		{7 * time.Second, 30 * mib, 1000 * mib, "sniffer: 3% of 1000 MiB, 0 B/s, 1 packets, 2 calls"},
		// 1 MiB in the last second, over the last 5 s (from 3 s on): 205 KiB/s.
		{8 * time.Second, 31 * mib, 1000 * mib, "sniffer: 3% of 1000 MiB, 205 KiB/s, 1h20m left, 1 packets, 2 calls"},
		// The end: 100%, nothing left to wait for; 970 MiB over 6 s.
		{9 * time.Second, 1000 * mib, 1000 * mib, "sniffer: 100% of 1000 MiB, 162 MiB/s, 1 packets, 2 calls"},
	}
	for _, s := range steps {
		if got := p.line(t0.Add(s.at), s.read, s.size, 1, 2); got != s.want {
			t.Errorf("at %v, %d of %d: %q\n want %q", s.at, s.read, s.size, got, s.want)
		}
	}
	// A pipe: no size, so no share and no time left; the bytes of the packets read instead.
	var q progress
	q.line(t0, 0, 0, 0, 0)
	if got, want := q.line(t0.Add(2*time.Second), 3*mib, 0, 2000, 7), "sniffer: 3.00 MiB read, 1.50 MiB/s, 2000 packets, 7 calls"; got != want {
		t.Errorf("pipe: %q, want %q", got, want)
	}
}

func TestProgressUnits(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.00 KiB", 1536: "1.50 KiB", 35<<20 + 400<<10: "35.4 MiB",
		300 << 30: "300 GiB", 3 << 40: "3.00 TiB"} {
		if got := bytesText(n); got != want {
			t.Errorf("bytesText(%d) = %q, want %q", n, got, want)
		}
	}
	for d, want := range map[time.Duration]string{0: "0s", 42 * time.Second: "42s", 245 * time.Second: "4m05s",
		3720 * time.Second: "1h02m", 59*time.Second + 600*time.Millisecond: "1m00s"} {
		if got := durationText(d); got != want {
			t.Errorf("durationText(%v) = %q, want %q", d, got, want)
		}
	}
}
