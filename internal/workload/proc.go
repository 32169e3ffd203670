//go:build linux

package workload

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// proc is a background process whose standard error is kept (when the command has none set).
type proc struct {
	cmd    *exec.Cmd
	group  bool
	stderr syncBuffer
	done   chan struct{}
	err    error
}

// start starts cmd; with group, in a process group of its own, so that stop signals every
// process the command started.
func start(cmd *exec.Cmd, group bool) (*proc, error) {
	p := &proc{cmd: cmd, group: group, done: make(chan struct{})}
	if cmd.Stderr == nil {
		cmd.Stderr = &p.stderr
	}
	if group {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends sig (to the group, for a group) and waits up to grace for the exit, then kills.
// It returns an error when the process had to be killed or exited other than by sig or 0.
func (p *proc) stop(sig syscall.Signal, grace time.Duration) error {
	if p.exited() {
		return p.exitErr(sig)
	}
	pid := p.cmd.Process.Pid
	if p.group {
		syscall.Kill(-pid, sig)
	} else {
		syscall.Kill(pid, sig)
	}
	select {
	case <-p.done:
		return p.exitErr(sig)
	case <-time.After(grace):
	}
	if p.group {
		syscall.Kill(-pid, syscall.SIGKILL)
	}
	p.cmd.Process.Kill()
	<-p.done
	return fmt.Errorf("%s did not exit within %v of %v; killed", p.cmd.Args[len(p.cmd.Args)-1], grace, sig)
}

func (p *proc) exitErr(sig syscall.Signal) error {
	var ee *exec.ExitError
	if p.err == nil || !errors.As(p.err, &ee) {
		return p.err
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == sig {
		return nil
	}
	return fmt.Errorf("%v; stderr: %s", p.err, bytes.TrimSpace(p.stderr.Bytes()))
}

// syncBuffer is a bytes.Buffer safe to read while the process writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) Bytes() []byte { return []byte(s.String()) }
