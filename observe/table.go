// Package observe is sniffer's account of itself: one table of counters, read from the
// packages that keep them, served as Prometheus metrics and printed as the end-of-run
// summary, so the two always agree. It also makes the process logger.
package observe

import (
	"strings"

	"sniffer/capture"
	"sniffer/output"
	"sniffer/pipeline"
	"sniffer/proxymirror"
	"sniffer/reassembly"
	"sniffer/vxlan"
)

// Capture is what observe reads from a packet source (*capture.Source).
type Capture interface {
	Live() bool
	Stats() (received, dropped, ifDropped int)
}

// UserFiltering is what observe reads from a source whose BPF filter runs in user space on
// some link type libpcap cannot filter in the kernel (NFLOG); *capture.Source has it.
type UserFiltering interface {
	UserFilter() string // why, or "" when the kernel filters everything
	UserFiltered() int64
}

// Decapsulation is what observe reads from the VXLAN decapsulator (*vxlan.Decapsulator).
type Decapsulation interface {
	Stats() vxlan.Stats
}

// Delivery is what observe reads from the stage after reassembly (*pipeline.Pipeline): the
// live account of its sinks, calls the rules filtered included.
type Delivery interface {
	Stats() output.Summary
}

// Anomalies is what observe reads of the calls' anomalies (*model.AnomalyCounts).
type Anomalies interface {
	Snapshot() (counts map[string]int64, names []string)
}

// Pipeline is what observe reads from the pipeline's own account (*pipeline.Pipeline).
type Pipeline interface {
	Counters() pipeline.Counters
}

// Sources are the counters observe reads. Any may be nil: its counters are then left out.
type Sources struct {
	Capture    Capture
	Decoder    *capture.DecodeStats
	Reassembly *reassembly.Stats
	VXLAN      Decapsulation // mirror engine only
	Geneve     Decapsulation // mirror engine only (*vxlan.Geneve)
	Delivery   Delivery
	Anomalies  Anomalies
	Pipeline   Pipeline
	// ProxyMirror is the proxy mirror listener's account (SNIFFER_MIRROR_LISTEN only).
	ProxyMirror *proxymirror.Stats
}

// unemitted is the reassembler's count of anomalies on calls it did not emit, if any.
func (s Sources) unemitted() Anomalies {
	if s.Reassembly == nil {
		return nil
	}
	return &s.Reassembly.Unemitted
}

// family is one metric: its name (after sniffer_), help, label name and kind.
type family struct {
	name, help, label string
	gauge             bool
}

// sample is one value of a family, with its label value ("" when the family has none).
type sample struct {
	f     *family
	label string
	v     int64
}

// The counter table. Each family is read in read below; Collect and the summary both take
// their figures from one read.
var (
	fPackets          = &family{name: "packets_total", help: "Packets read from libpcap (after the BPF filter) and handed to the decoder."}
	fBytes            = &family{name: "bytes_total", help: "Captured bytes of those packets."}
	fSegments         = &family{name: "tcp_segments_total", help: "TCP segments passed on to reassembly."}
	fPcapReceived     = &family{name: "pcap_received_total", help: "Packets libpcap reports as received by the filter (live capture; the kernel's 32-bit counter may wrap)."}
	fPacketsDropped   = &family{name: "packets_dropped_total", label: "cause", help: "Packets lost or skipped, by cause: kernel and interface (libpcap's counts: the buffer was full, raise SNIFFER_PCAP_BUFFER_SIZE), not_tcp, undecodable, ip_fragment (IP datagrams given up unfinished: see ip_fragments_total), snaplen."}
	fStreams          = &family{name: "streams_total", help: "TCP connections seen."}
	fStreamsOpen      = &family{name: "streams_open", gauge: true, help: "TCP connections tracked now."}
	fStreamsRefused   = &family{name: "streams_refused_total", help: "Connections not tracked because SNIFFER_MAX_STREAMS was reached."}
	fCalls            = &family{name: "calls_total", help: "Complete calls (request and response) emitted."}
	fIncomplete       = &family{name: "calls_incomplete_total", label: "reason", help: "Incomplete calls by reason (no_response, gap_in_request, gap_in_response, stream_closed_in_request, stream_closed_in_response, capture_ended, too_many_pending_requests, response_lost), emitted (SNIFFER_KEEP_INCOMPLETE) or not."}
	fIncompleteOut    = &family{name: "calls_incomplete_emitted_total", help: "Incomplete calls emitted (SNIFFER_KEEP_INCOMPLETE)."}
	fGaps             = &family{name: "stream_gaps_total", help: "Holes in TCP streams: lost segments, or the buffer cap skipped them."}
	fParseErrors      = &family{name: "messages_malformed_total", help: "Malformed HTTP messages skipped (the stream resynchronises on the next start line)."}
	fOrphans          = &family{name: "responses_orphaned_total", help: "Responses with no request to pair with."}
	fSkippedBytes     = &family{name: "bytes_skipped_total", help: "Stream bytes skipped while resynchronising."}
	fTruncatedBody    = &family{name: "bodies_truncated_total", help: "Bodies cut at USAGE_LOGGERS_BODY_LIMIT."}
	fTunnels          = &family{name: "tunnels_total", help: "CONNECT/Upgrade streams whose rest was skipped."}
	fNotHTTP          = &family{name: "streams_not_http_total", help: "Connections with data that any-port detection (APP_PORTS=any, or a file read with no ports) found not to carry HTTP/1.x; their bytes were ignored."}
	fUserFiltered     = &family{name: "packets_filtered_user_space_total", help: "Packets the BPF filter refused in user space, on link types libpcap cannot filter in the kernel (NFLOG); absent when the kernel filters."}
	fVXLANPackets     = &family{name: "vxlan_packets_total", label: "result", help: "VXLAN packets by result: decapsulated, bad_header, filtered_vni (mirror engine only)."}
	fVXLANVNIs        = &family{name: "vxlan_vnis_seen", gauge: true, help: "Distinct VNIs seen (mirror engine only)."}
	fAnomalies        = &family{name: "call_anomalies_total", label: "anomaly", help: "Calls with an anomaly, by anomaly (request: or response: and the name), emitted or not: what was odd about a message that was read all the same, as browsers read it (bare-lf, obs-fold, te-and-cl, chunk-size-junk, bad-gzip-trailer...)."}
	fGenevePackets    = &family{name: "geneve_packets_total", label: "result", help: "Geneve packets by result: decapsulated, bad_header, filtered_vni, control (OAM messages) (mirror engine only)."}
	fGeneveVNIs       = &family{name: "geneve_vnis_seen", gauge: true, help: "Distinct Geneve VNIs seen (mirror engine only)."}
	fIPFragments      = &family{name: "ip_fragments_total", label: "result", help: "IPv4/IPv6 reassembly, outer and tunnelled, by result: fragment (fragments in), reassembled (datagrams), atomic (IPv6 atomic fragments), duplicate (copies ignored); datagrams given up: overlapping, malformed, truncated (snap length), timed_out, evicted (memory bound)."}
	fIPFragmentsHeld  = &family{name: "ip_fragments_held_bytes", gauge: true, help: "Bytes held now in unfinished IP datagrams (bounded: 4 MiB by default)."}
	fShed             = &family{name: "calls_shed_total", label: "what", help: "Calls sent with less than was captured because the pipeline was behind a live capture: bodies_not_decoded (past half of its queue), bodies_dropped (past three quarters)."}
	fPipelineDropped  = &family{name: "pipeline_calls_dropped_total", help: "Calls dropped because the pipeline's queue was full (live capture; the last resort before the capture itself waits)."}
	fPipelineCalls    = &family{name: "pipeline_queue_calls", gauge: true, help: "Calls queued between reassembly and the sinks."}
	fPipelineBytes    = &family{name: "pipeline_queue_bytes", gauge: true, help: "Bytes of those calls (bounded by an eighth of SNIFFER_MEMORY_BUDGET live)."}
	fSinkWritten      = &family{name: "sink_calls_written_total", help: "Calls handed to the output sink."}
	fSinkDelivered    = &family{name: "sink_calls_delivered_total", help: "Calls the collector acknowledged, or that were written out."}
	fSinkFiltered     = &family{name: "sink_calls_filtered_total", help: "Calls the logging rules chose not to send (not a loss)."}
	fSinkDropped      = &family{name: "sink_calls_dropped_total", label: "cause", help: "Calls lost by the sink, by cause (" + strings.Join(output.DropCauses(), ", ") + ")."}
	fSinkPending      = &family{name: "sink_calls_spooled", gauge: true, help: "Calls waiting in the disk spool."}
	fSinkQueued       = &family{name: "sink_queue_depth", gauge: true, help: "Calls waiting in the in-memory queue."}
	fSinkRecovered    = &family{name: "sink_calls_recovered_total", help: "Calls found in the spool at start, left by an earlier run."}
	fSinkPosts        = &family{name: "sink_posts_total", help: "Requests made to the collector (bundles, retries included)."}
	fSinkPostFailures = &family{name: "sink_post_failures_total", help: "Requests to the collector not answered 2xx (network errors included); they are retried."}
)

// The proxy mirror listener's families (SNIFFER_MIRROR_LISTEN).
var (
	fMirrorConns        = &family{name: "mirror_connections_total", help: "Connections the proxy mirror listener accepted."}
	fMirrorConnsOpen    = &family{name: "mirror_connections_open", gauge: true, help: "Proxy mirror connections open now."}
	fMirrorConnsRefused = &family{name: "mirror_connections_refused_total", help: "Proxy mirror connections over SNIFFER_MIRROR_MAX_CONNS, answered 503 and closed."}
	fMirrorCalls        = &family{name: "mirror_calls_total", help: "Mirrored requests received whole and handed on as calls (without response)."}
	fMirrorDropped      = &family{name: "mirror_calls_dropped_total", help: "Of those, calls dropped because sniffer was stopping (the pipeline never makes the listener wait: what it has no room for it sheds or drops and counts, see pipeline_calls_dropped_total)."}
	fMirrorTruncated    = &family{name: "mirror_bodies_truncated_total", help: "Mirrored request bodies cut at USAGE_LOGGERS_BODY_LIMIT (kept, marked truncated)."}
	fMirrorRefused      = &family{name: "mirror_requests_refused_total", label: "reason", help: "Mirrored requests refused, by reason: malformed (answered 400), head_too_large (SNIFFER_MIRROR_MAX_HEADER_BYTES, 431), timeout (SNIFFER_MIRROR_READ_TIMEOUT, 408), cut (the connection ended inside the request)."}
)

var families = []*family{
	fMirrorConns, fMirrorConnsOpen, fMirrorConnsRefused, fMirrorCalls, fMirrorDropped, fMirrorTruncated, fMirrorRefused,
	fPackets, fBytes, fSegments, fPcapReceived, fPacketsDropped, fUserFiltered,
	fStreams, fStreamsOpen, fStreamsRefused, fCalls, fIncomplete, fIncompleteOut,
	fGaps, fParseErrors, fOrphans, fSkippedBytes, fTruncatedBody, fTunnels, fAnomalies,
	fVXLANPackets, fVXLANVNIs, fGenevePackets, fGeneveVNIs, fIPFragments, fIPFragmentsHeld,
	fShed, fPipelineDropped, fPipelineCalls, fPipelineBytes,
	fNotHTTP,
	fSinkWritten, fSinkDelivered, fSinkFiltered, fSinkDropped, fSinkPending, fSinkQueued, fSinkRecovered,
	fSinkPosts, fSinkPostFailures,
}

// drops are the summary's lines of things lost or skipped, in its order, each one sample.
var drops = []struct {
	f     *family
	label string
	text  string
}{
	{fPacketsDropped, "not_tcp", "packets not TCP"},
	{fPacketsDropped, "undecodable", "packets undecodable"},
	{fPacketsDropped, "ip_fragment", "IP datagrams given up unfinished"},
	{fPacketsDropped, "snaplen", "packets truncated by snaplen"},
	{fGaps, "", "stream gaps (lost segments)"},
	{fParseErrors, "", "malformed messages skipped"},
	{fOrphans, "", "responses without request"},
	{fSkippedBytes, "", "bytes skipped resynchronising"},
	{fTruncatedBody, "", "bodies truncated at the limit"},
	{fTunnels, "", "tunnels (CONNECT/Upgrade)"},
	{fNotHTTP, "", "connections not HTTP (ignored)"},
	{fStreamsRefused, "", "streams refused (max-streams)"},
	{fShed, "bodies_not_decoded", "calls sent with bodies not decoded (overload)"},
	{fShed, "bodies_dropped", "calls sent without bodies (overload)"},
	{fPipelineDropped, "", "calls dropped, pipeline queue full (overload)"},
}

// read takes one value of every counter the sources have. Each is one atomic load; the
// set is not a single snapshot, which neither a scrape nor the summary needs.
func (s Sources) read() []sample {
	var out []sample
	add := func(f *family, label string, v int64) { out = append(out, sample{f, label, v}) }
	if ds := s.Decoder; ds != nil {
		add(fPackets, "", ds.Packets.Load())
		add(fBytes, "", ds.Bytes.Load())
		add(fSegments, "", ds.TCP.Load())
		add(fPacketsDropped, "not_tcp", ds.NotTCP.Load())
		add(fPacketsDropped, "undecodable", ds.Undecoded.Load())
		fs := &ds.Frag
		add(fPacketsDropped, "ip_fragment", fs.Lost())
		for _, r := range []struct {
			label string
			n     int64
		}{{"fragment", fs.Fragments.Load()}, {"reassembled", fs.Reassembled.Load()}, {"atomic", fs.Atomic.Load()}, {"duplicate", fs.Duplicates.Load()},
			{"overlapping", fs.Overlapping.Load()}, {"malformed", fs.Malformed.Load()}, {"truncated", fs.Truncated.Load()},
			{"timed_out", fs.TimedOut.Load()}, {"evicted", fs.Evicted.Load()}} {
			add(fIPFragments, r.label, r.n)
		}
		add(fIPFragmentsHeld, "", fs.HeldBytes.Load())
		add(fPacketsDropped, "snaplen", ds.Truncated.Load())
	}
	tunnel := func(d Decapsulation, packets, vnis *family) {
		st := d.Stats()
		add(packets, "decapsulated", int64(st.Decapsulated))
		add(packets, "bad_header", int64(st.BadHeader))
		add(packets, "filtered_vni", int64(st.FilteredVNI))
		if packets == fGenevePackets { // VXLAN has no control messages
			add(packets, "control", int64(st.Control))
		}
		add(vnis, "", int64(st.VNIsSeen))
	}
	if s.VXLAN != nil {
		tunnel(s.VXLAN, fVXLANPackets, fVXLANVNIs)
	}
	if s.Geneve != nil {
		tunnel(s.Geneve, fGenevePackets, fGeneveVNIs)
	}
	if uf, ok := s.Capture.(UserFiltering); ok && uf.UserFilter() != "" {
		add(fUserFiltered, "", uf.UserFiltered())
	}
	if s.Capture != nil && s.Capture.Live() {
		recv, drop, ifdrop := s.Capture.Stats()
		add(fPcapReceived, "", int64(recv))
		add(fPacketsDropped, "kernel", int64(drop))
		add(fPacketsDropped, "interface", int64(ifdrop))
	}
	if st := s.Reassembly; st != nil {
		add(fStreams, "", st.Streams.Load())
		add(fStreamsOpen, "", st.StreamsOpen.Load())
		add(fStreamsRefused, "", st.StreamsRefused.Load())
		add(fCalls, "", st.Calls.Load())
		add(fIncompleteOut, "", st.IncompleteOut.Load())
		for _, r := range reassembly.Reasons() { // every reason, zeros included, so rate() works from the start
			add(fIncomplete, labelValue(r), st.IncompleteFor(r))
		}
		add(fGaps, "", st.Gaps.Load())
		add(fParseErrors, "", st.ParseErrors.Load())
		add(fOrphans, "", st.Orphans.Load())
		add(fSkippedBytes, "", st.SkippedBytes.Load())
		add(fTruncatedBody, "", st.TruncatedBody.Load())
		add(fTunnels, "", st.Tunnels.Load())
		add(fNotHTTP, "", st.NotHTTP.Load())
	}
	// Calls by anomaly: those delivered (counted by the pipeline) and the incomplete ones
	// reassembly did not emit.
	anomalies := map[string]int64{}
	var names []string
	for _, src := range []Anomalies{s.Anomalies, s.unemitted()} {
		if src == nil {
			continue
		}
		counts, ns := src.Snapshot()
		for _, a := range ns {
			if _, ok := anomalies[a]; !ok {
				names = append(names, a)
			}
			anomalies[a] += counts[a]
		}
	}
	for _, a := range names {
		add(fAnomalies, a, anomalies[a])
	}
	if m := s.ProxyMirror; m != nil {
		add(fMirrorConns, "", m.Conns.Load())
		add(fMirrorConnsOpen, "", m.ConnsOpen.Load())
		add(fMirrorConnsRefused, "", m.ConnsRefused.Load())
		add(fMirrorCalls, "", m.Calls.Load())
		add(fMirrorDropped, "", m.Dropped.Load())
		add(fMirrorTruncated, "", m.Truncated.Load())
		add(fMirrorRefused, "malformed", m.Malformed.Load())
		add(fMirrorRefused, "head_too_large", m.HeadTooLarge.Load())
		add(fMirrorRefused, "timeout", m.Timeouts.Load())
		add(fMirrorRefused, "cut", m.Cut.Load())
	}
	if s.Pipeline != nil {
		pc := s.Pipeline.Counters()
		add(fShed, "bodies_not_decoded", pc.Undecoded)
		add(fShed, "bodies_dropped", pc.NoBodies)
		add(fPipelineDropped, "", pc.Dropped)
		add(fPipelineCalls, "", pc.Calls)
		add(fPipelineBytes, "", pc.Bytes)
	}
	if s.Delivery != nil {
		sum := s.Delivery.Stats()
		add(fSinkWritten, "", sum.Written)
		add(fSinkDelivered, "", sum.Delivered)
		add(fSinkFiltered, "", sum.Filtered)
		known := map[string]bool{}
		for _, c := range output.DropCauses() {
			add(fSinkDropped, c, sum.Dropped[c])
			known[c] = true
		}
		for c, n := range sum.Dropped { // a cause added to output later still shows
			if !known[c] {
				add(fSinkDropped, c, n)
			}
		}
		add(fSinkPending, "", sum.Pending)
		add(fSinkQueued, "", sum.Queued)
		add(fSinkRecovered, "", sum.Recovered)
		add(fSinkPosts, "", sum.Posts)
		add(fSinkPostFailures, "", sum.PostFails)
	}
	return out
}

// values indexes samples by family and label.
type values map[*family]map[string]int64

func index(ss []sample) values {
	v := values{}
	for _, s := range ss {
		if v[s.f] == nil {
			v[s.f] = map[string]int64{}
		}
		v[s.f][s.label] = s.v
	}
	return v
}

func (v values) get(f *family, label string) int64 { return v[f][label] }

// labelValue turns a reason such as "gap in request" into gap_in_request, easier in PromQL.
func labelValue(reason string) string { return strings.ReplaceAll(reason, " ", "_") }
