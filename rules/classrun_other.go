//go:build !amd64

package rules

// Elsewhere findSkip does the work.
const useClassRun = false

func classRun(s []byte, t *[48]byte, m int, center uint64) (start, end, i, run int) {
	return -1, -1, 0, 0
}

func (sm *seqMatcher) findRun(s string, lo int) (int, int) { return sm.findSkip(s, lo) }
