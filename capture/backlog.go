package capture

import (
	"time"

	"github.com/gopacket/gopacket"
)

// Backlog estimates, from the packets a live reader reads, how much of the kernel's capture
// buffer is filled by packets not read yet: how far behind the wire the reader is (now minus
// the capture time of the packet it reads) times the rate the wire brings bytes (measured
// in capture time). A reader short of CPU sees it grow before the kernel drops anything.
type Backlog struct {
	size  float64 // the kernel buffer, bytes
	n     int
	bytes int64     // captured bytes since since
	since time.Time // capture time of the first packet of the current window
	rate  float64   // bytes per second of capture time, last window
}

// NewBacklog makes the estimator for a kernel buffer of bufferSize bytes (0: 16 MiB).
func NewBacklog(bufferSize int) *Backlog {
	if bufferSize <= 0 {
		bufferSize = DefaultBufferSize
	}
	return &Backlog{size: float64(bufferSize)}
}

// Packet counts one packet read; every 64 packets it returns the backlog's share of the
// buffer (ok true).
func (b *Backlog) Packet(ci gopacket.CaptureInfo) (share float64, ok bool) {
	if b.since.IsZero() {
		b.since = ci.Timestamp
	}
	b.bytes += int64(ci.Length)
	if b.n++; b.n&63 != 0 {
		return 0, false
	}
	if span := ci.Timestamp.Sub(b.since); span >= 50*time.Millisecond {
		b.rate = float64(b.bytes) / span.Seconds()
		b.bytes, b.since = 0, ci.Timestamp
	}
	lag := time.Since(ci.Timestamp).Seconds()
	if lag < 0 {
		lag = 0
	}
	return lag * b.rate / b.size, true
}
