package capture

import (
	"context"
	"time"

	"github.com/gopacket/gopacket"
)

// stopDrainLimit bounds how long a live reader goes on reading once it was told to stop:
// a reader far behind a busy wire must not hold up the exit.
const stopDrainLimit = 2 * time.Second

// stopping decides when a live reader stops once ctx has ended. Packets stamped before the
// stop were on the wire while sniffer was asked to capture, yet may still wait in the
// capture buffer (a reader behind the wire, a ring block not handed over yet): stopping at
// once would lose the ends of calls without a counter saying so. So the reader goes on
// until the first packet stamped after the stop, an empty buffer (a read timeout), or
// stopDrainLimit, whichever comes first.
type stopping struct {
	ctx context.Context
	at  time.Time // when the reader saw ctx end; zero until then
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

// after reports, once ctx has ended, whether the packet stamped ci.Timestamp is past the
// stop (or the drain took too long): the reader stops without handling it.
func (s *stopping) after(ci gopacket.CaptureInfo) bool {
	return !s.at.IsZero() && (ci.Timestamp.After(s.at) || time.Since(s.at) > stopDrainLimit)
}
