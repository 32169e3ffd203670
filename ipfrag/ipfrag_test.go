package ipfrag

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)

// packet4 makes an IPv4/UDP packet with n payload bytes (a pattern that shows misplaced
// bytes) and identification id.
func packet4(n int, id uint16, src byte) []byte {
	p := make([]byte, 20+8+n)
	p[0], p[8], p[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(p[2:4], uint16(len(p)))
	binary.BigEndian.PutUint16(p[4:6], id)
	binary.BigEndian.PutUint16(p[6:8], 0x4000) // DF, as TCP sends
	copy(p[12:16], []byte{10, 0, 0, src})
	copy(p[16:20], []byte{10, 0, 0, 2})
	binary.BigEndian.PutUint16(p[22:24], 4789)
	binary.BigEndian.PutUint16(p[24:26], uint16(8+n))
	for i := 28; i < len(p); i++ {
		p[i] = byte(i*7 + i/251)
	}
	binary.BigEndian.PutUint16(p[10:12], Checksum(p[:20]))
	return p
}

func packet6(n int, next byte) []byte {
	p := make([]byte, 40+n)
	p[0], p[6], p[7] = 0x60, next, 64
	binary.BigEndian.PutUint16(p[4:6], uint16(n))
	p[8], p[23] = 0xfd, 1
	p[24], p[39] = 0xfd, 2
	for i := 40; i < len(p); i++ {
		p[i] = byte(i*13 + i/253)
	}
	return p
}

// feed hands fragments to d in order and returns what came out whole.
func feed(d *Defragmenter, frags [][]byte, ctx int64, at time.Time) [][]byte {
	var out [][]byte
	for _, f := range frags {
		var w []byte
		if f[0]>>4 == 4 {
			if !IsIPv4Fragment(f) {
				out = append(out, f)
				continue
			}
			w = d.IPv4(f, ctx, at)
		} else {
			var isFrag bool
			if w, isFrag = d.IPv6(f, ctx, at); !isFrag {
				out = append(out, f)
				continue
			}
		}
		if w != nil {
			out = append(out, w)
		}
	}
	return out
}

// same4 compares a reassembled IPv4 packet with the original: Split cleared DF (a
// fragmented packet cannot have it), so the fragment field is 0 and the checksum differs.
func same4(t *testing.T, got, want []byte) {
	t.Helper()
	hl := int(want[0]&15) * 4
	if len(got) != len(want) || !bytes.Equal(got[:6], want[:6]) || !bytes.Equal(got[8:10], want[8:10]) || !bytes.Equal(got[12:], want[12:]) ||
		binary.BigEndian.Uint16(got[6:8]) != 0 || Checksum(got[:hl]) != 0 {
		t.Fatalf("reassembled packet differs from the original: %d vs %d bytes\n got %x\nwant %x", len(got), len(want), head(got), head(want))
	}
}

func head(b []byte) []byte { return b[:min(len(b), 48)] }

func TestIPv4Orders(t *testing.T) {
	orig := packet4(3000, 77, 1)
	frags, err := Split(orig, 1500, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(frags) != 3 {
		t.Fatalf("%d fragments of a 3028-byte packet at MTU 1500, want 3", len(frags))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		order := append([][]byte(nil), frags...)
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		if round%3 == 0 { // duplicate one fragment, before or after
			order = append(order, order[rng.IntN(len(order))])
			rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		}
		var st Stats
		d := New(Limits{}, &st)
		out := feed(d, order, -1, t0)
		if len(out) != 1 {
			t.Fatalf("round %d: %d datagrams out, want 1 (stats: dup %d overlap %d malformed %d)", round, len(out), st.Duplicates.Load(), st.Overlapping.Load(), st.Malformed.Load())
		}
		same4(t, out[0], orig)
		// A copy that comes after the datagram completed is known as one: nothing stays.
		if st.Reassembled.Load() != 1 || st.Pending.Load() != 0 || st.HeldBytes.Load() != 0 {
			t.Fatalf("round %d: reassembled %d, pending %d, held %d", round, st.Reassembled.Load(), st.Pending.Load(), st.HeldBytes.Load())
		}
	}
}

func TestIPv4SplitTwiceAndOptions(t *testing.T) {
	orig := packet4(5000, 9, 1)
	// Add 4 bytes of options (NOP NOP NOP EOL) to the header.
	withOpt := append(append(append([]byte(nil), orig[:20]...), 1, 1, 1, 0), orig[20:]...)
	withOpt[0] = 0x46
	binary.BigEndian.PutUint16(withOpt[2:4], uint16(len(withOpt)))
	binary.BigEndian.PutUint16(withOpt[10:12], 0)
	binary.BigEndian.PutUint16(withOpt[10:12], Checksum(withOpt[:24]))
	first, err := Split(withOpt, 3000, 0)
	if err != nil {
		t.Fatal(err)
	}
	var frags [][]byte
	for _, f := range first { // a second router with a smaller MTU
		more, err := Split(f, 576, 0)
		if err != nil {
			t.Fatal(err)
		}
		frags = append(frags, more...)
	}
	var st Stats
	out := feed(New(Limits{}, &st), frags, -1, t0)
	if len(out) != 1 {
		t.Fatalf("%d datagrams from %d fragments", len(out), len(frags))
	}
	same4(t, out[0], withOpt)
	if Checksum(out[0][:24]) != 0 {
		t.Errorf("header checksum of the reassembled packet is wrong")
	}
}

func TestOverlapDiscards(t *testing.T) {
	orig := packet4(2000, 5, 1)
	frags, _ := Split(orig, 1000, 0)
	// A forged fragment at offset 8 with different bytes, between the real ones.
	forged := append([]byte(nil), frags[1]...)
	binary.BigEndian.PutUint16(forged[6:8], 0x2000|1)
	var st Stats
	out := feed(New(Limits{}, &st), [][]byte{frags[0], forged, frags[1], frags[2]}, -1, t0)
	if len(out) != 0 || st.Overlapping.Load() != 1 {
		t.Fatalf("overlap: %d datagrams out, %d overlapping; want none out and 1", len(out), st.Overlapping.Load())
	}
	// IPv6 the same (RFC 5722).
	o6 := packet6(3000, 6)
	f6, _ := Split(o6, 1280, 42)
	bad := append([]byte(nil), f6[1]...)
	binary.BigEndian.PutUint16(bad[42:44], binary.BigEndian.Uint16(bad[42:44])-8)
	st = Stats{}
	out = feed(New(Limits{}, &st), [][]byte{f6[0], bad, f6[1], f6[2]}, -1, t0)
	if len(out) != 0 || st.Overlapping.Load() != 1 {
		t.Fatalf("IPv6 overlap: %d out, %d overlapping", len(out), st.Overlapping.Load())
	}
}

func TestIPv6(t *testing.T) {
	orig := packet6(4000, 6)
	frags, err := Split(orig, 1280, 0xdeadbeef)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range frags {
		if len(f) > 1280 {
			t.Fatalf("fragment of %d bytes at MTU 1280", len(f))
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for round := range 100 {
		order := append([][]byte(nil), frags...)
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		var st Stats
		out := feed(New(Limits{}, &st), order, 7, t0)
		if len(out) != 1 || !bytes.Equal(out[0], orig) {
			t.Fatalf("round %d: %d out; want the original back", round, len(out))
		}
	}
	// A hop-by-hop header before the fragment header is walked over and left out.
	hbh := append([]byte(nil), frags[0][:40]...)
	hbh[6] = 0
	hbh = append(hbh, 44, 0, 1, 4, 0, 0, 0, 0) // next: fragment; PadN
	hbh = append(hbh, frags[0][40:]...)
	binary.BigEndian.PutUint16(hbh[4:6], uint16(len(hbh)-40))
	var st Stats
	out := feed(New(Limits{}, &st), append([][]byte{hbh}, frags[1:]...), 7, t0)
	if len(out) != 1 || !bytes.Equal(out[0], orig) {
		t.Fatalf("with hop-by-hop: %d out, stats %d frags %d malformed %d truncated %d overlapping", len(out), st.Fragments.Load(), st.Malformed.Load(), st.Truncated.Load(), st.Overlapping.Load())
	}
	// An atomic fragment is the packet itself.
	atomic := append(append([]byte(nil), orig[:40]...), 6, 0, 0, 0, 1, 2, 3, 4)
	atomic[6] = 44
	atomic = append(atomic, orig[40:100]...)
	binary.BigEndian.PutUint16(atomic[4:6], uint16(len(atomic)-40))
	st = Stats{}
	out = feed(New(Limits{}, &st), [][]byte{atomic}, -1, t0)
	if len(out) != 1 || out[0][6] != 6 || !bytes.Equal(out[0][40:], orig[40:100]) || st.Atomic.Load() != 1 {
		t.Fatalf("atomic fragment: %d out, atomic %d", len(out), st.Atomic.Load())
	}
}

// Fragments of the same id from two tunnels (or inner and outer) never mix.
func TestContextsApart(t *testing.T) {
	a, _ := Split(packet4(2000, 1, 1), 1000, 0)
	var st Stats
	d := New(Limits{}, &st)
	if out := feed(d, [][]byte{a[0], a[1]}, 1, t0); len(out) != 0 {
		t.Fatal("completed early")
	}
	if out := feed(d, [][]byte{a[2]}, 2, t0); len(out) != 0 {
		t.Fatal("a fragment from another VNI completed the datagram")
	}
	if out := feed(d, [][]byte{a[2]}, 1, t0); len(out) != 1 {
		t.Fatal("the right VNI did not complete it")
	}
}

func TestTimeout(t *testing.T) {
	a, _ := Split(packet4(2000, 1, 1), 1000, 0)
	var st Stats
	d := New(Limits{Timeout: 30 * time.Second}, &st)
	feed(d, a[:2], -1, t0)
	if out := feed(d, a[2:], -1, t0.Add(31*time.Second)); len(out) != 0 {
		t.Fatal("a datagram completed after its timeout")
	}
	if st.TimedOut.Load() != 1 || st.Pending.Load() != 1 {
		t.Fatalf("timed out %d, pending %d (the late last fragment waits alone)", st.TimedOut.Load(), st.Pending.Load())
	}
	d.Expire(t0.Add(62 * time.Second))
	if st.Pending.Load() != 0 || st.HeldBytes.Load() != 0 {
		t.Fatalf("after expiry: pending %d, held %d", st.Pending.Load(), st.HeldBytes.Load())
	}
}

// A flood of fragments that never complete stays within the memory bound, and a datagram
// whose fragments arrive close together still completes in the middle of it.
func TestBoundedUnderFlood(t *testing.T) {
	lim := Limits{MaxBytes: 256 << 10, MaxDatagrams: 512, Timeout: time.Minute}
	var st Stats
	d := New(lim, &st)
	good := 0
	for i := range 20000 {
		// Attack: the first 1,000 bytes of a 2,000-byte datagram, never the rest.
		f, _ := Split(packet4(2000, uint16(i), byte(i>>16)+100), 1000, 0)
		feed(d, f[:1], -1, t0)
		// Attack: tiny 8-byte fragments of one big datagram.
		tiny := make([]byte, 28)
		copy(tiny, packet4(0, 1, 9)[:20])
		binary.BigEndian.PutUint16(tiny[2:4], 28)
		binary.BigEndian.PutUint16(tiny[6:8], 0x2000|uint16(i%8000+1))
		feed(d, [][]byte{tiny}, -1, t0)
		if i%100 == 0 {
			g, _ := Split(packet4(3000, uint16(i), 1), 1500, 0)
			if len(feed(d, g, 5, t0)) == 1 {
				good++
			}
		}
		if h := st.HeldBytes.Load(); h > int64(lim.MaxBytes) {
			t.Fatalf("holding %d bytes, bound %d", h, lim.MaxBytes)
		}
		if p := st.Pending.Load(); p > int64(lim.MaxDatagrams) {
			t.Fatalf("holding %d datagrams, bound %d", p, lim.MaxDatagrams)
		}
	}
	if good != 200 {
		t.Errorf("%d of 200 good datagrams completed during the flood", good)
	}
	if len(d.fifo) > 2*len(d.pending)+64 {
		t.Errorf("queue of %d entries for %d datagrams", len(d.fifo), len(d.pending))
	}
	t.Logf("flood: evicted %d, overlapping %d, peak %d bytes (bound %d), pending %d", st.Evicted.Load(), st.Overlapping.Load(), st.PeakBytes.Load(), lim.MaxBytes, st.Pending.Load())
	if st.PeakBytes.Load() > int64(lim.MaxBytes) {
		t.Errorf("peak %d bytes over the bound %d", st.PeakBytes.Load(), lim.MaxBytes)
	}
	if st.Evicted.Load() == 0 {
		t.Error("nothing evicted: the flood did not reach the bound")
	}
}

func TestMalformed(t *testing.T) {
	orig := packet4(2000, 3, 1)
	frags, _ := Split(orig, 1000, 0)
	cases := map[string][][]byte{}
	// A second "last" fragment with another end.
	last2 := append([]byte(nil), frags[2]...)
	last2 = last2[:len(last2)-8]
	binary.BigEndian.PutUint16(last2[2:4], uint16(len(last2)))
	cases["two ends"] = [][]byte{frags[2], last2, frags[0], frags[1]}
	// A non-last fragment beyond the end.
	beyond := append([]byte(nil), frags[1]...)
	binary.BigEndian.PutUint16(beyond[6:8], 0x2000|300)
	cases["beyond end"] = [][]byte{frags[2], beyond, frags[0], frags[1]}
	// Over 65,535 bytes.
	big := append([]byte(nil), frags[1]...)
	binary.BigEndian.PutUint16(big[6:8], 0x2000|8189)
	cases["oversize"] = [][]byte{frags[0], big, frags[1], frags[2]}
	// Cut by the snap length.
	cases["truncated"] = [][]byte{frags[0], frags[1][:500], frags[2]}
	for name, fs := range cases {
		var st Stats
		if out := feed(New(Limits{}, &st), fs, -1, t0); len(out) != 0 {
			t.Errorf("%s: %d datagrams out, want none", name, len(out))
		}
		if st.Malformed.Load()+st.Truncated.Load() == 0 {
			t.Errorf("%s: not counted", name)
		}
	}
}

// Late copies of a completed datagram's fragments are duplicates, not a new datagram; a new
// datagram reusing the identification with other bytes is reassembled.
func TestLateCopies(t *testing.T) {
	orig := packet4(3000, 77, 1)
	frags, _ := Split(orig, 1000, 0)
	var st Stats
	d := New(Limits{}, &st)
	if out := feed(d, frags, -1, t0); len(out) != 1 {
		t.Fatal("not reassembled")
	}
	if out := feed(d, [][]byte{frags[1], frags[0], frags[3]}, -1, t0.Add(time.Second)); len(out) != 0 || st.Pending.Load() != 0 || st.Duplicates.Load() != 3 {
		t.Fatalf("late copies: %d out, %d pending, %d duplicates", len(out), st.Pending.Load(), st.Duplicates.Load())
	}
	other := packet4(3000, 77, 1)
	other[100] ^= 0xff // same id, other bytes in every fragment
	other[1100] ^= 0xff
	other[2100] ^= 0xff
	other[2900] ^= 0xff
	of, _ := Split(other, 1000, 0)
	if out := feed(d, of, -1, t0.Add(2*time.Second)); len(out) != 1 || !bytes.Equal(out[0][20:], other[20:]) {
		t.Fatalf("a new datagram with a reused id: %d out", len(out))
	}
	// After the timeout a copy is a new (never completed) datagram again, as in Linux.
	if feed(d, frags[:1], -1, t0.Add(time.Minute)); st.Pending.Load() != 1 {
		t.Fatalf("pending %d after a copy past the timeout", st.Pending.Load())
	}
}
