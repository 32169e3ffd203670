package output

import (
	"sync"
	"time"
)

// warnLimiter lets a warning through at most once per period and counts the ones it held
// back, so a collector outage or a full queue logs a line a minute rather than a flood.
type warnLimiter struct {
	mu         sync.Mutex
	period     time.Duration
	last       time.Time
	suppressed int
}

// allow reports whether to log now and how many warnings were held back since the last one.
func (w *warnLimiter) allow(now time.Time) (bool, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.last.IsZero() && now.Sub(w.last) < w.period {
		w.suppressed++
		return false, 0
	}
	n := w.suppressed
	w.last, w.suppressed = now, 0
	return true, n
}
