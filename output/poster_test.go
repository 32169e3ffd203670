package output

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func newTestPoster(t *testing.T, cfg PostConfig) *Poster {
	t.Helper()
	cfg.Agent, cfg.Version = "sniffer", "9.9.9"
	p, err := NewPoster(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		p.Close(ctx)
	})
	return p
}

func closeWithin(t *testing.T, p *Poster, d time.Duration) (Summary, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	start := time.Now()
	s, err := p.Close(ctx)
	if el := time.Since(start); el > d+2*time.Second {
		t.Errorf("Close took %v with a %v deadline", el, d)
	}
	// Every call is accounted for exactly once.
	if in, out := s.Written+s.Recovered, s.Delivered+s.Filtered+s.DroppedTotal()+s.Pending; in != out {
		t.Errorf("accounting: written+recovered = %d but delivered+filtered+dropped+pending = %d: %v", in, out, s)
	}
	return s, err
}

func wantIDs(t *testing.T, got []string, from, to int) {
	t.Helper()
	if len(got) != to-from {
		t.Fatalf("collector got %d messages, want %d", len(got), to-from)
	}
	for i, id := range got {
		if id != strconv.Itoa(from+i) {
			t.Fatalf("message %d has id %s, want %d (order or loss)", i, id, from+i)
		}
	}
}

func exactlyOnce(t *testing.T, got []string, n int) {
	t.Helper()
	seen := map[string]int{}
	for _, id := range got {
		seen[id]++
	}
	for i := 0; i < n; i++ {
		if c := seen[strconv.Itoa(i)]; c != 1 {
			t.Errorf("call %d arrived %d times", i, c)
		}
	}
	if len(got) != n {
		t.Errorf("collector got %d messages, want %d", len(got), n)
	}
}

func TestPosterDeliversEveryCallOnce(t *testing.T) {
	col := newCollector(t, "")
	p := newTestPoster(t, PostConfig{URL: col.URL(), Compress: true, BundleCount: 37, Concurrency: 4})
	const n = 3000
	for i := 0; i < n; i++ {
		if err := p.Write(testCall(i)); err != nil {
			t.Fatal(err)
		}
	}
	s, err := closeWithin(t, p, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	col.check()
	exactlyOnce(t, col.ids(), n)
	for _, m := range col.Messages() {
		checkMessage(t, m, get(m, "request_param:id"))
	}
	if s.Written != n || s.Delivered != n || s.Undelivered() != 0 {
		t.Errorf("summary %v", s)
	}
	if posts := col.Posts(); posts < n/37 {
		t.Errorf("only %d posts for %d calls in bundles of 37", posts, n)
	}
}

func TestPosterFlushesWithinInterval(t *testing.T) {
	col := newCollector(t, "")
	p := newTestPoster(t, PostConfig{URL: col.URL(), Compress: true, FlushInterval: 200 * time.Millisecond})
	start := time.Now()
	p.Write(testCall(1))
	waitFor(t, 3*time.Second, "a lone call to be posted", func() bool { return col.Count() == 1 })
	if el := time.Since(start); el < 150*time.Millisecond || el > 1500*time.Millisecond {
		t.Errorf("lone call posted after %v, want about the 200ms flush interval", el)
	}
}

func TestPosterBundleBytes(t *testing.T) {
	col := newCollector(t, "")
	msg := len(AppendResurfaceJSON(nil, Resurface(testCall(100), "sniffer", "9.9.9"))) + 1
	p := newTestPoster(t, PostConfig{URL: col.URL(), Compress: true, BundleSize: 3 * msg, Concurrency: 1})
	for i := 100; i < 130; i++ {
		p.Write(testCall(i))
	}
	s, err := closeWithin(t, p, 5*time.Second)
	if err != nil || s.Delivered != 30 {
		t.Fatalf("%v %v", s, err)
	}
	if posts := col.Posts(); posts < 10 {
		t.Errorf("%d posts for 30 calls with bundles of 3 calls' bytes", posts)
	}
}

func TestPosterUncompressed(t *testing.T) {
	col := newCollector(t, "")
	col.WantEncoding("")
	p := newTestPoster(t, PostConfig{URL: col.URL(), Compress: false})
	for i := 0; i < 50; i++ {
		p.Write(testCall(i))
	}
	s, err := closeWithin(t, p, 5*time.Second)
	if err != nil || s.Delivered != 50 {
		t.Fatalf("%v %v", s, err)
	}
	col.check()
	exactlyOnce(t, col.ids(), 50)
}

func TestPosterRetries500Then204(t *testing.T) {
	col := newCollector(t, "")
	col.FailNext(5)
	p := newTestPoster(t, PostConfig{URL: col.URL(), Compress: true, BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond, Concurrency: 2})
	for i := 0; i < 200; i++ {
		p.Write(testCall(i))
	}
	s, err := closeWithin(t, p, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	col.check()
	exactlyOnce(t, col.ids(), 200)
	if s.Delivered != 200 || s.DroppedTotal() != 0 {
		t.Errorf("summary %v", s)
	}
	if col.Posts() < 6 {
		t.Errorf("collector saw %d posts; 5 failures should have been retried", col.Posts())
	}
	if s.Posts != int64(col.Posts()) || s.PostFails != 5 {
		t.Errorf("poster counted %d posts and %d failures; the collector saw %d posts and failed 5", s.Posts, s.PostFails, col.Posts())
	}
}

func TestPosterRetriesConnectionClosedMidRequest(t *testing.T) {
	col := newCollector(t, "")
	col.CutNext(3)
	p := newTestPoster(t, PostConfig{URL: col.URL(), Compress: true, BackoffMin: 10 * time.Millisecond, Concurrency: 1})
	for i := 0; i < 100; i++ {
		p.Write(testCall(i))
	}
	s, err := closeWithin(t, p, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	col.check()
	wantIDs(t, col.ids(), 0, 100)
	if s.Delivered != 100 {
		t.Errorf("summary %v", s)
	}
}

func TestPosterMaxRetries(t *testing.T) {
	col := newCollector(t, "")
	col.SetStatus(503)
	p := newTestPoster(t, PostConfig{URL: col.URL(), Compress: true, MaxRetries: 2, BackoffMin: time.Millisecond, BackoffMax: 2 * time.Millisecond, Concurrency: 1})
	for i := 0; i < 10; i++ {
		p.Write(testCall(i))
	}
	s, _ := closeWithin(t, p, 5*time.Second)
	if s.Dropped[DropRetries] != 10 || s.Delivered != 0 {
		t.Errorf("summary %v, want 10 dropped after retries", s)
	}
	if got := col.Posts(); got != 3 {
		t.Errorf("collector saw %d posts, want 1 + 2 retries", got)
	}
}

func TestPosterRejected4xxIsNotRetried(t *testing.T) {
	col := newCollector(t, "")
	col.SetStatus(400)
	p := newTestPoster(t, PostConfig{URL: col.URL(), Compress: true, Concurrency: 1})
	for i := 0; i < 10; i++ {
		p.Write(testCall(i))
	}
	s, err := closeWithin(t, p, 5*time.Second)
	if err != nil || s.Dropped[DropRejected] != 10 || col.Posts() != 1 {
		t.Errorf("summary %v err %v posts %d", s, err, col.Posts())
	}
}

func TestPosterSplitsOn413(t *testing.T) {
	col := newCollector(t, "")
	col.SetStatus(413)
	p := newTestPoster(t, PostConfig{URL: col.URL(), Compress: true, Concurrency: 1})
	for i := 0; i < 4; i++ {
		p.Write(testCall(i))
	}
	s, _ := closeWithin(t, p, 5*time.Second)
	// 4 -> 2+2 -> 1+1+1+1: 1 + 2 + 4 posts, each single call then rejected.
	if s.Dropped[DropRejected] != 4 || col.Posts() != 7 {
		t.Errorf("summary %v posts %d", s, col.Posts())
	}
}

func TestPosterTransformFilters(t *testing.T) {
	col := newCollector(t, "")
	p := newTestPoster(t, PostConfig{URL: col.URL(), Compress: true, Transform: func(d [][2]string) ([][2]string, bool) {
		id, _ := strconv.Atoi(get(d, "request_param:id"))
		if id%2 == 1 {
			return nil, false
		}
		return append(d, [2]string{"custom_field:even", "yes"}), true
	}})
	for i := 0; i < 20; i++ {
		p.Write(testCall(i))
	}
	s, err := closeWithin(t, p, 5*time.Second)
	if err != nil || s.Filtered != 10 || s.Delivered != 10 {
		t.Fatalf("summary %v err %v", s, err)
	}
	for _, m := range col.Messages() {
		if get(m, "custom_field:even") != "yes" || m[len(m)-1][0] != "version" {
			t.Errorf("transform not applied before the trailer: %v", m)
		}
	}
}

// The collector is down while calls arrive, longer than the queue lasts: the overflow goes
// to the spool and is replayed, in order, when it comes back.
func TestPosterSpoolReplayAfterOutage(t *testing.T) {
	col := newCollector(t, "")
	addr := col.Addr()
	col.Stop()
	dir := t.TempDir()
	p := newTestPoster(t, PostConfig{URL: "http://" + addr + "/message", Compress: true, QueueSize: 20, BundleCount: 25,
		Concurrency: 1, SpoolDir: dir, SpoolMax: 1 << 20, BackoffMin: 20 * time.Millisecond, BackoffMax: 100 * time.Millisecond,
		FlushInterval: 50 * time.Millisecond})
	const n = 2000
	for i := 0; i < n; i++ {
		p.Write(testCall(i))
	}
	st := p.Stats()
	if st.Pending < n-100 || st.DroppedTotal() != 0 {
		t.Fatalf("while down: %v; want most calls in the spool and none dropped", st)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "seg-*.ndjson"))
	if len(segs) == 0 {
		t.Fatal("no spool segment on disk while the collector is down")
	}
	time.Sleep(300 * time.Millisecond)
	col.restart()
	waitFor(t, 20*time.Second, "all calls after the collector came back", func() bool { return col.Count() >= n })
	s, err := closeWithin(t, p, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	col.check()
	wantIDs(t, col.ids(), 0, n)
	if s.Delivered != n || s.Undelivered() != 0 {
		t.Errorf("summary %v", s)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "seg-*"))
	if len(left) != 0 {
		t.Errorf("spool not emptied: %v", left)
	}
}

// With several senders, order across bundles is not kept, but nothing is lost or doubled.
func TestPosterSpoolReplayConcurrent(t *testing.T) {
	col := newCollector(t, "")
	addr := col.Addr()
	col.Stop()
	p := newTestPoster(t, PostConfig{URL: "http://" + addr + "/message", Compress: true, QueueSize: 50, BundleCount: 30,
		Concurrency: 4, SpoolDir: t.TempDir(), BackoffMin: 20 * time.Millisecond, BackoffMax: 100 * time.Millisecond})
	const n = 3000
	for i := 0; i < n; i++ {
		p.Write(testCall(i))
	}
	time.Sleep(200 * time.Millisecond)
	col.restart()
	waitFor(t, 20*time.Second, "all calls", func() bool { return col.Count() >= n })
	s, err := closeWithin(t, p, 5*time.Second)
	if err != nil || s.Delivered != n {
		t.Fatalf("%v %v", s, err)
	}
	exactlyOnce(t, col.ids(), n)
}

func TestPosterQueueOverflowDropsNewest(t *testing.T) {
	col := newCollector(t, "")
	col.SetHang(true)
	p := newTestPoster(t, PostConfig{URL: col.URL(), Compress: true, QueueSize: 10, BundleCount: 5, Concurrency: 1, Timeout: 30 * time.Second})
	p.Write(testCall(0))
	waitFor(t, 5*time.Second, "the first bundle to be in flight", func() bool { return col.Posts() == 1 })
	for i := 1; i < 100; i++ {
		p.Write(testCall(i))
	}
	// Sender busy with call 0; the bundler holds one bundle (5 calls) waiting; 10 in memory.
	waitFor(t, 5*time.Second, "the bundler to take a bundle", func() bool { return p.Stats().Queued <= 10 })
	st := p.Stats()
	if got := st.Dropped[DropQueueFull]; got < 99-15 || got > 99-10 {
		t.Errorf("queue_full drops = %d, want 84..89: %v", got, st)
	}
	col.SetHang(false) // the collector answers again
	s, err := closeWithin(t, p, 500*time.Millisecond)
	t.Logf("close: %v, %v", s, err)
	if s.Delivered+s.DroppedTotal() != 100 {
		t.Errorf("calls not all accounted for: %v", s)
	}
}

func TestPosterQueueOverflowDropsOldest(t *testing.T) {
	col := newCollector(t, "")
	addr := col.Addr()
	col.Stop()
	p := newTestPoster(t, PostConfig{URL: "http://" + addr + "/message", Compress: true, QueueSize: 10, BundleCount: 5,
		Concurrency: 1, DropOldest: true, BackoffMin: 20 * time.Millisecond, BackoffMax: 50 * time.Millisecond})
	for i := 0; i < 5; i++ {
		p.Write(testCall(i))
	}
	waitFor(t, 5*time.Second, "the first bundle", func() bool { return p.Stats().Queued == 0 })
	time.Sleep(50 * time.Millisecond)
	for i := 5; i < 100; i++ {
		p.Write(testCall(i))
	}
	col.restart()
	s, err := closeWithin(t, p, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ids := col.ids()
	// The in-flight bundle (0-4) and perhaps one the bundler held, then the newest ten.
	if len(ids) < 15 || ids[len(ids)-1] != "99" || ids[len(ids)-10] != "90" {
		t.Errorf("drop-oldest delivered %v", ids)
	}
	if s.Delivered+s.Dropped[DropQueueFull] != 100 {
		t.Errorf("summary %v", s)
	}
}

// A collector that never answers: Close gives up at its deadline, reports the shortfall,
// and with a spool keeps every call for the next run, which delivers them in order.
func TestPosterCloseDeadlineKeepsCallsInSpool(t *testing.T) {
	col := newCollector(t, "")
	col.SetHang(true)
	dir := t.TempDir()
	p := newTestPoster(t, PostConfig{URL: col.URL(), Compress: true, QueueSize: 30, BundleCount: 10, Concurrency: 2, SpoolDir: dir, Timeout: 5 * time.Second})
	const n = 200
	for i := 0; i < n; i++ {
		p.Write(testCall(i))
	}
	start := time.Now()
	s, err := closeWithin(t, p, 400*time.Millisecond)
	if el := time.Since(start); el > 1500*time.Millisecond {
		t.Errorf("Close took %v", el)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close error %v, want the deadline", err)
	}
	if s.Pending != n || s.Delivered != 0 || s.DroppedTotal() != 0 {
		t.Fatalf("summary %v, want all %d pending", s, n)
	}
	col.Stop()

	col2 := newCollector(t, "")
	p2 := newTestPoster(t, PostConfig{URL: col2.URL(), Compress: true, SpoolDir: dir, Concurrency: 1})
	if r := p2.Stats().Recovered; r != n {
		t.Errorf("recovered %d from the spool, want %d", r, n)
	}
	s2, err := closeWithin(t, p2, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	col2.check()
	wantIDs(t, col2.ids(), 0, n)
	if s2.Delivered != n || s2.Pending != 0 {
		t.Errorf("second run %v", s2)
	}
}

func TestPosterCloseDeadlineWithoutSpoolCountsShutdown(t *testing.T) {
	col := newCollector(t, "")
	col.SetHang(true)
	p := newTestPoster(t, PostConfig{URL: col.URL(), Compress: true, Concurrency: 1})
	for i := 0; i < 50; i++ {
		p.Write(testCall(i))
	}
	s, err := closeWithin(t, p, 300*time.Millisecond)
	if err == nil || s.Dropped[DropShutdown] != 50 {
		t.Errorf("summary %v err %v", s, err)
	}
	if err := p.Write(testCall(51)); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close: %v", err)
	}
}

func TestPosterSpoolFullDropsAndCounts(t *testing.T) {
	col := newCollector(t, "")
	addr := col.Addr()
	col.Stop()
	dir := t.TempDir()
	p := newTestPoster(t, PostConfig{URL: "http://" + addr + "/message", Compress: true, QueueSize: 5, BundleCount: 5,
		Concurrency: 1, SpoolDir: dir, SpoolMax: 64 << 10})
	const n = 1000
	for i := 0; i < n; i++ {
		p.Write(testCall(i))
	}
	s, _ := closeWithin(t, p, 300*time.Millisecond)
	if s.Dropped[DropSpoolFull] == 0 {
		t.Errorf("no spool_full drops: %v", s)
	}
	if s.Pending+s.DroppedTotal()+s.Delivered != n {
		t.Errorf("calls not all accounted for: %v", s)
	}
	var size int64
	segs, _ := filepath.Glob(filepath.Join(dir, "seg-*"))
	for _, f := range segs {
		fi, _ := os.Stat(f)
		size += fi.Size()
	}
	// The cap holds for what was spooled while running; Close adds back what was in flight.
	if size > 64<<10+20*2048 {
		t.Errorf("spool holds %d bytes, cap 64 KiB", size)
	}
}

func TestSpoolIsLockedAgainstASecondSniffer(t *testing.T) {
	dir := t.TempDir()
	s1, err := openSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer s1.close()
	if _, err := openSpool(dir, 1<<20); err == nil {
		t.Fatal("a second spool on the same directory was allowed")
	}
}

func TestValidateURL(t *testing.T) {
	for _, tc := range []struct {
		url   string
		allow bool
		ok    bool
	}{
		{"https://collector.example.com:7701/message", false, true},
		{"http://localhost:7701/message", false, true},
		{"http://127.0.0.1:7701/message", false, true},
		{"http://[::1]:7701/message", false, true},
		{"http://collector.example.com/message", false, false},
		{"http://collector.example.com/message", true, true},
		{"http://10.0.0.5:7701/message", false, false},
		{"ftp://collector.example.com/", true, false},
		{"collector.example.com:7701", true, false},
		{"https://", true, false},
		{"https://host:99999/", true, false},
		{"http://a b/", true, false},
		{"", true, false},
	} {
		_, err := ValidateURL(tc.url, tc.allow)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateURL(%q, %v) = %v, want ok=%v", tc.url, tc.allow, err, tc.ok)
		}
	}
	_, err := ValidateURL("http://collector.example.com/", false)
	if !errors.Is(err, ErrPlainHTTP) {
		t.Errorf("plain http error %v is not ErrPlainHTTP", err)
	}
	if _, err := NewPoster(PostConfig{URL: "not a url"}); err == nil {
		t.Error("NewPoster accepted a malformed URL")
	}
}

// Drops are logged at most once a minute per cause, saying why, however many there are.
func TestPosterDropWarningsAreRateLimited(t *testing.T) {
	col := newCollector(t, "")
	col.SetHang(true)
	p := newTestPoster(t, PostConfig{URL: col.URL(), Compress: true, QueueSize: 5, BundleCount: 5, Concurrency: 1, Timeout: 30 * time.Second})
	var buf bytes.Buffer
	var mu sync.Mutex
	p.log = slog.New(slog.NewTextHandler(&lockedWriter{&mu, &buf}, nil))
	for i := 0; i < 2000; i++ {
		p.Write(testCall(i))
	}
	if d := p.Stats().Dropped[DropQueueFull]; d < 1900 {
		t.Fatalf("only %d queue_full drops", d)
	}
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	if n := strings.Count(out, "cause=queue_full"); n != 1 {
		t.Errorf("%d queue_full warnings for ~2000 drops, want 1:\n%s", n, out)
	}
	if !strings.Contains(out, "SPOOL_DIR") {
		t.Errorf("the warning does not say what to do: %s", out)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// The queue counts a message's length against QueueBytes (MemoryBytes): the buffers it holds
// are no longer than that, even for calls whose escapes (JSON, control bytes) outgrow the
// encoder's estimate. Before, such a message kept the buffer append had doubled, and a
// collector that was down made the queue hold up to twice its share.
func TestPosterQueuedBuffersFitTheirLength(t *testing.T) {
	col := newCollector(t, "")
	col.SetHang(true)
	p := newTestPoster(t, PostConfig{URL: col.URL(), Compress: true, QueueSize: 1000, MemoryBytes: 4 << 20, BundleCount: 1,
		Concurrency: 1, Timeout: 300 * time.Millisecond, BackoffMin: 20 * time.Millisecond, BackoffMax: 50 * time.Millisecond})
	bodies := []string{strings.Repeat(`{"a":"\"q\""}`, 500), strings.Repeat("\x01\x02<>&", 800), strings.Repeat("plain ", 1000)}
	for i := 0; i < 60; i++ {
		c := testCall(i)
		c.Response.Body = []byte(bodies[i%len(bodies)])
		p.Write(c)
	}
	waitFor(t, 5*time.Second, "calls queued", func() bool { return p.Stats().Queued > 0 })
	p.mu.Lock()
	var held, counted int
	for i := 0; i < p.q.size; i++ {
		m := p.q.buf[(p.q.head+i)%len(p.q.buf)]
		held, counted = held+cap(m), counted+len(m)
	}
	queued := p.q.size
	p.mu.Unlock()
	if held > counted+counted/16 {
		t.Errorf("%d queued messages counted as %d bytes hold %d bytes of buffers", queued, counted, held)
	}
	col.SetHang(false)
	if s, err := closeWithin(t, p, 10*time.Second); err != nil || s.Delivered != 60 {
		t.Errorf("delivered %v, %v; want all 60", s, err)
	}
}
