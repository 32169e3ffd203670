package capture

import (
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/gopacket/gopacket/afpacket"
	"golang.org/x/sys/unix"
)

// The ring's wait runs in the Go poller (afRing): gopacket still keeps the socket where
// afFD finds it, a read on an idle socket times out after its timeout (not at once, not
// never), and a packet sent while a read waits is handed over when the kernel retires
// its block (afBlockTimeout), not at the read's timeout: the poller was woken.
func TestAFRingWaitsInPoller(t *testing.T) {
	needRawSocket(t)
	ln, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.LocalAddr().(*net.UDPAddr).Port
	src, err := Open(Config{Device: "lo", Engine: "afpacket", Filter: fmt.Sprintf("udp dst port %d", port)})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ring := src.af.rings[0]
	fd, err := afFD(ring.tp)
	if err != nil {
		t.Fatal(err)
	}
	if dom, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN); err != nil || dom != unix.AF_PACKET {
		t.Fatalf("afFD gave descriptor %d: domain %d, %v; want an AF_PACKET socket", fd, dom, err)
	}

	start := time.Now()
	if _, _, err := ring.read(300*time.Millisecond, false); !errors.Is(err, afpacket.ErrTimeout) {
		t.Fatalf("read on an idle socket: %v, want afpacket.ErrTimeout", err)
	}
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Errorf("read on an idle socket returned after %v, want its timeout (300 ms)", d)
	}

	conn, err := net.DialUDP("udp4", nil, ln.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	go func() {
		time.Sleep(100 * time.Millisecond) // the read is waiting by then
		conn.Write([]byte("wake"))
	}()
	start = time.Now()
	data, _, err := ring.read(10*time.Second, true)
	if err != nil {
		t.Fatalf("read with a datagram sent while it waited: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the datagram was handed over after %v: the poller was not woken (the kernel retires a block within %v)", d, afBlockTimeout)
	}
	if len(data) < 4 || string(data[len(data)-4:]) != "wake" {
		t.Errorf("read %q, want the datagram ending in %q", data, "wake")
	}
}
