package capture

import (
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

type seen struct {
	n       int
	flow    gopacket.Flow
	payload string
	vni     int
	sport   layers.TCPPort
}

func decodeOne(d *Decoder, data []byte, lt layers.LinkType) *seen {
	s := &seen{}
	d.Decode(data, ci(data), lt, func(nf gopacket.Flow, t *layers.TCP, _ gopacket.CaptureInfo, vni int) {
		s.n++
		s.flow, s.payload, s.vni, s.sport = nf, string(t.Payload), vni, t.SrcPort
	})
	return s
}

// TestDecodeFrames decodes TCP over every framing the decoder handles, on its fast path
// and on gopacket's full decoder, for IPv4 and IPv6.
func TestDecodeFrames(t *testing.T) {
	for _, frame := range []string{"ether", "vlan", "qinq", "sll", "sll2", "raw", "null", "mpls", "pppoe", "hopbyhop"} {
		for _, ends := range [][2]string{{"10.0.0.1:40000", "10.0.0.2:80"}, {"[2001:db8::1]:40000", "[2001:db8::2]:80"}} {
			if (frame == "pppoe" && ends[0][0] == '[') || (frame == "hopbyhop" && ends[0][0] != '[') {
				continue
			}
			p := pkt{src: netip.MustParseAddrPort(ends[0]), dst: netip.MustParseAddrPort(ends[1]), frame: frame, payload: "GET / HTTP/1.1\r\n\r\n"}
			d := NewDecoder()
			s := decodeOne(d, p.bytes(), p.lt())
			if s.n != 1 || s.payload != p.payload || s.sport != 40000 || s.vni != -1 {
				t.Errorf("%s %s: %d segments, payload %q, port %d, vni %d (undecoded %d, not TCP %d)", frame, ends[0], s.n, s.payload, s.sport, s.vni, d.Stats.Undecoded.Load(), d.Stats.NotTCP.Load())
				continue
			}
			if got := s.flow.Src().String(); "["+got+"]:40000" != ends[0] && got+":40000" != ends[0] {
				t.Errorf("%s: source %s, want %s", frame, got, ends[0])
			}
			if d.Stats.Packets.Load() != 1 || d.Stats.TCP.Load() != 1 {
				t.Errorf("%s: stats packets %d tcp %d", frame, d.Stats.Packets.Load(), d.Stats.TCP.Load())
			}
		}
	}
}

func TestDecodeSkips(t *testing.T) {
	a, b := netip.MustParseAddrPort("10.0.0.1:53"), netip.MustParseAddrPort("10.0.0.2:53")
	d := NewDecoder()
	udp := pkt{src: a, dst: b, udp: true, frame: "ether", payload: "dns"}.bytes()
	if s := decodeOne(d, udp, layers.LinkTypeEthernet); s.n != 0 || d.Stats.NotTCP.Load() != 1 {
		t.Errorf("UDP: %d segments, not-TCP %d", s.n, d.Stats.NotTCP.Load())
	}
	frag := pkt{src: a, dst: b, frame: "ether", frag: true, payload: "x"}.bytes()
	if s := decodeOne(d, frag, layers.LinkTypeEthernet); s.n != 0 || d.Stats.Fragments.Load() != 1 || d.Stats.Frag.Fragments.Load() != 1 {
		t.Errorf("fragment: %d segments, fragments %d", s.n, d.Stats.Fragments.Load())
	}
	for _, junk := range [][]byte{nil, {1}, []byte("\xff\xff\xff\xff\xff\xff garbage that is no frame")} {
		before := d.Stats.Undecoded.Load() + d.Stats.NotTCP.Load()
		if s := decodeOne(d, junk, layers.LinkTypeEthernet); s.n != 0 {
			t.Errorf("junk %q decoded as TCP", junk)
		}
		if d.Stats.Undecoded.Load()+d.Stats.NotTCP.Load() != before+1 {
			t.Errorf("junk %q not counted", junk)
		}
	}
	// ARP decodes fine and is not TCP: not "undecodable".
	arp := gopacket.NewSerializeBuffer()
	gopacket.SerializeLayers(arp, gopacket.SerializeOptions{FixLengths: true},
		&layers.Ethernet{SrcMAC: []byte{2, 0, 0, 0, 0, 1}, DstMAC: []byte{255, 255, 255, 255, 255, 255}, EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4, Operation: 1,
			SourceHwAddress: []byte{2, 0, 0, 0, 0, 1}, SourceProtAddress: []byte{10, 0, 0, 1}, DstHwAddress: make([]byte, 6), DstProtAddress: []byte{10, 0, 0, 2}})
	und, not := d.Stats.Undecoded.Load(), d.Stats.NotTCP.Load()
	decodeOne(d, arp.Bytes(), layers.LinkTypeEthernet)
	if d.Stats.Undecoded.Load() != und || d.Stats.NotTCP.Load() != not+1 {
		t.Errorf("ARP: undecoded %d->%d, not TCP %d->%d", und, d.Stats.Undecoded.Load(), not, d.Stats.NotTCP.Load())
	}
	// Cisco HDLC: IPv4 and IPv6 decoded; a cut IPv4 header, a bad address byte and a
	// SLARP keepalive (not IP) are counted, not a panic.
	for _, src := range []netip.AddrPort{a, netip.MustParseAddrPort("[fd00::1]:40000")} {
		dst := b
		if src.Addr().Is6() {
			dst = netip.MustParseAddrPort("[fd00::2]:80")
		}
		if s := decodeOne(d, pkt{src: src, dst: dst, frame: "chdlc", payload: "GET"}.bytes(), layers.LinkTypeC_HDLC); s.n != 1 {
			t.Errorf("C_HDLC %v: %d segments, want 1", src, s.n)
		}
	}
	und, not = d.Stats.Undecoded.Load(), d.Stats.NotTCP.Load()
	for _, f := range [][]byte{{0x0f, 0, 8, 0, 0x45}, {0x0e, 0, 8, 0, 0x45, 0}, {0x8f, 0, 0x80, 0x35, 0, 0, 0, 1}} {
		if s := decodeOne(d, f, layers.LinkTypeC_HDLC); s.n != 0 {
			t.Errorf("C_HDLC % x decoded", f)
		}
	}
	if d.Stats.Undecoded.Load()+d.Stats.NotTCP.Load() != und+not+3 {
		t.Errorf("C_HDLC junk: undecoded %d->%d, not TCP %d->%d, want 3 more", und, d.Stats.Undecoded.Load(), not, d.Stats.NotTCP.Load())
	}
	// A link type with no decoder at all is counted, not a panic.
	if s := decodeOne(d, []byte{0x0f, 0, 8, 0, 0x45}, layers.LinkType(0xfff0)); s.n != 0 {
		t.Error("link type 0xfff0 decoded")
	}
	// A frame cut by the snap length is counted as truncated.
	full := pkt{src: a, dst: b, frame: "ether", payload: "0123456789"}.bytes()
	cut := full[:len(full)-4]
	d.Decode(cut, gopacket.CaptureInfo{CaptureLength: len(cut), Length: len(full)}, layers.LinkTypeEthernet, func(gopacket.Flow, *layers.TCP, gopacket.CaptureInfo, int) {})
	if d.Stats.Truncated.Load() != 1 {
		t.Errorf("truncated %d, want 1", d.Stats.Truncated.Load())
	}
}

// fakeDecap stands for the vxlan package: the payload's first byte is the VNI and the
// rest the inner frame.
type fakeDecap struct{}

func (fakeDecap) Decap(p []byte) (uint32, []byte, bool) {
	if len(p) < 1 || p[0] == 0 {
		return 0, nil, false
	}
	return uint32(p[0]), p[1:], true
}

func TestDecodeVXLANHook(t *testing.T) {
	inner := pkt{src: netip.MustParseAddrPort("10.0.0.1:40000"), dst: netip.MustParseAddrPort("10.0.0.2:80"), frame: "ether", payload: "inner"}.bytes()
	outer := pkt{src: netip.MustParseAddrPort("192.0.2.1:5555"), dst: netip.MustParseAddrPort("192.0.2.2:4789"), udp: true, frame: "ether", payload: string(append([]byte{42}, inner...))}.bytes()
	d := NewDecoder()
	if s := decodeOne(d, outer, layers.LinkTypeEthernet); s.n != 0 {
		t.Error("VXLAN decapsulated without a VXLAN port")
	}
	d.VXLANPort, d.Decap, d.InnerPorts = 4789, fakeDecap{}, PortSet{{80, 80}}
	s := decodeOne(d, outer, layers.LinkTypeEthernet)
	if s.n != 1 || s.vni != 42 || s.payload != "inner" {
		t.Errorf("VXLAN: %d segments, vni %d, payload %q", s.n, s.vni, s.payload)
	}
	d.InnerPorts = PortSet{{8080, 8080}}
	if s := decodeOne(d, outer, layers.LinkTypeEthernet); s.n != 0 {
		t.Error("inner port filter not applied")
	}
	refused := pkt{src: netip.MustParseAddrPort("192.0.2.1:5555"), dst: netip.MustParseAddrPort("192.0.2.2:4789"), udp: true, frame: "ether", payload: "\x00bad"}.bytes()
	if s := decodeOne(d, refused, layers.LinkTypeEthernet); s.n != 0 {
		t.Errorf("refused VXLAN: %d segments", s.n)
	}
}

func BenchmarkDecode(b *testing.B) {
	frames := []struct {
		name string
		p    pkt
	}{
		{"ether-v4", pkt{src: netip.MustParseAddrPort("10.0.0.1:40000"), dst: netip.MustParseAddrPort("10.0.0.2:80"), frame: "ether"}},
		{"vlan-v6", pkt{src: netip.MustParseAddrPort("[2001:db8::1]:40000"), dst: netip.MustParseAddrPort("[2001:db8::2]:80"), frame: "vlan"}},
		{"sll2-v4", pkt{src: netip.MustParseAddrPort("10.0.0.1:40000"), dst: netip.MustParseAddrPort("10.0.0.2:80"), frame: "sll2"}},
		{"mpls-slow-path", pkt{src: netip.MustParseAddrPort("10.0.0.1:40000"), dst: netip.MustParseAddrPort("10.0.0.2:80"), frame: "mpls"}},
	}
	for _, f := range frames {
		f.p.payload = string(make([]byte, 1400))
		data := f.p.bytes()
		lt := f.p.lt()
		b.Run(f.name, func(b *testing.B) {
			d := NewDecoder()
			n := 0
			fn := func(gopacket.Flow, *layers.TCP, gopacket.CaptureInfo, int) { n++ }
			c := ci(data)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				d.Decode(data, c, lt, fn)
			}
			if n != b.N {
				b.Fatalf("%d segments of %d packets", n, b.N)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
		})
	}
}

// A Sibling decodes with its parent's settings (here Ports, the user-space port filter) and
// counts into the parent's Stats, so that the members of a fanout group add up in one place.
func TestDecoderSibling(t *testing.T) {
	d := NewDecoder()
	d.Ports = PortSet{{80, 80}}
	sib := d.Sibling()
	in := pkt{src: netip.MustParseAddrPort("10.0.0.1:40000"), dst: netip.MustParseAddrPort("10.0.0.2:80"), frame: "ether", payload: "GET / HTTP/1.1\r\n\r\n"}
	out := pkt{src: netip.MustParseAddrPort("10.0.0.1:40000"), dst: netip.MustParseAddrPort("10.0.0.2:8080"), frame: "ether", payload: "GET / HTTP/1.1\r\n\r\n"}
	if s := decodeOne(sib, in.bytes(), in.lt()); s.n != 1 {
		t.Errorf("the sibling passed on %d segments to port 80, want 1", s.n)
	}
	if s := decodeOne(sib, out.bytes(), out.lt()); s.n != 0 {
		t.Errorf("the sibling passed on %d segments to port 8080, want 0 (the parent's Ports)", s.n)
	}
	decodeOne(d, in.bytes(), in.lt())
	if p, tcp, not := d.Stats.Packets.Load(), d.Stats.TCP.Load(), d.Stats.NotTCP.Load(); p != 3 || tcp != 2 || not != 1 {
		t.Errorf("parent's stats: %d packets, %d TCP, %d not TCP; want 3, 2, 1 (the sibling's counted there)", p, tcp, not)
	}
	if n := sib.Stats.Packets.Load(); n != 0 {
		t.Errorf("the sibling's own Stats counted %d packets; they belong to the parent's", n)
	}
}
