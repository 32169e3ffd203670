package capture

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"sniffer/model"
	"sniffer/reassembly"
	"sniffer/vxlan"
)

// corpusDir is ../shared/corpus relative to the repository (SNIFFER_CORPUS overrides).
func corpusDir() string {
	if d := os.Getenv("SNIFFER_CORPUS"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "shared", "corpus")
}

// needCorpus returns the corpus directory, or skips the test where the corpus is not beside
// the checkout (a bare clone: .ci/skips-allowed lists these tests). With a corpus there, a
// file a test names that is missing fails it.
func needCorpus(t *testing.T) string {
	t.Helper()
	dir := corpusDir()
	if _, err := os.Stat(filepath.Join(dir, "README.md")); err != nil {
		t.Skipf("skipped: no corpus at %s (set SNIFFER_CORPUS to its directory): %v", dir, err)
	}
	return dir
}

// corpusRow is what sniffer makes of one capture: complete calls and incomplete ones
// (counted, by reason), compared with tshark's counts in the corpus README.
type corpusRow struct {
	file                  string
	tsharkReq, tsharkResp int
	calls                 int
	incomplete            map[string]int64
	vxlan                 bool // decapsulate VXLAN on UDP 4789 and Geneve on 6081 (sniffer -engine mirror)
	// detectIncomplete, when set, replaces incomplete with any-port detection on.
	detectIncomplete map[string]int64
}

// corpus is the expected outcome per file. Where it differs from tshark, the comment
// says who is right and why (from reading the packets with tcpdump -A).
var corpus = []corpusRow{
	{file: "alert-max__alert-max-append-higher-priority-drop-5180-02__http-extracted-01.pcap", tsharkReq: 1, tsharkResp: 1, calls: 1},
	// One side only (no server packets): the three requests are counted, never answered.
	{file: "bug-2491-01__simple_http_download.onesided.pcap", tsharkReq: 3, tsharkResp: 0, incomplete: map[string]int64{reassembly.NoResponse: 3}},
	{file: "bug-2491-02__simple_http_download.onesided.nosyn.pcap", tsharkReq: 3, tsharkResp: 0, incomplete: map[string]int64{reassembly.NoResponse: 3}},
	{file: "bug-4810__pppoe-session-http.pcap", tsharkReq: 1, tsharkResp: 1, calls: 1}, // PPPoE: gopacket's full decoder
	{file: "bug-7199__TLPW-curl-http-suricata.pcap", tsharkReq: 1, tsharkResp: 1, calls: 1},
	// Cisco HDLC (link type 104): gopacket names LinkTypeC_HDLC but has no decoder for it;
	// capture's chdlcPayload strips the 4-byte header (address, control, EtherType).
	{file: "decode-chdlc-01__hdlc-http_1tx.pcap", tsharkReq: 1, tsharkResp: 1, calls: 1},
	{file: "detect-absent-http-request-body.pcap", tsharkReq: 1, tsharkResp: 1, calls: 1},
	{file: "exception-policy-midstream-06__input-http-ACK.pcap", tsharkReq: 1, tsharkResp: 1, calls: 1}, // no handshake
	{file: "file-match-crossed__http-multipart-post.pcap", tsharkReq: 1, tsharkResp: 1, calls: 1},
	{file: "filestore-filecontainer-http__filecontainer-http.pcap", tsharkReq: 11, tsharkResp: 11, calls: 11},
	{file: "firewall__ruletype-firewall-17-http-txbits-multi-tx__http-sticky-server-s8.pcap", tsharkReq: 8, tsharkResp: 8, calls: 8},
	{file: "firewall__ruletype-firewall-21-http-accept-tx__http-sticky-server-s8.pcap", tsharkReq: 8, tsharkResp: 8, calls: 8},
	{file: "firewall__ruletype-firewall-22-http-accept-tx-with-td__http-sticky-server-s8.pcap", tsharkReq: 8, tsharkResp: 8, calls: 8},
	{file: "http-100-continue.pcap", tsharkReq: 1, tsharkResp: 1, calls: 1},
	{file: "http-auth-bearer.pcap", tsharkReq: 1, tsharkResp: 1, calls: 1},
	{file: "http-auth-unrecognized.pcap", tsharkReq: 1, tsharkResp: 1, calls: 1},
	{file: "http-connect__http-connect-fail.pcap", tsharkReq: 1, tsharkResp: 1, calls: 1},
	// CONNECT answered 200, then a GET inside the tunnel, which tshark also decodes. The
	// issue wants the CONNECT call emitted and the rest of the stream skipped: 1 call.
	{file: "http-connect__http-connect-fragmented.pcap", tsharkReq: 2, tsharkResp: 1, calls: 1},
	{file: "http-connect__http-connect-simple.pcap", tsharkReq: 2, tsharkResp: 1, calls: 1},
	{file: "http-connection-toclient.pcap", tsharkReq: 1, tsharkResp: 1, calls: 1},
	{file: "http-dvwa.pcapng", tsharkReq: 3, tsharkResp: 3, calls: 3},
	{file: "http-encoding-gzip-uncompressed.pcap", tsharkReq: 1, tsharkResp: 1, calls: 1},
	// Segments of the response body are missing: the call is counted incomplete.
	{file: "http-entity-gap.pcap", tsharkReq: 1, tsharkResp: 0, incomplete: map[string]int64{reassembly.GapInResponse: 1}},
	// /1's body and /2's head are lost; /3's response is whole after the hole and its
	// request ended before it started, so it pairs. tshark decodes no response at all.
	{file: "http-gap-beyond-body.pcap", tsharkReq: 3, tsharkResp: 0, calls: 1, incomplete: map[string]int64{reassembly.GapInResponse: 1, reassembly.ResponseLost: 1}},
	// 14 bytes inside /2's 70-byte Content-Length body are lost (twice in -double): the
	// framing survives, /2 is incomplete, /1 and /3 complete. tshark: 2 responses too.
	{file: "http-gap-double.pcap", tsharkReq: 3, tsharkResp: 2, calls: 2, incomplete: map[string]int64{reassembly.GapInResponse: 1}},
	{file: "http-gap-simple.pcap", tsharkReq: 3, tsharkResp: 2, calls: 2, incomplete: map[string]int64{reassembly.GapInResponse: 1}},
	// /1's body (and two bytes past it) is lost: /1 incomplete, /2 and /3 pair by time.
	{file: "http-gap-whole-body.pcap", tsharkReq: 3, tsharkResp: 2, calls: 2, incomplete: map[string]int64{reassembly.GapInResponse: 1}},
	{file: "http-get-gzip.pcap", tsharkReq: 1, tsharkResp: 1, calls: 1},
	{file: "http-get-no-fin.pcap", tsharkReq: 1, tsharkResp: 1, calls: 1},
	{file: "http-gzip-multi-encoding.pcap", tsharkReq: 1, tsharkResp: 1, calls: 1},
	{file: "http-handshake-reorder.pcap", tsharkReq: 1, tsharkResp: 1, calls: 1},
	// The request travels in an IPv6 atomic fragment (offset 0, no more fragments), which
	// RFC 6946 says to take as a whole packet: the GET is read and, the server closing
	// without answering, counted as incomplete (tshark: 1 request, no response). Before IP
	// reassembly (issue 11) the packet counted as not TCP and the request was not seen.
	{file: "http-ipv6-malformed-frag.pcap", tsharkReq: 1, tsharkResp: 0, incomplete: map[string]int64{reassembly.NoResponse: 1}},
	{file: "http-ipv6.pcap", tsharkReq: 1, tsharkResp: 1, calls: 1},
	{file: "http-irc-port-missing-syn.pcapng", tsharkReq: 1, tsharkResp: 1, calls: 1},
	// 49 connections; 23 send request lines no server accepts ("GET/ HTTP/1.1",
	// "OPTIONSHTTP/1.1", non-ASCII methods) and get 400/405/411. Those are counted as
	// malformed, their answers as responses without request; the 26 others are calls.
	// tshark decodes 27 requests and all 49 responses.
	{file: "http-methods-mixed.pcap", tsharkReq: 27, tsharkResp: 49, calls: 26},
	// The second GET is HTTP/0.9 ("GET /" with no version), answered with a bare HTML body:
	// tshark counts the request, no response; sniffer counts it without response. With
	// any-port detection neither side proves HTTP/1.x, so the connection is counted as
	// not HTTP instead (as is the telnet session over MPLS beside it).
	{file: "http-mixed-vlan-mpls.pcap", tsharkReq: 2, tsharkResp: 1, calls: 1, incomplete: map[string]int64{reassembly.NoResponse: 1}, detectIncomplete: map[string]int64{}},
	// Conflicting Content-Lengths (11 and 93): the POST's body is not framed; the server
	// answers it once with 501 and closes. The smuggled "POST /bad.php" found after it
	// is counted without response. tshark: 2 POSTs, 1 response.
	{file: "http-multiple-content-length.pcap", tsharkReq: 2, tsharkResp: 1, calls: 1, incomplete: map[string]int64{reassembly.NoResponse: 1}},
	{file: "http-multiple100.pcap", tsharkReq: 1, tsharkResp: 1, calls: 1},
	{file: "http-options-method.pcap", tsharkReq: 1, tsharkResp: 1, calls: 1},
	// Part of the .js response's Content-Length body is lost; the framing survives, and
	// the .jpg response after it (reordered segments) is whole. tshark decodes only the
	// first response.
	{file: "http-pipeline-files-with-gap.pcap", tsharkReq: 3, tsharkResp: 1, calls: 2, incomplete: map[string]int64{reassembly.GapInResponse: 1}},
	{file: "http-pipeline-same-packet.pcap", tsharkReq: 2, tsharkResp: 2, calls: 2},
	{file: "http-pipelined-5.pcap", tsharkReq: 5, tsharkResp: 5, calls: 5},
	{file: "http-post-data-decompression.pcap", tsharkReq: 1, tsharkResp: 1, calls: 1},
	{file: "http-protocol-inspect-v2__http.pcap", tsharkReq: 2, tsharkResp: 2, calls: 2},
	{file: "http-proxy.pcap", tsharkReq: 1, tsharkResp: 1, calls: 1},
	{file: "http-range-multiflows.pcap", tsharkReq: 41, tsharkResp: 41, calls: 41},
	// Two of the four POSTs have no Content-Length: their body is sent as the next
	// "request" ("login=foo&password=bar3"), which Apache answers 400. That is no request
	// line, so the two 400s are responses without request. 4 calls.
	{file: "http-request-invalid.pcap", tsharkReq: 8, tsharkResp: 6, calls: 4},
	{file: "http-smuggle-request.pcap", tsharkReq: 2, tsharkResp: 2, calls: 2},
	{file: "http-sticky-start.pcap", tsharkReq: 3, tsharkResp: 3, calls: 3},
	{file: "http-syn-retransmit.pcap", tsharkReq: 1, tsharkResp: 1, calls: 1},
	{file: "http-tcp-overlap-evasion-linux.pcap", tsharkReq: 1, tsharkResp: 1, calls: 1},
	{file: "http-uri-spaces.pcap", tsharkReq: 1, tsharkResp: 1, calls: 1},
	{file: "http-vlan.pcap", tsharkReq: 1, tsharkResp: 1, calls: 1},
	// VXLAN on UDP 4789 (sniffer -engine mirror): decapsulated with the vxlan package.
	{file: "http-vxlan.pcap", tsharkReq: 1, tsharkResp: 1, calls: 1, vxlan: true},
	{file: "http-xff-eve-reverse-overwrite__test.pcap", tsharkReq: 1, tsharkResp: 1, calls: 1},
	// "HTTP/1.0 2XX": not three digits; taken leniently as status 0 on a known server side.
	{file: "http1-noint-status.pcap", tsharkReq: 1, tsharkResp: 1, calls: 1},
	{file: "lua-output-http.pcap", tsharkReq: 1, tsharkResp: 1, calls: 1},
}

// corpusHandler is the pipeline main wires: decoder into reassembler.
type corpusHandler struct {
	dec *Decoder
	asm *reassembly.Assembler
}

func (h *corpusHandler) Packet(data []byte, ci gopacket.CaptureInfo, lt layers.LinkType) {
	h.dec.Decode(data, ci, lt, h.asm.Packet)
}
func (h *corpusHandler) Idle(now time.Time) { h.asm.Tick(now) }

// runCapture reads a file as sniffer -nofilter -r does and returns the calls (complete
// ones; incomplete ones are in the stats) and the reassembler's stats.
func runCapture(t *testing.T, path string, vx bool) ([]*model.Call, *reassembly.Stats) {
	return runCaptureWith(t, path, vx, reassembly.DefaultConfig())
}

// runCaptureWith is runCapture with the reassembler's settings.
func runCaptureWith(t *testing.T, path string, vx bool, rcfg reassembly.Config) ([]*model.Call, *reassembly.Stats) {
	t.Helper()
	calls, st, _ := runCaptureAll(t, path, vx, rcfg)
	return calls, st
}

// runCaptureStats is runCapture returning the decoder's counters.
func runCaptureStats(t *testing.T, path string, vx bool) ([]*model.Call, *DecodeStats) {
	t.Helper()
	calls, _, ds := runCaptureAll(t, path, vx, reassembly.DefaultConfig())
	return calls, ds
}

func runCaptureAll(t *testing.T, path string, vx bool, rcfg reassembly.Config) ([]*model.Call, *reassembly.Stats, *DecodeStats) {
	t.Helper()
	src, err := Open(Config{File: path})
	if err != nil {
		t.Fatal(err)
	}
	calls, st, ds, err := runSource(src, vx, rcfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return calls, st, ds
}

// runSource reads src to its end through the decoder and a reassembler, and closes it.
func runSource(src *Source, vx bool, rcfg reassembly.Config) ([]*model.Call, *reassembly.Stats, *DecodeStats, error) {
	defer src.Close()
	var calls []*model.Call
	h := &corpusHandler{dec: NewDecoder()}
	if vx {
		d, err := vxlan.New(4789, vxlan.Selector{})
		if err != nil {
			return nil, nil, nil, err
		}
		g, err := vxlan.NewGeneve(0, vxlan.Selector{})
		if err != nil {
			return nil, nil, nil, err
		}
		h.dec.VXLANPort, h.dec.Decap, h.dec.GenevePort, h.dec.Geneve = d.Port(), d, g.Port(), g
	}
	h.asm = reassembly.New(rcfg, func(c *model.Call) { calls = append(calls, c) })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := src.Run(ctx, h)
	h.asm.Close()
	return calls, h.asm.Stats(), &h.dec.Stats, err
}

// sameCalls tells whether two runs gave the same calls in the same order.
func sameCalls(a, b []*model.Call) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].URL != b[i].URL || a[i].Request.Method != b[i].Request.Method || a[i].Response.Status != b[i].Response.Status ||
			string(a[i].Request.Body) != string(b[i].Request.Body) || string(a[i].Response.Body) != string(b[i].Response.Body) {
			return false
		}
	}
	return true
}

// TestCorpus runs every public capture of ../shared/corpus through the real file path
// and compares the complete and incomplete calls with the table above. Every capture
// in the directory must have a row, and every call must have a method, URL and status.
func TestCorpus(t *testing.T) {
	dir := needCorpus(t)
	rows := map[string]bool{}
	for _, row := range corpus {
		rows[row.file] = true
		t.Run(strings.TrimSuffix(row.file, filepath.Ext(row.file)), func(t *testing.T) {
			path := filepath.Join(dir, row.file)
			if _, err := os.Stat(path); err != nil {
				t.Fatalf("the corpus at %s has no %s, a row of the table: %v", dir, row.file, err)
			}
			calls, st := runCapture(t, path, row.vxlan)
			if len(calls) != row.calls {
				t.Errorf("%d complete calls, want %d (tshark: %d requests, %d responses)", len(calls), row.calls, row.tsharkReq, row.tsharkResp)
				for _, c := range calls {
					t.Logf("  %s %s -> %d", c.Request.Method, c.URL, c.Response.Status)
				}
			}
			got := st.Incomplete()
			want := row.incomplete
			if want == nil {
				want = map[string]int64{}
			}
			if len(got) != len(want) {
				t.Errorf("incomplete %v, want %v", got, want)
			} else {
				for k, v := range want {
					if got[k] != v {
						t.Errorf("incomplete %v, want %v", got, want)
						break
					}
				}
			}
			for _, c := range calls {
				if c.Request.Method == "" || !strings.HasPrefix(c.URL, "http") || c.Response == nil || c.Incomplete != "" || c.End.Before(c.Start) {
					t.Errorf("bad call: %+v", c)
				}
			}
			// Read as sniffer -r reads a file with no ports set: HTTP told from other
			// protocols by each connection's first bytes. The same calls and the same
			// incomplete ones (detection must not lose a call tshark finds).
			dcfg := reassembly.DefaultConfig()
			dcfg.Detect = true
			detected, dst := runCaptureWith(t, path, row.vxlan, dcfg)
			wantInc := st.Incomplete()
			if row.detectIncomplete != nil {
				wantInc = row.detectIncomplete
			}
			if !sameCalls(detected, calls) || fmt.Sprint(dst.Incomplete()) != fmt.Sprint(wantInc) {
				t.Errorf("with any-port detection: %d calls, incomplete %v; on the file's ports: %d calls, incomplete %v", len(detected), dst.Incomplete(), len(calls), st.Incomplete())
			}
			if n := dst.NotHTTP.Load(); n > 0 {
				t.Logf("any-port detection: %d connections not HTTP", n)
			}
			// The same output on every run.
			again, _ := runCapture(t, path, row.vxlan)
			if len(again) != len(calls) {
				t.Errorf("second run: %d calls, first %d", len(again), len(calls))
			}
			for i := range again {
				if i < len(calls) && (again[i].URL != calls[i].URL || again[i].Response.Status != calls[i].Response.Status || string(again[i].Response.Body) != string(calls[i].Response.Body)) {
					t.Errorf("second run differs at call %d", i)
				}
			}
		})
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.pcap*"))
	for _, f := range files {
		if !rows[filepath.Base(f)] {
			t.Errorf("%s has no row in the corpus table: add one with its expected counts", filepath.Base(f))
		}
	}
}
