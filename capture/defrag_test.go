package capture

import (
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"sniffer/vxlan"
)

// decodeAll decodes frames in order, one millisecond apart, and returns the segments'
// payloads and VNIs.
func decodeAll(d *Decoder, frames [][]byte, lt layers.LinkType) (payloads []string, vnis []int) {
	at := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	for _, f := range frames {
		at = at.Add(time.Millisecond)
		c := ci(f)
		c.Timestamp = at
		d.Decode(f, c, lt, func(_ gopacket.Flow, tcp *layers.TCP, _ gopacket.CaptureInfo, vni int) {
			payloads = append(payloads, string(tcp.Payload))
			vnis = append(vnis, vni)
		})
	}
	return
}

func shuffled(frames [][]byte, seed uint64) [][]byte {
	out := append([][]byte(nil), frames...)
	rand.New(rand.NewPCG(seed, seed)).Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// TestDecodeReassembles: a TCP segment in IP fragments, in any order, on every framing the
// decoder knows (fast path and gopacket's full decoder), comes out once and whole.
func TestDecodeReassembles(t *testing.T) {
	body := strings.Repeat("0123456789abcdef", 250)
	for _, frame := range []string{"ether", "vlan", "qinq", "sll", "sll2", "raw", "null", "mpls", "hopbyhop"} {
		for _, ends := range [][2]string{{"10.0.0.1:40000", "10.0.0.2:80"}, {"[2001:db8::1]:40000", "[2001:db8::2]:80"}} {
			if frame == "hopbyhop" && ends[0][0] != '[' {
				continue
			}
			p := pkt{src: netip.MustParseAddrPort(ends[0]), dst: netip.MustParseAddrPort(ends[1]), frame: frame, payload: body}
			frags := p.fragments(t, 1500)
			if len(frags) < 3 {
				t.Fatalf("%s: %d fragments", frame, len(frags))
			}
			for seed := range uint64(5) {
				d := NewDecoder()
				got, _ := decodeAll(d, shuffled(frags, seed), p.lt())
				if len(got) != 1 || got[0] != body {
					t.Errorf("%s %s seed %d: %d segments (fragments %d, reassembled %d, not TCP %d, undecodable %d)", frame, ends[0], seed, len(got),
						d.Stats.Fragments.Load(), d.Stats.Frag.Reassembled.Load(), d.Stats.NotTCP.Load(), d.Stats.Undecoded.Load())
					continue
				}
				if n := int64(len(frags)); d.Stats.Frag.Fragments.Load() != n || d.Stats.Fragments.Load() != n-1 || d.Stats.TCP.Load() != 1 {
					t.Errorf("%s: counted %d fragments in, %d held, %d TCP; want %d, %d, 1", frame, d.Stats.Frag.Fragments.Load(), d.Stats.Fragments.Load(), d.Stats.TCP.Load(), n, n-1)
				}
			}
		}
	}
}

// vxlanFrame wraps an inner Ethernet frame in Ethernet/IPv4/UDP 4789/VXLAN with the VNI,
// IP identification id.
func vxlanFrame(inner []byte, vni uint32, id uint16) pkt {
	vxh := []byte{0x08, 0, 0, 0, byte(vni >> 16), byte(vni >> 8), byte(vni), 0}
	return pkt{src: netip.MustParseAddrPort("192.0.2.1:5555"), dst: netip.MustParseAddrPort("192.0.2.2:4789"), udp: true, frame: "ether", id: id, payload: string(append(vxh, inner...))}
}

// TestDecodeFragmentedTunnel: a Linux VXLAN tunnel with a 1,500-byte underlay sends a
// 1,514-byte inner frame as two outer fragments; inner packets may be fragments too (a
// host behind the tunnel sending large UDP or fragmented TCP). Both levels are
// reassembled, in any order, and inner fragments of two VNIs never mix.
func TestDecodeFragmentedTunnel(t *testing.T) {
	body := strings.Repeat("x", 1460)
	inner := pkt{src: netip.MustParseAddrPort("10.0.0.1:40000"), dst: netip.MustParseAddrPort("10.0.0.2:80"), frame: "ether", payload: body}
	if n := len(inner.bytes()); n != 1514 {
		t.Fatalf("inner frame of %d bytes, want 1514", n)
	}
	outer := vxlanFrame(inner.bytes(), 42, 1).fragments(t, 1500)
	if len(outer) != 2 {
		t.Fatalf("%d outer fragments, want 2", len(outer))
	}
	newDec := func() *Decoder {
		d := NewDecoder()
		vx, err := vxlan.New(4789, vxlan.Selector{})
		if err != nil {
			t.Fatal(err)
		}
		d.VXLANPort, d.Decap, d.InnerPorts = 4789, vx, PortSet{{80, 80}}
		return d
	}
	for seed := range uint64(4) {
		d := newDec()
		got, vnis := decodeAll(d, shuffled(outer, seed), layers.LinkTypeEthernet)
		if len(got) != 1 || got[0] != body || vnis[0] != 42 {
			t.Fatalf("outer fragments, seed %d: %d segments", seed, len(got))
		}
	}

	// Inner fragments (cut at 1,400) of the same datagram in VNIs 7 and 8, each inner
	// fragment in its own VXLAN datagram, which is cut again at 1,000: all interleaved.
	big := strings.Repeat("y", 5000)
	in := pkt{src: netip.MustParseAddrPort("10.0.0.1:40000"), dst: netip.MustParseAddrPort("10.0.0.2:80"), frame: "ether", payload: big}
	var frames [][]byte
	id := uint16(100)
	for _, vni := range []uint32{7, 8} {
		for _, f := range in.fragments(t, 1400) {
			id++
			frames = append(frames, vxlanFrame(f, vni, id).fragments(t, 1000)...)
		}
	}
	for seed := range uint64(10) {
		d := newDec()
		got, vnis := decodeAll(d, shuffled(frames, seed), layers.LinkTypeEthernet)
		if len(got) != 2 || got[0] != big || got[1] != big || vnis[0]+vnis[1] != 15 || vnis[0] == vnis[1] {
			t.Fatalf("seed %d: %d segments, VNIs %v (%s)", seed, len(got), vnis, &d.Stats.Frag)
		}
		if fs := &d.Stats.Frag; fs.Lost() != 0 || fs.Pending.Load() != 0 {
			t.Fatalf("seed %d: %s", seed, fs)
		}
	}
}

// TestDecodeGeneve: Geneve on 6081 is decapsulated like VXLAN, its options skipped, the
// inner packet an Ethernet frame or, as AWS Gateway Load Balancer sends it, bare IPv4;
// fragmented outer datagrams are reassembled first; the inner ports apply.
func TestDecodeGeneve(t *testing.T) {
	body := strings.Repeat("g", 1460)
	inner := pkt{src: netip.MustParseAddrPort("10.0.0.1:40000"), dst: netip.MustParseAddrPort("10.0.0.2:80"), frame: "ether", payload: body}.bytes()
	opts := []byte{0x01, 0x08, 0x03, 0x01, 0xca, 0xfe, 0xf0, 0x0d} // AWS's flow cookie
	wrap := func(proto uint16, in []byte, id uint16) pkt {
		h := []byte{byte(len(opts) / 4), 0, byte(proto >> 8), byte(proto), 0, 0x01, 0x02, 0}
		return pkt{src: netip.MustParseAddrPort("192.0.2.1:5555"), dst: netip.MustParseAddrPort("192.0.2.2:6081"), udp: true, frame: "ether", id: id,
			payload: string(append(append(h, opts...), in...))}
	}
	for _, tc := range []struct {
		name   string
		frames [][]byte
	}{
		{"ethernet", [][]byte{wrap(0x6558, inner, 1).bytes()}},
		{"ipv4", [][]byte{wrap(0x0800, inner[14:], 2).bytes()}},
		{"ethernet, fragmented outer", wrap(0x6558, inner, 3).fragments(t, 1500)},
		{"ipv4, fragmented outer", wrap(0x0800, inner[14:], 4).fragments(t, 1000)},
	} {
		for seed := range uint64(3) {
			d := NewDecoder()
			g, err := vxlan.NewGeneve(0, vxlan.Selector{})
			if err != nil {
				t.Fatal(err)
			}
			d.GenevePort, d.Geneve, d.InnerPorts = 6081, g, PortSet{{80, 80}}
			got, vnis := decodeAll(d, shuffled(tc.frames, seed), layers.LinkTypeEthernet)
			if len(got) != 1 || got[0] != body || vnis[0] != 0x102 {
				t.Fatalf("%s: %d segments (VNIs %v; %s; %s)", tc.name, len(got), vnis, g.Stats(), &d.Stats.Frag)
			}
			d.InnerPorts = PortSet{{8080, 8080}}
			if got, _ := decodeAll(d, tc.frames, layers.LinkTypeEthernet); len(got) != 0 {
				t.Fatalf("%s: the inner ports do not apply", tc.name)
			}
		}
	}
}
