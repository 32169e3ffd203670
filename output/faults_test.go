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
	addr := col.addr
	p := newTestPoster(t, PostConfig{URL: col.url(), Compress: true, SpoolDir: t.TempDir(),
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
		t.Logf("%v: %s (delivered so far %d)", time.Now().Format("05.000"), name, col.count())
		time.Sleep(d)
	}
	phase(500*time.Millisecond, "normal")
	col.status.Store(503)
	phase(time.Second, "503")
	col.status.Store(0)
	col.stop()
	phase(time.Second, "stopped")
	col.start(addr)
	col.hang.Store(true)
	phase(2500*time.Millisecond, "hanging")
	col.hang.Store(false)
	col.dropN.Store(1 << 20)
	phase(500*time.Millisecond, "closing connections mid-request")
	col.dropN.Store(0)
	phase(0, "normal")
	<-done
	const n = perTick * ticks
	waitFor(t, 30*time.Second, "every call", func() bool { return col.count() >= n })
	s, err := closeWithin(t, p, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	col.check()
	exactlyOnce(t, col.ids(), n)
	if s.Delivered != n || s.Undelivered() != 0 {
		t.Errorf("summary %v", s)
	}
	t.Logf("summary %v, collector posts %d", s, col.posts.Load())
}
