//go:build linux

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"sniffer/internal/damage"
	"sniffer/internal/workload"
	"sniffer/scripts/callset"
)

var smallWorkload recorded

// smallCapture records 1 s of the workload over 4 connections (about 8,000 calls), once per
// test run: many damaged copies of it are read, so it is kept short.
func smallCapture(t *testing.T) *workload.Result {
	t.Helper()
	needRoot(t, workload.Tools...)
	w := &smallWorkload
	w.once.Do(func() {
		w.res, w.err = recordWorkload(workload.Options{Out: filepath.Join(buildDir, "small.pcap"), Duration: time.Second, Conns: 4})
	})
	if w.err != nil {
		t.Fatal(w.err)
	}
	return w.res
}

// damageSeeds is how many seeds each damage runs with: SNIFFER_E2E_SEEDS, else 2.
func damageSeeds(t *testing.T) int {
	if s := os.Getenv("SNIFFER_E2E_SEEDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("SNIFFER_E2E_SEEDS=%q: want a number of seeds, 1 or more", s)
		}
		return n
	}
	return 2
}

// TestDamagedWorkload damages a real workload capture the way capture points do
// (internal/damage: reordering within windows, duplicates a few packets later with new IP ids
// and TTLs, 802.1Q and QinQ tags, lost packets) with several seeds, and checks every printed
// call one by one by the X-Request-Id its response carries: it names a request nginx served
// with the same method, target and client port, and the same status. Without loss every call
// must come out, none wrong; with 0.1-1% of packets lost none may be wrong and every call that
// no lost packet touched must come out.
func TestDamagedWorkload(t *testing.T) {
	res := smallCapture(t)
	f, err := os.Open(res.Calls)
	if err != nil {
		t.Fatal(err)
	}
	_, served, err := callset.ReadServed(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	clean, err := damage.ReadFile(res.Pcap)
	if err != nil {
		t.Fatal(err)
	}
	calls, err := callsOf(clean)
	if err != nil {
		t.Fatal(err)
	}
	bin := sniffer(t, false)
	dir := t.TempDir()
	kinds := []struct {
		name  string
		opts  damage.Options
		flags []string
		// rate, when set, is the calls per second of capture time the packets are brought to
		// (the capture's time divided, never stretched), so that a reorder window (50 ms by
		// default) spans as many calls whatever rate this machine recorded at. At such rates
		// the requests that wait behind a hole pass -max-pending and many calls are lost
		// (printed, not asserted); none may be wrong. Before 4751ebe, at 56,000-100,000
		// calls/s, 1 to 278 calls per run came out with another request's response.
		rate float64
	}{
		{"shuffle 3, dup 5%", damage.Options{ShuffleWindow: 3, DupFraction: 0.05}, nil, 0},
		{"shuffle 8, dup 10% new IP id, 802.1Q", damage.Options{ShuffleWindow: 8, DupFraction: 0.1, DupRewriteIP: true, VLANs: []uint16{100}}, nil, 0},
		// Read through the generated filter, which takes up to two tags.
		{"shuffle 5, dup 3%, QinQ", damage.Options{ShuffleWindow: 5, DupFraction: 0.03, VLANs: []uint16{200, 100}}, nil, 0},
		{"drop 0.1%", damage.Options{DropFraction: 0.001}, nil, 0},
		{"drop 1%, shuffle 4, dup 3%", damage.Options{DropFraction: 0.01, ShuffleWindow: 4, DupFraction: 0.03, DupRewriteIP: true}, nil, 0},
		// Before, at the rate of a fast recording, the requests that waited while a hole
		// held their responses passed -max-pending and the oldest were given up.
		{"drop 0.3%, shuffle 3, 20k calls/s", damage.Options{DropFraction: 0.003, ShuffleWindow: 3}, nil, 20000},
		// Far past what the window and -max-pending were sized for: thousands of requests
		// given up, pairing must still hold.
		{"drop 0.3%, shuffle 3, 100k calls/s", damage.Options{DropFraction: 0.003, ShuffleWindow: 3}, nil, 100000},
	}
	for _, k := range kinds {
		for seed := uint64(1); seed <= uint64(damageSeeds(t)); seed++ {
			t.Run(fmt.Sprintf("%s/seed %d", k.name, seed), func(t *testing.T) {
				c := *clean
				c.Packets = slices.Clone(clean.Packets)
				if k.rate > 0 && len(c.Packets) > 1 {
					t0 := c.Packets[0].CI.Timestamp
					span := c.Packets[len(c.Packets)-1].CI.Timestamp.Sub(t0).Seconds()
					speedup := max(1, k.rate*span/float64(len(served)))
					t.Logf("%d calls in %.2f s of capture: time divided by %.2f", len(served), span, speedup)
					for i := range c.Packets {
						p := &c.Packets[i].CI
						p.Timestamp = t0.Add(time.Duration(float64(p.Timestamp.Sub(t0)) / speedup))
					}
				}
				o := k.opts
				o.Seed = seed
				if err := damage.Apply(&c, o); err != nil {
					t.Fatal(err)
				}
				pcap := filepath.Join(dir, "damaged.pcap")
				if err := c.WriteFile(pcap); err != nil {
					t.Fatal(err)
				}
				tally := callset.NewTally("/large.json")
				tally.CheckIDs(served)
				if _, ok := streamCalls(t, "sniffer -r (damaged)", snifferCmd(exec.Command(bin, append(append(keepAll, k.flags...), "-keep-incomplete", "-r", pcap)...)), tally.Add); !ok {
					t.FailNow()
				}
				unprinted := tally.Unprinted()
				t.Logf("%d packets, %d dropped: served %d, printed %d (%d incomplete), %d not printed complete; ids checked %d: wrong %d, unknown %d, repeated %d",
					len(c.Packets), len(c.Dropped), len(served), tally.Calls, tally.Incomplete, len(unprinted), tally.IDChecked, tally.IDWrong, tally.IDUnknown, tally.IDRepeated)
				if tally.IDWrong+tally.IDUnknown+tally.IDRepeated > 0 {
					t.Errorf("calls printed with a response that is not theirs: %s", tally.FirstWrongID)
				}
				if tally.JSONInvalid > 0 {
					t.Errorf("a /large.json body is not valid JSON (bytes glued across a hole): %s", tally.FirstInvalid)
				}
				touched := calls.touchedBy(c.Dropped)
				var lost []string
				for _, s := range unprinted {
					port, _ := strconv.Atoi(s.ClientPort)
					if !touched[connCall{port, s.ConnRequest}] {
						lost = append(lost, fmt.Sprintf("%s (port %d, call %d)", s.Key, port, s.ConnRequest))
					}
				}
				if len(lost) > 0 {
					slices.Sort(lost)
					msg := fmt.Sprintf("%d calls that no lost packet touched were not printed complete, e.g. %s", len(lost), strings.Join(lost[:min(5, len(lost))], "; "))
					if k.rate > 0 {
						// At a rate brought up from the recording, the requests waiting behind
						// a hole can pass -max-pending (given up, counted): how many depends on
						// where the holes fall and on the recorded rate (0 to 9 untouched calls
						// at 20,000 calls/s here, thousands at 56,000-100,000). Printed, not
						// asserted; that none is wrong is.
						t.Log(msg)
					} else {
						t.Error(msg)
					}
				}
			})
		}
	}
}

// connCall names a call by its client port and its number on the connection (from 1).
type connCall struct{ port, n int }

// connCalls knows, for each connection of a workload capture, where each call's request and
// response lie in TCP's sequence space. wrk waits for each response before it sends the next
// request and every request fits one segment, so request n is the n-th client segment with
// data, and response n lies between the server sequence numbers requests n and n+1
// acknowledge.
type connCalls struct {
	capture *damage.Capture
	server  uint16                 // the server's port
	conns   map[uint16]*callBounds // by client port
}

type callBounds struct {
	reqSeq []uint32 // of request n+1
	reqAck []uint32 // the server sequence number request n+1 acknowledged
}

// callsOf reads the bounds of every call off a clean capture.
func callsOf(c *damage.Capture) (*connCalls, error) {
	cc := &connCalls{capture: c, conns: map[uint16]*callBounds{}}
	for _, p := range c.Packets {
		tcp, ok := tcpOf(c.LinkType, p.Data)
		if !ok {
			continue
		}
		if cc.server == 0 && tcp.SYN && !tcp.ACK {
			cc.server = uint16(tcp.DstPort)
		}
		if cc.server == 0 || uint16(tcp.DstPort) != cc.server || len(tcp.Payload) == 0 {
			continue
		}
		b := cc.conns[uint16(tcp.SrcPort)]
		if b == nil {
			b = &callBounds{}
			cc.conns[uint16(tcp.SrcPort)] = b
		}
		if slices.Contains(b.reqSeq, tcp.Seq) {
			continue // a copy
		}
		b.reqSeq = append(b.reqSeq, tcp.Seq)
		b.reqAck = append(b.reqAck, tcp.Ack)
	}
	if len(cc.conns) == 0 {
		return nil, fmt.Errorf("no request segment in the capture")
	}
	return cc, nil
}

// tcpOf decodes the TCP segment of a frame.
func tcpOf(lt layers.LinkType, data []byte) (*layers.TCP, bool) {
	pk := gopacket.NewPacket(data, lt, gopacket.DecodeOptions{Lazy: true, NoCopy: true})
	tcp, ok := pk.Layer(layers.LayerTypeTCP).(*layers.TCP)
	return tcp, ok
}

// touchedBy returns the calls that the packets at the given original indexes carried bytes of.
func (cc *connCalls) touchedBy(dropped []int) map[connCall]bool {
	out := map[connCall]bool{}
	for _, i := range dropped {
		tcp, ok := tcpOf(cc.capture.LinkType, cc.capture.Packets[i].Data)
		if !ok || len(tcp.Payload) == 0 {
			continue // no bytes of any call
		}
		if uint16(tcp.DstPort) == cc.server {
			if b := cc.conns[uint16(tcp.SrcPort)]; b != nil {
				if n := slices.Index(b.reqSeq, tcp.Seq); n >= 0 {
					out[connCall{int(tcp.SrcPort), n + 1}] = true
				}
			}
			continue
		}
		b := cc.conns[uint16(tcp.DstPort)]
		if b == nil {
			continue
		}
		// Response n runs from what request n acknowledged to what request n+1 did.
		for n, from := range b.reqAck {
			if int32(tcp.Seq-from) >= 0 && (n+1 == len(b.reqAck) || int32(tcp.Seq-b.reqAck[n+1]) < 0) {
				out[connCall{int(tcp.DstPort), n + 1}] = true
			}
		}
	}
	return out
}
