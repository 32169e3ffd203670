package observe

import (
	"fmt"
	"io"
	"sort"
	"time"

	"sniffer/output"
	"sniffer/reassembly"
)

// Summary prints the end-of-run counters: what was read, what came out, and what was
// dropped and why. It reads the same table as the metrics.
func Summary(w io.Writer, src Sources, took time.Duration) {
	v := index(src.read())
	if src.Capture == nil && src.ProxyMirror != nil {
		// Proxy mirrors alone (SNIFFER_ENGINE=none): no packets to account for.
		fmt.Fprintf(w, "sniffer: proxy mirrors only, in %s\n", took.Round(time.Millisecond))
	} else {
		fmt.Fprintf(w, "sniffer: %d packets (%d bytes), %d TCP segments, %d streams, %d calls, %d incomplete, in %s\n",
			v.get(fPackets, ""), v.get(fBytes, ""), v.get(fSegments, ""), v.get(fStreams, ""), v.get(fCalls, ""), sum(v[fIncomplete]), took.Round(time.Millisecond))
	}
	reasons := reassembly.Reasons()
	sort.Strings(reasons)
	for _, r := range reasons {
		if n := v.get(fIncomplete, labelValue(r)); n > 0 {
			fmt.Fprintf(w, "sniffer:   incomplete, %s: %d\n", r, n)
		}
	}
	if n := v.get(fIncompleteOut, ""); n > 0 {
		fmt.Fprintf(w, "sniffer:   incomplete calls emitted: %d\n", n)
	}
	for _, f := range families { // things lost or skipped, in the table's order
		for _, l := range f.lines {
			if n := v.get(f, l.label); n > 0 {
				fmt.Fprintf(w, "sniffer:   %s: %d\n", l.text, n)
			}
		}
	}
	anomalies := make([]string, 0, len(v[fAnomalies]))
	for a := range v[fAnomalies] {
		anomalies = append(anomalies, a)
	}
	sort.Strings(anomalies)
	for _, a := range anomalies {
		fmt.Fprintf(w, "sniffer:   calls with anomaly %s: %d\n", a, v.get(fAnomalies, a))
	}
	if _, user := v[fUserFiltered]; user {
		fmt.Fprintf(w, "sniffer:   BPF filter run in user space (libpcap cannot filter this link type in the kernel): %d packets refused\n", v.get(fUserFiltered, ""))
	}
	if src.Decoder != nil && src.Decoder.Frag.Fragments.Load() > 0 {
		fmt.Fprintf(w, "sniffer:   %s\n", &src.Decoder.Frag)
	}
	if src.VXLAN != nil {
		fmt.Fprintf(w, "sniffer:   %s\n", src.VXLAN.Stats())
	}
	if src.Geneve != nil {
		fmt.Fprintf(w, "sniffer:   %s\n", src.Geneve.Stats())
	}
	if src.ProxyMirror != nil {
		fmt.Fprintf(w, "sniffer: proxy mirror: %d calls (%d dropped, %d bodies truncated), %d connections (%d refused over the limit); requests refused: %d malformed, %d heads too large, %d timed out, %d cut\n",
			v.get(fMirrorCalls, ""), v.get(fMirrorDropped, ""), v.get(fMirrorTruncated, ""), v.get(fMirrorConns, ""), v.get(fMirrorConnsRefused, ""),
			v.get(fMirrorRefused, "malformed"), v.get(fMirrorRefused, "head_too_large"), v.get(fMirrorRefused, "timeout"), v.get(fMirrorRefused, "cut"))
	}
	if _, live := v[fPcapReceived]; live {
		fmt.Fprintf(w, "sniffer:   pcap: %d received, %d dropped by the kernel, %d dropped by the interface\n",
			v.get(fPcapReceived, ""), v.get(fPacketsDropped, "kernel"), v.get(fPacketsDropped, "interface"))
	}
}

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// SinkReport returns the function that prints each sink's account at exit (for
// output.Fanout.Close): errors always, the account unless quiet.
func SinkReport(w io.Writer, quiet bool) func(name string, s output.Summary, err error) {
	return func(name string, s output.Summary, err error) {
		if err != nil {
			fmt.Fprintf(w, "sniffer: %s: %v\n", name, err)
		}
		if !quiet {
			fmt.Fprintf(w, "sniffer:   %s: %s\n", name, s)
		}
	}
}

// RulesReport prints what the logging rules kept back at exit: calls they filtered (unless
// quiet) and regex evaluations that failed closed (always).
func RulesReport(w io.Writer, filtered int64, failures uint64, quiet bool) {
	if filtered > 0 && !quiet {
		fmt.Fprintf(w, "sniffer:   calls stopped or sampled out by the rules: %d\n", filtered)
	}
	if failures > 0 {
		fmt.Fprintf(w, "sniffer:   rules: %d regex evaluations ran out of time and failed closed\n", failures)
	}
}
