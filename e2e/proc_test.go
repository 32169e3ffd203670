//go:build linux

package e2e

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
)

// proc is a long-running child (a sniffer or the server) whose output is kept for the checks.
type proc struct {
	name           string
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	done           chan struct{}
	err            error
	errMu          sync.Mutex // stderr while the process runs (stderrHas); after done it is the process's no more
}

// lockedWriter writes to w under mu.
type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// stderrHas tells whether the process has written s to standard error so far.
func (p *proc) stderrHas(s string) bool {
	p.errMu.Lock()
	defer p.errMu.Unlock()
	return bytes.Contains(p.stderr.Bytes(), []byte(s))
}

// waitCapturing waits, up to 60 s each, until every sniffer in ps has printed its start
// line, which comes once its capture is open (the libpcap handle active, AF_PACKET sockets
// in their fanout group, vx0 up): traffic sent before then is not captured. A fixed pause
// was too short on a loaded machine.
func waitCapturing(t *testing.T, ps ...*proc) {
	t.Helper()
	for _, p := range ps {
		for deadline := time.Now().Add(60 * time.Second); !p.stderrHas(": capturing on "); time.Sleep(20 * time.Millisecond) {
			if p.exited() {
				t.Fatalf("%s exited before any traffic (%v). stderr:\n%s", p.name, p.err, tail(p.stderr.Bytes(), 4000))
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s did not say it was capturing within 60 s. stderr:\n%s", p.name, tail(p.stderr.Bytes(), 4000))
			}
		}
	}
}

// waitTcpdump waits, up to within, until tcpdump (p, writing its messages to errPath) says
// it is listening on dev: packets sent before then are not recorded.
func waitTcpdump(t *testing.T, p *proc, errPath, dev string, within time.Duration) {
	t.Helper()
	for end := time.Now().Add(within); ; time.Sleep(50 * time.Millisecond) {
		b, _ := os.ReadFile(errPath)
		if bytes.Contains(b, []byte("listening on")) {
			return
		}
		if p.exited() || time.Now().After(end) {
			t.Fatalf("tcpdump did not start listening on %s within %v (%v):\n%s", dev, within, p.err, b)
		}
	}
}

// start runs cmd, and makes sure it is killed when the test ends whatever happens.
func start(t *testing.T, name string, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	if cmd.Stdout == nil {
		cmd.Stdout = &p.stdout
	}
	cmd.Stderr = lockedWriter{&p.errMu, &p.stderr}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends sig and waits up to limit for a clean exit (status 0). It returns false, having
// reported why, if the process had to be killed or exited with an error.
func (p *proc) stop(t *testing.T, sig syscall.Signal, limit time.Duration) bool {
	t.Helper()
	if !p.exited() {
		p.cmd.Process.Signal(sig)
	}
	select {
	case <-p.done:
	case <-time.After(limit):
		p.cmd.Process.Kill()
		<-p.done
		t.Errorf("%s did not exit within %v of %v; killed. stderr:\n%s", p.name, limit, sig, tail(p.stderr.Bytes(), 4000))
		return false
	}
	if p.err != nil {
		var ee *exec.ExitError
		if errors.As(p.err, &ee) {
			t.Errorf("%s exited with %v after %v (want status 0). stderr:\n%s", p.name, ee, sig, tail(p.stderr.Bytes(), 4000))
		} else {
			t.Errorf("%s: %v", p.name, p.err)
		}
		return false
	}
	return true
}

func tail(b []byte, n int) string {
	if len(b) > n {
		return "..." + string(b[len(b)-n:])
	}
	return string(b)
}
