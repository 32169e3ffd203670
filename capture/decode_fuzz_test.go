package capture

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"sniffer/vxlan"
)

// fuzzLinkTypes are the link types Decode is given by libpcap in practice: those of the
// fast path and a few that go to gopacket's full decoder.
var fuzzLinkTypes = []layers.LinkType{
	layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL, layers.LinkTypeLinuxSLL2,
	layers.LinkTypeNull, layers.LinkTypeLoop, layers.LinkTypeRaw, layers.LinkTypeIPv4,
	layers.LinkTypeIPv6, 12, 14, layers.LinkTypePPP, layers.LinkTypeFDDI,
	layers.LinkTypeIEEE802_11, layers.LinkTypePrismHeader, layers.LinkTypeIEEE80211Radio,
	layers.LinkTypeLinuxUSB, layers.LinkTypePFLog, layers.LinkTypeC_HDLC, LinkTypeNFLOG, 0xffff,
}

// FuzzDecode feeds arbitrary bytes to Decode under every link type, with the VXLAN hook
// on (the real vxlan.Decapsulator) and off. Decode must never panic, every frame must
// be accounted for exactly once (passed on as TCP, or counted as not TCP, undecodable,
// a fragment, or a VXLAN header the decapsulator refused), and a segment passed on must
// be made of the frame's bytes.
func FuzzDecode(f *testing.F) {
	// Seeds: a TCP segment in every framing the packet builder of the decoder tests
	// knows, under its own link type, and a VXLAN-wrapped one.
	a, b := netip.MustParseAddrPort("10.0.0.1:40000"), netip.MustParseAddrPort("10.0.0.2:80")
	a6, b6 := netip.MustParseAddrPort("[2001:db8::1]:40000"), netip.MustParseAddrPort("[2001:db8::2]:80")
	for _, frame := range []string{"ether", "vlan", "qinq", "sll", "sll2", "raw", "null", "mpls", "pppoe", "hopbyhop"} {
		for _, ends := range [][2]netip.AddrPort{{a, b}, {a6, b6}} {
			p := pkt{src: ends[0], dst: ends[1], frame: frame, payload: "GET / HTTP/1.1\r\n\r\n"}
			f.Add(p.bytes(), uint8(slices.Index(fuzzLinkTypes, p.lt())), false)
		}
	}
	inner := pkt{src: a, dst: b, frame: "ether", payload: "inner"}.bytes()
	vxh := []byte{0x08, 0, 0, 0, 0, 0, 42, 0}
	outer := pkt{src: netip.MustParseAddrPort("192.0.2.1:5555"), dst: netip.MustParseAddrPort("192.0.2.2:4789"), udp: true, frame: "ether", payload: string(append(vxh, inner...))}
	f.Add(outer.bytes(), uint8(0), true)
	for _, ends := range [][2]netip.AddrPort{{a, b}, {a6, b6}} { // IP fragments
		for _, fr := range (pkt{src: ends[0], dst: ends[1], frame: "ether", payload: string(make([]byte, 300))}).fragments(f, 200) {
			f.Add(fr, uint8(0), false)
		}
	}
	f.Add([]byte{}, uint8(1), false)
	f.Add([]byte{0x45, 0, 0, 20, 0, 0, 0x20, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2}, uint8(5), false)
	f.Add(make([]byte, 64), uint8(3), true)
	f.Fuzz(func(t *testing.T, data []byte, ltIndex uint8, vx bool) {
		lt := fuzzLinkTypes[int(ltIndex)%len(fuzzLinkTypes)]
		d := NewDecoder()
		var decap *vxlan.Decapsulator
		if vx {
			var err error
			if decap, err = vxlan.New(4789, vxlan.Selector{}); err != nil {
				t.Fatal(err)
			}
			d.VXLANPort, d.Decap, d.InnerPorts = 4789, decap, PortSet{{80, 80}}
		}
		in := append([]byte(nil), data...)
		segs := 0
		ci := gopacket.CaptureInfo{CaptureLength: len(data), Length: len(data) + int(ltIndex&1)}
		d.Decode(data, ci, lt, func(_ gopacket.Flow, tcp *layers.TCP, _ gopacket.CaptureInfo, vni int) {
			segs++
			if len(tcp.Payload) > len(data) {
				t.Fatalf("segment payload of %d bytes from a %d-byte frame", len(tcp.Payload), len(data))
			}
			if vni >= 0 && !vx {
				t.Fatalf("VNI %d without VXLAN decapsulation", vni)
			}
		})
		if string(in) != string(data) {
			t.Fatalf("Decode changed its input")
		}
		s := &d.Stats
		refused := int64(0)
		if decap != nil {
			st := decap.Stats()
			refused = int64(st.BadHeader + st.FilteredVNI)
		}
		if s.Packets.Load() != 1 || s.TCP.Load() != int64(segs) || segs > 1 {
			t.Fatalf("packets %d, TCP %d, segments passed on %d", s.Packets.Load(), s.TCP.Load(), segs)
		}
		if sum := s.TCP.Load() + s.NotTCP.Load() + s.Undecoded.Load() + s.Fragments.Load() + refused; sum != 1 {
			t.Fatalf("frame accounted for %d times: TCP %d, not TCP %d, undecodable %d, fragments %d, VXLAN refused %d (link type %v)",
				sum, s.TCP.Load(), s.NotTCP.Load(), s.Undecoded.Load(), s.Fragments.Load(), refused, lt)
		}
		if want := int64(ltIndex & 1); s.Truncated.Load() != want {
			t.Fatalf("truncated %d, want %d", s.Truncated.Load(), want)
		}
	})
}
