package damage

import "math/rand/v2"

// Drop removes each packet with probability fraction, as a kernel or a mirror port that cannot
// keep up would, and records the removed packets' Orig indices in c.Dropped.
func Drop(c *Capture, fraction float64, rng *rand.Rand) {
	kept := c.Packets[:0]
	for _, p := range c.Packets {
		if rng.Float64() < fraction {
			c.Dropped = append(c.Dropped, p.Orig)
			continue
		}
		kept = append(kept, p)
	}
	c.Packets = kept
}
