package ipfrag

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"time"
)

// FuzzDefragment feeds arbitrary packets (each prefixed with a 2-byte length) to a small
// Defragmenter: it must never panic, never hold more than its bounds, and whatever it
// returns must be a well-formed IP packet whose length fields agree with its size.
func FuzzDefragment(f *testing.F) {
	p4, _ := Split(packet4(600, 1, 1), 200, 0)
	p6, _ := Split(packet6(600, 6), 200, 9)
	for _, set := range [][][]byte{p4, p6, {p4[1], p4[0], p4[0], p4[2], p4[3]}} {
		var seed []byte
		for _, p := range set {
			seed = binary.BigEndian.AppendUint16(seed, uint16(len(p)))
			seed = append(seed, p...)
		}
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		lim := Limits{MaxBytes: 8 << 10, MaxDatagrams: 8, Timeout: time.Second}
		var st Stats
		d := New(lim, &st)
		now := t0
		for len(data) >= 2 {
			n := min(int(binary.BigEndian.Uint16(data)), len(data)-2)
			p := data[2 : 2+n]
			data = data[2+n:]
			now = now.Add(time.Duration(n%7) * 100 * time.Millisecond)
			ctx := int64(n % 3)
			var w []byte
			switch {
			case len(p) >= 20 && p[0]>>4 == 4:
				if IsIPv4Fragment(p) {
					w = d.IPv4(p, ctx, now)
				}
			case len(p) > 0 && p[0]>>4 == 6:
				w, _ = d.IPv6(p, ctx, now)
			}
			if st.HeldBytes.Load() > int64(lim.MaxBytes) || st.Pending.Load() > int64(lim.MaxDatagrams) {
				t.Fatalf("holding %d bytes in %d datagrams; bounds %d, %d", st.HeldBytes.Load(), st.Pending.Load(), lim.MaxBytes, lim.MaxDatagrams)
			}
			if w == nil {
				continue
			}
			switch w[0] >> 4 {
			case 4:
				if int(binary.BigEndian.Uint16(w[2:4])) != len(w) || IsIPv4Fragment(w[:20]) || len(w) > 65535 {
					t.Fatalf("bad IPv4 datagram out: length field %d, %d bytes", binary.BigEndian.Uint16(w[2:4]), len(w))
				}
			case 6:
				if int(binary.BigEndian.Uint16(w[4:6]))+40 != len(w) {
					t.Fatalf("bad IPv6 datagram out: payload length %d, %d bytes", binary.BigEndian.Uint16(w[4:6]), len(w))
				}
			default:
				t.Fatalf("datagram out with IP version %d", w[0]>>4)
			}
		}
		if st.Pending.Load() != int64(len(d.pending)) || st.HeldBytes.Load() != int64(d.bytes) {
			t.Fatalf("gauges %d datagrams, %d bytes; held %d, %d", st.Pending.Load(), st.HeldBytes.Load(), len(d.pending), d.bytes)
		}
	})
}

// FuzzSplitRoundTrip: any packet split at any MTU, the fragments shuffled and some sent
// twice, comes back byte for byte.
func FuzzSplitRoundTrip(f *testing.F) {
	f.Add(uint16(3000), uint16(1500), uint64(1), true)
	f.Add(uint16(65000), uint16(576), uint64(2), false)
	f.Add(uint16(100), uint16(68), uint64(3), true)
	f.Fuzz(func(t *testing.T, size, mtu uint16, seed uint64, v6 bool) {
		var orig []byte
		if v6 {
			orig = packet6(int(size)%(65535-40), 17)
		} else {
			orig = packet4(int(size)%(65535-28), uint16(seed), 1)
			orig[6] = 0 // no DF: a fragmented datagram has none
			binary.BigEndian.PutUint16(orig[10:12], 0)
			binary.BigEndian.PutUint16(orig[10:12], Checksum(orig[:20]))
		}
		frags, err := Split(orig, int(mtu), uint32(seed))
		if err != nil {
			if int(mtu) >= 48+8 {
				t.Fatalf("Split at MTU %d: %v", mtu, err)
			}
			return
		}
		for _, fr := range frags {
			if len(frags) > 1 && len(fr) > int(mtu) {
				t.Fatalf("fragment of %d bytes at MTU %d", len(fr), mtu)
			}
		}
		rng := rand.New(rand.NewPCG(seed, 7))
		order := append([][]byte(nil), frags...)
		for range len(order) / 4 {
			order = append(order, order[rng.IntN(len(order))])
		}
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		var st Stats
		out := feed(New(Limits{}, &st), order, 0, t0)
		if len(out) < 1 || !bytes.Equal(out[0], orig) {
			t.Fatalf("%d fragments (%d sent): %d datagrams out, first equal: %v", len(frags), len(order), len(out), len(out) > 0 && bytes.Equal(out[0], orig))
		}
	})
}
