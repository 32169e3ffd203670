package capture

import (
	"context"
	"sync"
)

// Group is the members of one AF_PACKET fanout group (OpenGroup): the kernel hands each
// connection, both directions, to one member, so each member's reader can decode and
// reassemble on its own goroutine, with no copy and no hand-off between them. It reads as
// one Source for the counters.
type Group struct {
	Members []*Source
}

// Run reads every member on its own goroutine, member i calling hs[i], until ctx ends or
// a read fails; a failure stops the other members too and is returned.
func (g *Group) Run(ctx context.Context, hs []Handler) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(g.Members))
	var wg sync.WaitGroup
	for i, m := range g.Members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if errs[i] = m.Run(ctx, hs[i]); errs[i] != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// Stats sums the members' counters (see Source.Stats).
func (g *Group) Stats() (received, dropped, ifDropped int) {
	for _, m := range g.Members {
		r, d, i := m.Stats()
		received, dropped, ifDropped = received+r, dropped+d, ifDropped+i
	}
	return
}

// Live is true: a group reads a device.
func (g *Group) Live() bool { return true }

// Names lists the devices the group reads (every member reads the same).
func (g *Group) Names() []string { return g.Members[0].Names() }

// Close closes every member.
func (g *Group) Close() {
	for _, m := range g.Members {
		m.Close()
	}
}
