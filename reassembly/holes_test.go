package reassembly

import (
	"fmt"
	"testing"
)

// TestHolesProvenLost: a capture filter dropped every small GET and every bare ACK of a
// keep-alive connection (sniffer -bpf 'greater 200 and tcp'), so the request side has a
// hole before each POST, which the POST's answer acknowledges past. Each hole is skipped
// once the reorder window has passed since the POST came, so the request side stays
// within a window of the responses, which wait for it in a buffer that holds a few
// windows: every POST comes out paired with its own answer. Before, a hole found behind
// the one just skipped waited a window again from the next POST to come, and with the
// handshake cut too nothing proved the holes lost at all (the request side had never
// shown bytes in order): the answers outgrew the buffer, were parsed without their
// requests, and the POSTs went out as "pairing unproven".
func TestHolesProvenLost(t *testing.T) {
	for _, handshake := range []bool{true, false} {
		t.Run(fmt.Sprintf("handshake seen %v", handshake), func(t *testing.T) {
			const rounds = 80
			c := cutConv(rounds, handshake)
			cfg := DefaultConfig()
			cfg.KeepIncomplete = true
			cfg.MaxConnBuffered = 10 * pageBytes          // about 7 rounds of answers
			cfg.ReorderPackets, cfg.ReorderWindow = 20, 0 // 4 rounds
			r := c.runWith(t, cfg, linkEthernet)
			_, right := cutPaired(t, r)
			t.Logf("%d calls, %d paired right, %d stalls, %d responses without request; incomplete: %d unproven, %d no response",
				len(r.calls), right, r.stats.Stalls.Load(), r.stats.Orphans.Load(), r.stats.IncompleteFor(Unproven), r.stats.IncompleteFor(NoResponse))
			if right < rounds {
				t.Errorf("%d of %d POSTs paired right", right, rounds)
			}
		})
	}
}
