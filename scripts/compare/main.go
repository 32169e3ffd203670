// Command compare checks sniffer's NDJSON output against the calls the server says it served
// (OUT.calls from bin/workload): the same multiset of (method, path and query, status),
// every response's X-Request-Id on the request the server answered with it (-ids), and
// optionally valid JSON bodies on chosen paths. It exits 0 when everything matches, 1 when
// something does not, 2 when it cannot read its inputs.
//
//	sniffer -r OUT.pcap | compare -calls OUT.calls -json /large.json -
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"sniffer/scripts/callset"
)

func main() {
	calls := flag.String("calls", "", "the server's record of calls (OUT.calls of bin/workload); required")
	jsonPaths := flag.String("json", "", "comma-separated request paths whose 200 response bodies must be valid JSON (e.g. /large.json)")
	maxList := flag.Int("list", 20, "list at most this many differing keys of each kind")
	ids := flag.Bool("ids", true, "check each response's X-Request-Id against the request, status and client port the server logged with it")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: compare -calls OUT.calls [-json /large.json] [NDJSON file, or - for stdin]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *calls == "" || flag.NArg() > 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*calls, flag.Arg(0), *jsonPaths, *maxList, *ids); err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		if _, ok := err.(mismatch); ok {
			os.Exit(1)
		}
		os.Exit(2)
	}
}

type mismatch struct{}

func (mismatch) Error() string { return "the output does not match the served calls" }

func run(callsPath, outPath, jsonPaths string, maxList int, checkIDs bool) error {
	f, err := os.Open(callsPath)
	if err != nil {
		return err
	}
	var want callset.Set
	var ids map[string]callset.Served
	if checkIDs {
		want, ids, err = callset.ReadServed(f)
	} else {
		want, err = callset.ReadNginx(f)
	}
	f.Close()
	if err != nil {
		return fmt.Errorf("%v (-ids=false for a log without request ids)", err)
	}
	var in io.Reader = os.Stdin
	if outPath != "" && outPath != "-" {
		o, err := os.Open(outPath)
		if err != nil {
			return err
		}
		defer o.Close()
		in = o
	}
	var paths []string
	if jsonPaths != "" {
		paths = strings.Split(jsonPaths, ",")
	}
	t := callset.NewTally(paths...)
	if checkIDs {
		t.CheckIDs(ids)
	}
	if err := callset.ReadNDJSON(in, t.Add); err != nil {
		return err
	}
	ok := callset.Report(os.Stdout, want, t, maxList)
	fmt.Printf("output sha256 %s\n", t.Sum())
	if !ok {
		return mismatch{}
	}
	return nil
}
