// Package ipfrag puts fragmented IPv4 and IPv6 datagrams back together for the capture
// decoder: the outer UDP datagrams of VXLAN/Geneve mirror traffic (a 1,500-byte frame in a
// 1,500-byte underlay arrives as two fragments) and fragmented packets inside them.
//
// It follows the Linux kernel (net/ipv4/ip_fragment.c, net/ipv6/reassembly.c, since 4.19)
// so that sniffer rebuilds what the receiving host rebuilt:
//   - an exact duplicate of a fragment already held is ignored;
//   - any other overlap discards the whole datagram (RFC 5722 for IPv6; Linux does the
//     same for IPv4 since the FragmentSmack fixes);
//   - a last fragment that disagrees with the length already known, data beyond the end,
//     an empty fragment, or a datagram over 65,535 bytes discards the datagram;
//   - a non-last IPv4 fragment whose length is not a multiple of 8 is cut down to one (as
//     Linux does); the same IPv6 fragment is dropped (RFC 8200);
//   - an IPv6 atomic fragment (offset 0, no more fragments) is a whole packet (RFC 6946).
//
// Memory is bounded by Limits: bytes held (payload plus a per-fragment overhead, so that
// floods of tiny fragments count) and datagrams held. When a new fragment would go over,
// the oldest unfinished datagrams are dropped first: a datagram that completes at all
// completes within milliseconds, so the old ones are the least likely to. Datagrams not
// complete Timeout after their first fragment (capture time, not wall time) are dropped.
// Every drop is counted in Stats.
//
// One thing Linux does not do: a copy of a fragment that arrives after its datagram was
// completed (a mirror session sending a packet twice, a retransmission seen on two queues)
// would open a datagram that never completes and sits in memory until the timeout, crowding
// out live ones. The last 512 completed datagrams keep a fingerprint of each fragment (offset,
// end, a hash of the bytes, at most 48 fragments, about 600 KiB in all); a late fragment that
// matches one is counted as a duplicate and dropped. A new datagram that reuses the
// identification differs in its bytes and is reassembled as usual.
package ipfrag

import (
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"slices"
	"sync/atomic"
	"time"
)

// Limits bound what a Defragmenter holds.
type Limits struct {
	MaxBytes     int           // bytes held in unfinished datagrams, overhead included
	MaxDatagrams int           // unfinished datagrams held
	Timeout      time.Duration // capture time after the first fragment before giving up
}

// DefaultLimits are Linux's defaults (net.ipv4.ipfrag_high_thresh 4 MiB, ipfrag_time 30 s)
// and room for 4,096 datagrams in progress.
var DefaultLimits = Limits{MaxBytes: 4 << 20, MaxDatagrams: 4096, Timeout: 30 * time.Second}

// Per-fragment and per-datagram bookkeeping charged against MaxBytes besides the data.
const (
	fragOverhead     = 48
	datagramOverhead = 160
)

// Stats counts what a Defragmenter did. Counters are atomic so that metrics can read them
// while capture runs.
type Stats struct {
	Fragments   atomic.Int64 // fragments handed in
	Reassembled atomic.Int64 // datagrams made whole from two or more fragments
	Atomic      atomic.Int64 // IPv6 atomic fragments passed on as they are
	Duplicates  atomic.Int64 // fragments ignored as exact copies of one held
	Overlapping atomic.Int64 // datagrams discarded because fragments overlapped
	Malformed   atomic.Int64 // fragments refused, or datagrams discarded, for inconsistent lengths
	Truncated   atomic.Int64 // fragments cut by the snap length (their datagram cannot complete)
	TimedOut    atomic.Int64 // datagrams dropped unfinished after Limits.Timeout
	Evicted     atomic.Int64 // datagrams dropped unfinished to stay within Limits
	Pending     atomic.Int64 // datagrams held now (a gauge)
	HeldBytes   atomic.Int64 // bytes held now, overhead included (a gauge)
	PeakBytes   atomic.Int64 // the most bytes ever held at once
}

// Lost is the number of datagrams (or lone fragments) given up for any reason.
func (s *Stats) Lost() int64 {
	return s.Overlapping.Load() + s.Malformed.Load() + s.Truncated.Load() + s.TimedOut.Load() + s.Evicted.Load()
}

// Defragmenter reassembles datagrams. Use New; it is not safe for concurrent use (one
// per decoder).
type Defragmenter struct {
	limits  Limits
	stats   *Stats
	pending map[key]*datagram
	fifo    []*datagram // by first fragment's arrival; removed ones are marked dead
	bytes   int

	seed     maphash.Seed
	done     map[key]*completed // fingerprints of recently completed datagrams
	doneFIFO []*completed
}

// Bounds of the completed-datagram fingerprints.
const (
	maxCompleted     = 512
	maxCompletedFrag = 48
)

// completed is the fingerprint of a datagram made whole: its fragments' ranges and hashes.
type completed struct {
	key   key
	at    time.Time
	frags []fingerprint
}

type fingerprint struct {
	off, end int
	sum      uint64
}

// key names a datagram: addresses, identification, protocol (IPv4 only, as in RFC 791),
// and the tunnel context the packet came in (so inner packets of two VNIs never mix).
type key struct {
	src, dst [16]byte
	id       uint32
	proto    uint8
	v6       bool
	ctx      int64
}

type datagram struct {
	key    key
	first  time.Time
	header []byte // the offset-0 fragment's IP header (IPv4) or fixed header (IPv6)
	frags  []frag // sorted by offset, never overlapping
	total  int    // payload length once the last fragment came; -1 before
	have   int    // payload bytes held
	cost   int
	dead   bool
}

type frag struct {
	off, end int
	data     []byte
}

// New returns a Defragmenter that counts into stats. Zero fields of l take DefaultLimits.
func New(l Limits, stats *Stats) *Defragmenter {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultLimits.MaxBytes
	}
	if l.MaxDatagrams <= 0 {
		l.MaxDatagrams = DefaultLimits.MaxDatagrams
	}
	if l.Timeout <= 0 {
		l.Timeout = DefaultLimits.Timeout
	}
	return &Defragmenter{limits: l, stats: stats, pending: map[key]*datagram{}, seed: maphash.MakeSeed(), done: map[key]*completed{}}
}

// IsIPv4Fragment reports whether an IPv4 packet has More Fragments set or a non-zero offset.
func IsIPv4Fragment(pkt []byte) bool {
	return len(pkt) >= 20 && binary.BigEndian.Uint16(pkt[6:8])&0x3fff != 0
}

// IPv4 takes one IPv4 fragment, pkt starting at its IP header, as captured (it may be
// longer, with link padding, or shorter, cut by the snap length). It returns the whole
// datagram, header and payload, when this fragment completed it, else nil. ctx separates
// tunnels (-1 for none). now is the capture time.
func (d *Defragmenter) IPv4(pkt []byte, ctx int64, now time.Time) []byte {
	d.stats.Fragments.Add(1)
	d.Expire(now)
	if len(pkt) < 20 || int(pkt[0]&0x0f)*4 < 20 || int(pkt[0]&0x0f)*4 > len(pkt) {
		d.stats.Malformed.Add(1)
		return nil
	}
	ihl := int(pkt[0]&0x0f) * 4
	header := pkt[:ihl]
	want := int(binary.BigEndian.Uint16(header[2:4])) - ihl
	if want < 0 {
		d.stats.Malformed.Add(1)
		return nil
	}
	if len(pkt)-ihl < want {
		d.stats.Truncated.Add(1)
		return nil
	}
	payload := pkt[ihl : ihl+want]
	var k key
	copy(k.src[:], header[12:16])
	copy(k.dst[:], header[16:20])
	k.id, k.proto, k.ctx = uint32(binary.BigEndian.Uint16(header[4:6])), header[9], ctx
	fo := binary.BigEndian.Uint16(header[6:8])
	off, more := int(fo&0x1fff)*8, fo&0x2000 != 0
	end := off + len(payload)
	if more && end&7 != 0 { // Linux trims a non-last fragment to a multiple of 8
		end &^= 7
		payload = payload[:end-off]
	}
	return d.add(k, off, end, more, header, payload, ihl+end > 65535, now)
}

// IPv6 takes one IPv6 packet, pkt starting at its fixed header, as captured. If the packet
// carries a fragment header (after hop-by-hop, routing or destination options headers)
// isFrag is true and whole is the reassembled packet when this fragment completed it (with
// the extension headers before the fragment header left out), else nil. A packet without
// a fragment header is not touched: isFrag is false.
func (d *Defragmenter) IPv6(pkt []byte, ctx int64, now time.Time) (whole []byte, isFrag bool) {
	if len(pkt) < 40 {
		return nil, false
	}
	header, payload := pkt[:40], pkt[40:]
	fh, ok := fragmentHeader(header[6], payload)
	if !ok {
		return nil, false
	}
	d.stats.Fragments.Add(1)
	d.Expire(now)
	want := int(binary.BigEndian.Uint16(header[4:6]))
	if fh+8 > want { // the fragment header lies beyond the payload length
		d.stats.Malformed.Add(1)
		return nil, true
	}
	if len(payload) < want {
		d.stats.Truncated.Add(1)
		return nil, true
	}
	h := payload[fh : fh+8]
	data := payload[fh+8 : want]
	fo := binary.BigEndian.Uint16(h[2:4])
	off, more := int(fo&^7), fo&1 != 0
	if off == 0 && !more {
		d.stats.Atomic.Add(1)
		return build6(header, h[0], [][]byte{data}, len(data)), true
	}
	if more && len(data)&7 != 0 { // RFC 8200 4.5: a parameter problem; Linux drops it
		d.stats.Malformed.Add(1)
		return nil, true
	}
	var k key
	copy(k.src[:], header[8:24])
	copy(k.dst[:], header[24:40])
	k.id, k.v6, k.ctx = binary.BigEndian.Uint32(h[4:8]), true, ctx
	// The next header comes from the offset-0 fragment: keep it with the fixed header.
	hdr := header
	if off == 0 {
		hdr = append(append(make([]byte, 0, 41), header...), h[0])
	}
	end := off + len(data)
	return d.add(k, off, end, more, hdr, data, end > 65535, now), true
}

// fragmentHeader walks the extension headers that may precede a fragment header and
// returns the fragment header's offset in payload.
func fragmentHeader(next byte, p []byte) (int, bool) {
	at := 0
	for {
		switch next {
		case 44:
			return at, at+8 <= len(p)
		case 0, 43, 60: // hop-by-hop, routing, destination options
			if at+2 > len(p) {
				return 0, false
			}
			next = p[at]
			at += (int(p[at+1]) + 1) * 8
		default:
			return 0, false
		}
	}
}

// add files one fragment's payload [off, end) under k and returns the whole datagram when
// complete. header is kept from the offset-0 fragment. oversize marks a datagram that would
// exceed the IP maximum.
func (d *Defragmenter) add(k key, off, end int, more bool, header, payload []byte, oversize bool, now time.Time) []byte {
	dg := d.pending[k]
	if oversize || end == off {
		d.stats.Malformed.Add(1)
		if dg != nil {
			d.drop(dg)
		}
		return nil
	}
	cost := len(payload) + fragOverhead
	if off == 0 {
		cost += len(header)
	}
	if dg == nil && d.lateCopy(k, off, end, payload, now) {
		d.stats.Duplicates.Add(1)
		return nil
	}
	if dg == nil {
		if !d.makeRoom(nil, datagramOverhead+cost, 1) {
			return nil
		}
		dg = &datagram{key: k, first: now, total: -1, cost: datagramOverhead}
		d.pending[k] = dg
		d.fifo = append(d.fifo, dg)
		d.charge(dg.cost)
		d.stats.Pending.Add(1)
	}
	// Lengths must agree with what is known of the end (ip_frag_queue).
	if !more {
		if end < dg.maxEnd() || (dg.total >= 0 && end != dg.total) {
			d.stats.Malformed.Add(1)
			d.drop(dg)
			return nil
		}
	} else if dg.total >= 0 && end > dg.total {
		d.stats.Malformed.Add(1)
		d.drop(dg)
		return nil
	}
	i, _ := slices.BinarySearchFunc(dg.frags, off, func(f frag, off int) int { return f.off - off })
	if i < len(dg.frags) && dg.frags[i].off == off && dg.frags[i].end == end {
		d.stats.Duplicates.Add(1)
		return nil
	}
	if (i > 0 && dg.frags[i-1].end > off) || (i < len(dg.frags) && dg.frags[i].off < end) {
		d.stats.Overlapping.Add(1)
		d.drop(dg)
		return nil
	}
	if !d.makeRoom(dg, cost, 0) {
		return nil
	}
	if !more {
		dg.total = end
	}
	if off == 0 {
		dg.header = append([]byte(nil), header...)
	}
	dg.frags = slices.Insert(dg.frags, i, frag{off: off, end: end, data: append([]byte(nil), payload...)})
	dg.have += end - off
	dg.cost += cost
	d.charge(cost)
	if dg.total < 0 || dg.have != dg.total {
		return nil
	}
	parts := make([][]byte, len(dg.frags))
	for j, f := range dg.frags {
		parts[j] = f.data
	}
	header, total := dg.header, dg.total
	d.remember(dg, now)
	d.drop(dg)
	d.stats.Reassembled.Add(1)
	if k.v6 {
		return build6(header[:40], header[40], parts, total)
	}
	return build4(header, parts, total)
}

// remember keeps the fingerprint of a datagram just completed, forgetting the oldest beyond
// maxCompleted and those older than the timeout.
func (d *Defragmenter) remember(dg *datagram, now time.Time) {
	for len(d.doneFIFO) > 0 && (len(d.done) >= maxCompleted || now.Sub(d.doneFIFO[0].at) > d.limits.Timeout || d.done[d.doneFIFO[0].key] != d.doneFIFO[0]) {
		if c := d.doneFIFO[0]; d.done[c.key] == c {
			delete(d.done, c.key)
		}
		d.doneFIFO = d.doneFIFO[1:]
	}
	if len(dg.frags) > maxCompletedFrag {
		delete(d.done, dg.key) // an older fingerprint of this key no longer holds
		return
	}
	c := &completed{key: dg.key, at: now, frags: make([]fingerprint, len(dg.frags))}
	for i, f := range dg.frags {
		c.frags[i] = fingerprint{f.off, f.end, maphash.Bytes(d.seed, f.data)}
	}
	d.done[dg.key] = c
	d.doneFIFO = append(d.doneFIFO, c)
}

// lateCopy reports whether a fragment is a copy of one of a datagram completed within the
// timeout: same key, same range, same bytes.
func (d *Defragmenter) lateCopy(k key, off, end int, payload []byte, now time.Time) bool {
	c := d.done[k]
	if c == nil || now.Sub(c.at) > d.limits.Timeout {
		return false
	}
	for _, f := range c.frags {
		if f.off == off && f.end == end {
			return f.sum == maphash.Bytes(d.seed, payload)
		}
	}
	return false
}

func (dg *datagram) maxEnd() int {
	if len(dg.frags) == 0 {
		return 0
	}
	return dg.frags[len(dg.frags)-1].end
}

// makeRoom evicts the oldest unfinished datagrams other than dg until cost more bytes and
// extra more datagrams fit. It returns false, with dg dropped, if they cannot.
func (d *Defragmenter) makeRoom(dg *datagram, cost, extra int) bool {
	for d.bytes+cost > d.limits.MaxBytes || len(d.pending)+extra > d.limits.MaxDatagrams {
		victim := d.oldest(dg)
		if victim == nil {
			d.stats.Evicted.Add(1)
			if dg != nil {
				d.drop(dg)
			}
			return false
		}
		d.stats.Evicted.Add(1)
		d.drop(victim)
	}
	return true
}

// oldest returns the oldest live datagram other than skip, popping dead entries.
func (d *Defragmenter) oldest(skip *datagram) *datagram {
	for len(d.fifo) > 0 && d.fifo[0].dead {
		d.fifo = d.fifo[1:]
	}
	for _, dg := range d.fifo {
		if !dg.dead && dg != skip {
			return dg
		}
	}
	return nil
}

func (d *Defragmenter) charge(n int) {
	d.bytes += n
	b := d.stats.HeldBytes.Add(int64(n))
	if b > d.stats.PeakBytes.Load() {
		d.stats.PeakBytes.Store(b)
	}
}

// drop forgets dg (completed or given up) and releases its bytes.
func (d *Defragmenter) drop(dg *datagram) {
	if dg.dead {
		return
	}
	dg.dead = true
	delete(d.pending, dg.key)
	d.bytes -= dg.cost
	d.stats.HeldBytes.Add(-int64(dg.cost))
	d.stats.Pending.Add(-1)
	dg.frags, dg.header = nil, nil
	// Dead entries leave the queue from its head; compact when they pile up behind a
	// long-lived one.
	if len(d.fifo) > 2*len(d.pending)+64 {
		d.fifo = slices.DeleteFunc(d.fifo, func(x *datagram) bool { return x.dead })
	}
}

// Expire drops the datagrams whose first fragment is older than the timeout at capture
// time now. The decoder calls it with every fragment; callers may call it at any time.
func (d *Defragmenter) Expire(now time.Time) {
	for len(d.fifo) > 0 {
		dg := d.fifo[0]
		if !dg.dead {
			if now.Sub(dg.first) <= d.limits.Timeout {
				return
			}
			d.stats.TimedOut.Add(1)
			d.drop(dg)
		}
		d.fifo = d.fifo[1:]
	}
}

// build4 makes the whole IPv4 packet: the first fragment's header with the length, the
// fragment bits and the checksum set for the reassembled datagram.
func build4(header []byte, parts [][]byte, total int) []byte {
	out := make([]byte, len(header), len(header)+total)
	copy(out, header)
	for _, p := range parts {
		out = append(out, p...)
	}
	binary.BigEndian.PutUint16(out[2:4], uint16(len(out)))
	binary.BigEndian.PutUint16(out[6:8], binary.BigEndian.Uint16(out[6:8])&0x4000) // keep DF
	out[10], out[11] = 0, 0
	binary.BigEndian.PutUint16(out[10:12], Checksum(out[:len(header)]))
	return out
}

// build6 makes the whole IPv6 packet: the fixed header with the payload length and next
// header set, then the reassembled payload.
func build6(fixed []byte, next byte, parts [][]byte, total int) []byte {
	out := make([]byte, 40, 40+total)
	copy(out, fixed)
	out[6] = next
	for _, p := range parts {
		out = append(out, p...)
	}
	binary.BigEndian.PutUint16(out[4:6], uint16(len(out)-40))
	return out
}

// Checksum is the RFC 791 header checksum of b, whose checksum field must be zero.
func Checksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}

// String formats the counters for the end-of-run summary.
func (s *Stats) String() string {
	return fmt.Sprintf("IP fragments: %d in, %d datagrams reassembled, %d IPv6 atomic, %d duplicates ignored; given up: %d overlapping, %d malformed, %d cut by the snap length, %d timed out, %d evicted; %d datagrams (%d bytes) unfinished, peak %d bytes held",
		s.Fragments.Load(), s.Reassembled.Load(), s.Atomic.Load(), s.Duplicates.Load(),
		s.Overlapping.Load(), s.Malformed.Load(), s.Truncated.Load(), s.TimedOut.Load(), s.Evicted.Load(),
		s.Pending.Load(), s.HeldBytes.Load(), s.PeakBytes.Load())
}
