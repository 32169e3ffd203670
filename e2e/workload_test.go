//go:build linux

package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"sniffer/internal/workload"
	"sniffer/scripts/callset"
)

type recorded struct {
	once    sync.Once
	res     *workload.Result
	err     error
	summary string
}

var recordedWorkload recorded

// workloadCapture records 5 s of the project's workload (internal/workload: nginx + wrk in two
// network namespaces, tcpdump between them) over 16 connections, once per test run, and returns
// the pcap and nginx's record of the calls it served.
func workloadCapture(t *testing.T) (pcap string, served callset.Set) {
	t.Helper()
	needRoot(t, workload.Tools...)
	w := &recordedWorkload
	w.once.Do(func() {
		w.res, w.err = recordWorkload(workload.Options{Out: filepath.Join(buildDir, "workload.pcap"), Duration: 5 * time.Second, Conns: 16})
	})
	if w.err != nil {
		t.Fatal(w.err)
	}
	t.Logf("capture: %s", w.res)
	served, _ = readNginxLog(t, w.res.Calls)
	return w.res.Pcap, served
}

// workloadIDs is nginx's log of the workload capture by request id (for Tally.CheckIDs).
func workloadIDs(t *testing.T) map[string]callset.Served {
	t.Helper()
	_, ids := readNginxLog(t, recordedWorkload.res.Calls)
	return ids
}

// recordWorkload records o within 3 minutes; an error unless the recording succeeded and
// tcpdump dropped nothing (nginx's count would not hold against the capture otherwise).
func recordWorkload(o workload.Options) (*workload.Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := workload.Record(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("recording the workload: %v", err)
	}
	if res.Dropped != 0 {
		return nil, fmt.Errorf("tcpdump dropped packets (%s), so nginx's count cannot be held against the capture", res)
	}
	return res, nil
}

// readNginxLog reads nginx's log: the calls it served, and each by its request id.
func readNginxLog(t *testing.T, path string) (callset.Set, map[string]callset.Served) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, ids, err := callset.ReadServed(f)
	if err != nil {
		t.Fatal(err)
	}
	return s, ids
}

// TestWorkloadCapture reads 5 s of real nginx + wrk traffic (keep-alive, chunked gzip, POST
// bodies, 404s) and checks that `sniffer -r` prints exactly one call for each call nginx logged
// (same multiset of method, path and query, status), with every gzip'd /large.json body decoded
// to valid JSON, and that the output is the same on a second run and when the capture comes on
// standard input. With -decode=false the same calls come out with the gzip bytes as sent.
func TestWorkloadCapture(t *testing.T) {
	pcap, served := workloadCapture(t)
	bin := sniffer(t, false)

	first := runOnCapture(t, bin, pcap, served, true)
	if first == "" {
		return
	}
	if again := digest(t, snifferCmd(exec.Command(bin, "-r", pcap))); again != first {
		t.Errorf("a second run over the same capture printed different output (sha256 %s, then %s)", first, again)
	}
	stdin := snifferCmd(exec.Command(bin, "-r", "-"))
	in, err := os.Open(pcap)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	stdin.Stdin = in
	if d := digest(t, stdin); d != first {
		t.Errorf("-r - (the capture on standard input) printed different output from -r FILE")
	}

	// -decode=false: the same calls; /large.json bodies are the gzip bytes as captured.
	runOnCapture(t, bin, pcap, served, false)
}

// runOnCapture runs sniffer over pcap, with bodies decoded or with -decode=false, and checks its
// output against served. It returns the output's digest, or "" after reporting a failure to run.
func runOnCapture(t *testing.T, bin, pcap string, served callset.Set, decode bool) string {
	t.Helper()
	name, flags, tally := "sniffer -r", []string{}, callset.NewTally("/large.json")
	if !decode {
		name, flags, tally = "sniffer -r -decode=false", []string{"-decode=false"}, callset.NewTally()
	}
	tally.CheckIDs(workloadIDs(t))
	rawChecked := 0
	_, ok := streamCalls(t, name, snifferCmd(exec.Command(bin, append(flags, "-r", pcap)...)), func(line []byte, c *callset.Call) error {
		tally.Add(line, c)
		if !decode && rawChecked < 20 && strings.HasSuffix(c.Request.URL, "/large.json") && c.Response != nil {
			// A few raw bodies suffice to show -decode=false keeps the bytes: each must gunzip to JSON.
			rawChecked++
			b, err := c.Response.BodyBytes()
			if err == nil {
				b, err = gunzip(b)
			}
			if err != nil || !json.Valid(b) {
				return fmt.Errorf("the raw /large.json body does not gunzip to JSON (%v)", err)
			}
		}
		return nil
	})
	if !ok {
		return ""
	}
	var rep strings.Builder
	if !callset.Report(&rep, served, tally, 30) {
		t.Errorf("%s did not print exactly one call per call nginx served:\n%s", name, rep.String())
	} else {
		t.Logf("%s: %s", name, strings.TrimSpace(rep.String()))
	}
	if tally.Incomplete > 0 || tally.Truncated > 0 {
		t.Errorf("%s printed %d incomplete and %d truncated calls; every call in this capture is whole and under the body limit", name, tally.Incomplete, tally.Truncated)
	}
	if decode && tally.JSONValid+tally.JSONInvalid == 0 {
		t.Errorf("%s: no /large.json body was checked", name)
	}
	return tally.Sum()
}

// streamCalls runs cmd, a sniffer, and hands each call it prints to fn as it comes (the output of
// a 5 s capture is near a gigabyte with bodies decoded: it is never held whole). It logs sniffer's
// summary and returns its stderr, or reports the failure and returns false.
func streamCalls(t *testing.T, name string, cmd *exec.Cmd, fn func([]byte, *callset.Call) error) ([]byte, bool) {
	t.Helper()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	kill := time.AfterFunc(5*time.Minute, func() { cmd.Process.Kill() })
	defer kill.Stop()
	readErr := callset.ReadNDJSON(out, fn)
	io.Copy(io.Discard, out)
	if err := cmd.Wait(); err != nil {
		t.Errorf("%s: %v; stderr:\n%s", name, err, tail(stderr.Bytes(), 4000))
		return stderr.Bytes(), false
	}
	if readErr != nil {
		t.Errorf("%s: %v", name, readErr)
		return stderr.Bytes(), false
	}
	t.Logf("%s summary (stderr):\n%s", name, tail(stderr.Bytes(), 2000))
	return stderr.Bytes(), true
}

// digest runs cmd and returns the SHA-256 of what it prints, failing the test if it fails.
func digest(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	h := sha256.New()
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = h, &stderr
	kill := time.AfterFunc(5*time.Minute, func() { cmd.Process.Kill() })
	defer kill.Stop()
	if err := cmd.Run(); err != nil {
		t.Errorf("%v: %v; stderr:\n%s", cmd.Args, err, tail(stderr.Bytes(), 4000))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestWorkloadLive is the live half of the check: the workload runs
// `sniffer -i $DEV -ports 80` on the server's device during 5 s of load over 16 connections.
func TestWorkloadLive(t *testing.T) {
	workloadLive(t, "live sniffer", 16)
}

// TestWorkloadLiveFullSpeed drives the load as fast as this machine goes (wrk over 64
// connections, as the bench does) with default settings. On a machine too busy for that the
// kernel drops packets and calls go missing: reported, not failed. A wrong call fails always.
func TestWorkloadLiveFullSpeed(t *testing.T) {
	workloadLive(t, "live sniffer at full speed", 64)
}

// workloadLive records the workload for 5 s over conns connections with
// `sniffer [engine...] -i $DEV -ports 80` as its SNIFF_CMD. What holds on any machine, loaded
// or idle, fast or slow: no call printed that nginx did not serve, none whose response's
// X-Request-Id names another call (request, status, client port), every checked body valid
// JSON; and, when the kernel (or the ring) dropped nothing, every call nginx served. The drop
// figures and the share of calls matched are printed. It returns sniffer's standard error.
func workloadLive(t *testing.T, what string, conns int, engine ...string) (stderr []byte) {
	t.Helper()
	needRoot(t, workload.Tools...)
	bin := sniffer(t, false)
	pcap := filepath.Join(t.TempDir(), "live.pcap")
	base := strings.TrimSuffix(pcap, ".pcap")
	// env -i: the sniffer sees none of the caller's settings (see snifferEnv).
	sniff := fmt.Sprintf("exec env -i PATH=%q %q %s -i \"$DEV\" -ports 80", os.Getenv("PATH"), bin, strings.Join(engine, " "))
	res, err := recordWorkload(workload.Options{Out: pcap, Duration: 5 * time.Second, Conns: conns, Sniff: sniff})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("capture: %s", res)
	stderr, _ = os.ReadFile(base + ".sniff-err")
	t.Logf("sniffer summary (stderr):\n%s", tail(stderr, 2000))
	recv, drop := kernelDrops(t, stderr)
	t.Logf("%s: %d packets received, %d dropped by the kernel (%.2f%%)", what, recv, drop, 100*float64(drop)/float64(max(recv, 1)))
	out, err := os.Open(base + ".sniffed")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	served, ids := readNginxLog(t, base+".calls")
	tally := callset.NewTally("/large.json")
	tally.CheckIDs(ids)
	if err := callset.ReadNDJSON(out, tally.Add); err != nil {
		t.Fatal(err)
	}
	var rep strings.Builder
	ok := callset.Report(&rep, served, tally, 30)
	missing, extra, _ := callset.Diff(served, tally.Got)
	t.Logf("%s: %s", what, strings.TrimSpace(rep.String()))
	if len(extra) > 0 || tally.JSONInvalid > 0 || tally.IDWrong+tally.IDUnknown+tally.IDRepeated > 0 {
		t.Errorf("the %s printed wrong calls (not served, mis-paired, or bodies not the server's):\n%s", what, rep.String())
	}
	switch {
	case drop == 0 && !ok:
		t.Errorf("the kernel dropped nothing, yet the %s did not print every call nginx served", what)
	case len(missing) > 0:
		t.Logf("the kernel dropped %d packets (the machine was too busy for this rate): calls missing, reported, not failed", drop)
	}
	return stderr
}
