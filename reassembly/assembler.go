// Package reassembly turns TCP segments into HTTP/1.x calls. gopacket's reassembly puts
// each direction of a connection back in sequence order (out-of-order, retransmitted and
// overlapping segments, sequence wrap-around); this package parses both directions as
// HTTP/1.x and pairs every request with its response.
package reassembly

import (
	"cmp"
	"encoding/binary"
	"slices"
	"time"

	"sniffer/http1"
	"sniffer/model"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	tcp "github.com/gopacket/gopacket/reassembly"
)

// Config bounds what the reassembler keeps.
type Config struct {
	MaxBodyBytes     int64         // body bytes kept per message; the rest is counted, not kept
	MaxHeaderBytes   int           // largest head (start line + headers) accepted
	MaxHeadBytes     int64         // partial heads and lines held over all connections (slowloris)
	MaxHeaders       int           // most header lines per message
	MaxPending       int           // requests waiting for a response per connection (pipelining)
	MaxStreams       int           // connections tracked at once; more are counted and ignored
	MaxBufferedBytes int64         // out-of-order bytes buffered over all connections
	MaxConnBuffered  int64         // out-of-order bytes buffered per connection
	IdleTimeout      time.Duration // a connection idle this long is closed and its calls flushed
	GapTimeout       time.Duration // a hole in a stream is given up (skipped) after this long
	// A hole that the other side's acknowledgement shows the capture lost is skipped early,
	// but only once ReorderPackets packets and ReorderWindow of capture time have both
	// passed since it opened: before that the missing segment may just be late (mirror
	// sessions and multi-queue NICs reorder), and reordering is not loss.
	ReorderPackets int
	ReorderWindow  time.Duration
	KeepIncomplete bool // emit incomplete calls too (marked), not only count them
	// Detect decides from its first bytes whether a connection carries HTTP/1.x and
	// ignores it when not (detect.go): for captures taken on every port.
	Detect bool
}

// Reorder window defaults: a mirror session or a multi-queue NIC delivers a flow's segments
// up to a few hundred packets and a few milliseconds out of order.
const (
	DefaultReorderPackets = 512
	DefaultReorderWindow  = 50 * time.Millisecond
)

// DefaultConfig is what sniffer uses unless told otherwise.
func DefaultConfig() Config {
	l := http1.DefaultLimits()
	return Config{
		MaxBodyBytes:     l.MaxBodyBytes,
		MaxHeaderBytes:   l.MaxHeaderBytes,
		MaxHeadBytes:     l.MaxHeadBytes,
		MaxHeaders:       l.MaxHeaders,
		MaxPending:       256,
		MaxStreams:       100000,
		MaxBufferedBytes: 32 << 20,
		MaxConnBuffered:  4 << 20,
		IdleTimeout:      2 * time.Minute,
		GapTimeout:       5 * time.Second,
		ReorderPackets:   DefaultReorderPackets,
		ReorderWindow:    DefaultReorderWindow,
	}
}

// Assembler feeds TCP segments to per-connection HTTP parsers and emits calls. It is not
// safe for concurrent use: one goroutine owns it. Traffic from different VXLAN networks
// goes to separate gopacket assemblers, so that equal addresses in two mirror sessions
// never share a connection.
type Assembler struct {
	cfg       Config
	limits    http1.Limits // the parsers' share of cfg
	emit      func(*model.Call)
	stats     *Stats
	asm       map[int]*tcp.Assembler
	lastFlush time.Time
	now       time.Time
	// ctxs hands out capture contexts, one per packet. gopacket keeps the context of
	// every segment it buffers out of order and reads its capture time back when the
	// segment is delivered: one shared context gave every buffered byte the time of the
	// latest packet, which broke the pairing of responses after a hole and the call
	// times. They come from slabs, one allocation per slab.
	ctxs []context
	// closed remembers connections that just ended, by flowKey, so that their last
	// ACKs, FINs and RSTs do not open new, empty connections that would wait for the
	// idle timeout.
	closed map[connKey]ended
	// closedHashes counts the closed connections by flowHash: most packets belong to
	// no closed connection, and the hash (about a fifth of the key's cost) tells so.
	closedHashes map[uint64]int
	// packets counts the packets fed, the clock of the reorder window.
	packets uint64
	// skipHole, when set, is the time a hole opened that a connection's Accept found
	// lost by the capture (acknowledged past, its reorder window over): it is skipped
	// once the packet is assembled.
	skipHole time.Time
	// waiters are the halves holding a response back for its request (see half.WaitForRequest).
	waiters []*half
	// tracked holds the flowKey of every connection tracked, so that the packets of a
	// new connection over MaxStreams are dropped before gopacket sees them: gopacket
	// makes its own connection (about 800 bytes) for every flow it is given, refused or
	// not, and keeps it until the idle timeout, so a SYN flood past the cap grew memory
	// without bound. refused remembers the flows refused lately (by the time of their
	// last packet), to count each once.
	tracked map[connKey]struct{}
	refused map[connKey]time.Time
	// conns numbers the connections in the order they open. gopacket's flushes visit the
	// connections in the order of a Go map, which differs from run to run: the calls that
	// several connections complete in one flush (or one round of checkWaiters, whose order
	// follows the flushes') are held in held while batch is open and emitted by that
	// number, each connection's in the order it completed them, so that a capture file
	// gives the same output on every run.
	conns uint64
	batch bool
	held  []heldCall
}

// heldCall is a call completed inside a batch, with the number of its connection.
type heldCall struct {
	conn uint64
	call *model.Call
}

// ended is what is remembered of a connection that ended: when, and the sequence
// number its SYN carried, which tells a copy of that SYN from a new connection on the
// same addresses and ports (whose initial sequence number differs).
type ended struct {
	at             time.Time
	hash           uint64 // flowHash
	synSeq, ackSeq uint32 // of the SYN and of the SYN-ACK
	sawSyn, sawAck bool
}

func (e *ended) saw(t *layers.TCP) {
	if t.ACK {
		e.ackSeq, e.sawAck = t.Seq, true
	} else {
		e.synSeq, e.sawSyn = t.Seq, true
	}
}

// copyOf tells whether a SYN or SYN-ACK is a copy of the ended connection's own.
func (e *ended) copyOf(t *layers.TCP) bool {
	if t.ACK {
		return e.sawAck && e.ackSeq == t.Seq
	}
	return e.sawSyn && e.synSeq == t.Seq
}

// closedKeep is how long an ended connection's stray control segments are ignored, and
// maxClosed bounds how many ended connections are remembered.
const (
	closedKeep = 10 * time.Second
	maxClosed  = 1 << 17
)

// connKey names a connection the same in both directions: its two ends (address and
// port) in a fixed order, and its VXLAN network. It is the whole 4-tuple, not a hash of
// it: gopacket's Flow.FastHash gives 40001->3000 and 40002->3001 the same value, and a
// closed connection's entry then dropped another, live connection's segments. Addresses
// are 16 bytes (IPv4 as ::ffff:a.b.c.d) in two words each, and the key has no padding,
// so that maps hash it as one block of memory.
type connKey struct {
	a, b  [2]uint64 // the two addresses
	ports uint32    // a's port << 16 | b's
	vni   int32
}

// flowKey is the connKey of the connection a segment belongs to.
func flowKey(netFlow, tcpFlow gopacket.Flow, vni int) connKey {
	src, dst := netFlow.Endpoints()
	sp, dp := tcpFlow.Endpoints()
	a, b := addrWords(src.Raw()), addrWords(dst.Raw())
	pa, pb := port(sp.Raw()), port(dp.Raw())
	if a[0] > b[0] || a[0] == b[0] && (a[1] > b[1] || a[1] == b[1] && pa > pb) {
		a, b, pa, pb = b, a, pb, pa
	}
	return connKey{a: a, b: b, ports: uint32(pa)<<16 | uint32(pb), vni: int32(vni)}
}

// addrWords is an IPv4 or IPv6 address as two words (IPv4 mapped into IPv6).
func addrWords(raw []byte) [2]uint64 {
	switch len(raw) {
	case 4:
		return [2]uint64{0, 0xffff<<32 | uint64(binary.BigEndian.Uint32(raw))}
	case 16:
		return [2]uint64{binary.BigEndian.Uint64(raw), binary.BigEndian.Uint64(raw[8:])}
	}
	return [2]uint64{}
}

func port(raw []byte) uint16 {
	if len(raw) != 2 {
		return 0
	}
	return binary.BigEndian.Uint16(raw)
}

// flowHash is the same for both directions of a connection: it spreads connections
// over workers, where two connections sharing a value only share a worker.
func flowHash(netFlow, tcpFlow gopacket.Flow, vni int) uint64 {
	return netFlow.FastHash()*0x9e3779b97f4a7c15 ^ tcpFlow.FastHash() ^ uint64(vni+1)<<48
}

// context is what the reassembler keeps of one packet: its capture info and the TCP
// numbers the pairing is proven on. Its capture info's AncillaryData holds the context
// itself, so that the bytes gopacket hands over lead back to the segment that carried them.
type context struct {
	ci    gopacket.CaptureInfo
	seq   tcp.Sequence // of the segment's first byte
	ack   tcp.Sequence // the acknowledgement it carried, when ackOK
	len   int          // of its payload
	ackOK bool
	self  [1]any
}

func (c *context) GetCaptureInfo() gopacket.CaptureInfo { return c.ci }

// segmentOf returns the context of the packet ci came from, or nil.
func segmentOf(ci gopacket.CaptureInfo) *context {
	if len(ci.AncillaryData) == 1 {
		c, _ := ci.AncillaryData[0].(*context)
		return c
	}
	return nil
}

const ctxSlab = 256

func (a *Assembler) context(ci gopacket.CaptureInfo, t *layers.TCP) *context {
	if len(a.ctxs) == cap(a.ctxs) {
		a.ctxs = make([]context, 0, ctxSlab)
	}
	a.ctxs = append(a.ctxs, context{ci: ci, seq: tcp.Sequence(t.Seq), ack: tcp.Sequence(t.Ack), ackOK: t.ACK, len: len(t.Payload)})
	c := &a.ctxs[len(a.ctxs)-1]
	c.self[0] = c
	c.ci.AncillaryData = c.self[:]
	return c
}

// New returns an Assembler that calls emit, from the goroutine that feeds it, with every
// call it completes.
func New(cfg Config, emit func(*model.Call)) *Assembler {
	d := DefaultConfig()
	if cfg.MaxHeaderBytes <= 0 {
		cfg.MaxHeaderBytes = d.MaxHeaderBytes
	}
	if cfg.MaxHeadBytes <= 0 {
		cfg.MaxHeadBytes = d.MaxHeadBytes
	}
	if cfg.MaxHeaders <= 0 {
		cfg.MaxHeaders = d.MaxHeaders
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = d.IdleTimeout
	}
	if cfg.GapTimeout <= 0 {
		cfg.GapTimeout = d.GapTimeout
	}
	if cfg.ReorderPackets < 0 {
		cfg.ReorderPackets = 0
	}
	if cfg.ReorderWindow < 0 {
		cfg.ReorderWindow = 0
	}
	return &Assembler{cfg: cfg, emit: emit, stats: &Stats{}, asm: map[int]*tcp.Assembler{}, closed: map[connKey]ended{}, closedHashes: map[uint64]int{},
		tracked: map[connKey]struct{}{}, refused: map[connKey]time.Time{},
		limits: http1.Limits{MaxBodyBytes: cfg.MaxBodyBytes, MaxHeaderBytes: cfg.MaxHeaderBytes, MaxHeaders: cfg.MaxHeaders, MaxHeadBytes: cfg.MaxHeadBytes}}
}

// Stats returns the live counters.
func (a *Assembler) Stats() *Stats { return a.stats }

type factory struct {
	a   *Assembler
	vni int
}

func (f factory) New(netFlow, tcpFlow gopacket.Flow, t *layers.TCP, ac tcp.AssemblerContext) tcp.Stream {
	a := f.a
	if a.cfg.MaxStreams > 0 && a.stats.StreamsOpen.Load() >= int64(a.cfg.MaxStreams) {
		a.stats.StreamsRefused.Add(1)
		return refused{}
	}
	a.stats.Streams.Add(1)
	a.stats.StreamsOpen.Add(1)
	c := newConn(a, netFlow, tcpFlow, t, f.vni)
	a.conns++
	c.id = a.conns
	c.key, c.syn.hash = flowKey(netFlow, tcpFlow, f.vni), flowHash(netFlow, tcpFlow, f.vni)
	a.tracked[c.key] = struct{}{}
	return c
}

// refused stands for a connection over the MaxStreams cap: its packets are ignored.
type refused struct{}

func (refused) Accept(*layers.TCP, gopacket.CaptureInfo, tcp.TCPFlowDirection, tcp.Sequence, *bool, tcp.AssemblerContext) bool {
	return false
}
func (refused) ReassembledSG(tcp.ScatterGather, tcp.AssemblerContext) {}
func (refused) ReassemblyComplete(tcp.AssemblerContext) bool          { return true }

// maxVNIs bounds the number of separate VXLAN networks tracked.
const maxVNIs = 4096

const pageBytes = 1900 // gopacket reassembly's page size

func (a *Assembler) assembler(vni int) *tcp.Assembler {
	as := a.asm[vni]
	if as == nil {
		if len(a.asm) >= maxVNIs {
			return nil
		}
		as = tcp.NewAssembler(tcp.NewStreamPool(factory{a, vni}))
		as.MaxBufferedPagesTotal = int(a.cfg.MaxBufferedBytes / pageBytes)
		as.MaxBufferedPagesPerConnection = int(a.cfg.MaxConnBuffered / pageBytes)
		a.asm[vni] = as
	}
	return as
}

// Packet feeds one TCP segment. vni is -1 for traffic that was not VXLAN-encapsulated.
func (a *Assembler) Packet(netFlow gopacket.Flow, t *layers.TCP, ci gopacket.CaptureInfo, vni int) {
	as := a.assembler(vni)
	if as == nil {
		a.stats.StreamsRefused.Add(1)
		return
	}
	// A connection that has ended carries nothing more without a new SYN: its late
	// ACKs, FINs and RSTs, and the second copies of its segments when a packet is
	// captured on two interfaces (a bridge and its veth, "any" beside a device), are
	// dropped rather than opening a new connection that would parse them again.
	if len(a.closed) > 0 && a.closedHashes[flowHash(netFlow, t.TransportFlow(), vni)] > 0 {
		k := flowKey(netFlow, t.TransportFlow(), vni)
		if e, ok := a.closed[k]; ok {
			if !t.SYN || e.copyOf(t) {
				// Only a SYN or SYN-ACK with a new initial sequence number opens a
				// new connection; a copy of the old one's does not.
				return
			}
			// A new connection on the same addresses and ports: its own FIN and RST
			// must not be taken for the old one's stragglers.
			a.forgetClosed(k, e)
		}
	}
	// Time-based flushing comes first: a hole that this packet's time makes older than
	// the gap timeout is skipped before the packet is assembled, so that a response
	// arriving after the timeout finds its request parsed, not stuck behind the hole.
	if ci.Timestamp.After(a.now) {
		a.now = ci.Timestamp
	}
	if a.now.Sub(a.lastFlush) >= time.Second {
		a.startBatch()
		a.flush(a.now)
		a.endBatch()
	}
	// Over MaxStreams (after the flush, which may have freed some), a packet of a
	// connection not tracked is counted and dropped here, before gopacket makes a
	// connection for it.
	if a.cfg.MaxStreams > 0 && a.stats.StreamsOpen.Load() >= int64(a.cfg.MaxStreams) {
		k := flowKey(netFlow, t.TransportFlow(), vni)
		if _, ok := a.tracked[k]; !ok {
			// Counted once while remembered; with too many to remember, once per
			// connection attempt (a SYN).
			if _, seen := a.refused[k]; !seen && (len(a.refused) < maxClosed || t.SYN && !t.ACK) {
				a.stats.StreamsRefused.Add(1)
			}
			if len(a.refused) < maxClosed {
				a.refused[k] = ci.Timestamp
			}
			return
		}
	}
	a.packets++
	a.startBatch()
	as.AssembleWithContext(netFlow, t, a.context(ci, t))
	if since := a.skipHole; !since.IsZero() {
		// A segment acknowledged bytes its connection lost to the capture: skip that
		// hole (gopacket flushes by age over all connections, so flush what is no
		// newer than the hole). A response this segment started waits in its parser
		// until the request side has reached its acknowledgement, so it is paired once
		// the hole is skipped, not before.
		a.skipHole = time.Time{}
		as.FlushWithOptions(tcp.FlushOptions{T: since.Add(time.Nanosecond)})
	}
	a.checkWaiters()
	a.endBatch()
}

// rememberClosed notes a connection that ended (see closed).
func (a *Assembler) rememberClosed(k connKey, e ended) {
	if _, ok := a.closed[k]; !ok {
		a.closedHashes[e.hash]++
	}
	a.closed[k] = e
}

// forgetClosed drops what rememberClosed noted.
func (a *Assembler) forgetClosed(k connKey, e ended) {
	delete(a.closed, k)
	if a.closedHashes[e.hash]--; a.closedHashes[e.hash] <= 0 {
		delete(a.closedHashes, e.hash)
	}
}

// skipStart asks for the bytes held since at to be flushed once this packet is assembled.
func (a *Assembler) skipStart(at time.Time) {
	if a.skipHole.IsZero() || at.Before(a.skipHole) {
		a.skipHole = at
	}
}

// reorderPatience bounds the reorder window on a quiet link, where ReorderPackets packets
// may take many seconds to come (a few keep-alive connections): mirror sessions and NIC
// queues reorder by milliseconds, not by a second. Without it a capture started on idle
// keep-alive connections showed nothing until the gap timeout (5 s and more; e2e
// TestComposeDemo saw no captured call 7 s after the start).
const reorderPatience = time.Second

// reorderOver tells whether a hole that opened at packet pkt and capture time at has
// waited out the reorder window: ReorderWindow of capture time and ReorderPackets
// packets, or reorderPatience of capture time when the packets are slow to come.
func (a *Assembler) reorderOver(pkt uint64, at time.Time) bool {
	waited := a.now.Sub(at)
	return waited >= a.cfg.ReorderWindow && (a.packets-pkt >= uint64(a.cfg.ReorderPackets) || waited >= reorderPatience)
}

// Tick flushes by the clock when no packets come (live capture): holes older than the
// gap timeout are skipped and connections idle past the idle timeout are closed.
func (a *Assembler) Tick(now time.Time) {
	if now.Sub(a.lastFlush) >= time.Second {
		a.startBatch()
		a.flush(now)
		a.endBatch()
	}
}

func (a *Assembler) flush(now time.Time) {
	a.lastFlush = now
	if now.After(a.now) {
		a.now = now
	}
	a.checkWaiters()
	for k, e := range a.closed {
		if now.Sub(e.at) > closedKeep {
			a.forgetClosed(k, e)
		}
	}
	for k, t := range a.refused {
		if now.Sub(t) > closedKeep {
			delete(a.refused, k)
		}
	}
	for _, as := range a.asm {
		as.FlushWithOptions(tcp.FlushOptions{T: now.Add(-a.cfg.GapTimeout), TC: now.Add(-a.cfg.IdleTimeout)})
	}
}

// Close flushes every connection: buffered bytes are delivered (holes skipped) and
// every pending call is completed or counted as incomplete.
func (a *Assembler) Close() {
	a.startBatch()
	for _, as := range a.asm {
		as.FlushAll()
	}
	a.endBatch()
}

// out hands a completed call on, or holds it while a batch is open.
func (a *Assembler) out(c *conn, call *model.Call) {
	if a.batch {
		a.held = append(a.held, heldCall{c.id, call})
		return
	}
	a.emit(call)
}

// startBatch holds the calls completed from now on until endBatch.
func (a *Assembler) startBatch() { a.batch = true }

// endBatch emits the calls held since startBatch by connection number; a connection's
// calls keep the order it completed them in (the sort is stable).
func (a *Assembler) endBatch() {
	a.batch = false
	if len(a.held) == 0 {
		return
	}
	if len(a.held) > 1 {
		slices.SortStableFunc(a.held, func(x, y heldCall) int { return cmp.Compare(x.conn, y.conn) })
	}
	for _, h := range a.held {
		a.emit(h.call)
	}
	clear(a.held)
	a.held = a.held[:0]
}
