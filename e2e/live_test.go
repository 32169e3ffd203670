//go:build linux

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"sniffer/scripts/callset"
)

// TestLiveVeth captures live on a veth with `sniffer -i DEV -ports PORT` while a real net/http
// server in one namespace answers a real client in the other (every endpoint of expect(), over
// keep-alive, IPv4 and IPv6, pipelined, HTTP/1.0 close-delimited, 100-continue, curl when
// installed), then stops sniffer with SIGINT and checks that it printed every call the server
// served on that port, once, complete and byte for byte; and none of a port it was not given.
// Two sniffers run side by side, both with the libpcap engine (the default, auto, takes
// afpacket here: TestAutoEngineFallsBack, TestAFPacketLiveVeth): one decoding bodies, one with
// -decode=false.
func TestLiveVeth(t *testing.T) {
	libpcap := append([]string{"-engine", "libpcap"}, keepAll...)
	p, outs, errs, served := liveVeth(t, libpcap, append(append([]string{}, libpcap...), "-decode=false"))
	t.Logf("sniffer summary (stderr):\n%s", tail(errs[0], 2000))
	checkLive(t, "sniffer", outs[0], served, p, false)
	checkLive(t, "sniffer -decode=false", outs[1], served, p, true)
}

// liveVeth runs the live test's server and client (see TestLiveVeth) with one sniffer per
// argument list, each on the server's veth, and returns what each printed and the calls the
// server answered on the captured port. Sniffers that did not exit cleanly fail the test.
func liveVeth(t *testing.T, sniffArgs ...[]string) (p *netPair, outs [][]byte, errs [][]byte, served callset.Set) {
	t.Helper()
	runs := make([]sniffRun, len(sniffArgs))
	for i, a := range sniffArgs {
		runs[i].args = a
	}
	return liveVethRuns(t, runs...)
}

// sniffRun is one sniffer of liveVethRuns: its flags after -i DEV -ports PORT, and the
// command that runs it (e.g. prlimit and its options, which then exec sniffer); none: sniffer
// is run directly.
type sniffRun struct {
	args, wrap []string
}

// liveVethRuns is liveVeth with each sniffer's command given in full.
func liveVethRuns(t *testing.T, runs ...sniffRun) (p *netPair, outs [][]byte, errs [][]byte, served callset.Set) {
	t.Helper()
	needRoot(t, "ip")
	bin := sniffer(t, true)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p = newNetPair(t)
	const port = "8080"
	v4, v6 := net.JoinHostPort(p.serverV4, port), net.JoinHostPort(p.serverV6, port)
	other := net.JoinHostPort(p.serverV4, "9090")
	servedLog := filepath.Join(t.TempDir(), "served")
	srvCmd := inNS(p.serverNS, exe, "-test.run=^$")
	srvCmd.Env = append(os.Environ(), roleEnv+"=server", "SNIFFER_E2E_LISTEN="+v4+","+v6+","+other, "SNIFFER_E2E_LOG="+servedLog)
	ready, err := srvCmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	srv := start(t, "server", srvCmd)
	waitReady(t, srv, ready)

	var procs []*proc
	for i, r := range runs {
		argv := append(append(append([]string{}, r.wrap...), bin, "-i", p.serverDev, "-ports", port), r.args...)
		procs = append(procs, start(t, fmt.Sprintf("sniffer %d %v", i, append(r.wrap, r.args...)), snifferCmd(inNS(p.serverNS, argv[0], argv[1:]...))))
	}
	// Traffic starts once every sniffer says it is capturing: a fanout member that joined
	// after the traffic received nothing.
	waitCapturing(t, procs...)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cl := exec.CommandContext(ctx, "ip", "netns", "exec", p.clientNS, exe, "-test.run=^$")
	cl.Env = append(os.Environ(), roleEnv+"=client", "SNIFFER_E2E_V4="+v4, "SNIFFER_E2E_V6="+v6, "SNIFFER_E2E_OTHER="+other)
	var clErr bytes.Buffer
	cl.Stderr = &clErr
	clOut, err := cl.Output()
	if err != nil {
		t.Fatalf("the HTTP client failed, so the test proves nothing about sniffer: %v\n%s", err, clErr.String())
	}
	time.Sleep(time.Second) // let the last segments reach the captures
	ok := true
	for _, s := range procs {
		ok = s.stop(t, syscall.SIGINT, 20*time.Second) && ok
		outs, errs = append(outs, s.stdout.Bytes()), append(errs, s.stderr.Bytes())
	}
	if !srv.stop(t, syscall.SIGTERM, 10*time.Second) || !ok {
		t.FailNow()
	}
	served = readServed(t, servedLog, port)
	made := clientCalls(t, clOut, v4, v6)
	if _, extra, _ := callset.Diff(served, made); len(extra) > 0 || served.Len() != made.Len() {
		t.Fatalf("test harness: the server logged %d calls on port %s, the client made %d", served.Len(), port, made.Len())
	}
	t.Logf("the server answered %d calls on port %s", served.Len(), port)
	return p, outs, errs, served
}

// keepAll are the flags for a sniffer whose output is compared byte for byte with what was sent:
// the default logging rules mask e-mail addresses, long digit runs and credentials, which the test
// bodies hold. The tests that replay the issue's own check run sniffer with its defaults instead.
var keepAll = []string{"-rules", "include debug"}

func snifferCmd(c *exec.Cmd) *exec.Cmd {
	c.Env = snifferEnv()
	return c
}

func waitReady(t *testing.T, srv *proc, r interface{ Read([]byte) (int, error) }) {
	t.Helper()
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(r).ReadString('\n')
		line <- s
	}()
	select {
	case s := <-line:
		if strings.TrimSpace(s) != "ready" {
			srv.stop(t, syscall.SIGTERM, 5*time.Second)
			t.Fatalf("the test server did not start: %q; stderr:\n%s", s, srv.stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("the test server was not ready within 15 s; stderr:\n%s", srv.stderr.String())
	}
}

// readServed reads the server's log of calls answered on port.
func readServed(t *testing.T, path, port string) callset.Set {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := callset.Set{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(l)
		if len(f) != 4 {
			t.Fatalf("bad server log line %q", l)
		}
		if f[0] != port {
			continue
		}
		st, _ := strconv.Atoi(f[3])
		s.Add(callset.Key{Method: f[1], Target: f[2], Status: st})
	}
	return s
}

// clientCalls reads the client's "CALL addr method target status" lines for the captured addresses.
func clientCalls(t *testing.T, out []byte, addrs ...string) callset.Set {
	t.Helper()
	s := callset.Set{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(l)
		if len(f) != 5 || f[0] != "CALL" {
			t.Fatalf("bad client line %q", l)
		}
		for _, a := range addrs {
			if f[1] == a {
				st, _ := strconv.Atoi(f[4])
				s.Add(callset.Key{Method: f[2], Target: f[3], Status: st})
			}
		}
	}
	return s
}

// checkLive checks one sniffer's NDJSON against the calls served; rawBodies is -decode=false.
func checkLive(t *testing.T, name string, out []byte, served callset.Set, p *netPair, rawBodies bool) {
	t.Helper()
	tally := callset.NewTally()
	var problems []string
	err := callset.ReadNDJSON(bytes.NewReader(out), func(line []byte, c *callset.Call) error {
		tally.Add(line, c)
		for _, pr := range checkCall(c, p, rawBodies) {
			problems = append(problems, fmt.Sprintf("%s %s: %s", c.Request.Method, c.Request.URL, pr))
		}
		return nil
	})
	if err != nil {
		t.Errorf("%s: %v", name, err)
		return
	}
	var rep strings.Builder
	if !callset.Report(&rep, served, tally, 40) {
		t.Errorf("%s did not print exactly the calls served:\n%s", name, rep.String())
	} else {
		t.Logf("%s: %s", name, strings.TrimSpace(rep.String()))
	}
	for i, pr := range problems {
		if i == 40 {
			t.Errorf("%s: ... %d more problems", name, len(problems)-40)
			break
		}
		t.Errorf("%s: %s", name, pr)
	}
}

// checkCall lists what is wrong with one printed call.
func checkCall(c *callset.Call, p *netPair, rawBodies bool) []string {
	var bad []string
	add := func(f string, a ...any) { bad = append(bad, fmt.Sprintf(f, a...)) }
	if c.IsIncomplete() {
		add("marked incomplete (%s) or has no response", string(c.Incomplete))
	}
	if c.IsTruncated() && c.Shed == "" {
		add("marked truncated")
	}
	if _, err := time.Parse(time.RFC3339Nano, c.Start); err != nil {
		add("start %q is not RFC 3339: %v", c.Start, err)
	}
	if c.DurationMS == nil || *c.DurationMS < 0 || *c.DurationMS > 60000 {
		add("duration_ms missing or out of range: %v", c.DurationMS)
	}
	srv, err1 := netip.ParseAddrPort(c.Server)
	cli, err2 := netip.ParseAddrPort(c.Client)
	wantSrv, wantCli := p.serverV4, p.clientV4
	if srv.Addr().Is6() {
		wantSrv, wantCli = p.serverV6, p.clientV6
	}
	if err1 != nil || err2 != nil || srv.Addr().String() != wantSrv || !p.capturedPort(srv.Port()) || cli.Addr().String() != wantCli {
		add("client %q / server %q, want %s:* / %s on port %v", c.Client, c.Server, wantCli, wantSrv, p.ports())
	}
	target := callset.Target(c.Request.URL)
	if host, ok := c.Request.Header("Host"); !ok || c.Request.URL != "http://"+host+target {
		add("url %q is not http:// + Host (%q) + target", c.Request.URL, host)
	}
	if c.Shed != "" {
		// An overloaded pipeline left the bodies out and said so (counted in the
		// summary, "shed" in the tally): the capture never waits, so a loaded machine
		// may do this to any call; the bodies are checked on every other call.
		return bad
	}
	e := expect(c.Request.Method, target)
	if b, err := c.Request.BodyBytes(); err != nil || !bytes.Equal(b, e.reqBody) {
		add("request body: %d bytes (%v), want %d", len(b), err, len(e.reqBody))
	}
	if c.Response == nil {
		return bad
	}
	r := c.Response
	body, err := r.BodyBytes()
	if err != nil {
		add("response body: %v", err)
	}
	want := e.respBody
	switch {
	case e.gzipped && rawBodies:
		if unz, err := gunzip(body); err != nil || !bytes.Equal(unz, want) {
			add("-decode=false body should be the gzip bytes as sent; gunzip gave %d bytes (%v), want %d", len(unz), err, len(want))
		}
		want = body // body_size is then the wire size
	case e.gzipped:
		if ce, _ := r.Header("Content-Encoding"); ce != "gzip" {
			add("the original Content-Encoding header should be kept, got %q", ce)
		}
	}
	if !bytes.Equal(body, want) {
		add("response body: %d bytes, want %d; starts %q", len(body), len(want), clip(body, 60))
	}
	if !e.gzipped || rawBodies {
		if r.BodySize == nil || *r.BodySize != int64(len(want)) {
			add("response body_size %v, want %d", r.BodySize, len(want))
		}
	}
	return bad
}

func clip(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
