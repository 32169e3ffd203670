package output

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

func spoolAppend(t *testing.T, s *spool, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if err := s.append([]byte(`["id","` + strconv.Itoa(i) + `"]`)); err != nil {
			t.Fatal(err)
		}
	}
}

func spoolDrain(t *testing.T, s *spool) []string {
	t.Helper()
	var out []string
	for i := 0; i < 1e6; i++ {
		m, ok, lost := s.next()
		if lost != 0 {
			t.Errorf("lost %d", lost)
		}
		if !ok {
			return out
		}
		out = append(out, string(m[7:len(m)-2]))
	}
	t.Fatal("spool never ran dry")
	return nil
}

func wantSeq(t *testing.T, got []string, from, to int) {
	t.Helper()
	if len(got) != to-from {
		t.Fatalf("got %d messages, want %d", len(got), to-from)
	}
	for i, g := range got {
		if g != strconv.Itoa(from+i) {
			t.Fatalf("message %d is %s, want %d", i, g, from+i)
		}
	}
}

func TestSpoolOrderAcrossSegmentsAndRestart(t *testing.T) {
	dir := t.TempDir()
	s, err := openSpool(dir, 1<<20) // 128 KiB segments
	if err != nil {
		t.Fatal(err)
	}
	spoolAppend(t, s, 0, 20000) // ~300 KB: several segments
	if segs, _ := filepath.Glob(filepath.Join(dir, "seg-*")); len(segs) < 3 {
		t.Errorf("%d segments for 300 KB", len(segs))
	}
	// Read part, interleave appends, then stop with the head partly read.
	var got []string
	for i := 0; i < 5000; i++ {
		m, _, _ := s.next()
		got = append(got, string(m[7:len(m)-2]))
	}
	wantSeq(t, got, 0, 5000)
	spoolAppend(t, s, 20000, 21000)
	if err := s.prepend([][]byte{[]byte(`["id","-2"]`), []byte(`["id","-1"]`)}); err != nil {
		t.Fatal(err)
	}
	if err := s.close(); err != nil {
		t.Fatal(err)
	}
	s2, err := openSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.close()
	if s2.count != 16002 {
		t.Errorf("reopened spool counts %d, want 16002", s2.count)
	}
	rest := spoolDrain(t, s2)
	if rest[0] != "-2" || rest[1] != "-1" {
		t.Fatalf("prepended messages not first: %v", rest[:3])
	}
	wantSeq(t, rest[2:], 5000, 21000)
	if segs, _ := filepath.Glob(filepath.Join(dir, "seg-*")); len(segs) != 0 {
		t.Errorf("segments left after draining: %v", segs)
	}
	if s2.bytes != 0 || s2.count != 0 {
		t.Errorf("drained spool: bytes %d count %d", s2.bytes, s2.count)
	}
}

func TestSpoolSkipsTornLastLine(t *testing.T) {
	dir := t.TempDir()
	s, _ := openSpool(dir, 1<<20)
	spoolAppend(t, s, 0, 10)
	s.close()
	segs, _ := filepath.Glob(filepath.Join(dir, "seg-*"))
	f, _ := os.OpenFile(segs[0], os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`["id","10`) // a crash mid-write
	f.Close()
	s2, err := openSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.close()
	wantSeq(t, spoolDrain(t, s2), 0, 10)
}

func TestSpoolDropOldestCountsUnread(t *testing.T) {
	s, _ := openSpool(t.TempDir(), 1<<20)
	defer s.close()
	spoolAppend(t, s, 0, 20000)
	n0 := s.segs[0].count
	s.next()
	s.next()
	n, ok := s.dropOldest()
	if !ok || n != n0-2 {
		t.Errorf("dropOldest = %d, %v; want %d unread", n, ok, n0-2)
	}
	if s.count != 20000-2-n {
		t.Errorf("count %d after drop", s.count)
	}
	got := spoolDrain(t, s)
	wantSeq(t, got, int(n0), 20000)
}

func TestWarnLimiterOncePerPeriod(t *testing.T) {
	w := warnLimiter{period: time.Minute}
	now := time.Now()
	if ok, _ := w.allow(now); !ok {
		t.Fatal("first warning held back")
	}
	for i := 1; i <= 100; i++ {
		if ok, _ := w.allow(now.Add(time.Duration(i) * 500 * time.Millisecond)); ok {
			t.Fatalf("warning %d let through within the minute", i)
		}
	}
	ok, held := w.allow(now.Add(61 * time.Second))
	if !ok || held != 100 {
		t.Errorf("after a minute: ok=%v held=%d, want true, 100", ok, held)
	}
}
