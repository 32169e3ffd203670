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
	"regexp"
	"strings"
	"testing"
	"time"

	"sniffer/scripts/callset"
)

// workloadScript finds capture-workload.sh: $SNIFFER_CAPTURE_WORKLOAD, else ../shared/bench/ beside
// the repository (where the session and CI lay it).
func workloadScript(t *testing.T) string {
	t.Helper()
	p := os.Getenv("SNIFFER_CAPTURE_WORKLOAD")
	if p == "" {
		p = filepath.Join(repoRoot(t), "..", "shared", "bench", "capture-workload.sh")
	}
	if _, err := os.Stat(p); err != nil {
		t.Skipf("skipped: no capture-workload.sh at %s (set SNIFFER_CAPTURE_WORKLOAD to its path)", p)
	}
	return p
}

var droppedRE = regexp.MustCompile(`requests=(\d+) dropped=(\S+)`)

// TestWorkloadCapture records 5 s of real nginx + wrk traffic (keep-alive, chunked gzip, POST
// bodies, 404s) and checks that `sniffer -r` prints exactly one call for each call nginx logged
// (same multiset of method, path and query, status), with every gzip'd /large.json body decoded
// to valid JSON, and that the output is the same on a second run and when the capture comes on
// standard input. With -decode=false the same calls come out with the gzip bytes as sent.
func TestWorkloadCapture(t *testing.T) {
	needRoot(t, "ip", "nginx", "wrk", "tcpdump", "python3")
	script := workloadScript(t)
	bin := sniffer(t, false)
	dir := t.TempDir()
	pcap := filepath.Join(dir, "w.pcap")

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "bash", script, pcap, "5", "16").CombinedOutput()
	if err != nil {
		t.Fatalf("capture-workload.sh: %v\n%s", err, out)
	}
	m := droppedRE.FindSubmatch(out)
	if m == nil {
		t.Fatalf("capture-workload.sh printed no summary:\n%s", out)
	}
	if string(m[2]) != "0" {
		t.Fatalf("tcpdump dropped %s packets, so nginx's count cannot be held against the capture:\n%s", m[2], out)
	}
	t.Logf("capture: %s", strings.TrimSpace(string(out)))
	f, err := os.Open(strings.TrimSuffix(pcap, ".pcap") + ".calls")
	if err != nil {
		t.Fatal(err)
	}
	served, err := callset.ReadNginx(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}

	first := runOnCapture(t, bin, pcap, served, "/large.json")
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
	runOnCapture(t, bin, pcap, served, "", "-decode=false")
}

// runOnCapture runs sniffer over pcap and checks its output against served, streaming it (the
// output of a 5 s capture is near a gigabyte with bodies decoded). It returns the output's digest,
// or "" after reporting a failure to run.
func runOnCapture(t *testing.T, bin, pcap string, served callset.Set, jsonPath string, flags ...string) string {
	t.Helper()
	name := strings.TrimSpace("sniffer -r " + strings.Join(flags, " "))
	var paths []string
	if jsonPath != "" {
		paths = append(paths, jsonPath)
	}
	tally := callset.NewTally(paths...)
	rawGzipChecked := 0
	cmd := snifferCmd(exec.Command(bin, append(flags, "-r", pcap)...))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	kill := time.AfterFunc(5*time.Minute, func() { cmd.Process.Kill() })
	defer kill.Stop()
	readErr := callset.ReadNDJSON(outPipe, func(line []byte, c *callset.Call) error {
		tally.Add(line, c)
		if jsonPath == "" && rawGzipChecked < 20 && strings.HasSuffix(c.Request.URL, "/large.json") && c.Response != nil {
			// A few raw bodies suffice to show -decode=false keeps the bytes: each must gunzip to JSON.
			rawGzipChecked++
			b, err := c.Response.BodyBytes()
			if err == nil {
				b, err = gunzip(b)
			}
			if err != nil || !json.Valid(b) {
				return fmt.Errorf("%s: the raw /large.json body does not gunzip to JSON (%v)", name, err)
			}
		}
		return nil
	})
	io.Copy(io.Discard, outPipe)
	waitErr := cmd.Wait()
	if waitErr != nil {
		t.Errorf("%s: %v; stderr:\n%s", name, waitErr, tail(stderr.Bytes(), 4000))
		return ""
	}
	if readErr != nil {
		t.Errorf("%s: %v", name, readErr)
		return ""
	}
	t.Logf("%s summary (stderr):\n%s", name, tail(stderr.Bytes(), 2000))
	var rep strings.Builder
	ok := callset.Report(&rep, served, tally, 30)
	if !ok {
		t.Errorf("%s did not print exactly one call per call nginx served:\n%s", name, rep.String())
	} else {
		t.Logf("%s: %s", name, strings.TrimSpace(rep.String()))
	}
	if tally.Incomplete > 0 || tally.Truncated > 0 {
		t.Errorf("%s printed %d incomplete and %d truncated calls; every call in this capture is whole and under the body limit", name, tally.Incomplete, tally.Truncated)
	}
	if jsonPath != "" && tally.JSONValid == 0 {
		t.Errorf("%s: no %s body was checked", name, jsonPath)
	}
	return tally.Sum()
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
