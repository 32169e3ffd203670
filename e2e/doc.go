//go:build linux

// Package e2e holds end-to-end tests of the sniffer binary against real traffic: a real HTTP
// server and client in two network namespaces joined by a veth pair, captured live, and real
// nginx + wrk traffic recorded by internal/workload (two namespaces too), read back from the pcap.
//
// The tests need root (namespaces, live capture) and skip with the reason when they do not have
// it or a tool they drive is missing (make test lists the skips and fails on them; in CI a missing
// tool fails at once: internal/testenv). Everything here is in _test.go files; this file only
// names the package.
package e2e
