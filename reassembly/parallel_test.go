package reassembly

import (
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"

	"sniffer/capture"
	"sniffer/model"
)

// callKey names a call by what it is, not when it was emitted.
func callKey(c *model.Call) string {
	status := 0
	if c.Response != nil {
		status = c.Response.Status
	}
	return fmt.Sprintf("%s %s %s %d %d %q", c.Client, c.Request.Method, c.Request.Target, status, len(c.Request.Body), c.Incomplete)
}

// Interleaved connections through 1, 2 and 4 workers give the same calls as one
// Assembler: each connection stays on one worker, and the segments copied into the
// workers' batches are decoded afresh (a copied layers.TCP would keep pointing into the
// capture buffer for its ports).
func TestParallelSameCalls(t *testing.T) {
	var pkts []packet
	want := 0
	convs := make([][]packet, 24)
	for i := range convs {
		c, n := benchConv(41000 + i)
		if i%5 == 0 {
			c.drop(len(c.segs) / 2) // a lost segment: incomplete calls must match too
		}
		convs[i] = c.packets(linkEthernet)
		want += n
	}
	// Interleave the connections packet by packet, as on a busy link.
	for j := 0; ; j++ {
		added := false
		for _, cp := range convs {
			if j < len(cp) {
				pkts = append(pkts, cp[j])
				added = true
			}
		}
		if !added {
			break
		}
	}
	cfg := DefaultConfig()
	cfg.KeepIncomplete = true
	ref := feed(cfg, linkEthernet.linkType(), pkts, true)
	refKeys := keys(ref.calls)
	if ref.stats.Calls.Load() < int64(want)*3/4 {
		t.Fatalf("reference run made only %d complete calls of %d", ref.stats.Calls.Load(), want)
	}
	for _, n := range []int{1, 2, 4} {
		var mu sync.Mutex
		var calls []*model.Call
		p := NewParallel(cfg, n, func(c *model.Call) { mu.Lock(); calls = append(calls, c); mu.Unlock() })
		dec := capture.NewDecoder()
		for i, pk := range pkts {
			dec.Decode(pk.data, pk.ci, linkEthernet.linkType(), p.Packet)
			if i%1000 == 0 {
				p.Tick(pk.ci.Timestamp)
			}
		}
		p.Close()
		got := keys(calls)
		if fmt.Sprint(got) != fmt.Sprint(refKeys) {
			t.Errorf("%d workers: %d calls differ from one Assembler's %d", n, len(got), len(refKeys))
		}
		if p.Stats().Calls.Load() != ref.stats.Calls.Load() || p.Stats().Gaps.Load() != ref.stats.Gaps.Load() {
			t.Errorf("%d workers: stats calls=%d gaps=%d, one Assembler calls=%d gaps=%d", n,
				p.Stats().Calls.Load(), p.Stats().Gaps.Load(), ref.stats.Calls.Load(), ref.stats.Gaps.Load())
		}
	}
}

func keys(calls []*model.Call) []string {
	out := make([]string, len(calls))
	for i, c := range calls {
		out[i] = callKey(c)
	}
	sort.Strings(out)
	return out
}

// BenchmarkParallel is BenchmarkAssemble's mix through 1, 2 and 4 workers, for calls per second
// against the number of workers.
func BenchmarkParallel(b *testing.B) {
	for _, n := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("workers=%d", n), func(b *testing.B) {
			var convs [][]packet
			per := 0
			for i := 0; i < 64; i++ {
				c, k := benchConv(42000 + i)
				convs, per = append(convs, c.packets(linkEthernet)), k
			}
			dec := capture.NewDecoder()
			var calls atomic.Int64
			p := NewParallel(DefaultConfig(), n, func(*model.Call) { calls.Add(1) })
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for _, pk := range convs[i%len(convs)] {
					dec.Decode(pk.data, pk.ci, linkEthernet.linkType(), p.Packet)
				}
			}
			p.Close()
			if calls.Load() < int64(b.N*per) {
				b.Fatalf("%d calls of %d", calls.Load(), b.N*per)
			}
			b.ReportMetric(float64(b.N*per)/b.Elapsed().Seconds(), "calls/s")
		})
	}
}

// MaxBufferedBytes bounds the out-of-order bytes over all connections: the workers of a
// Parallel or of a fanout group share it, each with its part, and the gopacket assemblers
// they make hold no more pages than that part. Each had the whole bound before.
func TestWorkersShareBufferBound(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxBufferedBytes = 8 << 20
	check := func(name string, asms []*Assembler) {
		var total int64
		for _, a := range asms {
			total += a.cfg.MaxBufferedBytes
			if a.cfg.MaxBufferedBytes <= 0 {
				t.Errorf("%s: a worker's bound is %d (0 means none)", name, a.cfg.MaxBufferedBytes)
			}
		}
		if total > cfg.MaxBufferedBytes || total < cfg.MaxBufferedBytes-int64(len(asms)) {
			t.Errorf("%s: %d workers buffer up to %d bytes in all, want the %d bound shared", name, len(asms), total, cfg.MaxBufferedBytes)
		}
	}
	for _, n := range []int{1, 2, 3} {
		p := NewParallel(cfg, n, func(*model.Call) {})
		var asms []*Assembler
		for _, w := range p.workers {
			asms = append(asms, w.asm)
		}
		check(fmt.Sprintf("NewParallel(%d)", n), asms)
		p.Close()
		check(fmt.Sprintf("NewGroup(%d)", n), NewGroup(cfg, n, func(*model.Call) {}))
	}
	tiny := cfg
	tiny.MaxBufferedBytes = 1
	if got := NewParallel(tiny, 4, func(*model.Call) {}); got.workers[3].asm.cfg.MaxBufferedBytes != pageBytes {
		t.Errorf("a 1-byte bound over 4 workers: a worker's part is %d, want one page (%d)", got.workers[3].asm.cfg.MaxBufferedBytes, pageBytes)
	} else {
		got.Close()
	}
}
