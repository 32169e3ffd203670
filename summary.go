package main

import (
	"fmt"
	"io"
	"sort"
	"time"

	"sniffer/capture"
	"sniffer/reassembly"
	"sniffer/vxlan"
)

// summary prints the end-of-run counters: what was read, what came out, and what was
// dropped and why.
func summary(w io.Writer, src *capture.Source, d *capture.Decoder, s *reassembly.Stats, took time.Duration) {
	ds := &d.Stats
	fmt.Fprintf(w, "sniffer: %d packets (%d bytes), %d TCP segments, %d streams, %d calls, %d incomplete, in %s\n",
		ds.Packets.Load(), ds.Bytes.Load(), ds.TCP.Load(), s.Streams.Load(), s.Calls.Load(), s.IncompleteTotal(), took.Round(time.Millisecond))
	inc := s.Incomplete()
	keys := make([]string, 0, len(inc))
	for k := range inc {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "sniffer:   incomplete, %s: %d\n", k, inc[k])
	}
	if s.IncompleteOut.Load() > 0 {
		fmt.Fprintf(w, "sniffer:   incomplete calls emitted: %d\n", s.IncompleteOut.Load())
	}
	drops := []struct {
		what string
		n    int64
	}{
		{"packets not TCP", ds.NotTCP.Load()},
		{"packets undecodable", ds.Undecoded.Load()},
		{"IP fragments skipped", ds.Fragments.Load()},
		{"packets truncated by snaplen", ds.Truncated.Load()},
		{"stream gaps (lost segments)", s.Gaps.Load()},
		{"malformed messages skipped", s.ParseErrors.Load()},
		{"responses without request", s.Orphans.Load()},
		{"bytes skipped resynchronising", s.SkippedBytes.Load()},
		{"bodies truncated at the limit", s.TruncatedBody.Load()},
		{"tunnels (CONNECT/Upgrade)", s.Tunnels.Load()},
		{"streams refused (max-streams)", s.StreamsRefused.Load()},
	}
	for _, d := range drops {
		if d.n > 0 {
			fmt.Fprintf(w, "sniffer:   %s: %d\n", d.what, d.n)
		}
	}
	if v, ok := d.Decap.(*vxlan.Decapsulator); ok {
		fmt.Fprintf(w, "sniffer:   %s\n", v.Stats())
	}
	if src.Live() {
		recv, drop, ifdrop := src.Stats()
		fmt.Fprintf(w, "sniffer:   pcap: %d received, %d dropped by the kernel, %d dropped by the interface\n", recv, drop, ifdrop)
	}
}

// progress prints a status line about once a second while a file is read.
func progress(w io.Writer, d *capture.Decoder, s *reassembly.Stats) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				fmt.Fprint(w, "\r\033[K")
				return
			case <-t.C:
				fmt.Fprintf(w, "\r\033[Ksniffer: %d packets, %d calls", d.Stats.Packets.Load(), s.Calls.Load())
			}
		}
	}()
	return func() { close(done); <-finished }
}
