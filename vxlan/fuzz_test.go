package vxlan

import (
	"bytes"
	"testing"
)

// FuzzDecap feeds arbitrary UDP payloads to Decap. It must never panic, and whatever
// it accepts must be a real VXLAN header followed by at least an Ethernet header,
// with the counters adding up. Seeds are in testdata/fuzz/FuzzDecap (real AWS mirror
// payloads, GBP, VXLAN-GPE, cut headers) and added below.
func FuzzDecap(f *testing.F) {
	f.Add(append(vxlanHeader(42), innerTCP4(f, "GET / HTTP/1.1\r\n\r\n")...))
	f.Add(append([]byte{0x88, 0x48, 0x12, 0x34, 0, 0, 1, 0}, make([]byte, 14)...))
	f.Add([]byte{0x08, 0, 0, 0, 0, 0, 1})
	f.Add([]byte{})
	d := mustNew(f, 0, "-1")
	f.Fuzz(func(t *testing.T, p []byte) {
		before := d.Stats()
		orig := bytes.Clone(p)
		vni, inner, ok := d.Decap(p)
		after := d.Stats()
		if !bytes.Equal(p, orig) {
			t.Fatal("Decap modified its input")
		}
		if after.Encapsulated != before.Encapsulated+1 {
			t.Fatalf("Encapsulated went %d -> %d", before.Encapsulated, after.Encapsulated)
		}
		counted := (after.Decapsulated - before.Decapsulated) + (after.BadHeader - before.BadHeader) + (after.FilteredVNI - before.FilteredVNI)
		if counted != 1 {
			t.Fatalf("one packet counted %d times: %+v -> %+v", counted, before, after)
		}
		if vni > MaxVNI {
			t.Fatalf("VNI %d exceeds 24 bits", vni)
		}
		if !ok {
			if inner != nil {
				t.Fatal("rejected packet returned an inner frame")
			}
			return
		}
		if vni == 1 {
			t.Fatal("excluded VNI 1 was decapsulated")
		}
		if len(p) < HeaderLen+14 || p[0]&0x08 == 0 || p[7] != 0 {
			t.Fatalf("accepted a bad header % x", p[:min(len(p), 8)])
		}
		if !bytes.Equal(inner, p[HeaderLen:]) {
			t.Fatal("inner frame is not the bytes after the header")
		}
		if got := uint32(p[4])<<16 | uint32(p[5])<<8 | uint32(p[6]); got != vni {
			t.Fatalf("VNI %d, header says %d", vni, got)
		}
	})
}

// FuzzParseVNIs: any string gives a selector or an error naming the variable, never a
// panic, and an accepted selector survives a round trip through String.
func FuzzParseVNIs(f *testing.F) {
	for _, s := range []string{"", "7", "1,2,-3", "-0", "16777215", "5,-5", " 9 , 7 ", ",", "-", "+1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sel, err := ParseVNIs(s)
		if err != nil {
			return
		}
		canon := sel.String()
		if canon == "all" {
			canon = ""
		}
		again, err := ParseVNIs(canon)
		if err != nil || again.String() != sel.String() {
			t.Fatalf("round trip %q -> %q: %v", s, canon, err)
		}
	})
}
