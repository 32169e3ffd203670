package capture

import (
	"context"
	"errors"
	"time"

	"github.com/gopacket/gopacket"
)

// stopDrainLimit bounds how long a live reader goes on reading once it was told to stop:
// a reader far behind a busy wire must not hold up the exit. (A variable for a test.)
var stopDrainLimit = 2 * time.Second

// ErrStopCut is returned by Run when it stopped at stopDrainLimit with packets taken before
// the stop still unread: calls at the end of the run may be incomplete or missing, and no
// counter can say how many.
var ErrStopCut = errors.New("stopped after draining the capture for 2 s, with packets taken before the stop still unread (the reader was behind the wire): calls at the end of the run may be missing")

// stopping decides when a live reader stops once ctx has ended. Packets stamped before the
// stop were on the wire while sniffer was asked to capture, yet may still wait in the
// capture buffer (a reader behind the wire, a ring block not handed over yet): stopping at
// once would lose the ends of calls without a counter saying so. So the reader goes on
// until the first packet stamped after the stop, an empty buffer, or stopDrainLimit,
// whichever comes first. The buffer is known empty only from a read timeout once settle
// has passed since the stop: the kernel holds a partly filled ring block back from user
// space for up to that long (its block timeout), so an earlier timeout may leave packets
// from before the stop in a block not handed over yet.
type stopping struct {
	ctx    context.Context
	settle time.Duration // the capture's block timeout
	at     time.Time     // when the reader saw ctx end; zero until then
	cut    bool          // the drain stopped at stopDrainLimit
}

// ended reports whether ctx has ended, noting when the reader first saw it.
func (s *stopping) ended() bool {
	if s.at.IsZero() {
		if s.ctx.Err() == nil {
			return false
		}
		s.at = time.Now()
	}
	return true
}

// drained reports, on a read timeout, whether the reader should stop: ctx has ended, and
// every block holding packets from before the stop has been handed over.
func (s *stopping) drained() bool {
	return s.ended() && time.Since(s.at) >= s.settle
}

// after reports, once ctx has ended, whether the packet stamped ci.Timestamp is past the
// stop (or the drain took too long): the reader stops without handling it.
func (s *stopping) after(ci gopacket.CaptureInfo) bool {
	if s.at.IsZero() || ci.Timestamp.After(s.at) {
		return !s.at.IsZero()
	}
	s.cut = time.Since(s.at) > stopDrainLimit
	return s.cut
}

// err is what the reader returns once after said stop: ErrStopCut when the drain was cut.
func (s *stopping) err() error {
	if s.cut {
		return ErrStopCut
	}
	return nil
}
