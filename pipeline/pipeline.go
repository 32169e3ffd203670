// Package pipeline is the stage after reassembly: it takes finished calls, decodes their
// bodies, applies the logging rules once per call and hands the result to the sinks
// (output.Fanout). It knows nothing of where calls come from or how the settings are read:
// the caller fills its Config.
//
// The work runs off the capture path: Put only queues a call (bounded in calls and in
// bytes) and returns; a pool of workers decodes and applies the rules, and one sender hands
// the records to the sinks in the order the calls were put, so a capture file gives the
// same output on every run whatever the number of workers. When the queue falls behind a
// live capture, Put and the workers shed the most expensive work first (see Config).
package pipeline

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"sniffer/internal/bufpool"
	"sniffer/model"
	"sniffer/output"
	"sniffer/rules"
)

// Config is what the pipeline does to each call.
type Config struct {
	Decode       bool         // decode gzip/deflate/br/zstd bodies (SNIFFER_DECODE_BODIES)
	BodyLimit    int64        // body bytes kept per message, decoded (USAGE_LOGGERS_BODY_LIMIT)
	RealIPHeader string       // header added to requests without it, carrying the client address
	Rules        *rules.Rules // the logging rules; nil: rules.Default()

	// Workers decode and apply the rules; 0: one per core (GOMAXPROCS).
	Workers int
	// QueueBytes bounds the bytes of calls put and not yet handed to the sinks (0: 16 MiB);
	// QueueCalls bounds their number (0: 4096).
	QueueBytes int64
	QueueCalls int
	// Wait makes Put wait for room instead of shedding: for a capture file, which loses
	// nothing by being read more slowly. Without it (live capture) Put never waits: past
	// half of QueueBytes the workers leave bodies undecoded (model.ShedDecoding), past
	// three quarters Put drops the bodies of the calls it queues (model.ShedBodies), and a
	// call that does not fit even so is dropped and counted (Counters.Dropped). The
	// thresholds hold for QueueCalls too. Bodies are left undecoded as well while the
	// packet reader falls behind the wire (CaptureBacklog).
	Wait bool
}

// Counters are the pipeline's own account, for metrics and the summary.
type Counters struct {
	Undecoded int64 // calls sent with their bodies undecoded because the workers were behind
	NoBodies  int64 // calls sent without bodies because the queue was near full
	Dropped   int64 // calls dropped because the queue was full (live capture only)
	NotMasked int64 // calls with a body still compressed that a replace rule would mask (rules.Opaque)
	Calls     int64 // calls queued now (gauge)
	Bytes     int64 // their bytes (gauge)
}

// job is one call on its way: queued for a worker, then for the sender.
type job struct {
	call *model.Call
	rec  *output.Record // nil when the rules dropped the call
	size int64
	done chan struct{} // closed by the worker
	// bufs: the internal/bufpool buffers the rules made the record's new values in, handed
	// back once the sinks have written it (rules.ApplyPooled).
	bufs [][]byte
	// raw: the call's bodies as http1 captured them (from internal/bufpool), handed back
	// with bufs when bodies are not decoded and the call is complete (see keepRaw).
	raw [2][]byte
}

// Pipeline delivers calls. Put queues them; Close drains the queue and flushes the sinks.
type Pipeline struct {
	cfg Config
	out *output.Fanout

	mu    sync.Mutex // orders Put's two sends, so the sender sees calls in the workers' order
	work  chan *job  // to the workers
	order chan *job  // to the sender, in the order of Put
	wg    sync.WaitGroup
	sent  chan struct{} // closed when the sender has handed on every call

	bmu    sync.Mutex
	room   *sync.Cond // signalled when bytes fall (Wait)
	bytes  int64      // of jobs put and not yet sent (under bmu; also in qbytes for readers)
	qbytes atomic.Int64
	closed bool

	behind atomic.Bool // the packet reader is reading old packets: the CPU is short

	filtered, undecoded, noBodies, dropped, notMasked atomic.Int64
	masks                                             rules.Opaque        // the bodies a replace rule masks
	anomalies                                         model.AnomalyCounts // calls by anomaly, before the rules

	// decideEarly: the stop rules and sampling run before decoding, so that the calls they
	// drop are never decoded (decidesEarly).
	decideEarly bool
}

// New starts the workers and the sender of a pipeline delivering to out.
func New(cfg Config, out *output.Fanout) *Pipeline {
	if cfg.Rules == nil {
		cfg.Rules = rules.Default()
	}
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	if cfg.QueueBytes <= 0 {
		cfg.QueueBytes = 16 << 20
	}
	if cfg.QueueCalls <= 0 {
		cfg.QueueCalls = 4096
	}
	p := &Pipeline{
		cfg:   cfg,
		out:   out,
		work:  make(chan *job, cfg.QueueCalls+1), // +1: the sender may take a job before a worker does
		order: make(chan *job, cfg.QueueCalls),
		sent:  make(chan struct{}),
	}
	p.masks = cfg.Rules.MasksBodies()
	p.decideEarly = cfg.Decode && decidesEarly(cfg.Rules)
	p.room = sync.NewCond(&p.bmu)
	p.wg.Add(cfg.Workers)
	for range cfg.Workers {
		go p.worker()
	}
	go p.sender()
	return p
}

// Put queues a finished call. It may be called from several goroutines (one per reassembly
// worker). Without Config.Wait it never blocks for long: what does not fit is shed or
// dropped and counted.
func (p *Pipeline) Put(c *model.Call) {
	j := &job{call: c, size: size(c), done: make(chan struct{})}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.cfg.Wait && len(p.order) == cap(p.order) || !p.reserve(j) {
		p.dropped.Add(1)
		return
	}
	// Both sends have room: only Put sends, under mu, and a job leaves work no later than
	// one receive after it leaves order. With Wait they may block until the sender drains.
	p.order <- j
	p.work <- j
}

// reserve accounts for j's bytes, shedding its bodies or waiting as Config says; false
// when it must be dropped.
func (p *Pipeline) reserve(j *job) bool {
	p.bmu.Lock()
	defer p.bmu.Unlock()
	max := p.cfg.QueueBytes
	if p.closed {
		return false // a Put after Close: counted as dropped rather than a panic
	}
	if p.cfg.Wait {
		for p.bytes > 0 && p.bytes+j.size > max && !p.closed {
			p.room.Wait()
		}
		if p.closed {
			return false
		}
	} else {
		shed := p.fuller(p.bytes+j.size, 3) && hasBody(j.call)
		n := j.size
		if shed {
			n = j.size - bodiesSize(j.call)
		}
		if p.bytes > 0 && p.bytes+n > max {
			return false
		}
		if shed {
			dropBodies(j.call)
			j.size = size(j.call)
			p.noBodies.Add(1)
		}
	}
	p.bytes += j.size
	p.qbytes.Store(p.bytes)
	return true
}

// CaptureBacklog tells the pipeline what share of the kernel's capture buffer the packets
// not yet read fill (live capture; see capture.Backlog). Past a quarter the packet reader
// is short of CPU: bodies are left undecoded (model.ShedDecoding), decoding being the
// costliest work per call, until it has caught up, so the buffer does not overflow.
func (p *Pipeline) CaptureBacklog(share float64) {
	if behind := share > 0.25; behind != p.behind.Load() {
		p.behind.Store(behind)
	}
}

// fuller tells whether the queue, holding bytes, is fuller than quarters/4 of its bounds in
// bytes or in calls.
func (p *Pipeline) fuller(bytes int64, quarters int64) bool {
	return bytes*4 > p.cfg.QueueBytes*quarters || int64(len(p.order))*4 > int64(p.cfg.QueueCalls)*quarters
}

func (p *Pipeline) release(n int64) { p.grow(-n) }

// grow adds n (which may be negative) to the bytes held.
func (p *Pipeline) grow(n int64) {
	p.bmu.Lock()
	p.bytes += n
	p.qbytes.Store(p.bytes)
	p.bmu.Unlock()
	if n < 0 {
		p.room.Broadcast()
	}
}

// worker decodes bodies and applies the rules, off the capture path.
func (p *Pipeline) worker() {
	defer p.wg.Done()
	for j := range p.work {
		p.prepare(j)
		if n := size(j.call); n != j.size { // decoded bodies are bigger: they count too
			p.grow(n - j.size)
			j.size = n
		}
		close(j.done)
	}
}

func (p *Pipeline) prepare(j *job) {
	c := j.call
	// Before decoding, which changes neither headers nor the client address, so that the
	// rules see the same details whether they run before decoding (decideEarly) or after.
	if h := p.cfg.RealIPHeader; h != "" && c.Client.IsValid() && !hasClientAddress(&c.Request) {
		c.Request.Headers = append(c.Request.Headers, model.Header{Name: h, Value: c.Client.Addr().Unmap().String()})
	}
	var captured [2][]byte // the request's and the response's bodies as captured, when decoded
	var verdict rules.Verdict
	if p.cfg.Decode {
		if !p.cfg.Wait && (p.behind.Load() || p.fuller(p.qbytes.Load(), 2)) && hasBody(c) {
			c.Shed = model.ShedDecoding
			p.undecoded.Add(1)
		} else {
			if p.decideEarly && c.Decodes() {
				var keep bool
				if verdict, keep = p.cfg.Rules.Decide(output.ResurfaceDetails(c)); !keep {
					p.dropUndecoded(j)
					return
				}
			}
			captured[0] = c.Request.Body
			if c.Response != nil {
				captured[1] = c.Response.Body
			}
			c.Decode(p.cfg.BodyLimit)
			recycleCaptured(c, captured)
		}
	}
	p.anomalies.Add(c.Anomalies)
	opaque := compressedBodies(c)
	if opaque&p.masks != 0 {
		p.notMasked.Add(1)
	}
	var bufs *[][]byte
	if p.out.DoneOnSend() {
		j.keepRaw(c, captured)
		bufs = &j.bufs
	}
	details, keep := p.cfg.Rules.ApplyDecided(output.ResurfaceDetails(c), bufs, opaque, verdict)
	if !keep {
		p.filtered.Add(1)
		recycleDecoded(c, captured[1], nil)
		j.recycle()
		return
	}
	recycleDecoded(c, captured[1], details)
	j.rec = output.NewRecord(c, details)
	p.out.Prepare(j.rec)
}

// dropUndecoded drops a call the stop rules or sampling dropped before its bodies were
// decoded (decideEarly): filtered, as if decoded; its anomalies counted, without those
// decoding would have found; its captured bodies handed back as for a call not decoded.
func (p *Pipeline) dropUndecoded(j *job) {
	p.anomalies.Add(j.call.Anomalies)
	p.filtered.Add(1)
	if p.out.DoneOnSend() {
		j.keepRaw(j.call, [2][]byte{})
	}
	j.recycle()
}

// decidesEarly tells whether the stop rules and sampling of rs may run on a call's
// details before its bodies are decoded, and must, to spare decoding the calls they drop:
// they may drop calls, and no stop rule may read a detail decoding changes (the bodies,
// the parameters of a form body, the anomalies; see output.ResurfaceDetails). Their
// verdict is then the one they give after decoding.
func decidesEarly(rs *rules.Rules) bool {
	return rs.Drops() && !rs.StopsMayRead(
		[]string{"request_body", "response_body", output.AnomaliesDetail}, []string{"request_param:"})
}

// compressedBodies marks the call's bodies that are still compressed (model.Compressed):
// the rules leave them unmasked (rules.Opaque).
func compressedBodies(c *model.Call) rules.Opaque {
	var o rules.Opaque
	if c.Request.Compressed() {
		o |= rules.OpaqueRequestBody
	}
	if c.Response != nil && c.Response.Compressed() {
		o |= rules.OpaqueResponseBody
	}
	return o
}

// recycle hands the buffers of the record's new values back to internal/bufpool, and the
// call's captured bodies when keepRaw took them.
func (j *job) recycle() {
	for _, b := range j.bufs {
		bufpool.Put(b)
	}
	j.bufs = nil
	for i, b := range j.raw {
		if b != nil {
			bufpool.Put(b)
		}
		j.raw[i] = nil
	}
}

// keepRaw notes the call's bodies as http1 captured them, in internal/bufpool buffers, to
// be handed back with the record's values once every sink is done with it (only then is
// it called: output.DoneOnSend): the bodies that are still the captured buffers (not
// decoded, or identity), which the details may point into until then. A body a decoder
// replaced is not taken: its captured buffer went back at once (recycleCaptured), the
// decoder's output goes back through recycleDecoded or to the garbage collector. Only for
// a complete call: both of its messages ended in their parsers (http1.Parser.done), so no
// parser appends to them any more; an incomplete call may have been handed on while a
// parser still held its message. captured: the bodies before decoding (nil: not decoded).
func (j *job) keepRaw(c *model.Call, captured [2][]byte) {
	if c.Incomplete != "" {
		return
	}
	for i, m := range messages(c) {
		if m != nil && !replaced(m, captured[i]) {
			j.raw[i] = m.Body
		}
	}
}

// recycleCaptured hands back, as soon as decoding is done, the captured buffers of a
// complete call's bodies that a decoder replaced: the compressed bytes, which nothing
// refers to any more (the details are made from the decoded bodies). On the bench capture
// they were 62% of the bytes sniffer allocated, all left to the garbage collector.
func recycleCaptured(c *model.Call, captured [2][]byte) {
	if c.Incomplete != "" {
		return
	}
	for i, m := range messages(c) {
		if m != nil && replaced(m, captured[i]) {
			bufpool.Put(captured[i])
		}
	}
}

// replaced tells whether decoding put m's body in a buffer other than captured, the body
// as captured (nil when not decoded), which nothing then refers to.
func replaced(m *model.Message, captured []byte) bool {
	return cap(captured) > 0 && unsafe.SliceData(m.Body) != unsafe.SliceData(captured)
}

// messages returns the call's request and response (nil when there is none).
func messages(c *model.Call) [2]*model.Message {
	if c.Response == nil {
		return [2]*model.Message{&c.Request.Message, nil}
	}
	return [2]*model.Message{&c.Request.Message, &c.Response.Message}
}

// recycleDecoded hands the buffer of a decoded response body back to the decoders
// (model.RecycleBody) when no detail refers to its bytes any more: the rules masked the
// body into a new value, or removed it. The sinks read bodies from the details (the
// collector) or from the masked call built from them (output.Mask, which only compares
// the captured body's address with the detail's), so the call's body is emptied, and
// what they write is the same. captured is the body before decoding.
func recycleDecoded(c *model.Call, captured []byte, details [][2]string) {
	if c.Response == nil {
		return
	}
	b := c.Response.DecodedBody(captured)
	if b == nil {
		return
	}
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	hi := lo + uintptr(cap(b))
	for _, d := range details {
		for _, s := range d {
			if at := uintptr(unsafe.Pointer(unsafe.StringData(s))); len(s) > 0 && at >= lo && at < hi {
				return // still read through this detail
			}
		}
	}
	c.Response.Body = nil
	model.RecycleBody(b)
}

// sender hands the records to the sinks in the order the calls were put.
func (p *Pipeline) sender() {
	defer close(p.sent)
	for j := range p.order {
		<-j.done
		if j.rec != nil {
			p.out.Send(j.rec)
			if p.out.DoneOnSend() {
				j.rec = nil
				j.recycle() // nothing reads the record's values any more
			}
		}
		p.release(j.size)
	}
}

// Drain waits until every call put has been handed to the sinks. Call it after the last
// Put: a later Put is counted as dropped.
func (p *Pipeline) Drain() {
	p.mu.Lock()
	p.bmu.Lock()
	if !p.closed {
		p.closed = true
		close(p.order)
		close(p.work)
	}
	p.bmu.Unlock()
	p.mu.Unlock()
	p.room.Broadcast()
	p.wg.Wait()
	<-p.sent
}

// Close drains the pipeline, then flushes every sink within ctx, reporting each (see
// output.Fanout.Close), and returns the total account.
func (p *Pipeline) Close(ctx context.Context, report func(name string, s output.Summary, err error)) output.Summary {
	p.Drain()
	return p.out.Close(ctx, report)
}

// Stats is the live account of the sinks, with the calls the rules filtered, for metrics.
func (p *Pipeline) Stats() output.Summary {
	sum := p.out.Stats()
	sum.Filtered += p.filtered.Load()
	return sum
}

// Anomalies counts the calls handed to the pipeline by anomaly (model/anomaly.go), those
// the rules filter out included: what was odd on the wire, parsing and decoding.
func (p *Pipeline) Anomalies() *model.AnomalyCounts { return &p.anomalies }

// Counters is the pipeline's own account: what it shed and what it holds.
func (p *Pipeline) Counters() Counters {
	return Counters{
		Undecoded: p.undecoded.Load(), NoBodies: p.noBodies.Load(), Dropped: p.dropped.Load(),
		NotMasked: p.notMasked.Load(),
		Calls:     int64(len(p.order)), Bytes: p.qbytes.Load(),
	}
}

// Filtered is the number of calls the rules stopped or sampled out.
func (p *Pipeline) Filtered() int64 { return p.filtered.Load() }

// RuleFailures is the number of regex evaluations that ran out of time and failed closed.
func (p *Pipeline) RuleFailures() uint64 { return p.cfg.Rules.EngineFailures() }

// hasClientAddress tells whether the request carries a client address a proxy put there
// (X-Forwarded-For, X-Real-IP...): the address on the wire is then the proxy's, and the
// Resurface database takes the last such header as the client.
func hasClientAddress(r *model.Request) bool {
	for _, h := range r.Headers {
		if h.Value != "" && model.IsClientAddressHeader(h.Name) {
			return true
		}
	}
	return false
}
