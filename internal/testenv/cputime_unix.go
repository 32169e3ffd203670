//go:build unix

package testenv

import (
	"syscall"
	"time"
)

// CPUTime is the user and system CPU time the process has used (0 if the system does not
// say): benchmarks report CPU per operation, which holds up on a busy machine where rates
// do not.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
