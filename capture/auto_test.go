package capture

import (
	"runtime"
	"testing"
)

// SNIFFER_ENGINE=auto: afpacket for live Linux network devices ("any" included), libpcap for
// the rest; a build without libpcap's filter compiler (-tags gofiles, macOS) always libpcap.
func TestAutoEngine(t *testing.T) {
	live := "libpcap"
	if runtime.GOOS == "linux" && CompilesFilters {
		live = "afpacket"
	}
	for _, c := range []struct {
		what string
		cfg  Config
		want string
	}{
		{"loopback", Config{Device: "lo"}, live},
		{"every interface (any)", Config{}, live},
		{"a capture file", Config{File: "testdata/x.pcap"}, "libpcap"},
		{"standard input", Config{File: "-"}, "libpcap"},
		{"immediate mode", Config{Device: "lo", Immediate: true}, "libpcap"},
		{"NFLOG", Config{Device: "nflog:5"}, "libpcap"},
		{"NFLOG beside a device", Config{Device: "lo,nflog:5"}, "libpcap"},
		{"no such interface", Config{Device: "nosuchdev0"}, "libpcap"},
	} {
		if got := AutoEngine(c.cfg); got != c.want {
			t.Errorf("%s (%+v): auto chose %s, want %s", c.what, c.cfg, got, c.want)
		}
	}
}
