package capture

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// ltCounter counts the packets handed to it by link type.
type ltCounter struct {
	mu sync.Mutex
	n  map[layers.LinkType]int
}

func (c *ltCounter) Packet(_ []byte, _ gopacket.CaptureInfo, lt layers.LinkType) {
	c.mu.Lock()
	c.n[lt]++
	c.mu.Unlock()
}

func (c *ltCounter) Idle(time.Time) {}

// TestLiveStopDrains stops a live capture whose buffer still holds packets taken before
// the stop: every engine must hand them all over before Run returns (they were on the
// wire while sniffer was asked to capture), and return soon after. Stopping at once lost
// the ends of calls under load without a counter saying so.
func TestLiveStopDrains(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("live capture needs root (or CAP_NET_RAW): run the tests as root to include it")
	}
	for _, c := range []struct {
		name, engine, dev string
		lts               int // handles, each with its own link type, each seeing every datagram
	}{
		{"libpcap lo", "libpcap", "lo", 1},
		{"libpcap lo and any (merged)", "libpcap", "lo,any", 2},
		{"afpacket lo", "afpacket", "lo", 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			ln, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			port := ln.LocalAddr().(*net.UDPAddr).Port
			src, err := Open(Config{Device: c.dev, Engine: c.engine, Filter: fmt.Sprintf("udp dst port %d", port)})
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			conn, err := net.DialUDP("udp4", nil, ln.LocalAddr().(*net.UDPAddr))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			const n = 200
			for i := range n {
				if _, err := fmt.Fprintf(conn, "datagram %d", i); err != nil {
					t.Fatal(err)
				}
			}
			time.Sleep(100 * time.Millisecond) // in the capture buffer, perhaps in a block not handed over yet

			h, took, err := runStopped(t, src)
			t.Logf("%v: %v after the stop", h.n, took)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if len(h.n) != c.lts {
				t.Errorf("packets of %d link types (%v), want %d", len(h.n), h.n, c.lts)
			}
			for lt, got := range h.n {
				if got != n {
					t.Errorf("%v: %d packets handed over, want the %d taken before the stop", lt, got, n)
				}
			}

			// Sent while the reader waits, and the stop at once: the packets sit in a ring
			// block the kernel has not handed over yet, and a read may time out before it
			// does. They were taken before the stop, so they come out all the same.
			ctx, cancel := context.WithCancel(context.Background())
			h = &ltCounter{n: map[layers.LinkType]int{}}
			done := make(chan error, 1)
			go func() { done <- src.Run(ctx, h) }()
			time.Sleep(150 * time.Millisecond) // Run is in a read
			for i := range n {
				fmt.Fprintf(conn, "datagram %d", i)
			}
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("Run: %v", err)
				}
			case <-time.After(stopDrainLimit + 3*time.Second):
				t.Fatalf("Run did not return within %v of the stop", stopDrainLimit+3*time.Second)
			}
			for lt, got := range h.n {
				if got != n {
					t.Errorf("sent while reading: %v: %d packets handed over, want the %d taken before the stop", lt, got, n)
				}
			}
			if len(h.n) != c.lts {
				t.Errorf("sent while reading: packets of %d link types (%v), want %d", len(h.n), h.n, c.lts)
			}

			// A drain cut short (here at once) leaves packets unread: Run says so.
			for i := range n {
				fmt.Fprintf(conn, "datagram %d", i)
			}
			time.Sleep(100 * time.Millisecond)
			defer func(limit time.Duration) { stopDrainLimit = limit }(stopDrainLimit)
			stopDrainLimit = 0
			h, _, err = runStopped(t, src)
			if !errors.Is(err, ErrStopCut) {
				t.Errorf("drain cut at once: Run returned %v with %v handed over, want ErrStopCut", err, h.n)
			}
		})
	}
}

// runStopped runs src with a context ended before it starts, and returns what it handed
// over, how long Run took and its error.
func runStopped(t *testing.T, src *Source) (*ltCounter, time.Duration, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // told to stop before reading a single packet
	h := &ltCounter{n: map[layers.LinkType]int{}}
	done := make(chan error, 1)
	began := time.Now()
	go func() { done <- src.Run(ctx, h) }()
	select {
	case err := <-done:
		return h, time.Since(began).Round(time.Millisecond), err
	case <-time.After(stopDrainLimit + 3*time.Second):
		t.Fatalf("Run did not return within %v of being started stopped", stopDrainLimit+3*time.Second)
	}
	return nil, 0, nil
}
