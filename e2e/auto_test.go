//go:build linux

package e2e

import (
	"bytes"
	"testing"
)

// autoFallback is the warning sniffer prints once when SNIFFER_ENGINE=auto cannot open the
// AF_PACKET socket and captures with libpcap instead.
const autoFallback = "the AF_PACKET socket could not be opened, capturing with libpcap instead"

// TestAutoEngineFallsBack runs the default engine, SNIFFER_ENGINE=auto, twice at once on the
// veth of TestLiveVeth. As it is, it must take afpacket (one fanout member per worker) and print
// every call the server answered, byte for byte, nothing dropped. The second copy runs under
// an open-file limit of 14 (soft and hard: Go raises the soft one to the hard one) with 12
// workers: the 12 AF_PACKET sockets of its fanout group do not fit (sniffer has about 10
// files open before them, so the kernel refuses a descriptor, EMFILE, a few sockets in),
// while libpcap's one socket does. It must say so once, capture with libpcap, and print every
// call just the same. (Its larger memory budget only keeps the 12 workers' fixed share from
// leaving the calls too little: bodies would be shed and not compared.)
func TestAutoEngineFallsBack(t *testing.T) {
	needRoot(t, "ip", "prlimit")
	limited := sniffRun{args: append([]string{"-workers", "12", "-memory-budget", "268435456"}, keepAll...), wrap: []string{"prlimit", "--nofile=14:14"}}
	p, outs, errs, served := liveVethRuns(t, sniffRun{args: keepAll}, limited)
	for i, e := range errs {
		t.Logf("sniffer %d summary (stderr):\n%s", i, tail(e, 2000))
	}

	if !bytes.Contains(errs[0], []byte("with afpacket")) || bytes.Contains(errs[0], []byte(autoFallback)) {
		t.Errorf("sniffer with the default engine on a veth did not capture with afpacket:\n%s", tail(errs[0], 2000))
	}
	checkLive(t, "sniffer -engine auto (afpacket)", outs[0], served, p, false)
	if recv, drop := kernelDrops(t, errs[0]); recv == 0 || drop != 0 {
		t.Errorf("AF_PACKET counters: %d received, %d dropped; want some received, none dropped", recv, drop)
	}

	if n := bytes.Count(errs[1], []byte(autoFallback)); n != 1 {
		t.Errorf("sniffer whose AF_PACKET sockets cannot be opened said %q %d times, want once", autoFallback, n)
	}
	if !bytes.Contains(errs[1], []byte("too many open files")) || !bytes.Contains(errs[1], []byte("with libpcap")) {
		t.Errorf("the fallback did not name the socket's error (too many open files) or did not capture with libpcap:\n%s", tail(errs[1], 2000))
	}
	checkLive(t, "sniffer -engine auto fallen back to libpcap", outs[1], served, p, false)
	if recv, drop := kernelDrops(t, errs[1]); recv == 0 || drop != 0 {
		t.Errorf("libpcap counters: %d received, %d dropped; want some received, none dropped", recv, drop)
	}
}
