//go:build linux

// Command workload records a real HTTP/1.1 workload into a pcap, with nginx's own log of every
// call it served beside it (internal/workload): nginx and wrk in two network namespaces it creates,
// tcpdump between them. Needs root and what scripts/setup.sh installs.
//
//	workload [-sniff CMD] [-no-pcap] OUT.pcap [SECONDS] [CONNECTIONS]     (default 5 s, 32)
//
// It writes OUT.pcap and OUT.calls, and prints one line: the pcap, the requests nginx served
// and the packets tcpdump dropped ("OUT.pcap requests=N dropped=D (...)"). With -sniff, CMD runs
// in the server's namespace during the load with DEV naming the device (e.g.
// -sniff 'exec bin/sniffer -i $DEV -ports 80'); its output goes to OUT.sniffed and OUT.sniff-err.
// It exits 0 when the recording succeeded, 1 when it failed, 2 for bad arguments.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"sniffer/internal/workload"
)

func main() {
	var o workload.Options
	flag.StringVar(&o.Sniff, "sniff", "", "shell command run in the server's namespace during the load, $DEV the device")
	flag.BoolVar(&o.NoPcap, "no-pcap", false, "record nothing (a live sniffer alone takes the packets)")
	flag.DurationVar(&o.SniffWarmup, "sniff-warmup", 2*time.Second, "time the -sniff command gets before the load")
	flag.DurationVar(&o.SniffDrain, "sniff-drain", 2*time.Second, "time the -sniff command gets after the load, before SIGINT")
	quiet := flag.Bool("q", false, "no progress lines on standard error")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: workload [flags] OUT.pcap [SECONDS] [CONNECTIONS]   (default 5 s, 32 connections)")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() < 1 || flag.NArg() > 3 {
		flag.Usage()
		os.Exit(2)
	}
	o.Out, o.Duration, o.Conns = flag.Arg(0), 5*time.Second, 32
	if flag.NArg() > 1 {
		o.Duration = time.Duration(number(flag.Arg(1), "SECONDS")) * time.Second
	}
	if flag.NArg() > 2 {
		o.Conns = number(flag.Arg(2), "CONNECTIONS")
	}
	if !*quiet {
		o.Log = os.Stderr
	}
	// SIGINT or SIGTERM stop the run; Record then removes the namespaces and its processes.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := workload.Record(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "workload:", err)
		stop()
		os.Exit(1)
	}
	fmt.Println(res)
}

func number(s, what string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		fmt.Fprintf(os.Stderr, "workload: %s %q is not a whole number\n", what, s)
		os.Exit(2)
	}
	return n
}
