package observe

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"sniffer/capture"
	"sniffer/internal/testenv"
	"sniffer/model"
	"sniffer/output"
	"sniffer/proxymirror"
	"sniffer/reassembly"
)

// scrape fetches url and parses the Prometheus text format into "name{labels}" -> value.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			t.Fatalf("bad metrics line %q", line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad value in metrics line %q: %v", line, err)
		}
		m[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestObservabilityOff(t *testing.T) {
	stop, err := Serve("", Sources{}, nil)
	if err != nil || stop == nil {
		t.Fatalf("empty address: stop=%v err=%v, want a no-op stop and no error", stop != nil, err)
	}
	stop()
}

func TestObservabilityPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = Serve(ln.Addr().String(), Sources{Decoder: &capture.NewDecoder().Stats, Reassembly: &reassembly.Stats{}}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || !strings.Contains(err.Error(), "SNIFFER_METRICS_ADDR") {
		t.Fatalf("address in use: err = %v, want an error naming SNIFFER_METRICS_ADDR", err)
	}
}

func TestNewLogger(t *testing.T) {
	var b bytes.Buffer
	l, err := NewLogger("warn", "json", &b)
	if err != nil {
		t.Fatal(err)
	}
	l.Info("hidden")
	l.Warn("shown", "k", 1)
	if s := b.String(); strings.Contains(s, "hidden") || !strings.Contains(s, `"msg":"shown"`) || !strings.Contains(s, `"k":1`) {
		t.Fatalf("json logger at warn wrote %q", s)
	}
	b.Reset()
	if l, err = NewLogger("DEBUG", "text", &b); err != nil {
		t.Fatal(err)
	}
	l.Debug("dbg")
	if !strings.Contains(b.String(), "level=DEBUG msg=dbg") {
		t.Fatalf("text logger at debug wrote %q", b.String())
	}
	for _, bad := range [][2]string{{"loud", "text"}, {"info", "xml"}} {
		if _, err := NewLogger(bad[0], bad[1], &b); err == nil {
			t.Errorf("NewLogger(%q, %q) accepted", bad[0], bad[1])
		}
	}
}

// TestMetricsLive captures real HTTP traffic on loopback with libpcap, scrapes /metrics while
// the capture runs, and checks the metrics against the end-of-run summary and the number
// of calls made. Root only (live capture).
func TestMetricsLive(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: live capture on loopback needs root (or CAP_NET_RAW)")
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, `{"path":%q}`, r.URL.Path)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	port := ln.Addr().(*net.TCPAddr).Port

	ports, err := capture.ParsePorts(strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	src, err := capture.Open(capture.Config{Device: "lo", Filter: capture.Filter(ports), BufferSize: 16 << 20})
	if err != nil {
		testenv.Missing(t, "cannot capture on lo: %v", err)
	}
	defer src.Close()
	dec := capture.NewDecoder()
	calls := make(chan *model.Call, 1024)
	asm := reassembly.New(reassembly.DefaultConfig(), func(c *model.Call) { calls <- c })
	sum := output.Summary{Written: 7, Delivered: 5, Pending: 1, Queued: 1, Dropped: map[string]int64{output.DropQueueFull: 2, "future_cause": 3}}
	addr := freeAddr(t)
	obs := Sources{Capture: src, Decoder: &dec.Stats, Reassembly: asm.Stats(), Delivery: fixedSummary(sum)}
	stop, err := Serve(addr, obs, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	base := "http://" + addr

	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- src.Run(ctx, &handler{dec: dec, asm: asm}) }()

	if r, err := http.Get(base + "/healthz"); err != nil || r.StatusCode != 200 {
		t.Fatalf("/healthz during capture: %v %v", r, err)
	}
	time.Sleep(300 * time.Millisecond) // libpcap is open already; give the reader a moment
	const n = 40
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	get := func(i int) {
		resp, err := client.Post(fmt.Sprintf("http://127.0.0.1:%d/call/%d", port, i), "application/json", strings.NewReader(`{"i":1}`))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	for i := range n / 2 {
		get(i)
	}
	// Counters move while the capture runs: wait (bounded) for the first half to show.
	var mid map[string]float64
	for deadline := time.Now().Add(5 * time.Second); ; {
		mid = scrape(t, base+"/metrics")
		if mid["sniffer_calls_total"] >= n/2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if mid["sniffer_calls_total"] == 0 || mid["sniffer_packets_total"] == 0 {
		t.Fatalf("mid-run: calls_total %v packets_total %v, want both moving", mid["sniffer_calls_total"], mid["sniffer_packets_total"])
	}
	for i := n / 2; i < n; i++ {
		get(i)
	}
	var end map[string]float64
	for deadline := time.Now().Add(5 * time.Second); ; {
		end = scrape(t, base+"/metrics")
		if end["sniffer_calls_total"] >= n || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	if err := <-runDone; err != nil {
		t.Fatalf("capture: %v", err)
	}
	asm.Close()
	end = scrape(t, base+"/metrics") // after the capture: what the summary sees

	// On a loaded machine the reader can fall behind and the kernel drop packets: then the
	// drops must show, and the calls may be fewer. Otherwise every call is there.
	kernelDrops := end[`sniffer_packets_dropped_total{cause="kernel"}`]
	if kernelDrops == 0 {
		if end["sniffer_calls_total"] != n || end["sniffer_streams_total"] != n {
			t.Errorf("no kernel drops, yet calls_total %v streams_total %v, want %d", end["sniffer_calls_total"], end["sniffer_streams_total"], n)
		}
	} else {
		t.Logf("the kernel dropped %v packets (machine busy): %v of %d calls captured", kernelDrops, end["sniffer_calls_total"], n)
	}
	if end["sniffer_calls_total"] <= mid["sniffer_calls_total"] {
		t.Errorf("calls_total did not move between scrapes: %v -> %v", mid["sniffer_calls_total"], end["sniffer_calls_total"])
	}
	for name, want := range map[string]float64{
		"sniffer_streams_open":                   0,
		`sniffer_calls_incomplete_emitted_total`: 0,
		"sniffer_sink_calls_written_total":       7, "sniffer_sink_calls_delivered_total": 5,
		`sniffer_sink_calls_dropped_total{cause="queue_full"}`: 2, `sniffer_sink_calls_dropped_total{cause="future_cause"}`: 3,
		`sniffer_sink_calls_dropped_total{cause="retries"}`: 0, "sniffer_sink_queue_depth": 1, "sniffer_sink_calls_spooled": 1,
	} {
		if got, ok := end[name]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", name, got, ok, want)
		}
	}
	if end["sniffer_packets_total"] <= mid["sniffer_packets_total"] || end["sniffer_bytes_total"] <= mid["sniffer_bytes_total"] {
		t.Errorf("packets/bytes did not move between scrapes: %v -> %v", mid["sniffer_packets_total"], end["sniffer_packets_total"])
	}
	if _, ok := end[`sniffer_packets_dropped_total{cause="kernel"}`]; !ok {
		t.Errorf("no kernel drop counter for a live capture")
	}

	// The summary printed at exit reads the same counters: the figures must agree.
	var b bytes.Buffer
	Summary(&b, obs, time.Second)
	m := regexp.MustCompile(`(\d+) packets \((\d+) bytes\), (\d+) TCP segments, (\d+) streams, (\d+) calls`).FindStringSubmatch(b.String())
	if m == nil {
		t.Fatalf("summary has no totals line:\n%s", b.String())
	}
	for i, name := range []string{"sniffer_packets_total", "sniffer_bytes_total", "sniffer_tcp_segments_total", "sniffer_streams_total", "sniffer_calls_total"} {
		if want, _ := strconv.ParseFloat(m[i+1], 64); end[name] != want {
			t.Errorf("%s = %v, summary says %v", name, end[name], want)
		}
	}
	pm := regexp.MustCompile(`pcap: (\d+) received, (\d+) dropped by the kernel, (\d+) dropped by the interface`).FindStringSubmatch(b.String())
	if pm == nil {
		t.Fatalf("summary has no pcap line:\n%s", b.String())
	}
	for i, name := range []string{"sniffer_pcap_received_total", `sniffer_packets_dropped_total{cause="kernel"}`, `sniffer_packets_dropped_total{cause="interface"}`} {
		if want, _ := strconv.ParseFloat(pm[i+1], 64); end[name] != want {
			t.Errorf("%s = %v, summary says %v", name, end[name], want)
		}
	}
	stop()
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Errorf("/healthz still answers after stop")
	}
	t.Logf("%v calls, %v packets, %v bytes; pcap received %v", end["sniffer_calls_total"], end["sniffer_packets_total"], end["sniffer_bytes_total"], end["sniffer_pcap_received_total"])
}

// freeAddr returns a loopback address with a port that was free a moment ago.
// scrapeOnce serves obs's metrics and scrapes them once.
func scrapeOnce(t *testing.T, obs Sources) map[string]float64 {
	t.Helper()
	addr := freeAddr(t)
	stop, err := Serve(addr, obs, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	return scrape(t, "http://"+addr+"/metrics")
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// fixedSummary is a Delivery whose account is given: the test checks that every field and
// an unknown drop cause reach the metrics.
type fixedSummary output.Summary

func (f fixedSummary) Stats() output.Summary { return output.Summary(f) }

// handler feeds captured packets through the decoder to the reassembler, as main does.
type handler struct {
	dec *capture.Decoder
	asm *reassembly.Assembler
}

func (h *handler) Packet(data []byte, ci gopacket.CaptureInfo, lt layers.LinkType) {
	h.dec.Decode(data, ci, lt, h.asm.Packet)
}

func (h *handler) Idle(now time.Time) { h.asm.Tick(now) }

// TestAnomalyCounters: the calls' anomalies show as one metric labelled by anomaly and as
// summary lines, with the same figures.
func TestAnomalyCounters(t *testing.T) {
	var counts model.AnomalyCounts
	counts.Add([]string{"response:obs-fold", "request:te-and-cl"})
	counts.Add([]string{"response:obs-fold"})
	var st reassembly.Stats
	st.Unemitted.Add([]string{"request:te-and-cl", "request:conflicting-length"}) // an attempt never answered
	obs := Sources{Anomalies: &counts, Reassembly: &st}
	m := scrapeOnce(t, obs)
	if m[`sniffer_call_anomalies_total{anomaly="response:obs-fold"}`] != 2 || m[`sniffer_call_anomalies_total{anomaly="request:te-and-cl"}`] != 2 ||
		m[`sniffer_call_anomalies_total{anomaly="request:conflicting-length"}`] != 1 {
		t.Errorf("metrics: %v", m)
	}
	var b bytes.Buffer
	Summary(&b, obs, time.Second)
	if !strings.Contains(b.String(), "calls with anomaly request:te-and-cl: 2\n") || !strings.Contains(b.String(), "calls with anomaly response:obs-fold: 2\n") {
		t.Errorf("summary:\n%s", b.String())
	}
}

// TestProxyMirrorCounters: the proxy mirror listener's account shows as metrics and as the
// summary's proxy mirror line, with the same figures; alone (no capture) the summary has no
// packet line.
func TestProxyMirrorCounters(t *testing.T) {
	var st proxymirror.Stats
	st.Calls.Add(7)
	st.Dropped.Add(1)
	st.Truncated.Add(2)
	st.Conns.Add(3)
	st.ConnsRefused.Add(4)
	st.Timeouts.Add(5)
	st.Cut.Add(6)
	obs := Sources{ProxyMirror: &st}
	m := scrapeOnce(t, obs)
	if m["sniffer_mirror_calls_total"] != 7 || m["sniffer_mirror_calls_dropped_total"] != 1 || m["sniffer_mirror_bodies_truncated_total"] != 2 ||
		m["sniffer_mirror_connections_refused_total"] != 4 || m[`sniffer_mirror_requests_refused_total{reason="timeout"}`] != 5 ||
		m[`sniffer_mirror_requests_refused_total{reason="cut"}`] != 6 || m[`sniffer_mirror_requests_refused_total{reason="malformed"}`] != 0 {
		t.Errorf("metrics: %v", m)
	}
	var b bytes.Buffer
	Summary(&b, obs, time.Second)
	want := "sniffer: proxy mirrors only, in 1s\nsniffer: proxy mirror: 7 calls (1 dropped, 2 bodies truncated), 3 connections (4 refused over the limit); requests refused: 0 malformed, 0 heads too large, 5 timed out, 6 cut\n"
	if b.String() != want {
		t.Errorf("summary:\n%s\nwant:\n%s", b.String(), want)
	}
}
