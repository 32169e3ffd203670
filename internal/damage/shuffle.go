package damage

import (
	"math/rand/v2"
	"time"
)

// Shuffle permutes the packets within consecutive windows of window packets, as a multi-queue
// NIC or a mirror session merging several ports delivers them. Timestamps stay with the
// positions, not the packets, so the capture's clock still only moves forward. With maxGap
// > 0 a window also ends where the capture is quiet for longer than maxGap: real reordering
// delays a packet by microseconds to milliseconds, not across a pause of seconds (which
// would make it look lost to a reassembler's gap timeout).
func Shuffle(c *Capture, window int, maxGap time.Duration, rng *rand.Rand) {
	if window < 2 {
		return
	}
	ts := make([]time.Time, window)
	for start, end := 0, 0; start < len(c.Packets); start = end {
		end = start + 1
		for end < len(c.Packets) && end-start < window && (maxGap <= 0 || c.Packets[end].CI.Timestamp.Sub(c.Packets[end-1].CI.Timestamp) <= maxGap) {
			end++
		}
		w := c.Packets[start:end]
		for i := range w {
			ts[i] = w[i].CI.Timestamp
		}
		rng.Shuffle(len(w), func(i, j int) { w[i], w[j] = w[j], w[i] })
		for i := range w {
			w[i].CI.Timestamp = ts[i]
		}
	}
}
