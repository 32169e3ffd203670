package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"sniffer/scripts/callset"
)

// liveVeth runs the live test's server and client (see TestLiveVeth) with one sniffer per
// argument list, each on the server's veth, and returns what each printed and the calls the
// server answered on the captured port. Sniffers that did not exit cleanly fail the test.
func liveVeth(t *testing.T, sniffArgs ...[]string) (p *netPair, outs [][]byte, errs [][]byte, served callset.Set) {
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
	for i, a := range sniffArgs {
		args := append([]string{"-i", p.serverDev, "-ports", port}, a...)
		procs = append(procs, start(t, fmt.Sprintf("sniffer %d %v", i, a), snifferCmd(inNS(p.serverNS, bin, args...))))
	}
	time.Sleep(2 * time.Second)
	for _, s := range procs {
		if s.exited() {
			t.Fatalf("%s exited before any traffic (%v). stderr:\n%s", s.name, s.err, tail(s.stderr.Bytes(), 4000))
		}
	}
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

var kernelDropsRE = regexp.MustCompile(`pcap: (\d+) received, (\d+) dropped by the kernel`)

// kernelDrops reads the receive and drop counts from sniffer's summary.
func kernelDrops(t *testing.T, stderr []byte) (received, dropped int) {
	t.Helper()
	m := kernelDropsRE.FindSubmatch(stderr)
	if m == nil {
		t.Fatalf("no capture counters in the summary:\n%s", tail(stderr, 2000))
	}
	received, _ = strconv.Atoi(string(m[1]))
	dropped, _ = strconv.Atoi(string(m[2]))
	return
}

// TestAFPacketLiveVeth is TestLiveVeth with the AF_PACKET engine: every call the server
// answered on the captured port, once, byte for byte, none of the other port, and the
// socket's counters in the summary.
func TestAFPacketLiveVeth(t *testing.T) {
	p, outs, errs, served := liveVeth(t, append([]string{"-engine", "afpacket"}, keepAll...))
	t.Logf("sniffer summary (stderr):\n%s", tail(errs[0], 2000))
	checkLive(t, "sniffer -engine afpacket", outs[0], served, p, false)
	if recv, drop := kernelDrops(t, errs[0]); recv == 0 || drop != 0 {
		t.Errorf("AF_PACKET counters: %d received, %d dropped; want some received, none dropped", recv, drop)
	}
}

// Two sniffers in one fanout group split the device by flow: together they print every
// call exactly once (each connection, both directions, is seen whole by one of them).
func TestAFPacketFanoutSplitsByFlow(t *testing.T) {
	args := append([]string{"-engine", "afpacket", "-afpacket-fanout", "4242"}, keepAll...)
	p, outs, errs, served := liveVeth(t, args, args)
	for i, e := range errs {
		t.Logf("sniffer %d summary (stderr):\n%s", i, tail(e, 1200))
	}
	n0, n1 := bytes.Count(outs[0], []byte("\n")), bytes.Count(outs[1], []byte("\n"))
	t.Logf("the fanout group split the calls %d + %d", n0, n1)
	checkLive(t, "two sniffers in one fanout group, together", append(append([]byte{}, outs[0]...), outs[1]...), served, p, false)
	r0, _ := kernelDrops(t, errs[0])
	r1, _ := kernelDrops(t, errs[1])
	if r0 == 0 || r1 == 0 {
		// Each IPv4 and IPv6 connection, the pipelined one, the HTTP/1.0 ones: a dozen
		// flows or more, so both members get packets unless fanout is not in effect.
		t.Errorf("one member received no packets (%d, %d): the group did not split the traffic", r0, r1)
	}
}

// TestAFPacketWorkloadLive is TestWorkloadLive with the AF_PACKET engine: nginx + wrk for 5 s,
// and sniffer must print exactly the calls nginx served.
func TestAFPacketWorkloadLive(t *testing.T) {
	needRoot(t, "ip", "nginx", "wrk", "tcpdump", "python3")
	script := workloadScript(t)
	bin := sniffer(t, false)
	pcap := filepath.Join(t.TempDir(), "live.pcap")
	base := strings.TrimSuffix(pcap, ".pcap")
	sniff := fmt.Sprintf("exec env -i PATH=%q %q -engine afpacket -i \"$DEV\" -ports 80", os.Getenv("PATH"), bin)
	summary, err := runWorkload(script, pcap, 5, 16, sniff)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("capture: %s", summary)
	stderr, _ := os.ReadFile(base + ".sniff-err")
	t.Logf("sniffer summary (stderr):\n%s", tail(stderr, 2000))
	if _, drop := kernelDrops(t, stderr); drop != 0 {
		t.Errorf("the ring dropped %d packets", drop)
	}
	out, err := os.Open(base + ".sniffed")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	tally := callset.NewTally("/large.json")
	if err := callset.ReadNDJSON(out, tally.Add); err != nil {
		t.Fatal(err)
	}
	var rep strings.Builder
	if !callset.Report(&rep, readCalls(t, base+".calls"), tally, 30) {
		t.Errorf("the live afpacket sniffer did not print exactly the calls nginx served:\n%s", rep.String())
	} else {
		t.Logf("%s", strings.TrimSpace(rep.String()))
	}
}

// The user-space VXLAN decapsulation of TestMirror over the AF_PACKET engine
// (-engine afpacket+mirror): every mirrored call once, byte for byte, with its VNI.
func TestAFPacketMirror(t *testing.T) {
	needRoot(t, "ip", "tc", "bash")
	bin := sniffer(t, true)
	lab := newMirrorLab(t)
	s := lab.sniffer(t, "sniffer -engine afpacket+mirror", bin, append([]string{"-engine", "afpacket+mirror", "-i", lab.underlay, "-ports", mirrorPort}, keepAll...)...)
	if served := lab.drive(t, []*proc{s}, nil); served != nil {
		lab.check(t, s.name, s.stdout.Bytes(), s.stderr.Bytes(), served, lab.vniInt(t))
		if _, drop := kernelDrops(t, s.stderr.Bytes()); drop != 0 {
			t.Errorf("the ring dropped %d packets", drop)
		}
	}
}
