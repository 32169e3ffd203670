package main

import (
	"net/netip"
	"strings"
	"testing"

	"sniffer/capture"
)

// TestPortsWithoutFilterCompiler: APP_PORTS selects the same calls whether libpcap compiles
// the filter or, in a build without it (the macOS binary; here with -tags gofiles), the
// decoder keeps the ports in user space; BPF_FILTER works with libpcap and is refused, saying
// why, without it.
func TestPortsWithoutFilterCompiler(t *testing.T) {
	client, server := netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.1")
	pcap := writeConvs(t, []testConv{
		{netip.AddrPortFrom(client, 40000), netip.AddrPortFrom(server, 80), cookieReq, okResp},
		{netip.AddrPortFrom(client, 40001), netip.AddrPortFrom(server, 8080), "GET /other HTTP/1.1\r\nHost: api.test\r\n\r\n", okResp},
	})
	code, out, errs := runSniffer(t, nil, "-q", "-ports", "80", "-r", pcap)
	if code != 0 || strings.Count(out, "\n") != 1 || !strings.Contains(out, `"target":"/items?id=7"`) {
		t.Errorf("-ports 80 (filter compiled: %v): exit %d, stderr %q, calls:\n%s", capture.CompilesFilters, code, errs, out)
	}
	code, out, errs = runSniffer(t, nil, "-q", "-bpf", "tcp port 8080", "-r", pcap)
	switch {
	case capture.CompilesFilters && (code != 0 || strings.Count(out, "\n") != 1 || !strings.Contains(out, `"target":"/other"`)):
		t.Errorf("-bpf 'tcp port 8080': exit %d, stderr %q, calls:\n%s", code, errs, out)
	case !capture.CompilesFilters && (code != 2 || out != "" || !strings.Contains(errs, "BPF_FILTER/-bpf needs libpcap")):
		t.Errorf("-bpf without libpcap: exit %d, stderr %q, stdout %q; want it refused", code, errs, out)
	}
}
