package main

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"sniffer/internal/damage"
)

// TestFragmentAndWrap runs the command's path on a corpus capture (loopback, 16 KB segments): VXLAN,
// the tunnel's datagrams cut at 1,500. Every output packet is an outer IPv4/UDP packet (or a
// later fragment of one) to the VXLAN port, no IP packet exceeds its MTU, and bad flag
// combinations are refused.
func TestFragmentAndWrap(t *testing.T) {
	in := filepath.Join("..", "..", "..", "shared", "corpus", "http-range-multiflows.pcap")
	if _, err := os.Stat(filepath.Dir(in)); err != nil {
		t.Skipf("skipped: no shared corpus at %s (a bare clone: .ci/skips-allowed): %v", filepath.Dir(in), err)
	}
	out := filepath.Join(t.TempDir(), "out.pcap")
	opts := damage.Options{Seed: 1, DupDelay: 3, Tunnel: damage.TunnelVXLAN, VNI: 42, OuterMTU: 1500}
	if err := check(opts); err != nil {
		t.Fatal(err)
	}
	if err := run(in, out, "", opts); err != nil {
		t.Fatal(err)
	}
	c, err := damage.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	firsts, later := 0, 0
	for _, p := range c.Packets {
		pkt := gopacket.NewPacket(p.Data, layers.LayerTypeEthernet, gopacket.Default)
		ip, _ := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if ip == nil || ip.Protocol != layers.IPProtocolUDP || int(ip.Length) > 1500 {
			t.Fatalf("packet %d is not an outer IPv4/UDP packet within 1500 bytes: %v", p.Orig, pkt)
		}
		if ip.FragOffset != 0 {
			later++
			continue
		}
		firsts++
		// gopacket stops at a first fragment's IP layer: read the UDP header by hand.
		if len(ip.Payload) < 8 || binary.BigEndian.Uint16(ip.Payload[2:4]) != 4789 {
			t.Fatalf("packet %d: not to UDP 4789", p.Orig)
		}
	}
	if firsts == 0 || later == 0 {
		t.Errorf("%d first fragments or whole datagrams, %d later fragments: want both", firsts, later)
	}
	for _, bad := range []damage.Options{{DupDelay: 3, OuterMTU: 1500}, {DupDelay: 3, FragMTU: -1}, {DupDelay: 3, Tunnel: "vxlan", VNI: 1 << 24}} {
		if check(bad) == nil {
			t.Errorf("check(%+v) accepted", bad)
		}
	}
}
