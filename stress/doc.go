// Package stress holds the hostile-traffic stress tests (issue 7): SYN floods, gigabyte
// bodies, slow clients and slowloris, non-HTTP bytes on an HTTP port, truncated packets
// and cut capture files, gzip bombs, pipelining floods and out-of-order data that never
// fills. Each test generates a capture file with gopacket's layer serialisation, runs the
// real sniffer binary on it as a subprocess, and checks that it did not crash, that its
// peak resident memory stayed under a stated bound, that every well-formed call mixed in
// came out complete, and that the summary's counters account for what was skipped.
//
// The package has tests only. STRESS=1 runs the full-size cases (100,000 SYNs, 1 GiB
// bodies); without it smaller but still meaningful versions run, so that go test ./...
// stays quick. docs/stress.md has the table of cases, bounds and measured figures.
package stress
