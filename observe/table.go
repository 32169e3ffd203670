// Package observe is sniffer's account of itself: one table of counters, read from the
// packages that keep them, served as Prometheus metrics and printed as the end-of-run
// summary, so the two always agree. It also makes the process logger.
package observe

import (
	"strings"
	"sync/atomic"

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

// family is one metric: its name (after sniffer_), help, label name and kind; where its one
// value is a counter of one of the sources, count finds it; where the summary prints it as a
// line of things lost or skipped, lines say with which words, by label value.
type family struct {
	name, help, label string
	gauge             bool
	count             func(Sources) *atomic.Int64 // nil: read by Sources.read
	lines             []line
}

// line is a summary line of a family's value with the label value label: "text: N" when N > 0.
type line struct{ label, text string }

// families is every family, in the order defined (def).
var families []*family

// def adds f to families: a family is written once, where it is defined.
func def(f family) *family {
	families = append(families, &f)
	return &f
}

// counter reads a family's value from one counter of a source, when the source is there.
func counter[T any](source func(Sources) *T, field func(*T) *atomic.Int64) func(Sources) *atomic.Int64 {
	return func(s Sources) *atomic.Int64 {
		if t := source(s); t != nil {
			return field(t)
		}
		return nil
	}
}

// The sources of the counters read by counter.
func decoded(s Sources) *capture.DecodeStats  { return s.Decoder }
func reassembled(s Sources) *reassembly.Stats { return s.Reassembly }
func mirrored(s Sources) *proxymirror.Stats   { return s.ProxyMirror }
func text(t string) []line                    { return []line{{"", t}} }

// sample is one value of a family, with its label value ("" when the family has none).
type sample struct {
	f     *family
	label string
	v     int64
}

// The counter table: each family once, with how it is read (count, or read below) and its
// summary line if any; Collect and the summary both take their figures from one read.
var (
	fPackets          = def(family{name: "packets_total", help: "Packets read from libpcap (after the BPF filter) and handed to the decoder.", count: counter(decoded, func(s *capture.DecodeStats) *atomic.Int64 { return &s.Packets })})
	fBytes            = def(family{name: "bytes_total", help: "Captured bytes of those packets.", count: counter(decoded, func(s *capture.DecodeStats) *atomic.Int64 { return &s.Bytes })})
	fSegments         = def(family{name: "tcp_segments_total", help: "TCP segments passed on to reassembly.", count: counter(decoded, func(s *capture.DecodeStats) *atomic.Int64 { return &s.TCP })})
	fPcapReceived     = def(family{name: "pcap_received_total", help: "Packets libpcap reports as received by the filter (live capture; the kernel's 32-bit counter may wrap)."})
	fPacketsDropped   = def(family{name: "packets_dropped_total", label: "cause", help: "Packets lost or skipped, by cause: kernel and interface (libpcap's counts: the buffer was full, raise SNIFFER_PCAP_BUFFER_SIZE), not_tcp, undecodable, ip_fragment (IP datagrams given up unfinished: see ip_fragments_total), snaplen.", lines: []line{{"not_tcp", "packets not TCP"}, {"undecodable", "packets undecodable"}, {"ip_fragment", "IP datagrams given up unfinished"}, {"snaplen", "packets truncated by snaplen"}}})
	fStreams          = def(family{name: "streams_total", help: "TCP connections seen.", count: counter(reassembled, func(s *reassembly.Stats) *atomic.Int64 { return &s.Streams })})
	fStreamsOpen      = def(family{name: "streams_open", gauge: true, help: "TCP connections tracked now.", count: counter(reassembled, func(s *reassembly.Stats) *atomic.Int64 { return &s.StreamsOpen })})
	fStreamsRefused   = def(family{name: "streams_refused_total", help: "Connections not tracked because SNIFFER_MAX_STREAMS was reached.", count: counter(reassembled, func(s *reassembly.Stats) *atomic.Int64 { return &s.StreamsRefused }), lines: text("streams refused (max-streams)")})
	fCalls            = def(family{name: "calls_total", help: "Complete calls (request and response) emitted.", count: counter(reassembled, func(s *reassembly.Stats) *atomic.Int64 { return &s.Calls })})
	fIncomplete       = def(family{name: "calls_incomplete_total", label: "reason", help: "Incomplete calls by reason (no_response, gap_in_request, gap_in_response, stream_closed_in_request, stream_closed_in_response, capture_ended, too_many_pending_requests, response_lost), emitted (SNIFFER_KEEP_INCOMPLETE) or not."})
	fIncompleteOut    = def(family{name: "calls_incomplete_emitted_total", help: "Incomplete calls emitted (SNIFFER_KEEP_INCOMPLETE).", count: counter(reassembled, func(s *reassembly.Stats) *atomic.Int64 { return &s.IncompleteOut })})
	fGaps             = def(family{name: "stream_gaps_total", help: "Holes in TCP streams: lost segments, or the buffer cap skipped them.", count: counter(reassembled, func(s *reassembly.Stats) *atomic.Int64 { return &s.Gaps }), lines: text("stream gaps (lost segments)")})
	fParseErrors      = def(family{name: "messages_malformed_total", help: "Malformed HTTP messages skipped (the stream resynchronises on the next start line).", count: counter(reassembled, func(s *reassembly.Stats) *atomic.Int64 { return &s.ParseErrors }), lines: text("malformed messages skipped")})
	fOrphans          = def(family{name: "responses_orphaned_total", help: "Responses with no request to pair with.", count: counter(reassembled, func(s *reassembly.Stats) *atomic.Int64 { return &s.Orphans }), lines: text("responses without request")})
	fSkippedBytes     = def(family{name: "bytes_skipped_total", help: "Stream bytes skipped while resynchronising.", count: counter(reassembled, func(s *reassembly.Stats) *atomic.Int64 { return &s.SkippedBytes }), lines: text("bytes skipped resynchronising")})
	fTruncatedBody    = def(family{name: "bodies_truncated_total", help: "Bodies cut at USAGE_LOGGERS_BODY_LIMIT.", count: counter(reassembled, func(s *reassembly.Stats) *atomic.Int64 { return &s.TruncatedBody }), lines: text("bodies truncated at the limit")})
	fTunnels          = def(family{name: "tunnels_total", help: "CONNECT/Upgrade streams whose rest was skipped.", count: counter(reassembled, func(s *reassembly.Stats) *atomic.Int64 { return &s.Tunnels }), lines: text("tunnels (CONNECT/Upgrade)")})
	fNotHTTP          = def(family{name: "streams_not_http_total", help: "Connections with data that any-port detection (APP_PORTS=any, or a file read with no ports) found not to carry HTTP/1.x; their bytes were ignored.", count: counter(reassembled, func(s *reassembly.Stats) *atomic.Int64 { return &s.NotHTTP }), lines: text("connections not HTTP (ignored)")})
	fUserFiltered     = def(family{name: "packets_filtered_user_space_total", help: "Packets the BPF filter refused in user space, on link types libpcap cannot filter in the kernel (NFLOG); absent when the kernel filters."})
	fVXLANPackets     = def(family{name: "vxlan_packets_total", label: "result", help: "VXLAN packets by result: decapsulated, bad_header, filtered_vni (mirror engine only)."})
	fVXLANVNIs        = def(family{name: "vxlan_vnis_seen", gauge: true, help: "Distinct VNIs seen (mirror engine only)."})
	fAnomalies        = def(family{name: "call_anomalies_total", label: "anomaly", help: "Calls with an anomaly, by anomaly (request: or response: and the name), emitted or not: what was odd about a message that was read all the same, as browsers read it (bare-lf, obs-fold, te-and-cl, chunk-size-junk, bad-gzip-trailer...)."})
	fGenevePackets    = def(family{name: "geneve_packets_total", label: "result", help: "Geneve packets by result: decapsulated, bad_header, filtered_vni, control (OAM messages) (mirror engine only)."})
	fGeneveVNIs       = def(family{name: "geneve_vnis_seen", gauge: true, help: "Distinct Geneve VNIs seen (mirror engine only)."})
	fIPFragments      = def(family{name: "ip_fragments_total", label: "result", help: "IPv4/IPv6 reassembly, outer and tunnelled, by result: fragment (fragments in), reassembled (datagrams), atomic (IPv6 atomic fragments), duplicate (copies ignored); datagrams given up: overlapping, malformed, truncated (snap length), timed_out, evicted (memory bound)."})
	fIPFragmentsHeld  = def(family{name: "ip_fragments_held_bytes", gauge: true, help: "Bytes held now in unfinished IP datagrams (bounded: 4 MiB by default)."})
	fShed             = def(family{name: "calls_shed_total", label: "what", help: "Calls sent with less than was captured because the pipeline was behind a live capture: bodies_not_decoded (past half of its queue), bodies_dropped (past three quarters).", lines: []line{{"bodies_not_decoded", "calls sent with bodies not decoded (overload)"}, {"bodies_dropped", "calls sent without bodies (overload)"}}})
	fPipelineDropped  = def(family{name: "pipeline_calls_dropped_total", help: "Calls dropped because the pipeline's queue was full (live capture; the last resort before the capture itself waits).", lines: text("calls dropped, pipeline queue full (overload)")})
	fNotMasked        = def(family{name: "calls_bodies_not_masked_total", help: "Calls with a body still content-encoded (gzip, br...: decoding off, shed or failed) that a replace rule would have masked: the rules cannot read compressed bytes, so such bodies are sent as captured, unmasked.", lines: text("calls with encoded bodies not masked")})
	fPipelineCalls    = def(family{name: "pipeline_queue_calls", gauge: true, help: "Calls queued between reassembly and the sinks."})
	fPipelineBytes    = def(family{name: "pipeline_queue_bytes", gauge: true, help: "Bytes of those calls (bounded by a fifth of the Go memory limit live, see SNIFFER_MEMORY_BUDGET)."})
	fSinkWritten      = def(family{name: "sink_calls_written_total", help: "Calls handed to the output sink."})
	fSinkDelivered    = def(family{name: "sink_calls_delivered_total", help: "Calls the collector acknowledged, or that were written out."})
	fSinkFiltered     = def(family{name: "sink_calls_filtered_total", help: "Calls the logging rules chose not to send (not a loss)."})
	fSinkDropped      = def(family{name: "sink_calls_dropped_total", label: "cause", help: "Calls lost by the sink, by cause (" + strings.Join(output.DropCauses(), ", ") + ")."})
	fSinkPending      = def(family{name: "sink_calls_spooled", gauge: true, help: "Calls waiting in the disk spool."})
	fSinkQueued       = def(family{name: "sink_queue_depth", gauge: true, help: "Calls waiting in the in-memory queue."})
	fSinkRecovered    = def(family{name: "sink_calls_recovered_total", help: "Calls found in the spool at start, left by an earlier run."})
	fSinkPosts        = def(family{name: "sink_posts_total", help: "Requests made to the collector (bundles, retries included)."})
	fSinkPostFailures = def(family{name: "sink_post_failures_total", help: "Requests to the collector not answered 2xx (network errors included); they are retried."})
)

// The proxy mirror listener's families (SNIFFER_MIRROR_LISTEN).
var (
	fMirrorConns        = def(family{name: "mirror_connections_total", help: "Connections the proxy mirror listener accepted.", count: counter(mirrored, func(s *proxymirror.Stats) *atomic.Int64 { return &s.Conns })})
	fMirrorConnsOpen    = def(family{name: "mirror_connections_open", gauge: true, help: "Proxy mirror connections open now.", count: counter(mirrored, func(s *proxymirror.Stats) *atomic.Int64 { return &s.ConnsOpen })})
	fMirrorConnsRefused = def(family{name: "mirror_connections_refused_total", help: "Proxy mirror connections over SNIFFER_MIRROR_MAX_CONNS, answered 503 and closed.", count: counter(mirrored, func(s *proxymirror.Stats) *atomic.Int64 { return &s.ConnsRefused })})
	fMirrorCalls        = def(family{name: "mirror_calls_total", help: "Mirrored requests received whole and handed on as calls (without response).", count: counter(mirrored, func(s *proxymirror.Stats) *atomic.Int64 { return &s.Calls })})
	fMirrorDropped      = def(family{name: "mirror_calls_dropped_total", help: "Of those, calls dropped because sniffer was stopping (the pipeline never makes the listener wait: what it has no room for it sheds or drops and counts, see pipeline_calls_dropped_total).", count: counter(mirrored, func(s *proxymirror.Stats) *atomic.Int64 { return &s.Dropped })})
	fMirrorTruncated    = def(family{name: "mirror_bodies_truncated_total", help: "Mirrored request bodies cut at USAGE_LOGGERS_BODY_LIMIT (kept, marked truncated).", count: counter(mirrored, func(s *proxymirror.Stats) *atomic.Int64 { return &s.Truncated })})
	fMirrorRefused      = def(family{name: "mirror_requests_refused_total", label: "reason", help: "Mirrored requests refused, by reason: malformed (answered 400), head_too_large (SNIFFER_MIRROR_MAX_HEADER_BYTES, 431), timeout (SNIFFER_MIRROR_READ_TIMEOUT, 408), cut (the connection ended inside the request)."})
)

// read takes one value of every counter the sources have. Each is one atomic load; the
// set is not a single snapshot, which neither a scrape nor the summary needs.
func (s Sources) read() []sample {
	var out []sample
	add := func(f *family, label string, v int64) { out = append(out, sample{f, label, v}) }
	for _, f := range families {
		if f.count == nil {
			continue
		}
		if c := f.count(s); c != nil {
			add(f, "", c.Load())
		}
	}
	if ds := s.Decoder; ds != nil {
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
		for _, r := range reassembly.Reasons() { // every reason, zeros included, so rate() works from the start
			add(fIncomplete, labelValue(r), st.IncompleteFor(r))
		}
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
		add(fNotMasked, "", pc.NotMasked)
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
