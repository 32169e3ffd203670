package output

import (
	"testing"
	"time"
)

// The fault list, compressed in time: while calls stream in, the collector answers
// 503, is stopped and started again, hangs without answering, and closes connections
// mid-request. With the default queue and a spool, every call arrives exactly once. (The
// post timeout is 2 s so that a loaded test machine does not time out a post the collector
// went on to process: that would be a genuine at-least-once duplicate, not a loss.)
func TestPosterFaultSequenceLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about 8 s")
	}
	col := newCollector(t, "")
	p := newTestPoster(t, PostConfig{URL: col.URL(), Compress: true, SpoolDir: t.TempDir(),
		Timeout: 2 * time.Second, BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
		FlushInterval: 100 * time.Millisecond, BundleCount: 50})

	const perTick, ticks = 20, 250 // 5000 calls over about 5 s
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < ticks; i++ {
			for k := 0; k < perTick; k++ {
				p.Write(testCall(i*perTick + k))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	phase := func(d time.Duration, name string) {
		t.Logf("%v: %s (delivered so far %d)", time.Now().Format("05.000"), name, col.Count())
		time.Sleep(d)
	}
	phase(500*time.Millisecond, "normal")
	col.SetStatus(503)
	phase(time.Second, "503")
	col.SetStatus(0)
	col.Stop()
	phase(time.Second, "stopped")
	col.restart()
	col.SetHang(true)
	phase(2500*time.Millisecond, "hanging")
	col.SetHang(false)
	col.CutNext(1 << 20)
	phase(500*time.Millisecond, "closing connections mid-request")
	col.CutNext(0)
	phase(0, "normal")
	<-done
	const n = perTick * ticks
	waitFor(t, 30*time.Second, "every call", func() bool { return col.Count() >= n })
	s, err := closeWithin(t, p, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	col.check()
	exactlyOnce(t, col.ids(), n)
	if t.Failed() {
		ids, at := col.ids(), col.Arrivals()
		first := map[string]int{}
		for i, id := range ids {
			if j, ok := first[id]; ok {
				t.Logf("call %s arrived at %s and again at %s", id, at[j].Format("05.000"), at[i].Format("05.000"))
				break
			}
			first[id] = i
		}
	}
	if s.Delivered != n || s.Undelivered() != 0 {
		t.Errorf("summary %v", s)
	}
	t.Logf("summary %v, collector posts %d", s, col.Posts())
}
