package capture

import (
	"testing"
	"time"

	"github.com/gopacket/gopacket"
)

// A reader that reads packets as they arrive has no backlog; one that reads packets a second
// old, arriving at 8 MiB/s, has 8 MiB waiting: half of a 16 MiB buffer.
func TestBacklog(t *testing.T) {
	for _, c := range []struct {
		lag  time.Duration
		want float64
	}{{0, 0}, {time.Second, 0.5}} {
		b := NewBacklog(16 << 20)
		start := time.Now().Add(-c.lag - time.Second)
		const n, size = 8192, 1024 // 8 MiB over one second of capture time
		var share float64
		var got bool
		for i := range n {
			ts := start.Add(time.Duration(i) * time.Second / n)
			if s, ok := b.Packet(gopacket.CaptureInfo{Timestamp: ts, Length: size}); ok {
				share, got = s, true
			}
		}
		// The last packet is c.lag old (plus the test's own time).
		if !got || share < c.want-0.05 || share > c.want+0.1 {
			t.Errorf("lag %v: share %.3f (reported %v), want about %.2f", c.lag, share, got, c.want)
		}
	}
}
