package damage

import (
	"math/rand/v2"
	"time"
)

// Shuffle permutes the packets within consecutive windows of window packets, as a multi-queue
// NIC or a mirror session merging several ports delivers them. Timestamps stay with the
// positions, not the packets, so the capture's clock still only moves forward.
func Shuffle(c *Capture, window int, rng *rand.Rand) {
	if window < 2 {
		return
	}
	ts := make([]time.Time, window)
	for start := 0; start < len(c.Packets); start += window {
		w := c.Packets[start:min(start+window, len(c.Packets))]
		for i := range w {
			ts[i] = w[i].CI.Timestamp
		}
		rng.Shuffle(len(w), func(i, j int) { w[i], w[j] = w[j], w[i] })
		for i := range w {
			w[i].CI.Timestamp = ts[i]
		}
	}
}
