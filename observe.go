package main

// Observability: a Prometheus /metrics endpoint, a /healthz probe and the slog logger.
//
// The metrics are not counted a second time: one Collector reads the counters the capture,
// the decoder, the reassembler and the sink already keep (atomics) at each scrape, so
// /metrics and the end-of-run summary always agree.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"sniffer/capture"
	"sniffer/output"
	"sniffer/reassembly"
	"sniffer/vxlan"
)

// newLogger makes the process logger from SNIFFER_LOG_LEVEL (debug, info, warn, error) and
// SNIFFER_LOG_FORMAT (text or json), writing to w (standard error).
func newLogger(level, format string, w io.Writer) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(strings.TrimSpace(level))); err != nil {
		return nil, fmt.Errorf("SNIFFER_LOG_LEVEL/-log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(strings.TrimSpace(format)) {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("SNIFFER_LOG_FORMAT/-log-format %q: want text or json", format)
}

// startObservability serves /metrics and /healthz on addr (host:port; ":9090" for every
// interface) until stop is called. An empty addr serves nothing and returns a no-op stop.
// /healthz answers 200 while the server runs, which is from before the capture starts
// until stop (call it when the capture has ended). extra, which may be nil, returns the output sink's live
// account (output.Poster.Stats, for instance). The listener is bound before it returns, so
// a port in use is an error here rather than a log line later.
func startObservability(addr string, src *capture.Source, dec *capture.Decoder, st *reassembly.Stats, extra func() output.Summary, logger *slog.Logger) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	if logger == nil {
		logger = slog.Default()
	}
	reg := prometheus.NewRegistry()
	if err := reg.Register(newMetrics(src, dec, st, extra)); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("SNIFFER_METRICS_ADDR/-metrics-addr %q: %w (pick a free host:port, e.g. :9090)", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 30 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelDebug)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("metrics endpoint stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
	logger.Info("serving /metrics and /healthz", "addr", ln.Addr().String())
	var once atomic.Bool
	return func() {
		if !once.CompareAndSwap(false, true) {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			srv.Close()
		}
		<-done
	}, nil
}

// metrics is a prometheus.Collector over the counters sniffer already keeps.
type metrics struct {
	src   *capture.Source
	dec   *capture.Decoder
	st    *reassembly.Stats
	extra func() output.Summary

	packets, bytes, segments, pcapReceived, packetsDropped           *prometheus.Desc
	streams, streamsOpen, streamsRefused                             *prometheus.Desc
	calls, incomplete, incompleteOut                                 *prometheus.Desc
	gaps, parseErrors, orphans, skippedBytes, truncatedBody, tunnels *prometheus.Desc
	vxlanPackets, vxlanVNIs                                          *prometheus.Desc
	sinkWritten, sinkDelivered, sinkFiltered, sinkDropped            *prometheus.Desc
	sinkPending, sinkQueued, sinkRecovered                           *prometheus.Desc
	sinkPosts, sinkPostFailures                                      *prometheus.Desc
}

func newMetrics(src *capture.Source, dec *capture.Decoder, st *reassembly.Stats, extra func() output.Summary) *metrics {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("sniffer_"+name, help, labels, nil)
	}
	return &metrics{
		src: src, dec: dec, st: st, extra: extra,
		packets:          d("packets_total", "Packets read from libpcap (after the BPF filter) and handed to the decoder."),
		bytes:            d("bytes_total", "Captured bytes of those packets."),
		segments:         d("tcp_segments_total", "TCP segments passed on to reassembly."),
		pcapReceived:     d("pcap_received_total", "Packets libpcap reports as received by the filter (live capture; the kernel's 32-bit counter may wrap)."),
		packetsDropped:   d("packets_dropped_total", "Packets lost or skipped, by cause: kernel and interface (libpcap's counts: the buffer was full, raise SNIFFER_PCAP_BUFFER_SIZE), not_tcp, undecodable, ip_fragment, snaplen.", "cause"),
		streams:          d("streams_total", "TCP connections seen."),
		streamsOpen:      d("streams_open", "TCP connections tracked now."),
		streamsRefused:   d("streams_refused_total", "Connections not tracked because SNIFFER_MAX_STREAMS was reached."),
		calls:            d("calls_total", "Complete calls (request and response) emitted."),
		incomplete:       d("calls_incomplete_total", "Incomplete calls by reason (no_response, gap_in_request, gap_in_response, stream_closed_in_request, stream_closed_in_response, capture_ended, too_many_pending_requests, response_lost), emitted (SNIFFER_KEEP_INCOMPLETE) or not.", "reason"),
		incompleteOut:    d("calls_incomplete_emitted_total", "Incomplete calls emitted (SNIFFER_KEEP_INCOMPLETE)."),
		gaps:             d("stream_gaps_total", "Holes in TCP streams: lost segments, or the buffer cap skipped them."),
		parseErrors:      d("messages_malformed_total", "Malformed HTTP messages skipped (the stream resynchronises on the next start line)."),
		orphans:          d("responses_orphaned_total", "Responses with no request to pair with."),
		skippedBytes:     d("bytes_skipped_total", "Stream bytes skipped while resynchronising."),
		truncatedBody:    d("bodies_truncated_total", "Bodies cut at USAGE_LOGGERS_BODY_LIMIT."),
		tunnels:          d("tunnels_total", "CONNECT/Upgrade streams whose rest was skipped."),
		vxlanPackets:     d("vxlan_packets_total", "VXLAN packets by result: decapsulated, bad_header, filtered_vni (mirror engine only).", "result"),
		vxlanVNIs:        d("vxlan_vnis_seen", "Distinct VNIs seen (mirror engine only)."),
		sinkWritten:      d("sink_calls_written_total", "Calls handed to the output sink."),
		sinkDelivered:    d("sink_calls_delivered_total", "Calls the collector acknowledged, or that were written out."),
		sinkFiltered:     d("sink_calls_filtered_total", "Calls the logging rules chose not to send (not a loss)."),
		sinkDropped:      d("sink_calls_dropped_total", "Calls lost by the sink, by cause (queue_full, spool_full, spool_error, rejected, retries, shutdown, encode, closed).", "cause"),
		sinkPending:      d("sink_calls_spooled", "Calls waiting in the disk spool."),
		sinkQueued:       d("sink_queue_depth", "Calls waiting in the in-memory queue."),
		sinkRecovered:    d("sink_calls_recovered_total", "Calls found in the spool at start, left by an earlier run."),
		sinkPosts:        d("sink_posts_total", "Requests made to the collector (bundles, retries included)."),
		sinkPostFailures: d("sink_post_failures_total", "Requests to the collector not answered 2xx (network errors included); they are retried."),
	}
}

// Describe sends every descriptor, so the registry can check them once.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		m.packets, m.bytes, m.segments, m.pcapReceived, m.packetsDropped,
		m.streams, m.streamsOpen, m.streamsRefused, m.calls, m.incomplete, m.incompleteOut,
		m.gaps, m.parseErrors, m.orphans, m.skippedBytes, m.truncatedBody, m.tunnels,
		m.vxlanPackets, m.vxlanVNIs,
		m.sinkWritten, m.sinkDelivered, m.sinkFiltered, m.sinkDropped, m.sinkPending, m.sinkQueued, m.sinkRecovered,
		m.sinkPosts, m.sinkPostFailures,
	} {
		ch <- d
	}
}

// Collect reads the counters. Each is one atomic load; the set is not a single snapshot,
// which a scrape does not need.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v))
	}
	if m.dec != nil {
		ds := &m.dec.Stats
		counter(m.packets, ds.Packets.Load())
		counter(m.bytes, ds.Bytes.Load())
		counter(m.segments, ds.TCP.Load())
		counter(m.packetsDropped, ds.NotTCP.Load(), "not_tcp")
		counter(m.packetsDropped, ds.Undecoded.Load(), "undecodable")
		counter(m.packetsDropped, ds.Fragments.Load(), "ip_fragment")
		counter(m.packetsDropped, ds.Truncated.Load(), "snaplen")
		if v, ok := m.dec.Decap.(*vxlan.Decapsulator); ok {
			vs := v.Stats()
			counter(m.vxlanPackets, int64(vs.Decapsulated), "decapsulated")
			counter(m.vxlanPackets, int64(vs.BadHeader), "bad_header")
			counter(m.vxlanPackets, int64(vs.FilteredVNI), "filtered_vni")
			gauge(m.vxlanVNIs, int64(vs.VNIsSeen))
		}
	}
	if m.src != nil && m.src.Live() {
		recv, drop, ifdrop := m.src.Stats()
		counter(m.pcapReceived, int64(recv))
		counter(m.packetsDropped, int64(drop), "kernel")
		counter(m.packetsDropped, int64(ifdrop), "interface")
	}
	if s := m.st; s != nil {
		counter(m.streams, s.Streams.Load())
		gauge(m.streamsOpen, s.StreamsOpen.Load())
		counter(m.streamsRefused, s.StreamsRefused.Load())
		counter(m.calls, s.Calls.Load())
		counter(m.incompleteOut, s.IncompleteOut.Load())
		inc := s.Incomplete()
		for _, r := range incompleteReasons { // every reason, zeros included, so rate() works from the start
			counter(m.incomplete, inc[r], labelValue(r))
			delete(inc, r)
		}
		for r, n := range inc { // a reason added to reassembly later still shows
			counter(m.incomplete, n, labelValue(r))
		}
		counter(m.gaps, s.Gaps.Load())
		counter(m.parseErrors, s.ParseErrors.Load())
		counter(m.orphans, s.Orphans.Load())
		counter(m.skippedBytes, s.SkippedBytes.Load())
		counter(m.truncatedBody, s.TruncatedBody.Load())
		counter(m.tunnels, s.Tunnels.Load())
	}
	if m.extra != nil {
		sum := m.extra()
		counter(m.sinkWritten, sum.Written)
		counter(m.sinkDelivered, sum.Delivered)
		counter(m.sinkFiltered, sum.Filtered)
		for _, c := range sinkDropCauses {
			counter(m.sinkDropped, sum.Dropped[c], c)
		}
		for c, n := range sum.Dropped { // a cause added to output later still shows
			if !knownDropCause[c] {
				counter(m.sinkDropped, n, c)
			}
		}
		gauge(m.sinkPending, sum.Pending)
		gauge(m.sinkQueued, sum.Queued)
		counter(m.sinkRecovered, sum.Recovered)
		counter(m.sinkPosts, sum.Posts)
		counter(m.sinkPostFailures, sum.PostFails)
	}
}

// labelValue turns a reason such as "gap in request" into gap_in_request, easier in PromQL.
func labelValue(reason string) string { return strings.ReplaceAll(reason, " ", "_") }

// incompleteReasons are reassembly's reasons (reassembly.Stats keeps them private).
var incompleteReasons = []string{
	reassembly.NoResponse, reassembly.GapInRequest, reassembly.GapInResponse, reassembly.ClosedInRequest,
	reassembly.ClosedInResp, reassembly.CaptureEnded, reassembly.TooManyPending, reassembly.ResponseLost,
}

var sinkDropCauses = []string{
	output.DropQueueFull, output.DropSpoolFull, output.DropSpoolError, output.DropRejected,
	output.DropRetries, output.DropShutdown, output.DropEncode, output.DropClosed,
}

var knownDropCause = func() map[string]bool {
	m := map[string]bool{}
	for _, c := range sinkDropCauses {
		m[c] = true
	}
	return m
}()
