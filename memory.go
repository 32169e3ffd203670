package main

import (
	"bufio"
	"bytes"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
)

// cMargin is what C allocations (libpcap, BPF programs) and thread stacks outside the Go
// heap take, beside what /proc says is mapped: a margin kept out of the Go runtime's share.
// Of the rest the Go runtime gets 7/8: its limit is a target the heap overshoots between
// collections, and more of the binary's pages are read as the run goes on (on a capture file
// a limit of all the rest gave a peak RSS of 65-68 MiB of 64).
const cMargin = 4 << 20

// memoryShares splits SNIFFER_MEMORY_BUDGET once the capture is open and everything that
// stays for the whole run is allocated. What is resident outside the Go runtime then does not
// shrink: the kernel's capture ring (libpcap's or AF_PACKET's, mapped into the process and
// resident in full from the start: 16 MiB by default), the binary's and the C libraries' pages
// (about 17 MiB). The Go runtime gets the rest, less cMargin, less an eighth, as its memory
// limit (unless GOMEMLIMIT is set); a fixed share (the 5/8 before) let a live capture reach
// 74-80 MiB of 64.
//
// Of that limit, fixed is already taken for good: the heap live once the rules are compiled,
// the reassembly workers' batch arenas made and the decoders set up (fixedHeap), and
// sinkBytes is what the collector's queue and bundles may take (PostConfig.MemoryBytes). The
// pipeline's queue is a fifth of what is left live, a twentieth for a file (which waits for
// room instead), so the queued calls, the calls being decoded and the heap's growth between
// collections fit the limit; sized from the whole limit (before), the queues assumed memory
// the fixed part already held, and a live capture posting to a collector that was down
// reached 65-78 MiB of 64.
//
// When the resident part leaves less than a quarter of the budget (a capture buffer too big
// for it), the Go runtime still gets that quarter and the budget is exceeded: the warning
// returned says so. When the fixed part and the collector's share leave less than an eighth
// of the Go limit, the queue is sized from that eighth, with a warning too. Where
// /proc/self/status is not there (macOS), the resident part is taken as 3/8 of the budget.
func memoryShares(budget, fixed, sinkBytes int64, live bool) (goLimit, queue int64, warning string) {
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
	free := goLimit - fixed - sinkBytes
	if free < goLimit/8 {
		free = goLimit / 8
		if warning == "" {
			warning = "SNIFFER_MEMORY_BUDGET " + strconv.FormatInt(budget, 10) + ": the Go heap's fixed part (" + strconv.FormatInt(fixed>>20, 10) +
				" MiB: rules, reassembly buffers) and the collector's share leave little for the calls in flight: raise it"
		}
	}
	queue = free / 5
	if !live {
		queue = free / 20
	}
	return goLimit, queue, warning
}

// fixedHeap is the Go heap live after a collection: called once setup is done (rules
// compiled, reassembly workers and their batch arenas made, capture open), it is the part of
// the heap that stays for the whole run, whatever the traffic.
func fixedHeap() int64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return int64(m.HeapAlloc)
	}
	return int64(s[0].Value.Uint64())
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
