// Package proxymirror receives the requests that reverse proxies and service meshes mirror
// (NGINX's mirror directive, Envoy's request_mirror_policies, an Istio VirtualService mirror,
// Traefik's mirroring service): where packets cannot be captured, the proxy sends sniffer a copy
// of every request and throws the answer away. Each request becomes a call with no response,
// marked Mirrored, which goes through the same rules and sinks as captured calls.
//
// The listener answers every request at once with an empty 204, so that the proxy never waits
// on it, and bounds what a sender can make it hold: connections (MaxConns, more are answered 503
// and closed), the request head (MaxHeaderBytes, 431), the body kept (BodyLimit; the rest is
// read, counted and cut, as captured bodies are) and the time to send one request
// (ReadTimeout, 408). Whatever it refuses is counted in Stats, never a crash.
package proxymirror

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"sniffer/model"
)

// Config is how the listener listens and what it bounds.
type Config struct {
	Addr           string        // host:port to listen on, e.g. ":8445"
	BodyLimit      int64         // body bytes kept per request; the rest is counted and the body marked truncated
	MaxConns       int           // connections served at once; more are answered 503 and closed
	MaxHeaderBytes int           // request line and headers; a longer head is answered 431
	ReadTimeout    time.Duration // to receive one request whole, from its first byte (slow senders)
	IdleTimeout    time.Duration // keep-alive connections idle this long are closed
	Logger         *slog.Logger  // nil: slog.Default()
}

// Defaults for the zero values of Config.
const (
	DefaultMaxConns       = 256
	DefaultMaxHeaderBytes = 64 << 10
	DefaultReadTimeout    = 30 * time.Second
	DefaultIdleTimeout    = 2 * time.Minute
)

// Stats counts what the listener did. The zero value is ready; fields are read with Load.
type Stats struct {
	Conns        atomic.Int64 // connections accepted
	ConnsOpen    atomic.Int64 // connections open now
	ConnsRefused atomic.Int64 // connections over MaxConns: answered 503 and closed
	Calls        atomic.Int64 // requests received whole and handed on as calls
	Dropped      atomic.Int64 // of those, dropped: emit refused them, or sniffer was stopping
	Truncated    atomic.Int64 // calls whose body was cut at the body limit (kept and marked)
	Malformed    atomic.Int64 // requests that are not HTTP/1.x as fasthttp reads it: answered 400
	HeadTooLarge atomic.Int64 // request line and headers over MaxHeaderBytes: answered 431
	Timeouts     atomic.Int64 // requests not received whole within ReadTimeout: answered 408
	Cut          atomic.Int64 // requests whose connection ended before they were whole
}

// Listener is a running proxy mirror listener.
type Listener struct {
	cfg   Config
	emit  func(*model.Call) bool
	ln    net.Listener
	srv   *fasthttp.Server
	stats Stats
	log   *slog.Logger

	// closing is taken for reading around each emit and for writing by Close, so that once
	// Close returns no handler hands on another call (the pipeline's channel may then close).
	closing sync.RWMutex
	closed  bool

	served chan error
	warned [4]atomic.Bool // one warning per kind of refusal; later ones are counted only
}

// Listen binds cfg.Addr (so that a taken or bad address is a settings error at start) and
// serves mirrored requests until Close. emit hands a finished call on; it reports false when
// it had to drop the call, which is then counted in Stats.Dropped. It is called from many
// goroutines and must not block for long: the proxy waits for the answer.
func Listen(cfg Config, emit func(*model.Call) bool) (*Listener, error) {
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.MaxHeaderBytes <= 0 {
		cfg.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = DefaultReadTimeout
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.BodyLimit < 0 {
		cfg.BodyLimit = 0
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("SNIFFER_MIRROR_LISTEN/-mirror-listen %q: %w (give a free host:port, e.g. :8445)", cfg.Addr, err)
	}
	l := &Listener{cfg: cfg, emit: emit, log: cfg.Logger, served: make(chan error, 1)}
	lim := &limitListener{Listener: ln, slots: make(chan struct{}, cfg.MaxConns), stats: &l.stats}
	l.ln = lim
	l.srv = &fasthttp.Server{
		Handler:      l.handle,
		ErrorHandler: l.refuse,
		ConnState:    lim.connState,
		Name:         "sniffer",
		// Connections are limited by limitListener, which answers the ones over the limit;
		// fasthttp's own limit stays above it so that it never refuses silently.
		Concurrency:    cfg.MaxConns + 1,
		ReadBufferSize: cfg.MaxHeaderBytes,
		ReadTimeout:    cfg.ReadTimeout,
		IdleTimeout:    cfg.IdleTimeout,
		WriteTimeout:   5 * time.Second,
		// Bodies are streamed to the handler, which keeps BodyLimit bytes and counts the rest:
		// fasthttp reads at most 8 KiB ahead, so memory does not grow with what a sender sends.
		StreamRequestBody:            true,
		MaxRequestBodySize:           int(max(cfg.BodyLimit, 1)),
		DisablePreParseMultipartForm: true,
		// Names keep the case they had on the wire, as captured calls keep them.
		DisableHeaderNamesNormalizing: true,
		NoDefaultServerHeader:         true,
		NoDefaultDate:                 true,
		NoDefaultContentType:          true,
		CloseOnShutdown:               true,
		Logger:                        fasthttpLogger{cfg.Logger},
	}
	go func() { l.served <- l.srv.Serve(l.ln) }()
	return l, nil
}

// Addr is the address the listener is bound to (with the port chosen when Addr gave port 0).
func (l *Listener) Addr() net.Addr { return l.ln.Addr() }

// Stats is the live account of the listener.
func (l *Listener) Stats() *Stats { return &l.stats }

// Close stops accepting, lets the requests being received finish until ctx ends, and closes
// every connection. After it returns no more calls are handed on.
func (l *Listener) Close(ctx context.Context) error {
	lim := l.ln.(*limitListener)
	done := make(chan error, 1)
	go func() { done <- l.srv.ShutdownWithContext(ctx) }()
	// Until Shutdown has closed the listener a connection may still be accepted: look again
	// until it is done.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var err error
	for waiting := true; waiting; {
		lim.closeConns(false)
		select {
		case err = <-done:
			waiting = false
		case <-tick.C:
		}
	}
	if err != nil {
		lim.closeConns(true) // past ctx: the requests still arriving are cut
	}
	l.closing.Lock()
	l.closed = true
	l.closing.Unlock()
	if serr := <-l.served; serr != nil && err == nil {
		err = serr
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		err = nil // connections still open were closed; their requests are counted as cut
	}
	return err
}

// answer is the whole response to a mirrored request: nothing to read, nothing to wait for.
const answer = fasthttp.StatusNoContent

func (l *Listener) handle(ctx *fasthttp.RequestCtx) {
	start := time.Now()
	req := &ctx.Request
	c := &model.Call{Start: start, VNI: -1, Mirrored: true}
	c.Request.Method = string(req.Header.Method())
	c.Request.Target = string(req.Header.RequestURI())
	c.Request.Proto = string(req.Header.Protocol())
	c.Request.Headers = parseHeaders(req.Header.RawHeaders())
	if c.Request.Method == "PRI" && c.Request.Target == "*" {
		l.count(ctx, errHTTP2) // HTTP/2's preface, read as a request: the rest is frames
		return
	}

	body, size, err := readBody(ctx.RequestBodyStream(), l.cfg.BodyLimit, req.Header.ContentLength())
	if err != nil {
		l.count(ctx, err)
		return
	}
	c.End = time.Now()
	c.Request.Body, c.Request.BodySize = body, size
	c.Request.Truncated = size > int64(len(body))
	if c.Request.Truncated {
		l.stats.Truncated.Add(1)
	}

	o := originOf(c.Request.Headers)
	c.Client = o.client
	if !c.Client.IsValid() {
		// No forwarding header: the sender itself. That is the proxy, or for a mesh sidecar
		// that mirrors its own pod's outbound calls, the pod the call came from.
		if a, ok := ctx.RemoteAddr().(*net.TCPAddr); ok {
			ap := a.AddrPort()
			c.Client = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		}
	}
	for i := range c.Request.Headers {
		if h := &c.Request.Headers[i]; strings.EqualFold(h.Name, "Host") {
			h.Value = shadowHost(h.Value)
		}
	}
	c.URL = callURL(o, c.Request.Target)

	l.stats.Calls.Add(1)
	l.closing.RLock()
	ok := !l.closed && l.emit(c)
	l.closing.RUnlock()
	if !ok {
		l.stats.Dropped.Add(1)
	}
	ctx.SetStatusCode(answer)
}

// readBody keeps up to limit bytes of the (de-chunked) body and reads the rest away, counting
// it: size is the whole body's. r is nil when the request has no body.
func readBody(r io.Reader, limit int64, contentLength int) (body []byte, size int64, err error) {
	if r == nil {
		return nil, 0, nil
	}
	if contentLength >= 0 {
		// The length is known: one buffer of the part kept, then the rest read away.
		body = make([]byte, min(int64(contentLength), limit))
		if _, err := io.ReadFull(r, body); err != nil {
			return nil, 0, err
		}
	} else {
		// Chunked: the size is not known ahead; grow as it comes, up to limit.
		body = make([]byte, 0, min(limit, 4096))
		for int64(len(body)) < limit {
			if len(body) == cap(body) {
				body = append(body, 0)[:len(body)]
			}
			n, err := r.Read(body[len(body):min(int64(cap(body)), limit)])
			body = body[:len(body)+n]
			if err == io.EOF {
				return body, int64(len(body)), nil
			}
			if err != nil {
				return nil, 0, err
			}
		}
	}
	n, err := io.Copy(io.Discard, r)
	size = int64(len(body)) + n
	if err == nil && contentLength >= 0 && size < int64(contentLength) {
		err = io.ErrUnexpectedEOF // fasthttp's stream ends quietly when the connection does
	}
	if err != nil {
		return nil, size, err
	}
	return body, size, nil
}

// callURL is the absolute URL of the request as the client sent it to the proxy.
func callURL(o origin, target string) string {
	if len(target) > 7 && strings.EqualFold(target[:7], "http://") {
		return "http://" + target[7:]
	}
	if len(target) > 8 && strings.EqualFold(target[:8], "https://") {
		return "https://" + target[8:]
	}
	if o.host == "" {
		return "" // HTTP/1.0 without Host, and no forwarded host either: nothing to name
	}
	if target == "*" || target == "" {
		return o.scheme + "://" + o.host
	}
	if target[0] != '/' {
		target = "/" + target
	}
	return o.scheme + "://" + o.host + target
}

// errHTTP2 is a connection that opened with HTTP/2's preface: the listener speaks HTTP/1.x.
var errHTTP2 = errors.New("the proxy sent HTTP/2; set its mirror upstream to HTTP/1.1 (Envoy: no http2_protocol_options on the mirror cluster; Istio: an http port, not http2 or grpc)")

// refuse answers a request fasthttp could not read, and counts it by why.
func (l *Listener) refuse(ctx *fasthttp.RequestCtx, err error) { l.count(ctx, err) }

// Kinds of refusal, for the one warning each.
const (
	kindMalformed = iota
	kindHead
	kindTimeout
	kindCut
)

func (l *Listener) count(ctx *fasthttp.RequestCtx, err error) {
	var small *fasthttp.ErrSmallBuffer
	var ne net.Error
	kind, status, what := kindMalformed, fasthttp.StatusBadRequest, "could not be read as HTTP/1.x"
	switch {
	case errors.As(err, &small):
		kind, status, what = kindHead, fasthttp.StatusRequestHeaderFieldsTooLarge, fmt.Sprintf("has a head over %d bytes (SNIFFER_MIRROR_MAX_HEADER_BYTES)", l.cfg.MaxHeaderBytes)
		l.stats.HeadTooLarge.Add(1)
	case errors.As(err, &ne) && ne.Timeout():
		kind, status, what = kindTimeout, fasthttp.StatusRequestTimeout, fmt.Sprintf("was not received whole within %s (SNIFFER_MIRROR_READ_TIMEOUT)", l.cfg.ReadTimeout)
		l.stats.Timeouts.Add(1)
	case errors.Is(err, errHTTP2):
		what = "is HTTP/2"
		l.stats.Malformed.Add(1)
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed):
		kind, status, what = kindCut, fasthttp.StatusBadRequest, "ended before it was whole"
		l.stats.Cut.Add(1)
	default:
		l.stats.Malformed.Add(1)
	}
	ctx.Response.Reset()
	ctx.SetStatusCode(status)
	ctx.SetConnectionClose()
	peer := ctx.RemoteAddr().String()
	if l.warned[kind].CompareAndSwap(false, true) {
		l.log.Warn("proxy mirror: a request "+what+"; it was refused, and further ones are only counted", "peer", peer, "err", err)
	} else {
		l.log.Debug("proxy mirror: refused a request", "why", what, "peer", peer, "err", err)
	}
}

// fasthttpLogger sends fasthttp's own messages (connection errors it already answered) to the
// debug log: the counters carry them.
type fasthttpLogger struct{ l *slog.Logger }

func (f fasthttpLogger) Printf(format string, args ...any) {
	f.l.Debug("proxy mirror: " + fmt.Sprintf(format, args...))
}
