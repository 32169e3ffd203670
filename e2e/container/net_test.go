//go:build linux

package container

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// hosts is two network namespaces joined by a veth pair: the server host, where the app,
// the collector and the sniffer container run, and a client host that calls the app.
type hosts struct {
	serverNS, clientNS string
	serverIP, clientIP string
	serverDev          string
}

func newHosts(t *testing.T) *hosts {
	t.Helper()
	id := fmt.Sprintf("%d", os.Getpid()%100000)
	h := &hosts{
		serverNS: "snfct" + id + "s", clientNS: "snfct" + id + "c",
		serverIP: "10.216.0.1", clientIP: "10.216.0.2", serverDev: "snfct" + id + "s",
	}
	cliDev := "snfct" + id + "c"
	ip(t, "netns", "add", h.serverNS)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", h.serverNS).Run() })
	ip(t, "netns", "add", h.clientNS)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", h.clientNS).Run() })
	ip(t, "link", "add", h.serverDev, "type", "veth", "peer", "name", cliDev)
	t.Cleanup(func() { exec.Command("ip", "link", "del", h.serverDev).Run() })
	ip(t, "link", "set", h.serverDev, "netns", h.serverNS)
	ip(t, "link", "set", cliDev, "netns", h.clientNS)
	for _, e := range []struct{ ns, dev, addr string }{{h.serverNS, h.serverDev, h.serverIP}, {h.clientNS, cliDev, h.clientIP}} {
		ip(t, "-n", e.ns, "addr", "add", e.addr+"/24", "dev", e.dev)
		ip(t, "-n", e.ns, "link", "set", "lo", "up")
		ip(t, "-n", e.ns, "link", "set", e.dev, "up")
	}
	return h
}

func ip(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// inNS runs name inside network namespace ns (ip netns exec execs it in place).
func inNS(ns, name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

// proc is a background process killed when the test ends.
type proc struct {
	name string
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
	err  error
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func start(t *testing.T, name string, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p, p
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

// wait waits (bounded) for the process to exit and returns its error.
func (p *proc) wait(t *testing.T, limit time.Duration) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(limit):
		p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("%s did not finish within %v:\n%s", p.name, limit, tail(p.output(), 4000))
		return nil
	}
}

// getIn fetches url from inside network namespace ns (curl there), returning status and body.
func getIn(ns, url string) (int, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, "curl", "-s", "-m", "5", "-w", "\n%{http_code}", url)
	out, err := cmd.Output()
	if err != nil {
		return 0, "", fmt.Errorf("curl %s in %s: %v", url, ns, err)
	}
	s := string(out)
	i := strings.LastIndexByte(s, '\n')
	var code int
	fmt.Sscan(s[i+1:], &code)
	return code, s[:i], nil
}

// until polls f every 100 ms until it returns true or limit passes; it reports whether f did.
func until(limit time.Duration, f func() bool) bool {
	for deadline := time.Now().Add(limit); ; {
		if f() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// metricsText parses Prometheus text into "name{labels}" -> value.
func metricsText(body string) map[string]float64 {
	m := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		if i := strings.LastIndexByte(line, ' '); i > 0 {
			var v float64
			if _, err := fmt.Sscan(line[i+1:], &v); err == nil {
				m[line[:i]] = v
			}
		}
	}
	return m
}

// httpGet is a bounded GET from this (the root) namespace.
func httpGet(url string) (int, string, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	return resp.StatusCode, string(b), err
}
