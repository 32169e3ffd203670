package output

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"sniffer/model"

	"github.com/valyala/fasthttp"
)

// ErrClosed is returned by Write after Close.
var ErrClosed = errors.New("output: sink is closed")

// Poster sends calls to a Resurface collector: NDJSON bundles, zlib-compressed, posted by
// Concurrency senders over keep-alive connections, retried with backoff.
//
// Where a call is at any time: the in-memory queue, then (once that is full, or while
// anything is spooled, to keep the order) the disk spool, then a bundle being filled, then a
// bundle in flight. Every call ends up counted once: Delivered, Filtered, Dropped[cause], or
// Pending (left in the spool at Close for the next run).
type Poster struct {
	cfg    PostConfig
	uri    string
	ua     string
	client *fasthttp.Client

	mu     sync.Mutex
	q      msgRing
	qBytes int64
	sp     *spool
	closed bool
	left   []*bundle // bundles that Close's deadline interrupted, to spool or count

	kick        chan struct{} // a message arrived
	room        chan struct{} // a message left the queue or the spool (for WriteDetailsWait)
	drain       chan struct{} // closed by Close: post everything, then stop
	abort       chan struct{} // closed when Close's ctx ends: stop now
	abortAt     atomic.Int64  // Close's deadline in UnixNano, 0 when none
	bundles     chan *bundle
	zlib        *compressors
	bundlerDone chan struct{}
	senders     sync.WaitGroup
	seq         atomic.Int64

	written, filtered, delivered, recovered atomic.Int64
	posts, postFailures                     atomic.Int64 // requests made, and those not answered 2xx
	gaveUp                                  atomic.Bool  // WriteDetailsWait waited patience in vain
	dmu                                     sync.Mutex
	dropped                                 map[string]int64

	waitCtx  context.Context // Send waits for room until it ends (WaitForRoom); nil: never
	patience time.Duration

	dropWarn map[string]*warnLimiter // one per cause, under dmu
	postWarn warnLimiter
	log      *slog.Logger
}

type bundle struct {
	seq   int64
	msgs  [][]byte
	bytes int // NDJSON size: messages plus newlines
}

// NewPoster validates cfg.URL, opens the spool if any and starts the bundler and senders.
func NewPoster(cfg PostConfig) (*Poster, error) {
	u, err := ValidateURL(cfg.URL, cfg.AllowHTTP)
	if err != nil {
		return nil, err
	}
	cfg.setDefaults()
	p := &Poster{
		cfg: cfg,
		uri: u.String(),
		ua:  "sniffer",
		client: &fasthttp.Client{
			Name:                     "sniffer",
			NoDefaultUserAgentHeader: true,
			MaxConnsPerHost:          cfg.Concurrency * 2,
			MaxConnWaitTimeout:       cfg.Timeout,
			MaxIdleConnDuration:      30 * time.Second,
			MaxResponseBodySize:      1 << 20,
			ReadTimeout:              cfg.Timeout,
			WriteTimeout:             cfg.Timeout,
			DisablePathNormalizing:   true,
		},
		kick:        make(chan struct{}, 1),
		room:        make(chan struct{}, 1),
		drain:       make(chan struct{}),
		abort:       make(chan struct{}),
		bundles:     make(chan *bundle),
		zlib:        newCompressors(cfg.CompressLevel, min(cfg.Concurrency, runtime.GOMAXPROCS(0))),
		bundlerDone: make(chan struct{}),
		dropped:     map[string]int64{},
		dropWarn:    map[string]*warnLimiter{},
		postWarn:    warnLimiter{period: time.Minute},
		log:         slog.Default().With("sink", "collector"),
	}
	if cfg.Version != "" {
		p.ua = "sniffer/" + cfg.Version
	}
	if cfg.SpoolDir != "" {
		if p.sp, err = openSpool(cfg.SpoolDir, cfg.SpoolMax); err != nil {
			return nil, err
		}
		if n := p.sp.count; n > 0 {
			p.recovered.Store(n)
			p.log.Info("replaying calls an earlier run left in the spool", "calls", n, "dir", cfg.SpoolDir)
		}
	}
	go p.bundler()
	p.senders.Add(cfg.Concurrency)
	for range cfg.Concurrency {
		go p.sender()
	}
	return p, nil
}

// Write encodes the call, runs the Transform and queues the message. It never waits for
// the network: when memory and spool are full a call is dropped and counted.
func (p *Poster) Write(c *model.Call) error {
	if c == nil {
		p.written.Add(1)
		p.drop(DropEncode, 1)
		return errNilCall
	}
	d := ResurfaceDetails(c)
	if p.cfg.Transform != nil {
		var ok bool
		if d, ok = p.cfg.Transform(d); !ok {
			p.written.Add(1)
			p.filtered.Add(1)
			return nil
		}
	}
	return p.WriteDetails(d)
}

// Send queues the record's details (already through the rules), waiting for room as
// WaitForRoom set.
func (p *Poster) Send(r *Record) error {
	return p.WriteDetailsWait(p.waitCtx, p.patience, r.Details())
}

// DetailsOnly is true: the collector is sent the details, never the masked call.
func (p *Poster) DetailsOnly() bool { return true }

// WaitForRoom makes Send wait as WriteDetailsWait does, with ctx and patience: for a source
// that can wait, such as a capture file. Call it before the first Send.
func (p *Poster) WaitForRoom(ctx context.Context, patience time.Duration) {
	p.waitCtx, p.patience = ctx, patience
}

// WriteDetails queues a call given as its details, already through the rules (no
// Transform is applied): for a caller that applies the rules once for several sinks.
func (p *Poster) WriteDetails(d [][2]string) error {
	return p.WriteDetailsWait(nil, 0, d)
}

// WriteDetailsWait is WriteDetails for a source that can wait, such as a capture file:
// while the queue (and the spool) are full it waits for room instead of dropping the call,
// so the file is read at the collector's pace. It waits no more, and drops as WriteDetails
// does, once ctx ends or once a wait found no room for patience (the collector is down, not
// slow: the file must not stall for ever). A nil ctx never waits.
func (p *Poster) WriteDetailsWait(ctx context.Context, patience time.Duration, d [][2]string) error {
	if p.gaveUp.Load() {
		ctx = nil
	}
	p.written.Add(1)
	d = AppendTrailer(d, p.cfg.Agent, p.cfg.Version)
	return p.enqueue(ctx, patience, encodeMessage(d))
}

// scratch holds the buffers messages are encoded into before they are copied out at their
// length; at most maxScratch bytes are kept in one.
var scratch = sync.Pool{New: func() any { return new([]byte) }}

const maxScratch = 1 << 20

// encodeMessage returns the Resurface JSON of d in a buffer of its exact length: the queue
// and the bundles count a message's length against PostConfig.MemoryBytes, so slack would
// be memory the share did not count. The message is encoded into a pooled scratch buffer
// and copied out once (make and copy: the runtime does not zero the new buffer first).
// Encoding into a buffer of an estimated size instead cost three allocations and two
// copies of every message whose escapes (a JSON body's quotes) outgrew the estimate:
// the buffer, append's larger one, and one of the exact length.
func encodeMessage(d [][2]string) []byte {
	sp := scratch.Get().(*[]byte)
	buf := AppendResurfaceJSON((*sp)[:0], d)
	msg := make([]byte, len(buf))
	copy(msg, buf)
	if cap(buf) <= maxScratch {
		*sp = buf
		scratch.Put(sp)
	}
	return msg
}

// enqueue places one encoded message: memory while it has room and nothing is spooled (so
// order holds), else the spool, else the drop policy. With a ctx it first waits, while
// neither has room but something is draining, until one has or ctx ends.
func (p *Poster) enqueue(ctx context.Context, patience time.Duration, msg []byte) error {
	p.mu.Lock()
	var timer *time.Timer
	waited := false
	// Once it has waited, it waits for a quarter of the queue to be free rather than for one
	// message's room: not a wake-up per call taken.
	for ctx != nil && !p.closed && (!p.fits(len(msg)) || waited && !p.roomy(len(msg))) && (p.q.len() > 0 || p.sp != nil && p.sp.count > 0) {
		waited = true
		p.mu.Unlock()
		if timer == nil {
			timer = time.NewTimer(patience)
			defer timer.Stop()
		} else {
			timer.Reset(patience)
		}
		select {
		case <-p.room:
		case <-ctx.Done():
			ctx = nil
		case <-timer.C:
			ctx = nil
			p.gaveUp.Store(true)
			p.log.Warn("the collector took no call for the wait limit: no more waiting, calls that do not fit are dropped", "wait", patience)
		}
		p.mu.Lock()
	}
	if p.closed {
		p.mu.Unlock()
		p.drop(DropClosed, 1)
		return ErrClosed
	}
	spooling := p.sp != nil && p.sp.count > 0
	if !spooling && p.q.len() < p.cfg.QueueSize && p.qBytes+int64(len(msg)) <= p.cfg.QueueBytes {
		p.push(msg)
		p.mu.Unlock()
		p.wake()
		return nil
	}
	var cause string
	var n int64
	var detail error
	switch {
	case p.sp != nil:
		for !p.sp.room(len(msg)) && p.cfg.DropOldest && int64(len(msg))+1 <= p.sp.max {
			k, ok := p.sp.dropOldest()
			if !ok {
				break
			}
			n += k
		}
		if n > 0 {
			p.mu.Unlock()
			p.drop(DropSpoolFull, n)
			p.mu.Lock()
		}
		cause, n = DropSpoolFull, 1
		if p.sp.room(len(msg)) {
			if err := p.sp.append(msg); err != nil {
				cause, detail = DropSpoolError, err
			} else {
				n = 0
			}
		}
	case p.cfg.DropOldest && int64(len(msg)) <= p.cfg.QueueBytes:
		cause = DropQueueFull
		for p.q.len() > 0 && (p.q.len() >= p.cfg.QueueSize || p.qBytes+int64(len(msg)) > p.cfg.QueueBytes) {
			p.pop()
			n++
		}
		p.push(msg)
	default:
		cause, n = DropQueueFull, 1
	}
	p.mu.Unlock()
	p.wake()
	if n > 0 && detail != nil {
		p.drop(cause, n, "err", detail)
	} else if n > 0 {
		p.drop(cause, n)
	}
	return nil
}

// fits says whether a message of n bytes can be queued without a drop: in memory, or in the
// spool. Called with p.mu held.
func (p *Poster) fits(n int) bool {
	if p.sp != nil && p.sp.count > 0 {
		return p.sp.room(n)
	}
	if p.q.len() < p.cfg.QueueSize && p.qBytes+int64(n) <= p.cfg.QueueBytes {
		return true
	}
	return p.sp != nil && p.sp.room(n)
}

// roomy tells whether the in-memory queue has a quarter of its room free besides n bytes
// (or the spool, when in use, has room for n).
func (p *Poster) roomy(n int) bool {
	if p.sp != nil && p.sp.count > 0 {
		return p.sp.room(n)
	}
	return p.q.len() <= p.cfg.QueueSize*3/4 && p.qBytes+int64(n) <= p.cfg.QueueBytes*3/4
}

func (p *Poster) push(msg []byte) {
	p.q.push(msg)
	p.qBytes += int64(len(msg))
}

func (p *Poster) pop() []byte {
	m := p.q.pop()
	p.qBytes -= int64(len(m))
	return m
}

// roomMade tells a WriteDetailsWait waiting for room that a message left (the collector
// takes calls again: waiting is worth it).
func (p *Poster) roomMade() {
	p.gaveUp.Store(false)
	select {
	case p.room <- struct{}{}:
	default:
	}
}

func (p *Poster) wake() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// next takes the oldest queued message: memory first, the spool once memory is empty.
func (p *Poster) next() ([]byte, bool) {
	p.mu.Lock()
	if p.q.len() > 0 {
		m := p.pop()
		p.mu.Unlock()
		p.roomMade()
		return m, true
	}
	if p.sp == nil || p.sp.count == 0 {
		p.mu.Unlock()
		return nil, false
	}
	msg, ok, lost := p.sp.next()
	p.mu.Unlock()
	p.roomMade()
	if lost > 0 {
		p.drop(DropSpoolError, lost, "dir", p.cfg.SpoolDir)
	}
	return msg, ok
}

// drop counts n lost calls and logs why, at most once a minute per cause (with how many
// warnings were held back), so an outage cannot flood the log.
func (p *Poster) drop(cause string, n int64, attrs ...any) {
	p.dmu.Lock()
	p.dropped[cause] += n
	total := p.dropped[cause]
	w := p.dropWarn[cause]
	if w == nil {
		w = &warnLimiter{period: time.Minute}
		p.dropWarn[cause] = w
	}
	p.dmu.Unlock()
	if ok, held := w.allow(time.Now()); ok {
		why := map[string]string{
			DropQueueFull:  "the in-memory queue is full (collector slow or down); set SPOOL_DIR or a bigger USAGE_LOGGERS_MESSAGE_QUEUE_SIZE",
			DropSpoolFull:  "the spool is full (collector down too long); raise the spool cap",
			DropSpoolError: "the spool could not be written or read; check the disk under SPOOL_DIR",
			DropRejected:   "the collector rejected bundles (4xx): check USAGE_LOGGERS_URL",
			DropRetries:    "bundles failed more than MaxRetries times",
			DropShutdown:   "the flush deadline passed",
			DropClosed:     "calls arrived after the output was closed",
		}[cause]
		attrs = append([]any{"cause", cause, "dropped_now", n, "dropped_total", total, "warnings_held_back", held}, attrs...)
		p.log.Warn("dropping calls: "+why, attrs...)
	}
}

// bundler fills bundles in queue order and hands them to the senders.
func (p *Poster) bundler() {
	defer close(p.bundlerDone)
	defer close(p.bundles)
	tick := time.NewTicker(p.cfg.FlushInterval)
	defer tick.Stop()
	var carry []byte
	draining := false
	for {
		b := &bundle{}
		var flushBy <-chan time.Time
		var timer *time.Timer
		for len(b.msgs) < p.cfg.BundleCount {
			msg, ok := carry, carry != nil
			carry = nil
			if !ok {
				msg, ok = p.next()
			}
			if ok {
				if len(b.msgs) > 0 && b.bytes+len(msg)+1 > p.cfg.BundleSize {
					carry = msg
					break
				}
				if len(b.msgs) == 0 && !draining {
					timer = time.NewTimer(p.cfg.FlushInterval)
					flushBy = timer.C
				}
				b.msgs = append(b.msgs, msg)
				b.bytes += len(msg) + 1
				continue
			}
			if draining {
				break
			}
			timedOut := false
			select {
			case <-p.kick:
			case <-tick.C:
				p.flushSpool()
			case <-flushBy:
				timedOut = true
			case <-p.drain:
				draining = true
			case <-p.abort:
				p.keep(b, carry)
				return
			}
			if timedOut {
				break
			}
		}
		if timer != nil {
			timer.Stop()
		}
		if len(b.msgs) == 0 {
			if draining {
				return
			}
			continue
		}
		b.seq = p.seq.Add(1)
	hand:
		for {
			select {
			case p.bundles <- b:
				break hand
			case <-tick.C: // senders busy (collector slow or down): keep the spool on disk
				p.flushSpool()
			case <-p.abort:
				p.keep(b, carry)
				return
			}
		}
	}
}

func (p *Poster) flushSpool() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sp != nil {
		if err := p.sp.flush(); err != nil {
			p.log.Error("cannot flush the spool", "err", err)
		}
	}
}

// keep sets aside a bundle that Close's deadline stopped, plus a message read past it.
func (p *Poster) keep(b *bundle, carry []byte) {
	if carry != nil {
		b.msgs = append(b.msgs, carry)
	}
	if len(b.msgs) == 0 {
		return
	}
	if b.seq == 0 {
		b.seq = p.seq.Add(1)
	}
	p.mu.Lock()
	p.left = append(p.left, b)
	p.mu.Unlock()
}

// sender posts bundles until the bundler closes the channel.
func (p *Poster) sender() {
	defer p.senders.Done()
	var zbuf bytes.Buffer
	req, resp := &fasthttp.Request{}, &fasthttp.Response{}
	var raw []byte
	for b := range p.bundles {
		if !p.send(b, req, resp, &raw, &zbuf) {
			return // abandoned a request that still owns req and resp: no release, no reuse
		}
	}
}

// send posts one bundle until it is delivered, dropped or set aside by Close's abort. It
// returns false when it abandoned a request still in progress.
func (p *Poster) send(b *bundle, req *fasthttp.Request, resp *fasthttp.Response, raw *[]byte, zbuf *bytes.Buffer) bool {
	var body []byte
	if p.cfg.Compress {
		p.zlib.compress(zbuf, b.msgs)
		body = zbuf.Bytes()
	} else {
		*raw = (*raw)[:0]
		for _, m := range b.msgs {
			*raw = append(*raw, m...)
			*raw = append(*raw, '\n')
		}
		body = *raw
	}
	req.Reset()
	req.SetRequestURI(p.uri)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.Header.SetContentType("application/ndjson; charset=UTF-8")
	if p.cfg.Compress {
		req.Header.Set("Content-Encoding", "deflated")
	}
	req.Header.SetUserAgent(p.ua)
	req.SetBodyRaw(body)

	delay := p.cfg.BackoffMin
	for attempt := 1; ; attempt++ {
		select {
		case <-p.abort:
			p.keep(b, nil)
			return true
		default:
		}
		deadline := time.Now().Add(p.cfg.Timeout)
		if at := p.abortAt.Load(); at != 0 && at < deadline.UnixNano() {
			deadline = time.Unix(0, at)
		}
		resp.Reset()
		// fasthttp cannot cancel a request, so it runs aside and Close's abort abandons it:
		// req, resp and body stay with that goroutine (the sender returns and reuses none of
		// them), and it ends by its own deadline.
		errc := make(chan error, 1)
		go func() { errc <- p.client.DoDeadline(req, resp, deadline) }()
		var err error
		select {
		case err = <-errc:
		case <-p.abort:
			p.keep(b, nil)
			return false
		}
		status := 0
		p.posts.Add(1)
		if err == nil {
			status = resp.StatusCode()
			if status >= 200 && status < 300 {
				p.delivered.Add(int64(len(b.msgs)))
				return true
			}
		}
		p.postFailures.Add(1)
		if err == nil {
			if status == fasthttp.StatusRequestEntityTooLarge && len(b.msgs) > 1 {
				return p.split(b, req, resp, raw, zbuf)
			}
			if status >= 400 && status < 500 && status != 408 && status != 429 {
				p.drop(DropRejected, int64(len(b.msgs)), "status", status, "url", p.uri)
				return true
			}
		}
		if ok, held := p.postWarn.allow(time.Now()); ok {
			p.log.Warn("posting to the collector failed; retrying with backoff", "url", p.uri, "status", status, "err", err, "attempt", attempt, "warnings_held_back", held)
		}
		if p.cfg.MaxRetries > 0 && attempt > p.cfg.MaxRetries {
			p.drop(DropRetries, int64(len(b.msgs)))
			return true
		}
		wait := delay/2 + rand.N(delay/2+1)
		delay = min(delay*2, p.cfg.BackoffMax)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-p.abort:
			t.Stop()
			p.keep(b, nil)
			return true
		}
	}
}

// split answers a 413 by sending each half of the bundle on its own.
func (p *Poster) split(b *bundle, req *fasthttp.Request, resp *fasthttp.Response, raw *[]byte, zbuf *bytes.Buffer) bool {
	h := len(b.msgs) / 2
	first := &bundle{seq: b.seq, msgs: b.msgs[:h]}
	second := &bundle{seq: b.seq, msgs: b.msgs[h:]}
	if !p.send(first, req, resp, raw, zbuf) {
		p.keep(second, nil)
		return false
	}
	return p.send(second, req, resp, raw, zbuf)
}

// Stats is a live account, for metrics; Close returns the final one.
func (p *Poster) Stats() Summary {
	s := Summary{
		Written:   p.written.Load(),
		Filtered:  p.filtered.Load(),
		Delivered: p.delivered.Load(),
		Recovered: p.recovered.Load(),
		Dropped:   map[string]int64{},
		Posts:     p.posts.Load(),
		PostFails: p.postFailures.Load(),
	}
	p.dmu.Lock()
	for k, v := range p.dropped {
		s.Dropped[k] = v
	}
	p.dmu.Unlock()
	p.mu.Lock()
	if p.sp != nil {
		s.Pending = p.sp.count
	}
	s.Queued = int64(p.q.len())
	p.mu.Unlock()
	return s
}

// Close posts everything still queued or spooled, waiting at most until ctx ends. What is
// not delivered by then goes back to the spool, in order, for the next run (Pending), or,
// without a spool, is counted as Dropped["shutdown"]. Pass a ctx with a deadline: while the
// collector is down, bundles are retried until it passes.
func (p *Poster) Close(ctx context.Context) (Summary, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return p.Stats(), nil
	}
	p.closed = true
	p.mu.Unlock()
	if dl, ok := ctx.Deadline(); ok {
		p.abortAt.Store(dl.UnixNano())
	}
	close(p.drain)
	done := make(chan struct{})
	go func() {
		<-p.bundlerDone
		p.senders.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		close(p.abort)
		<-done // requests end by the deadline, backoffs on abort: this is short
		err = ctx.Err()
	}
	p.client.CloseIdleConnections()

	p.mu.Lock()
	sort.SliceStable(p.left, func(i, j int) bool { return p.left[i].seq < p.left[j].seq })
	var rest [][]byte
	for _, b := range p.left {
		rest = append(rest, b.msgs...)
	}
	p.left = nil
	for p.q.len() > 0 {
		rest = append(rest, p.pop())
	}
	var serr error
	lost := int64(0)
	if p.sp != nil {
		if perr := p.sp.prepend(rest); perr != nil {
			lost = int64(len(rest))
			serr = perr
		}
		serr = errors.Join(serr, p.sp.close())
	} else {
		lost = int64(len(rest))
	}
	p.mu.Unlock()
	if lost > 0 {
		cause := DropShutdown
		if serr != nil {
			cause = DropSpoolError
		}
		p.drop(cause, lost)
	}
	s := p.Stats()
	if err != nil {
		err = fmt.Errorf("output: flush deadline passed with %d calls undelivered (%d kept in the spool for the next run): %w", s.Undelivered(), s.Pending, err)
	}
	return s, errors.Join(err, serr)
}

// msgRing is a FIFO of messages that reuses its backing array.
type msgRing struct {
	buf        [][]byte
	head, size int
}

func (r *msgRing) len() int { return r.size }

func (r *msgRing) push(m []byte) {
	if r.size == len(r.buf) {
		n := max(2*len(r.buf), 16)
		nb := make([][]byte, n)
		for i := 0; i < r.size; i++ {
			nb[i] = r.buf[(r.head+i)%len(r.buf)]
		}
		r.buf, r.head = nb, 0
	}
	r.buf[(r.head+r.size)%len(r.buf)] = m
	r.size++
}

func (r *msgRing) pop() []byte {
	m := r.buf[r.head]
	r.buf[r.head] = nil
	r.head = (r.head + 1) % len(r.buf)
	r.size--
	return m
}
