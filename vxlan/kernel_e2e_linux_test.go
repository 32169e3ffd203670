//go:build linux

package vxlan

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/vishvananda/netlink"
)

// TestKernelVXLANEndToEnd: two namespaces joined by a veth pair (the underlay), a
// kernel VXLAN device made by EnsureDevice on each (VNI 42), and traffic on the overlay
// from A to B: a UDP datagram and an HTTP request to a real net/http server. On B's
// underlay veth, libpcap with FilterExpr sees the encapsulated packets, and Decap
// must give back exactly the inner frames, while B's kernel delivers them too.
func TestKernelVXLANEndToEnd(t *testing.T) {
	needRoot(t)
	nsA, hA := newNetns(t, "a")
	nsB, hB := newNetns(t, "b")
	run(t, "ip", "-n", nsA, "link", "add", "ulA", "type", "veth", "peer", "name", "ulB", "netns", nsB)
	run(t, "ip", "-n", nsA, "addr", "add", "10.201.0.1/24", "dev", "ulA")
	run(t, "ip", "-n", nsB, "addr", "add", "10.201.0.2/24", "dev", "ulB")
	run(t, "ip", "-n", nsA, "link", "set", "ulA", "up")
	run(t, "ip", "-n", nsB, "link", "set", "ulB", "up")

	var cleanups []func() error
	var vxMAC net.HardwareAddr
	for _, side := range []struct {
		ns            string
		parent        string
		local, remote string
		overlay       string
	}{{nsA, "ulA", "10.201.0.1", "10.201.0.2", "10.202.0.1/24"}, {nsB, "ulB", "10.201.0.2", "10.201.0.1", "10.202.0.2/24"}} {
		h := hA
		if side.ns == nsB {
			h = hB
		}
		err := inNetns(h, func() error {
			created, cleanup, err := EnsureDevice(DeviceConfig{VNI: 42, Parent: side.parent,
				Local: netip.MustParseAddr(side.local), Remote: netip.MustParseAddr(side.remote)})
			if err != nil {
				return err
			}
			if !created {
				return errors.New("vx0 already existed in a new namespace")
			}
			cleanups = append(cleanups, cleanup)
			l, err := netlink.LinkByName("vx0")
			if err != nil {
				return err
			}
			if side.ns == nsA {
				vxMAC = l.Attrs().HardwareAddr
			}
			return nil
		})
		if err != nil {
			t.Fatalf("EnsureDevice in %s: %v", side.ns, err)
		}
		run(t, "ip", "-n", side.ns, "addr", "add", side.overlay, "dev", "vx0")
	}
	t.Cleanup(func() {
		for _, c := range cleanups {
			if err := c(); err != nil {
				t.Error(err)
			}
		}
	})

	// B: libpcap on the underlay, a UDP socket and an HTTP server on the overlay.
	var (
		udpB  net.PacketConn
		httpL net.Listener
	)
	handle, err := openCapture(hB, "ulB", FilterExpr(DefaultPort))
	if err != nil {
		t.Fatalf("capturing on B's underlay: %v", err)
	}
	defer handle.Close()
	err = inNetns(hB, func() error {
		var err error
		if udpB, err = net.ListenPacket("udp4", "10.202.0.2:9999"); err != nil {
			return err
		}
		httpL, err = net.Listen("tcp4", "10.202.0.2:8080")
		return err
	})
	if err != nil {
		t.Fatalf("setting up B: %v", err)
	}
	defer udpB.Close()
	var served sync.WaitGroup
	served.Add(1)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer served.Done()
		fmt.Fprintf(w, "served %s over vxlan", r.URL.Path)
	}), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(httpL)
	defer srv.Close()

	// Decapsulate everything B's underlay carries, both directions.
	d := mustNew(t, 0, "")
	capture := startCapture(handle, d)

	// A: send over the overlay. The first datagram may wait for ARP over the tunnel,
	// so resend until B's socket has one (bounded).
	marker := fmt.Sprintf("vxlan-e2e-%d-%d", os.Getpid(), time.Now().UnixNano())
	var reply string
	err = inNetns(hA, func() error {
		c, err := net.Dial("udp4", "10.202.0.2:9999")
		if err != nil {
			return err
		}
		defer c.Close()
		buf := make([]byte, 2048)
		got := false
		for i := 0; i < 20 && !got; i++ {
			if _, err := c.Write([]byte(marker)); err != nil {
				return err
			}
			udpB.SetReadDeadline(time.Now().Add(250 * time.Millisecond))
			n, _, err := udpB.ReadFrom(buf)
			got = err == nil && string(buf[:n]) == marker
		}
		if !got {
			return errors.New("B's kernel never delivered the UDP datagram sent through vx0")
		}

		tc, err := net.DialTimeout("tcp4", "10.202.0.2:8080", 5*time.Second)
		if err != nil {
			return err
		}
		defer tc.Close()
		tc.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(tc, "GET /%s HTTP/1.1\r\nHost: 10.202.0.2:8080\r\nConnection: close\r\n\r\n", marker)
		resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		reply = string(body)
		return err
	})
	if err != nil {
		t.Fatalf("sending from A: %v", err)
	}
	served.Wait()
	if reply != "served /"+marker+" over vxlan" {
		t.Fatalf("HTTP reply %q", reply)
	}

	// Wait (bounded) until the capture has the datagram, the request and the response:
	// libpcap sees both directions on B's underlay, so the response B sends back to A
	// is there encapsulated too.
	a, b := net.IP{10, 201, 0, 1}, net.IP{10, 201, 0, 2}
	oa, ob := net.IP{10, 202, 0, 1}, net.IP{10, 202, 0, 2}
	var sawUDP, sawGET, saw200 bool
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end) && !(sawUDP && sawGET && saw200); time.Sleep(20 * time.Millisecond) {
		for _, p := range capture.snapshot() {
			if p.vni != 42 {
				continue
			}
			fromA := p.outerSrc.Equal(a) && p.outerD.Equal(b) && p.src.Equal(oa) && p.dst.Equal(ob) && bytes.Equal(p.srcMAC, vxMAC)
			fromB := p.outerSrc.Equal(b) && p.outerD.Equal(a) && p.src.Equal(ob) && p.dst.Equal(oa)
			switch {
			case fromA && p.proto == layers.IPProtocolUDP && p.dstPort == 9999 && string(p.payload) == marker:
				sawUDP = true
			case fromA && p.proto == layers.IPProtocolTCP && p.dstPort == 8080 && strings.HasPrefix(string(p.payload), "GET /"+marker+" HTTP/1.1\r\n"):
				sawGET = true
			case fromB && p.proto == layers.IPProtocolTCP && p.srcPort == 8080 && strings.HasPrefix(string(p.payload), "HTTP/1.1 200 OK\r\n"):
				saw200 = true
			}
		}
	}
	if err := capture.finish(); err != nil {
		t.Fatalf("capture: %v", err)
	}
	packets := capture.snapshot()
	st := d.Stats()
	t.Logf("%d inner frames on B's underlay; %s", len(packets), st)
	if !sawUDP || !sawGET || !saw200 {
		for _, p := range packets {
			t.Logf("  vni %d %v -> %v %v port %d %q", p.vni, p.src, p.dst, p.proto, p.dstPort, p.payload)
		}
		t.Fatalf("captured UDP datagram %v, HTTP request %v, HTTP response %v (want all, encapsulated with VNI 42)", sawUDP, sawGET, saw200)
	}
	if st.BadHeader != 0 || st.VNIsSeen != 1 || st.Decapsulated != uint64(len(packets)) {
		t.Fatalf("stats %+v for %d frames", st, len(packets))
	}
}
