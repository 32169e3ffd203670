//go:build linux

package e2e

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/pcapgo"

	"sniffer/scripts/callset"
)

// dropEvery is the packet-loss pattern of TestWorkloadCaptureWithLoss: one packet in this many is
// removed, about 0.1%, the rate of kernel drops seen with a live capture under full load. Prime,
// so that it falls on every kind of packet (handshakes, requests, response segments, FINs).
const dropEvery = 997

// TestWorkloadCaptureWithLoss removes one packet in dropEvery from the workload capture, as a
// kernel that drops packets would, and checks the rule for lost segments: a call a gap touches is
// dropped or marked incomplete, never glued to wrong bytes. So every call sniffer prints must be
// one nginx served (no response paired with another request: no "extra" calls), every printed
// /large.json body must still decode to valid JSON, and each lost packet may cost at most a few
// calls, not the rest of its keep-alive connection.
func TestWorkloadCaptureWithLoss(t *testing.T) {
	pcap, served := workloadCapture(t)
	bin := sniffer(t, false)
	// SNIFFER_E2E_KEEP=DIR keeps the lossy capture there, to replay a failure by hand.
	dir := os.Getenv("SNIFFER_E2E_KEEP")
	if dir == "" {
		dir = t.TempDir()
	}
	lossy := filepath.Join(dir, "lossy.pcap")
	kept, dropped, err := dropPackets(pcap, lossy, dropEvery)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("removed %d of %d packets: %s", dropped, kept+dropped, lossy)

	tally := callset.NewTally("/large.json")
	tally.CheckIDs(workloadIDs(t))
	if _, ok := streamCalls(t, "sniffer -r (lossy capture)", snifferCmd(exec.Command(bin, append(keepAll, "-r", lossy)...)), tally.Add); !ok {
		t.FailNow()
	}
	var rep strings.Builder
	callset.Report(&rep, served, tally, 30)
	t.Logf("%s", rep.String())

	_, extra, matched := callset.Diff(served, tally.Got)
	if len(extra) > 0 {
		t.Errorf("sniffer printed calls nginx never served (responses paired with the wrong request, or bytes glued across a gap):\n%s", rep.String())
	}
	if n := tally.IDWrong + tally.IDUnknown + tally.IDRepeated; n > 0 {
		t.Errorf("%d calls carry a response whose X-Request-Id nginx sent with another request (or never, or once): %s", n, tally.FirstWrongID)
	}
	if tally.JSONInvalid > 0 {
		t.Errorf("a printed /large.json body is not valid JSON, so bytes were glued across a gap: %s", tally.FirstInvalid)
	}
	if lost, budget := served.Len()-matched, 3*dropped; lost > budget {
		t.Errorf("%d packets lost cost %d calls (more than %d): a gap should cost the calls it touches, not the rest of the connection", dropped, lost, budget)
	}
}

// dropPackets copies the pcap at in to out without every n-th packet.
func dropPackets(in, out string, n int) (kept, dropped int, err error) {
	f, err := os.Open(in)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %w", in, err)
	}
	o, err := os.Create(out)
	if err != nil {
		return 0, 0, err
	}
	defer o.Close()
	w := pcapgo.NewWriterNanos(o)
	if err := w.WriteFileHeader(r.Snaplen(), r.LinkType()); err != nil {
		return 0, 0, err
	}
	for i := 1; ; i++ {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return kept, dropped, fmt.Errorf("%s packet %d: %w", in, i, err)
		}
		if i%n == 0 {
			dropped++
			continue
		}
		if err := w.WritePacket(ci, data); err != nil {
			return kept, dropped, err
		}
		kept++
	}
	return kept, dropped, o.Close()
}
