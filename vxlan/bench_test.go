package vxlan

import "testing"

// The hot path must not allocate: it runs once per mirrored packet.
func TestDecapDoesNotAllocate(t *testing.T) {
	d := mustNew(t, 0, "1,2,3,42,-7")
	good := append(vxlanHeader(42), innerTCP4(t, "GET / HTTP/1.1\r\n\r\n")...)
	filtered := append(vxlanHeader(9), innerTCP4(t, "x")...)
	bad := append([]byte{0x0c, 0, 0, 3, 0, 0, 42, 0}, innerTCP4(t, "x")...)
	for name, p := range map[string][]byte{"good": good, "filtered": filtered, "bad": bad, "short": good[:5]} {
		if n := testing.AllocsPerRun(1000, func() { d.Decap(p) }); n != 0 {
			t.Errorf("Decap(%s) allocates %.1f times per call", name, n)
		}
	}
}

func BenchmarkDecap(b *testing.B) {
	d := mustNew(b, 0, "")
	p := append(vxlanHeader(42), innerTCP4(b, "GET / HTTP/1.1\r\nHost: api\r\n\r\n")...)
	b.ReportAllocs()
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		if _, _, ok := d.Decap(p); !ok {
			b.Fatal("rejected")
		}
	}
}

// With a selector and many distinct VNIs the bitmap and binary search are exercised.
func BenchmarkDecapSelectorManyVNIs(b *testing.B) {
	d := mustNew(b, 0, "1,5,9,13,17,21,25,29,-3")
	inner := innerTCP4(b, "x")
	ps := make([][]byte, 64)
	for i := range ps {
		ps[i] = append(vxlanHeader(uint32(i)*4+1), inner...)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		d.Decap(ps[i&63])
		i++
	}
}

func BenchmarkDecapParallel(b *testing.B) {
	d := mustNew(b, 0, "")
	p := append(vxlanHeader(42), innerTCP4(b, "x")...)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			d.Decap(p)
		}
	})
}
