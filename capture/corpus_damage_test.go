package capture

import (
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sniffer/internal/damage"
	"sniffer/model"
)

// damagedCallKey is what must not change about a complete call when its capture is damaged.
func damagedCallKey(c *model.Call) string {
	return fmt.Sprintf("%s %s -> %d body %x", c.Request.Method, c.URL, c.Response.Status, sha256.Sum256(c.Response.Body))
}

// TestCorpusDamaged reads every capture of the corpus again after internal/damage reordered
// its packets within windows of up to 8 and sent up to 10% of them again a few packets later
// (some with another IP id and TTL, some with an 802.1Q tag), for several seeds. Nothing is
// lost, so every complete call of the clean capture must come out again, the same, and no
// other: a reordered or duplicated segment never adds bytes or calls, nor pairs a request
// with another's response. A call changed, added or missing fails the test, except in the
// captures of knownMissing, where a missing call is logged as a known defect (4 of 1,485).
func TestCorpusDamaged(t *testing.T) {
	dir := needCorpus(t)
	kinds := []damage.Options{
		{ShuffleWindow: 4, ShuffleMaxGap: time.Second, DupFraction: 0.05},
		{ShuffleWindow: 8, ShuffleMaxGap: time.Second, DupFraction: 0.1, DupRewriteIP: true},
		{ShuffleWindow: 3, ShuffleMaxGap: time.Second, DupFraction: 0.1, DupDelay: 6, VLANs: []uint16{7}},
	}
	tmp := t.TempDir()
	total, lost, wrong := 0, 0, 0
	for _, row := range corpus {
		if row.vxlan {
			continue // tags and Ethernet headers go on the outer frame: the mirror tests cover it
		}
		path := filepath.Join(dir, row.file)
		clean, err := damage.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		calls, _ := runCapture(t, path, false)
		want := map[string]int{}
		for _, c := range calls {
			want[damagedCallKey(c)]++
		}
		for ki, k := range kinds {
			for seed := uint64(1); seed <= 3; seed++ {
				c := *clean
				c.Packets = append([]damage.Packet(nil), clean.Packets...)
				k.Seed = seed
				if err := damage.Apply(&c, k); err != nil {
					if len(k.VLANs) == 0 {
						t.Fatalf("%s: %v", row.file, err)
					}
					// A link type without an Ethernet equivalent: no tag.
					c.Packets = append([]damage.Packet(nil), clean.Packets...)
					k.VLANs = nil
					if err := damage.Apply(&c, k); err != nil {
						t.Fatalf("%s: %v", row.file, err)
					}
				}
				out := filepath.Join(tmp, "damaged.pcap")
				if err := c.WriteFile(out); err != nil {
					t.Fatal(err)
				}
				got, _ := runCapture(t, out, false)
				left := copyCounts(want)
				var extra []string
				for _, g := range got {
					key := damagedCallKey(g)
					if left[key] == 0 {
						extra = append(extra, key)
						continue
					}
					left[key]--
				}
				missing := 0
				for _, n := range left {
					missing += n
				}
				total += len(calls)
				lost += missing
				wrong += len(extra)
				if len(extra) > 0 {
					t.Errorf("%s, damage %d (%+v): %d calls not in the clean capture's calls: %s",
						row.file, ki, k, len(extra), strings.Join(extra, "; "))
				}
				if why, known := knownMissing[row.file]; missing > 0 && known {
					t.Logf("known defect: %s, damage %d (%+v): %d of %d calls missing (%s)", row.file, ki, k, missing, len(calls), why)
				} else if missing > 0 {
					t.Errorf("%s, damage %d (%+v): %d of %d calls missing", row.file, ki, k, missing, len(calls))
				}
			}
		}
	}
	t.Logf("%d calls of the clean captures over all damages and seeds: %d missing, %d changed or extra", total, lost, wrong)
}

// knownMissing are the captures that may lose calls when reordered, and why (none may
// print a wrong one). Fixed: 19 calls of http-methods-mixed.pcap and 5 of
// http1-noint-status.pcap, whose shuffles put a bare ACK before the handshake: the
// connection opened with no roles, and request lines read leniently when the client is
// known ("GET /HTTP/1.1", a status line without a number) were not taken mid-stream; the
// handshake that follows now names the client and the server.
var knownMissing = map[string]string{
	// An evasion trace: before the real handshake, the server answers the SYN with a RST
	// and a FIN of sequence number 0 and the client resets; the second SYN-ACK then opens
	// the connection the call is on. Shuffled, the client's RST (in window: its sequence
	// number is where the request starts) comes after the handshake or the request and
	// ends the connection, as it would have in a stack that received it there. Capture
	// order cannot tell the two apart: 4 of the 9 damaged copies lose the call.
	"http-tcp-overlap-evasion-linux.pcap": "a reset reordered into the connection ends it",
}

func copyCounts(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
