package proxymirror

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// refusal is what a connection over the limit is told before it is closed: a proxy that reads
// it logs a 503 for its mirror rather than a reset.
const refusal = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"

// limitListener hands out at most cap(slots) connections at once. One over the limit is
// answered 503 and closed at once, and counted: the listener never queues connections it cannot
// serve, so a flood of them costs a write and a close each, not memory. It also knows the
// connections it handed out, so that Close can end them.
type limitListener struct {
	net.Listener
	slots chan struct{}
	stats *Stats

	mu    sync.Mutex
	conns map[*limitConn]struct{}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			l.stats.Conns.Add(1)
			l.stats.ConnsOpen.Add(1)
			lc := &limitConn{Conn: c, l: l}
			l.mu.Lock()
			if l.conns == nil {
				l.conns = map[*limitConn]struct{}{}
			}
			l.conns[lc] = struct{}{}
			l.mu.Unlock()
			return lc, nil
		default:
			l.stats.ConnsRefused.Add(1)
			// A new socket's send buffer is empty, so the write does not block; the deadline is
			// there for the case it ever would.
			c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			c.Write([]byte(refusal))
			c.Close()
		}
	}
}

// connState is fasthttp's ConnState hook: it records whether a connection has begun a request.
func (l *limitListener) connState(c net.Conn, s fasthttp.ConnState) {
	if lc, ok := c.(*limitConn); ok {
		lc.state.Store(int32(s))
	}
}

// closeConns closes the connections that have not begun a request (all of them with all set):
// fasthttp's Shutdown closes idle keep-alive connections itself, but waits on a new one that has
// sent nothing yet as if it were busy.
func (l *limitListener) closeConns(all bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.conns {
		if all || fasthttp.ConnState(c.state.Load()) == fasthttp.StateNew {
			c.Conn.Close() // the slot is given back by fasthttp's own Close of c
		}
	}
}

// limitConn gives its slot back when it is closed (once, however often Close is called).
type limitConn struct {
	net.Conn
	l     *limitListener
	once  sync.Once
	state atomic.Int32 // a fasthttp.ConnState
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
		c.l.stats.ConnsOpen.Add(-1)
		<-c.l.slots
	})
	return err
}
