package main

import (
	"bufio"
	"bytes"
	"os"
	"runtime/debug"
	"strconv"
)

// cMargin is what C allocations (libpcap, BPF programs) and thread stacks outside the Go
// heap take, beside what /proc says is mapped: a margin kept out of the Go runtime's share.
// Of the rest the Go runtime gets 7/8: its limit is a target the heap overshoots between
// collections, and more of the binary's pages are read as the run goes on (on a capture file
// a limit of all the rest gave a peak RSS of 65-68 MiB of 64).
const cMargin = 4 << 20

// memoryShares splits SNIFFER_MEMORY_BUDGET once the capture is open. What is resident
// outside the Go runtime then does not shrink: the kernel's capture ring (libpcap's or
// AF_PACKET's, mapped into the process and resident in full from the start: 16 MiB by
// default), the binary's and the C libraries' pages (about 17 MiB). The Go runtime gets the
// rest, less cMargin, less an eighth, as its memory limit (unless GOMEMLIMIT is set); a fixed share (the 5/8
// before) let a live capture reach 74-80 MiB of 64. The pipeline's queue is a fifth of the Go
// limit live, a twentieth for a file (which waits for room instead), so the queued calls stay
// well under the limit and the collector does not run all the time.
//
// When the resident part leaves less than a quarter of the budget (a capture buffer too big
// for it), the Go runtime still gets that quarter and the budget is exceeded: the warning
// returned says so. Where /proc/self/status is not there (macOS), the resident part is taken
// as 3/8 of the budget.
func memoryShares(budget int64, live bool) (goLimit, queue int64, warning string) {
	outside := budget * 3 / 8
	if n, ok := residentOutsideGo(); ok {
		outside = n + cMargin
	}
	goLimit = (budget - outside) * 7 / 8
	if goLimit < budget/4 {
		goLimit = budget / 4
		warning = "SNIFFER_MEMORY_BUDGET " + strconv.FormatInt(budget, 10) + " cannot hold the capture buffer, the binary (" +
			strconv.FormatInt(outside>>20, 10) + " MiB resident outside the Go heap) and the calls in flight: raise it, or lower SNIFFER_PCAP_BUFFER_SIZE"
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(goLimit)
	} else {
		goLimit = debug.SetMemoryLimit(-1)
	}
	queue = goLimit / 5
	if !live {
		queue = goLimit / 20
	}
	return goLimit, queue, warning
}

// residentOutsideGo reads the file-backed and shared resident memory of the process from
// /proc/self/status (RssFile + RssShmem, in bytes): the binary, the libraries and the capture
// ring mapped from the packet socket. The Go heap is anonymous memory, never in either.
func residentOutsideGo() (int64, bool) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	var total int64
	found := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, rest, ok := bytes.Cut(sc.Bytes(), []byte(":"))
		if !ok || (string(name) != "RssFile" && string(name) != "RssShmem") {
			continue
		}
		f := bytes.Fields(rest) // "36280 kB"
		if len(f) != 2 || string(f[1]) != "kB" {
			continue
		}
		if kb, err := strconv.ParseInt(string(f[0]), 10, 64); err == nil {
			total += kb << 10
			found = true
		}
	}
	return total, found
}
