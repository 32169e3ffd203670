package vxlan

import (
	"bytes"
	"net"
	"slices"
	"sync"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"sniffer/ipfrag"
)

func mustNew(t testing.TB, port int, vnis string) *Decapsulator {
	t.Helper()
	sel, err := ParseVNIs(vnis)
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(port, sel)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func wantStats(t *testing.T, d *Decapsulator, want Stats) {
	t.Helper()
	if got := d.Stats(); got != want {
		t.Errorf("stats = %+v, want %+v", got, want)
	}
}

func TestDecapIPv4TCP(t *testing.T) {
	d := mustNew(t, 0, "")
	inner := innerTCP4(t, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	frame := outerIPv4(t, append(vxlanHeader(42), inner...))

	vni, got, ok := d.Decap(udpPayloadOf(t, frame))
	if !ok || vni != 42 {
		t.Fatalf("Decap = vni %d ok %v, want 42 true", vni, ok)
	}
	if !bytes.Equal(got, inner) {
		t.Fatalf("inner frame differs:\n got %x\nwant %x", got, inner)
	}
	p := gopacket.NewPacket(got, layers.LayerTypeEthernet, gopacket.Default)
	if el := p.ErrorLayer(); el != nil {
		t.Fatalf("inner frame does not decode: %v", el.Error())
	}
	tcp := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if tcp.DstPort != 80 || string(tcp.Payload) != "GET / HTTP/1.1\r\nHost: a\r\n\r\n" {
		t.Fatalf("inner TCP = %v", tcp)
	}
	wantStats(t, d, Stats{Encapsulated: 1, Decapsulated: 1, VNIsSeen: 1})
}

func TestDecapVLANTaggedInner(t *testing.T) {
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP,
		SrcIP: net.IP{192, 0, 2, 1}, DstIP: net.IP{192, 0, 2, 2}}
	tcp := &layers.TCP{SrcPort: 5555, DstPort: 8080, ACK: true, PSH: true}
	_ = tcp.SetNetworkLayerForChecksum(ip)
	inner := serialize(t,
		&layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeDot1Q},
		&layers.Dot1Q{VLANIdentifier: 100, Type: layers.EthernetTypeIPv4},
		ip, tcp, gopacket.Payload("HTTP/1.1 200 OK\r\n\r\n"))
	d := mustNew(t, 0, "")
	vni, got, ok := d.Decap(udpPayloadOf(t, outerIPv4(t, append(vxlanHeader(7), inner...))))
	if !ok || vni != 7 {
		t.Fatalf("Decap = vni %d ok %v", vni, ok)
	}
	p := gopacket.NewPacket(got, layers.LayerTypeEthernet, gopacket.Default)
	vlan, _ := p.Layer(layers.LayerTypeDot1Q).(*layers.Dot1Q)
	if vlan == nil || vlan.VLANIdentifier != 100 {
		t.Fatalf("inner VLAN tag lost: %v", p)
	}
	if tl, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP); tl == nil || tl.DstPort != 8080 {
		t.Fatalf("inner TCP lost under the VLAN tag: %v", p)
	}
}

func TestDecapIPv6InnerAndOuter(t *testing.T) {
	in6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP,
		SrcIP: net.ParseIP("2001:db8::1"), DstIP: net.ParseIP("2001:db8::2")}
	tcp := &layers.TCP{SrcPort: 40000, DstPort: 80, ACK: true, PSH: true}
	_ = tcp.SetNetworkLayerForChecksum(in6)
	inner := serialize(t,
		&layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv6},
		in6, tcp, gopacket.Payload("GET /v6 HTTP/1.1\r\n\r\n"))

	out6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP,
		SrcIP: net.ParseIP("2001:db8:ff::1"), DstIP: net.ParseIP("2001:db8:ff::2")}
	udp := &layers.UDP{SrcPort: 61000, DstPort: DefaultPort}
	_ = udp.SetNetworkLayerForChecksum(out6)
	frame := serialize(t,
		&layers.Ethernet{SrcMAC: macB, DstMAC: macA, EthernetType: layers.EthernetTypeIPv6},
		out6, udp, gopacket.Payload(append(vxlanHeader(MaxVNI), inner...)))

	d := mustNew(t, 0, "")
	vni, got, ok := d.Decap(udpPayloadOf(t, frame))
	if !ok || vni != MaxVNI || !bytes.Equal(got, inner) {
		t.Fatalf("Decap = vni %d ok %v inner equal %v", vni, ok, bytes.Equal(got, inner))
	}
	p := gopacket.NewPacket(got, layers.LayerTypeEthernet, gopacket.Default)
	ip, _ := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	if ip == nil || !ip.DstIP.Equal(net.ParseIP("2001:db8::2")) {
		t.Fatalf("inner IPv6 lost: %v", p)
	}
	if app := p.ApplicationLayer(); app == nil || string(app.Payload()) != "GET /v6 HTTP/1.1\r\n\r\n" {
		t.Fatalf("inner payload lost: %v", p)
	}
}

func TestDecapBadHeaders(t *testing.T) {
	inner := innerTCP4(t, "x")
	hdr := func(b ...byte) []byte { return append(b, inner...) }
	tests := []struct {
		name    string
		payload []byte
		ok      bool
	}{
		{"empty", nil, false},
		{"three bytes", []byte{0x08, 0, 0}, false},
		{"seven bytes", []byte{0x08, 0, 0, 0, 0, 0, 42}, false},
		{"header only", vxlanHeader(42), false},
		{"inner shorter than Ethernet", append(vxlanHeader(42), inner[:13]...), false},
		{"I flag clear", hdr(0x00, 0, 0, 0, 0, 0, 42, 0), false},
		{"wrong flags byte 0xff", hdr(0xff, 0, 0, 0, 0, 0, 42, 0), false},
		{"VXLAN-GPE P bit", hdr(0x0c, 0, 0, 0x03, 0, 0, 42, 0), false},
		{"GPE O bit", hdr(0x09, 0, 0, 0, 0, 0, 42, 0), false},
		{"reserved byte after VNI", hdr(0x08, 0, 0, 0, 0, 0, 42, 1), false},
		{"reserved byte 1 without G", hdr(0x08, 0x40, 0, 0, 0, 0, 42, 0), false},
		{"policy ID without G", hdr(0x08, 0, 0x12, 0x34, 0, 0, 42, 0), false},
		{"GBP with undefined bit", hdr(0x88, 0x01, 0, 0, 0, 0, 42, 0), false},
		{"GBP with D, A and policy", hdr(0x88, 0x48, 0x12, 0x34, 0, 0, 42, 0), true},
		{"plain RFC 7348", hdr(0x08, 0, 0, 0, 0, 0, 42, 0), true},
		{"exactly an Ethernet header inside", append(vxlanHeader(42), inner[:14]...), true},
	}
	for _, tc := range tests {
		d := mustNew(t, 0, "")
		vni, got, ok := d.Decap(tc.payload)
		if ok != tc.ok {
			t.Errorf("%s: ok = %v, want %v", tc.name, ok, tc.ok)
			continue
		}
		st := d.Stats()
		if tc.ok {
			if vni != 42 || len(got) != len(tc.payload)-HeaderLen {
				t.Errorf("%s: vni %d, inner %d bytes", tc.name, vni, len(got))
			}
			if st != (Stats{Encapsulated: 1, Decapsulated: 1, VNIsSeen: 1}) {
				t.Errorf("%s: stats %+v", tc.name, st)
			}
		} else {
			if vni != 0 || got != nil {
				t.Errorf("%s: bad header returned vni %d inner %d bytes", tc.name, vni, len(got))
			}
			if st != (Stats{Encapsulated: 1, BadHeader: 1}) {
				t.Errorf("%s: stats %+v, want one bad header and no VNI seen", tc.name, st)
			}
		}
	}
}

// A truncating mirror session (or snap length) cuts the inner packet: Decap still
// returns what there is, and decoding the inner frame shows the truncation instead of
// inventing bytes.
func TestDecapTruncatedInnerPacket(t *testing.T) {
	inner := innerTCP4(t, "GET /long HTTP/1.1\r\nHost: example\r\n\r\n")
	cut := inner[:14+20+10] // Ethernet, IPv4, half a TCP header
	d := mustNew(t, 0, "")
	_, got, ok := d.Decap(append(vxlanHeader(3), cut...))
	if !ok || len(got) != len(cut) {
		t.Fatalf("Decap of truncated inner: ok %v len %d", ok, len(got))
	}
	p := gopacket.NewPacket(got, layers.LayerTypeEthernet, gopacket.Default)
	if p.Metadata().Truncated == false && p.ErrorLayer() == nil {
		t.Fatalf("decoding a cut inner frame reported neither truncation nor error: %v", p)
	}
	// The outer capture can be cut inside the VXLAN header too.
	if _, _, ok := d.Decap(append(vxlanHeader(3), inner...)[:5]); ok {
		t.Fatal("a cut VXLAN header was accepted")
	}
	wantStats(t, d, Stats{Encapsulated: 2, Decapsulated: 1, BadHeader: 1, VNIsSeen: 1})
}

// Two mirror sessions with overlapping private addresses: identical inner frames must
// come out with their own VNI so that reassembly can key flows apart.
func TestDecapTwoVNIsSameInnerTuple(t *testing.T) {
	inner := innerTCP4(t, "GET / HTTP/1.1\r\n\r\n")
	a := append(vxlanHeader(100), inner...)
	b := append(vxlanHeader(200), inner...)

	d := mustNew(t, 0, "")
	va, ia, oka := d.Decap(a)
	vb, ib, okb := d.Decap(b)
	if !oka || !okb || va != 100 || vb != 200 {
		t.Fatalf("VNIs = %d,%d ok %v,%v", va, vb, oka, okb)
	}
	if !bytes.Equal(ia, ib) {
		t.Fatal("identical inner frames came out different")
	}
	wantStats(t, d, Stats{Encapsulated: 2, Decapsulated: 2, VNIsSeen: 2})

	// Selecting one VNI keeps it and counts the other as filtered (and still seen).
	d = mustNew(t, 0, "-200")
	if _, _, ok := d.Decap(a); !ok {
		t.Fatal("VNI 100 filtered by -200")
	}
	vni, in, ok := d.Decap(b)
	if ok || vni != 200 || in != nil {
		t.Fatalf("VNI 200 not filtered: vni %d ok %v", vni, ok)
	}
	wantStats(t, d, Stats{Encapsulated: 2, Decapsulated: 1, FilteredVNI: 1, VNIsSeen: 2})
}

func TestSeenVNIsAndZeroValue(t *testing.T) {
	var d Decapsulator // zero value: port 4789, all VNIs
	if d.Port() != DefaultPort {
		t.Fatalf("zero value port %d", d.Port())
	}
	inner := innerTCP4(t, "")
	for _, v := range []uint32{MaxVNI, 0, 31, 32, 5, 5, 31} {
		if _, _, ok := d.Decap(append(vxlanHeader(v), inner...)); !ok {
			t.Fatalf("VNI %d rejected", v)
		}
	}
	if got, want := d.SeenVNIs(0), []uint32{0, 5, 31, 32, MaxVNI}; !slices.Equal(got, want) {
		t.Fatalf("SeenVNIs = %v, want %v", got, want)
	}
	if got := d.SeenVNIs(2); !slices.Equal(got, []uint32{0, 5}) {
		t.Fatalf("SeenVNIs(2) = %v", got)
	}
	if st := d.Stats(); st.VNIsSeen != 5 || st.Decapsulated != 7 {
		t.Fatalf("stats %+v", st)
	}
	if s := d.Stats().String(); s != "vxlan: 7 encapsulated, 7 decapsulated, 0 bad headers, 0 filtered by VNI, 5 VNIs seen" {
		t.Fatalf("Stats.String() = %q", s)
	}
}

func TestDecapConcurrentCounters(t *testing.T) {
	d := mustNew(t, 0, "-3")
	good := append(vxlanHeader(1), innerTCP4(t, "a")...)
	filtered := append(vxlanHeader(3), innerTCP4(t, "b")...)
	bad := []byte{0, 1, 2}
	const workers, per = 4, 2000
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			own := append(vxlanHeader(uint32(10+w)), innerTCP4(t, "c")...)
			for range per {
				d.Decap(good)
				d.Decap(filtered)
				d.Decap(bad)
				d.Decap(own)
			}
		}()
	}
	wg.Wait()
	want := Stats{Encapsulated: 4 * workers * per, Decapsulated: 2 * workers * per,
		BadHeader: workers * per, FilteredVNI: workers * per, VNIsSeen: 2 + workers}
	wantStats(t, d, want)
}

func TestNewPort(t *testing.T) {
	for _, p := range []int{-1, 65536, 1 << 20} {
		if _, err := New(p, Selector{}); err == nil {
			t.Errorf("New(%d) accepted an invalid port", p)
		}
	}
	d, err := New(0, Selector{})
	if err != nil || d.Port() != 4789 {
		t.Fatalf("New(0) = %v, %v", d, err)
	}
	d, err = New(8472, Selector{}) // Linux's historical VXLAN port
	if err != nil || d.Port() != 8472 {
		t.Fatalf("New(8472) = port %d, %v", d.Port(), err)
	}
}

func TestFilterExpr(t *testing.T) {
	for port, want := range map[int]string{0: "udp port 4789", -5: "udp port 4789", 4789: "udp port 4789", 8472: "udp port 8472"} {
		want += " or " + ipfrag.BPF(17) // and UDP fragments, which carry no port
		if got := FilterExpr(port); got != want {
			t.Errorf("FilterExpr(%d) = %q, want %q", port, got, want)
		}
	}
}
