package reassembly

import (
	"fmt"
	"strings"
	"testing"
)

// TestLateRequestSide: a capture filter dropped every small GET and every bare ACK of a
// keep-alive connection (sniffer -bpf 'greater 200 and tcp'), so the request side has a
// hole before each POST that is skipped only a reorder window later, while the answers
// to the GETs go on coming. The responses waiting for the request side outgrow the
// per-connection buffer and are parsed before their requests. A POST parsed after its
// answer went by must not be paired with a later response: no call may carry another
// request's response.
func TestLateRequestSide(t *testing.T) {
	c := cutConv(60, true)
	cfg := DefaultConfig()
	cfg.KeepIncomplete = true
	cfg.MaxConnBuffered = 8 * pageBytes
	cfg.ReorderPackets, cfg.ReorderWindow = 40, 0
	r := c.runWith(t, cfg, linkEthernet)
	right, _ := cutPaired(t, r)
	t.Logf("%d calls, %d paired right, %d stalls, %d responses without request; incomplete: %d unproven, %d no response",
		len(r.calls), right, r.stats.Stalls.Load(), r.stats.Orphans.Load(), r.stats.IncompleteFor(Unproven), r.stats.IncompleteFor(NoResponse))
	if right == 0 {
		t.Error("no POST paired with its response")
	}
}

// cutConv is a keep-alive connection of rounds rounds (a GET answered with 2.5 KB, then
// a POST /pN answered {"p":N}, in segments of 1000 bytes) as a capture filter that cuts
// frames under 200 bytes leaves it: the GETs and the bare ACKs dropped, and the handshake
// too unless handshake is set.
func cutConv(rounds int, handshake bool) *conv {
	c := defaultConv().handshake()
	c.mss = 1000
	var drop []int
	if !handshake {
		drop = append(drop, 0, 1, 2)
	}
	for i := range rounds {
		drop = append(drop, c.req(get(fmt.Sprintf("/g%d", i)))...)
		c.resp(ok(fmt.Sprintf(`{"g":%d,"pad":"%s"}`, i, strings.Repeat("x", 2500))))
		drop = append(drop, c.add(segment{fromClient: true, ack: true}))
		c.req(post(fmt.Sprintf("/p%d", i), strings.Repeat("b", 200)))
		c.resp(ok(fmt.Sprintf(`{"p":%d}`, i)))
		drop = append(drop, c.add(segment{fromClient: true, ack: true}))
	}
	c.drop(drop...)
	return c
}

// cutPaired checks the calls of a cutConv: only POSTs have a response, each its own. It
// returns how many were paired right, and how many of those are complete.
func cutPaired(t *testing.T, r *result) (right, complete int) {
	t.Helper()
	for _, call := range r.calls {
		if call.Response == nil {
			continue
		}
		var i int
		if _, err := fmt.Sscanf(call.Request.Target, "/p%d", &i); err != nil {
			t.Errorf("a call for %s", call.Request.Target)
			continue
		}
		if want := fmt.Sprintf(`{"p":%d}`, i); string(call.Response.Body) != want {
			t.Errorf("POST /p%d paired with %.30s (%q)", i, call.Response.Body, call.Incomplete)
			continue
		}
		right++
		if call.Incomplete == "" {
			complete++
		}
	}
	return right, complete
}
