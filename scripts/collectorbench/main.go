//go:build linux

// Command collectorbench measures one tool's whole job from a capture to a Resurface
// collector: it starts the loopback collector of output/resurfacetest (which inflates every
// post, splits the NDJSON and checks each message's format), runs the command with {URL}
// replaced by the collector's capture URL, and, once the command has exited and the
// collector has heard nothing more for a while, prints one line: what the collector
// received, how many of those calls match nginx's record (method, path and query, status;
// a call counted once however often it came), the command's CPU seconds (user+sys, its own
// and its waited-for children's) and peak RSS.
//
//	collectorbench -calls W.calls -name sniffer -- bin/sniffer -r W.pcap -url {URL} -rules 'include debug'
//
// scripts/collector-bench.sh runs sniffer and Resurface's network-sniffer engine so.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"sniffer/output/resurfacetest"
	"sniffer/scripts/callset"
)

func main() {
	calls := flag.String("calls", "", "nginx's record of the calls served (bin/workload's .calls file)")
	name := flag.String("name", "", "the tool's name in the printed line")
	quiet := flag.Duration("quiet", 3*time.Second, "after the command exits, wait until the collector has received nothing for this long")
	limit := flag.Duration("timeout", 120*time.Second, "kill the command after this long")
	flag.Parse()
	if *calls == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: collectorbench -calls FILE.calls [-name NAME] -- COMMAND ARGS... ({URL} in ARGS becomes the collector's URL)")
		os.Exit(2)
	}
	if err := run(*calls, *name, *quiet, *limit, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "collectorbench:", err)
		os.Exit(1)
	}
}

func run(callsFile, name string, quiet, limit time.Duration, args []string) error {
	f, err := os.Open(callsFile)
	if err != nil {
		return err
	}
	served, err := callset.ReadNginx(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: %v", callsFile, err)
	}
	c, err := resurfacetest.Start("")
	if err != nil {
		return err
	}
	defer c.Stop()
	c.WantEncoding("*") // sniffer posts to loopback uncompressed unless -compress on; the engine compresses unless skip_compression
	for i, a := range args {
		args[i] = strings.ReplaceAll(a, "{URL}", c.URL())
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	timer := time.AfterFunc(limit, func() { _ = cmd.Process.Kill() })
	werr := cmd.Wait()
	timer.Stop()
	wall := time.Since(start)
	var exit *exec.ExitError
	if werr != nil && !errors.As(werr, &exit) {
		return werr
	}
	// Wait for the posts still on their way, bounded.
	for n, deadline := c.Count(), time.Now().Add(30*time.Second); time.Now().Before(deadline); {
		time.Sleep(quiet)
		m := c.Count()
		if m == n {
			break
		}
		n = m
	}
	got := callset.Set{}
	for _, m := range c.Messages() {
		got.Add(callset.MessageKey(m))
	}
	_, extra, matched := callset.Diff(served, got)
	dup := 0
	for _, e := range extra {
		dup += e.Count
	}
	st := cmd.ProcessState
	cpu := (st.UserTime() + st.SystemTime()).Seconds()
	rss := 0.0
	if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
		rss = float64(ru.Maxrss) / 1024
	}
	rate := 0.0
	if cpu > 0 {
		rate = float64(matched) / cpu
	}
	fmt.Printf("%s|%d|%d|%d|%d|%.2f|%.2f|%.0f|%.1f|%d|%d|%d|%s\n", name, served.Len(), got.Len(), matched, dup,
		wall.Seconds(), cpu, rate, rss, c.Posts(), c.WireBytes(), len(c.Errors()), st.String())
	for i, e := range c.Errors() {
		if i == 5 {
			break
		}
		fmt.Fprintf(os.Stderr, "collectorbench: %s: collector: %s\n", name, e)
	}
	return nil
}
