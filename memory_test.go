package main

import (
	"runtime"
	"runtime/debug"
	"testing"
)

// The Go runtime gets the budget less what is resident outside it (on Linux, where /proc
// says), never less than a quarter of it, and the queue a fifth of what the heap's fixed part
// and the collector's share leave of that live, a twentieth for a file.
func TestMemoryShares(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	outside, ok := residentOutsideGo()
	if runtime.GOOS == "linux" && (!ok || outside <= 0) {
		t.Fatalf("residentOutsideGo on Linux: %d, %v; want the binary's resident pages at least", outside, ok)
	}
	budget := int64(256 << 20)
	goLimit, queue, warning := memoryShares(budget, 0, 0, true)
	if got := debug.SetMemoryLimit(-1); got != goLimit {
		t.Errorf("the Go memory limit is %d, memoryShares said %d", got, goLimit)
	}
	if want := (budget - outside - cMargin) * 7 / 8; ok && (goLimit > want+1<<20 || goLimit < want-(8<<20)) {
		t.Errorf("Go limit %d of a %d budget with %d resident outside Go; want about %d", goLimit, budget, outside, want)
	}
	if queue != goLimit/5 || warning != "" {
		t.Errorf("live queue %d (want %d), warning %q", queue, goLimit/5, warning)
	}
	if _, q, _ := memoryShares(budget, 0, 0, false); q*20 > goLimit+20 {
		t.Errorf("file queue %d, want about a twentieth of %d", q, goLimit)
	}
	// A budget the resident part alone fills: a quarter to Go, and a warning naming the fix.
	if ok {
		small := outside
		goLimit, _, warning = memoryShares(small, 0, 0, true)
		if goLimit != small/4 || warning == "" {
			t.Errorf("budget %d with %d resident outside Go: limit %d (want %d), warning %q", small, outside, goLimit, small/4, warning)
		}
	}
}

// The queue is sized from what the heap's fixed part (rules, reassembly arenas, measured
// after setup) and the collector's share leave of the Go limit, not from the whole limit:
// the fixed part, the collector's share and the queue together stay well under the limit,
// whatever the fixed part. Before, the queue was a fifth of the whole limit whatever was
// already taken, and a 40 MiB fixed part with a 16 MiB collector share took 56 MiB of a
// 64 MiB limit before a single call was queued.
func TestMemorySharesFixedHeap(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	budget := int64(256 << 20)
	goLimit, whole, _ := memoryShares(budget, 0, 0, true)
	for _, c := range []struct{ fixed, sink int64 }{{10 << 20, 0}, {goLimit / 4, budget / 16}, {goLimit / 2, budget / 16}} {
		g, queue, warning := memoryShares(budget, c.fixed, c.sink, true)
		if g != goLimit || warning != "" {
			t.Fatalf("fixed %d, collector %d: Go limit %d (want %d, as without), warning %q", c.fixed, c.sink, g, goLimit, warning)
		}
		if want := (goLimit - c.fixed - c.sink) / 5; queue != want {
			t.Errorf("fixed %d, collector %d of a %d limit: live queue %d, want a fifth of what is left, %d", c.fixed, c.sink, goLimit, queue, want)
		}
		if c.fixed+c.sink+queue*5/4 > goLimit || queue >= whole {
			t.Errorf("fixed %d + collector %d + queue %d (a quarter more while shedding) does not fit the %d limit, or the queue is not smaller than with nothing fixed (%d)",
				c.fixed, c.sink, queue, goLimit, whole)
		}
		if _, fq, _ := memoryShares(budget, c.fixed, c.sink, false); fq != (goLimit-c.fixed-c.sink)/20 {
			t.Errorf("fixed %d: file queue %d, want a twentieth of %d", c.fixed, fq, goLimit-c.fixed-c.sink)
		}
	}
	// A fixed part that fills the limit: the queue from an eighth of it, and a warning.
	_, queue, warning := memoryShares(budget, goLimit, budget/16, true)
	if queue != goLimit/8/5 || warning == "" {
		t.Errorf("fixed part the size of the limit: queue %d (want %d), warning %q", queue, goLimit/8/5, warning)
	}
}

// fixedHeap sees what stays allocated: a 16 MiB block held across the call is in it.
func TestFixedHeap(t *testing.T) {
	before := fixedHeap()
	keep := make([]byte, 16<<20)
	after := fixedHeap()
	runtime.KeepAlive(keep)
	if after-before < 15<<20 || after-before > 20<<20 {
		t.Errorf("fixed heap %d before a 16 MiB block, %d with it held", before, after)
	}
}
