//go:build unix

package output

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive, non-blocking lock on f (the spool's LOCK file), so that two
// sniffers never share a spool directory. The lock goes with the process.
func lockFile(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}
