package reassembly

import (
	"sync"
	"time"

	"sniffer/model"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Parallel spreads connections over several Assemblers, each on its own goroutine, by a
// hash of the connection's addresses and ports: both directions of a connection go to the
// same worker, so each worker sees whole connections and the calls are the same as with
// one Assembler (their order across workers may differ). The feeding goroutine copies
// each segment into a per-worker batch; a worker parses a batch while the next one fills.
type Parallel struct {
	workers []*worker
	stats   *Stats
	wg      sync.WaitGroup
}

type worker struct {
	asm   *Assembler
	in    chan *batch
	cur   *batch
	free  chan *batch
	ticks chan time.Time
}

// copied is a TCP segment copied out of the capture buffer: its header and payload
// bytes are in the batch's arena, and the worker decodes them again (layers.TCP keeps
// slices of the bytes it was decoded from, such as the ports, so a copy of the struct
// would still point into the capture buffer).
type copied struct {
	netFlow  gopacket.Flow
	ci       gopacket.CaptureInfo
	vni      int
	off, end int // the TCP segment's position in the batch's arena
}

type batch struct {
	segs  []copied
	arena []byte
	tick  time.Time // when set, the batch ends with a Tick at this time
}

const (
	batchSegments = 256
	batchBytes    = 512 << 10
	batchesPerWkr = 4 // bounds the memory in flight per worker
)

// NewParallel starts n workers. emit is called from the workers' goroutines.
func NewParallel(cfg Config, n int, emit func(*model.Call)) *Parallel {
	p := &Parallel{stats: &Stats{}}
	cfg = perWorker(cfg, n)
	for i := 0; i < n; i++ {
		w := &worker{asm: New(cfg, emit), in: make(chan *batch, batchesPerWkr), free: make(chan *batch, batchesPerWkr)}
		w.asm.stats = p.stats
		for j := 0; j < batchesPerWkr; j++ {
			w.free <- &batch{segs: make([]copied, 0, batchSegments), arena: make([]byte, 0, batchBytes)}
		}
		w.cur = <-w.free
		p.workers = append(p.workers, w)
		p.wg.Add(1)
		go w.run(&p.wg)
	}
	return p
}

// NewGroup returns n Assemblers that count into one Stats, each to be fed from its own
// goroutine: one per member of an AF_PACKET fanout group (capture.OpenGroup), where the
// kernel, not Parallel, sends each connection whole to one of them.
func NewGroup(cfg Config, n int, emit func(*model.Call)) []*Assembler {
	out := make([]*Assembler, n)
	cfg = perWorker(cfg, n)
	for i := range out {
		out[i] = New(cfg, emit)
		out[i].stats = out[0].stats
	}
	return out
}

// perWorker gives each of n workers, each with its own assembler, its part of
// MaxBufferedBytes, which bounds the out-of-order bytes over all connections: each worker
// had the whole of it, so with two workers a capture losing packets could buffer twice the
// bound (in gopacket's pages, 6.7 MB of a 22 MB heap at the peak of a live run posting to a
// collector that was down). A part is never less than a page: 0 would mean no bound.
func perWorker(cfg Config, n int) Config {
	if n > 1 && cfg.MaxBufferedBytes > 0 {
		cfg.MaxBufferedBytes = max(cfg.MaxBufferedBytes/int64(n), pageBytes)
	}
	return cfg
}

// Stats returns the counters shared by every worker.
func (p *Parallel) Stats() *Stats { return p.stats }

func (w *worker) run(wg *sync.WaitGroup) {
	defer wg.Done()
	var t layers.TCP
	for b := range w.in {
		for i := range b.segs {
			s := &b.segs[i]
			// The bytes decoded fine once; the capacity is cut so that nothing
			// appended to them can run into the next segment.
			if t.DecodeFromBytes(b.arena[s.off:s.end:s.end], gopacket.NilDecodeFeedback) == nil {
				w.asm.Packet(s.netFlow, &t, s.ci, s.vni)
			}
		}
		if !b.tick.IsZero() {
			w.asm.Tick(b.tick)
		}
		b.segs, b.arena, b.tick = b.segs[:0], b.arena[:0], time.Time{}
		w.free <- b
	}
	w.asm.Close()
}

func (w *worker) send() {
	w.in <- w.cur
	w.cur = <-w.free
}

// Packet copies a segment to the worker that owns its connection.
func (p *Parallel) Packet(netFlow gopacket.Flow, t *layers.TCP, ci gopacket.CaptureInfo, vni int) {
	w := p.workers[flowHash(netFlow, t.TransportFlow(), vni)%uint64(len(p.workers))]
	n := len(t.Contents) + len(t.Payload)
	b := w.cur
	if len(b.segs) == cap(b.segs) || len(b.arena)+n > cap(b.arena) && len(b.arena) > 0 {
		w.send()
		b = w.cur
	}
	off := len(b.arena)
	b.arena = append(append(b.arena, t.Contents...), t.Payload...)
	b.segs = append(b.segs, copied{netFlow: netFlow, ci: ci, vni: vni, off: off, end: off + n})
}

// Tick hands every worker what it has and the time, for the timeouts.
func (p *Parallel) Tick(now time.Time) {
	for _, w := range p.workers {
		w.cur.tick = now
		w.send()
	}
}

// Close delivers what is batched, flushes every worker and waits for them.
func (p *Parallel) Close() {
	for _, w := range p.workers {
		if len(w.cur.segs) > 0 {
			w.send()
		}
		close(w.in)
	}
	p.wg.Wait()
}
