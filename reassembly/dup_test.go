package reassembly

import (
	"testing"
	"time"
)

// A packet captured on two interfaces (a bridge and its veth, "any" beside a device)
// arrives twice. Copies that come while the connection is open are retransmissions to
// reassembly; copies that come after it ended (the second device lagging a whole
// exchange behind) must not open a new connection and emit the calls again. A new
// connection on the same addresses and ports, with a new SYN, still counts.
func TestCopiesOfAnEndedConnection(t *testing.T) {
	c := defaultConv().handshake()
	c.req(get("/a"))
	c.resp(ok(`{"a":1}`))
	c.close()
	once := c.packets(linkEthernet)
	twice := append(append([]packet{}, once...), once...)
	for i := len(once); i < len(twice); i++ {
		twice[i].ci.Timestamp = twice[i].ci.Timestamp.Add(50 * time.Millisecond)
	}
	cfg := DefaultConfig()
	r := feed(cfg, linkEthernet.linkType(), twice, true)
	if len(r.calls) != 1 || r.stats.Streams.Load() != 1 {
		t.Errorf("copies of an ended connection: %d calls over %d streams, want 1 and 1", len(r.calls), r.stats.Streams.Load())
	}

	// The same addresses and ports again, with a new initial sequence number.
	again := newConv("10.1.0.1:40001", "10.2.0.2:80", 77000, 990000).handshake()
	again.req(get("/b"))
	again.resp(ok(`{"b":1}`))
	again.close()
	next := again.packets(linkEthernet)
	for i := range next {
		next[i].ci.Timestamp = next[i].ci.Timestamp.Add(time.Second)
	}
	r = feed(cfg, linkEthernet.linkType(), append(once, next...), true)
	if len(r.calls) != 2 || r.calls[1].Request.Target != "/b" {
		t.Errorf("a new connection on the same 4-tuple: %d calls, want /a then /b", len(r.calls))
	}
}
