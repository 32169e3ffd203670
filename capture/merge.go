package capture

import (
	"context"
	"sync"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// reader is one device for merge: read returns packets the caller may keep (copied
// out of the capture buffer).
type reader struct {
	name string
	lt   layers.LinkType
	read func() (data []byte, ci gopacket.CaptureInfo, err error)
	// timeout tells a read that found nothing in time from a failure.
	timeout func(error) bool
	settle  time.Duration // the capture's block timeout (see stopping)
	// skip, when set, leaves a packet out (for example one taken before the filter).
	skip func(ci gopacket.CaptureInfo) bool
}

// merge reads several devices at once, one goroutine each, and hands their packets to h
// from the calling goroutine, with Idle about every 200 ms. It returns the first read
// error (or ErrStopCut), or nil once ctx has ended and every reader has drained (see
// stopping).
func merge(ctx context.Context, h Handler, readers []reader) error {
	type pkt struct {
		data []byte
		ci   gopacket.CaptureInfo
		lt   layers.LinkType
	}
	ch := make(chan pkt, 4096)
	errs := make(chan error, len(readers))
	var wg sync.WaitGroup
	for _, r := range readers {
		wg.Add(1)
		go func(r reader) {
			defer wg.Done()
			stop := stopping{ctx: ctx, settle: r.settle}
			for {
				data, ci, err := r.read()
				switch {
				case err != nil && r.timeout(err):
					if stop.drained() {
						return
					}
					continue
				case err != nil:
					errs <- err
					return
				case r.skip != nil && r.skip(ci):
					continue
				case stop.ended() && stop.after(ci):
					if err := stop.err(); err != nil {
						errs <- err
					}
					return
				}
				ch <- pkt{data, ci, r.lt} // read until every reader has returned
			}
		}(r)
	}
	go func() { wg.Wait(); close(ch) }()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case p, ok := <-ch:
			if !ok {
				select {
				case err := <-errs:
					return err
				default:
					return nil
				}
			}
			h.Packet(p.data, p.ci, p.lt)
		case now := <-tick.C:
			h.Idle(now)
		}
	}
}
