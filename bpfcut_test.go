//go:build (!darwin || cgo) && !gofiles

package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// writeCutCapture writes a capture of conns keep-alive connections to 10.0.0.1:80 that run
// side by side for rounds rounds, 400 ms apart: in each a small GET and its answer, then a
// POST (over 200 bytes a frame) and its answer, the client acknowledging each answer with
// a bare ACK. Every response body begins with its request's method and target, so that a
// call paired with another request's response shows. It returns the path and the number of
// POSTs.
func writeCutCapture(t *testing.T, conns, rounds int) (string, int) {
	t.Helper()
	return writeCutShape(t, cutShape{conns: conns, rounds: rounds, every: 400 * time.Millisecond, pad: 300})
}

// cutShape is the traffic writeCutShape writes: conns connections of rounds rounds, a
// round every so often on each, answers padded with pad bytes and sent in segments of at
// most mss bytes (0: one segment).
type cutShape struct {
	conns, rounds int
	every         time.Duration
	pad, mss      int
}

// writeCutShape writes the capture writeCutCapture describes, of shape k.
func writeCutShape(t *testing.T, k cutShape) (string, int) {
	t.Helper()
	conns, rounds := k.conns, k.rounds
	type pkt struct {
		at   time.Time
		data []byte
	}
	var pkts []pkt
	base := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	server := []byte{10, 0, 0, 1}
	for i := range conns {
		client := []byte{10, 0, 0, 2}
		cport := layers.TCPPort(41000 + i)
		cseq, sseq := uint32(1000+7919*i), uint32(500000+104729*i)
		at := base.Add(time.Duration(i) * 3 * time.Millisecond)
		send := func(fromClient, syn, ack bool, payload string) {
			src, dst, sp, dp, seq, ackn := client, server, cport, layers.TCPPort(80), cseq, sseq
			if !fromClient {
				src, dst, sp, dp, seq, ackn = server, client, 80, cport, sseq, cseq
			}
			eth := &layers.Ethernet{SrcMAC: []byte{2, 0, 0, 0, 0, 2}, DstMAC: []byte{2, 0, 0, 0, 0, 1}, EthernetType: layers.EthernetTypeIPv4}
			ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src, DstIP: dst}
			tcp := &layers.TCP{SrcPort: sp, DstPort: dp, Seq: seq, Ack: ackn, SYN: syn, ACK: ack, PSH: payload != "", Window: 65535}
			_ = tcp.SetNetworkLayerForChecksum(ip)
			buf := gopacket.NewSerializeBuffer()
			if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp, gopacket.Payload(payload)); err != nil {
				t.Fatal(err)
			}
			at = at.Add(100 * time.Microsecond)
			pkts = append(pkts, pkt{at, append([]byte(nil), buf.Bytes()...)})
			n := uint32(len(payload))
			if syn {
				n++
			}
			if fromClient {
				cseq += n
			} else {
				sseq += n
			}
		}
		answer := func(method, target string) {
			body := method + " " + target + " " + strings.Repeat("x", k.pad)
			a := fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
			for len(a) > k.mss && k.mss > 0 {
				send(false, false, true, a[:k.mss])
				a = a[k.mss:]
			}
			send(false, false, true, a)
		}
		send(true, true, false, "")
		send(false, true, true, "")
		send(true, false, true, "")
		for r := range rounds {
			at = base.Add(time.Duration(r)*k.every + time.Duration(i)*3*time.Millisecond + time.Millisecond)
			g := fmt.Sprintf("/g/%d/%d", i, r)
			send(true, false, true, "GET "+g+" HTTP/1.1\r\nHost: a\r\n\r\n")
			answer("GET", g)
			send(true, false, true, "")
			p := fmt.Sprintf("/p/%d/%d", i, r)
			body := strings.Repeat("b", 200)
			send(true, false, true, fmt.Sprintf("POST %s HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n%s", p, len(body), body))
			answer("POST", p)
			send(true, false, true, "")
		}
	}
	sort.SliceStable(pkts, func(a, b int) bool { return pkts[a].at.Before(pkts[b].at) })
	path := filepath.Join(t.TempDir(), "cut.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65536, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for _, p := range pkts {
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: p.at, CaptureLength: len(p.data), Length: len(p.data)}, p.data); err != nil {
			t.Fatal(err)
		}
	}
	return path, conns * rounds
}

// A BPF filter that drops some packets of every connection (the small GETs, the bare ACKs,
// the handshake) leaves holes that are skipped in flushes over several connections at once:
// reading the file must give the same NDJSON on every run, and no call may carry another
// request's response.
func TestFilterCutsPacketsSameOutput(t *testing.T) {
	path, posts := writeCutCapture(t, 8, 4)
	for _, tc := range []struct {
		filter string
		flags  []string
	}{
		{"greater 200 and tcp", nil},
		{"greater 200 and tcp", []string{"-keep-incomplete"}},
		{"tcp[tcpflags] & tcp-ack == 0 or greater 100", nil},
		{"tcp[tcpflags] & tcp-ack == 0 or greater 100", []string{"-keep-incomplete"}},
	} {
		t.Run(strings.Join(append([]string{tc.filter}, tc.flags...), " "), func(t *testing.T) {
			args := append([]string{"-q", "-r", path, "-bpf", tc.filter}, tc.flags...)
			var first string
			for run := range 8 {
				code, out, errs := runSniffer(t, nil, args...)
				if code != 0 {
					t.Fatalf("exit %d: %s", code, errs)
				}
				if run == 0 {
					first = out
					complete := checkCutCalls(t, out)
					t.Logf("%d calls out, %d complete POSTs of %d", strings.Count(out, "\n"), complete, posts)
					if complete == 0 {
						t.Errorf("no complete call out of %d POSTs", posts)
					}
					continue
				}
				if out != first {
					t.Fatalf("run %d gave other output than run 0:\n%s\nrun 0:\n%s", run, targets(out), targets(first))
				}
			}
		})
	}
}

// checkCutCalls checks that every call's response answers its own request and returns the
// number of complete calls.
func checkCutCalls(t *testing.T, out string) int {
	t.Helper()
	complete := 0
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var c struct {
			Request struct {
				Method, Target string
			}
			Response *struct {
				Body string
			}
			Incomplete string
		}
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatalf("%v: %s", err, sc.Bytes())
		}
		if c.Response != nil && !strings.HasPrefix(c.Response.Body, c.Request.Method+" "+c.Request.Target+" ") {
			t.Errorf("%s %s paired with the response to %.20q", c.Request.Method, c.Request.Target, c.Response.Body)
		}
		if c.Response != nil && c.Incomplete == "" {
			complete++
		}
	}
	return complete
}

// targets lists the calls of an output, one a line: method, target and what was incomplete.
func targets(out string) string {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var c struct {
			Request    struct{ Method, Target string }
			Incomplete string
		}
		_ = json.Unmarshal([]byte(line), &c)
		fmt.Fprintf(&b, "  %s %s %s\n", c.Request.Method, c.Request.Target, c.Incomplete)
	}
	return b.String()
}

// TestFilterCutsPacketsCallsKept: the same traffic at a workload's pace (a round every
// 3 ms, GETs answered with kilobytes in 1448-byte segments), read with -bpf 'greater 200
// and tcp': the handshake, the GETs and the bare ACKs are cut, the POSTs and every answer
// kept. Every POST must come out, paired with its own answer (nothing is lost that the
// POST's call needs). File reads are deterministic, so the count is exact on any machine.
//   - "held start": both directions start where the capture shows them, after the reorder
//     window; the server's bytes held meanwhile come in one delivery whose first response
//     waits for the request side. The bytes searched for a start line were counted before
//     the parser had seen them, and again when the waiting response was parsed, and the
//     connection was taken for something else past 256 KiB: no call at all.
//   - "paced": the request side has a hole before every POST. Nothing proved them lost
//     (the request side had never shown bytes in order), so the answers waited for it
//     until they outgrew the per-connection buffer and were parsed without their
//     requests, and the POSTs went out as "pairing unproven".
func TestFilterCutsPacketsCallsKept(t *testing.T) {
	for _, tc := range []struct {
		name  string
		shape cutShape
	}{
		{"held start", cutShape{conns: 2, rounds: 40, every: 3 * time.Millisecond, pad: 16000, mss: 1448}},
		{"paced", cutShape{conns: 1, rounds: 400, every: 3 * time.Millisecond, pad: 6000, mss: 1448}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, posts := writeCutShape(t, tc.shape)
			code, out, errs := runSniffer(t, nil, "-q", "-r", path, "-bpf", "greater 200 and tcp")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			complete := checkCutCalls(t, out)
			t.Logf("%d calls out, %d complete POSTs of %d", strings.Count(out, "\n"), complete, posts)
			if complete != posts {
				t.Errorf("%d complete POSTs of %d", complete, posts)
			}
		})
	}
}
