package main

import (
	"runtime"
	"runtime/debug"
	"testing"
)

// The Go runtime gets the budget less what is resident outside it (on Linux, where /proc
// says), never less than a quarter of it, and the queue a fifth of that live, a twentieth
// for a file.
func TestMemoryShares(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	outside, ok := residentOutsideGo()
	if runtime.GOOS == "linux" && (!ok || outside <= 0) {
		t.Fatalf("residentOutsideGo on Linux: %d, %v; want the binary's resident pages at least", outside, ok)
	}
	budget := int64(256 << 20)
	goLimit, queue, warning := memoryShares(budget, true)
	if got := debug.SetMemoryLimit(-1); got != goLimit {
		t.Errorf("the Go memory limit is %d, memoryShares said %d", got, goLimit)
	}
	if want := (budget - outside - cMargin) * 7 / 8; ok && (goLimit > want+1<<20 || goLimit < want-(8<<20)) {
		t.Errorf("Go limit %d of a %d budget with %d resident outside Go; want about %d", goLimit, budget, outside, want)
	}
	if queue != goLimit/5 || warning != "" {
		t.Errorf("live queue %d (want %d), warning %q", queue, goLimit/5, warning)
	}
	if _, q, _ := memoryShares(budget, false); q*20 > goLimit+20 {
		t.Errorf("file queue %d, want about a twentieth of %d", q, goLimit)
	}
	// A budget the resident part alone fills: a quarter to Go, and a warning naming the fix.
	if ok {
		small := outside
		goLimit, _, warning = memoryShares(small, true)
		if goLimit != small/4 || warning == "" {
			t.Errorf("budget %d with %d resident outside Go: limit %d (want %d), warning %q", small, outside, goLimit, small/4, warning)
		}
	}
}
