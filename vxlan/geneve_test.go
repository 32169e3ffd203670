package vxlan

import (
	"bytes"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// geneveHeader is an RFC 8926 header: version 0, the options (a multiple of 4 bytes), O
// for a control message, the protocol type and the VNI.
func geneveHeader(vni uint32, proto uint16, opts []byte, oam bool) []byte {
	h := []byte{byte(len(opts) / 4), 0, byte(proto >> 8), byte(proto), byte(vni >> 16), byte(vni >> 8), byte(vni), 0}
	if oam {
		h[1] |= 0x80
	}
	if len(opts) > 0 {
		h[1] |= 0x40 // C: a critical option is present
	}
	return append(h, opts...)
}

// awsOptions is a Geneve option block as AWS Gateway Load Balancer sends it (class
// 0x0108: the endpoint id, the attachment id, the flow cookie), 32 bytes.
var awsOptions = []byte{
	0x01, 0x08, 0x01, 0x02, 1, 2, 3, 4, 5, 6, 7, 8, // endpoint id
	0x01, 0x08, 0x02, 0x02, 9, 9, 9, 9, 9, 9, 9, 9, // attachment id
	0x01, 0x08, 0x03, 0x01, 0xca, 0xfe, 0xf0, 0x0d, // flow cookie
}

func TestGeneveDecap(t *testing.T) {
	eth := innerTCP4(t, "GET / HTTP/1.1\r\n\r\n")
	ip := eth[14:]
	g, err := NewGeneve(0, Selector{})
	if err != nil || g.Port() != 6081 {
		t.Fatalf("NewGeneve(0) = port %d, %v", g.Port(), err)
	}
	for _, tc := range []struct {
		name  string
		p     []byte
		inner []byte
		lt    layers.LinkType
	}{
		{"ethernet", append(geneveHeader(7, protoEthernet, nil, false), eth...), eth, layers.LinkTypeEthernet},
		{"ethernet with options", append(geneveHeader(7, protoEthernet, awsOptions, false), eth...), eth, layers.LinkTypeEthernet},
		{"AWS GWLB: IPv4 with options", append(geneveHeader(7, protoIPv4, awsOptions, false), ip...), ip, layers.LinkTypeIPv4},
	} {
		// gopacket's own Geneve decoder reads the same VNI, protocol and options length.
		var gl layers.Geneve
		if err := gl.DecodeFromBytes(tc.p, gopacket.NilDecodeFeedback); err != nil || gl.VNI != 7 || len(gl.Payload) != len(tc.inner) {
			t.Fatalf("%s: test header wrong by gopacket's reading: %v, VNI %d", tc.name, err, gl.VNI)
		}
		vni, inner, lt, ok := g.Decap(tc.p)
		if !ok || vni != 7 || lt != tc.lt || !bytes.Equal(inner, tc.inner) {
			t.Errorf("%s: vni %d, link %v, ok %v, inner %d bytes", tc.name, vni, lt, ok, len(inner))
		}
	}
	for _, tc := range []struct {
		name string
		p    []byte
	}{
		{"version 1", append([]byte{0x40, 0, 0x65, 0x58, 0, 0, 7, 0}, eth...)},
		{"unknown protocol", append(geneveHeader(7, 0x8847, nil, false), eth...)},
		{"options past the end", geneveHeader(7, protoEthernet, awsOptions, false)},
		{"short", []byte{0, 0, 0x65}},
		{"inner shorter than an IPv6 header", append(geneveHeader(7, protoIPv6, nil, false), ip[:30]...)},
	} {
		if _, inner, _, ok := g.Decap(tc.p); ok || inner != nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
	if _, _, _, ok := g.Decap(append(geneveHeader(7, protoEthernet, nil, true), eth...)); ok {
		t.Error("a control message was decapsulated")
	}
	want := Stats{Protocol: "geneve", Encapsulated: 9, Decapsulated: 3, BadHeader: 5, Control: 1, VNIsSeen: 1}
	if st := g.Stats(); st != want {
		t.Errorf("stats %+v, want %+v", st, want)
	}
	sel, _ := ParseVNIs("-7")
	g, _ = NewGeneve(6081, sel)
	if vni, _, _, ok := g.Decap(append(geneveHeader(7, protoEthernet, nil, false), eth...)); ok || vni != 7 || g.Stats().FilteredVNI != 1 {
		t.Error("the VNI selector does not apply to Geneve")
	}
	if _, err := NewGeneve(70000, Selector{}); err == nil {
		t.Error("port 70000 accepted")
	}
}

// FuzzGeneve: Decap never panics, never changes its input, counts each payload once, and
// what it accepts lies inside the payload after the header and options.
func FuzzGeneve(f *testing.F) {
	eth := innerTCP4(f, "x")
	f.Add(append(geneveHeader(7, protoEthernet, awsOptions, false), eth...))
	f.Add(append(geneveHeader(7, protoIPv4, nil, false), eth[14:]...))
	f.Add(geneveHeader(7, protoIPv6, nil, true))
	f.Add([]byte{0x3f, 0xff})
	g, _ := NewGeneve(0, Selector{})
	f.Fuzz(func(t *testing.T, p []byte) {
		before := g.Stats()
		orig := bytes.Clone(p)
		_, inner, lt, ok := g.Decap(p)
		after := g.Stats()
		if !bytes.Equal(p, orig) {
			t.Fatal("Decap modified its input")
		}
		counted := (after.Decapsulated - before.Decapsulated) + (after.BadHeader - before.BadHeader) + (after.FilteredVNI - before.FilteredVNI) + (after.Control - before.Control)
		if counted != 1 || after.Encapsulated != before.Encapsulated+1 {
			t.Fatalf("one payload counted %d times", counted)
		}
		if !ok {
			return
		}
		if start := 8 + int(p[0]&0x3f)*4; len(inner) != len(p)-start || (lt == layers.LinkTypeEthernet && len(inner) < 14) || (lt == layers.LinkTypeIPv4 && len(inner) < 20) {
			t.Fatalf("inner of %d bytes (%v) from a %d-byte payload", len(inner), lt, len(p))
		}
	})
}
