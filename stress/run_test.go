package stress

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// sniffer is the binary under test, built once by TestMain without the race detector
// (the binary's memory is what is measured; the race detector would multiply it).
var sniffer string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "stress-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "stress:", err)
		os.Exit(1)
	}
	sniffer = filepath.Join(dir, "sniffer")
	build := exec.Command("go", "build", "-o", sniffer, ".")
	build.Dir = ".." // the module root: package main
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "stress: building sniffer:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// full tells whether the full-size cases were asked for (STRESS=1, make stress).
func full() bool { return os.Getenv("STRESS") == "1" }

// size picks the full-size figure under STRESS=1, the small one otherwise.
func size[T any](small, big T) T {
	if full() {
		return big
	}
	return small
}

// result is what one run of the binary left behind.
type result struct {
	exit    int
	signal  string // set when the process was killed by a signal (a crash)
	maxRSS  int64  // peak resident set size in bytes (/usr/bin/time's %M, else VmHWM)
	wall    time.Duration
	stderr  string
	out     string // path of the NDJSON output
	counts  map[string]int64
	summary []string
}

// jsonCall is the part of an NDJSON call the stress tests check.
type jsonCall struct {
	Request struct {
		Method    string `json:"method"`
		Target    string `json:"target"`
		Body      string `json:"body"`
		BodySize  int64  `json:"body_size"`
		Truncated bool   `json:"truncated"`
		Encoding  string `json:"body_encoding"`
	} `json:"request"`
	Response *struct {
		Status    int         `json:"status"`
		Headers   [][2]string `json:"headers"`
		Body      string      `json:"body"`
		BodySize  int64       `json:"body_size"`
		Truncated bool        `json:"truncated"`
		Encoding  string      `json:"body_encoding"`
	} `json:"response"`
	Client     string `json:"client"`
	Incomplete string `json:"incomplete"`
}

func (c *jsonCall) header(name string) string {
	if c.Response == nil {
		return ""
	}
	for _, h := range c.Response.Headers {
		if strings.EqualFold(h[0], name) {
			return h[1]
		}
	}
	return ""
}

// runSniffer runs the binary on a capture file with args, with a deadline, and returns
// its exit status, peak memory, summary counters and the path of its NDJSON output.
// The default rules mask what looks like personal data; "include debug" keeps bodies
// as they were, so that they can be compared with what was generated.
func runSniffer(t *testing.T, pcap string, timeout time.Duration, args ...string) *result {
	t.Helper()
	dir := t.TempDir()
	out := filepath.Join(dir, "calls.ndjson")
	args = append([]string{"-r", pcap, "-o", out, "-rules", "include debug"}, args...)
	// Peak memory: getrusage's ru_maxrss of a child started by this (large) test
	// process is worthless, since Linux carries the parent's high-water mark into the
	// child across the vfork and exec. /usr/bin/time's child is forked from a small
	// process, so its figure is the sniffer's own; without it (or with
	// STRESS_RSS=poll), VmHWM is polled every 10 ms.
	timeOut := filepath.Join(dir, "time.txt")
	cmd := exec.Command(sniffer, args...)
	useTime := false
	if _, err := os.Stat("/usr/bin/time"); err == nil && os.Getenv("STRESS_RSS") != "poll" {
		cmd = exec.Command("/usr/bin/time", append([]string{"-f", "maxrss %M", "-o", timeOut, sniffer}, args...)...)
		useTime = true
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	cmd.Env = cleanEnv()
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var hwm int64
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	deadline := time.After(timeout)
	var err error
wait:
	for {
		select {
		case err = <-done:
			break wait
		case <-poll.C:
			if !useTime {
				hwm = max(hwm, vmHWM(cmd.Process.Pid))
			}
		case <-deadline:
			cmd.Process.Kill()
			<-done
			t.Fatalf("sniffer %s did not finish within %s (a hang); stderr:\n%s", strings.Join(args, " "), timeout, tail(stderr.String()))
		}
	}
	r := &result{wall: time.Since(start), stderr: stderr.String(), out: out, maxRSS: hwm}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	st := cmd.ProcessState
	r.exit = st.ExitCode()
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		r.signal = ws.Signal().String()
	}
	if useTime {
		b, err := os.ReadFile(timeOut)
		if err != nil {
			t.Fatalf("/usr/bin/time: %v", err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if kb, ok := strings.CutPrefix(line, "maxrss "); ok {
				n, _ := strconv.ParseInt(strings.TrimSpace(kb), 10, 64)
				r.maxRSS = n * 1024
			}
			if strings.HasPrefix(line, "Command terminated by signal") {
				r.signal = strings.TrimPrefix(line, "Command terminated by ")
			}
		}
	}
	r.counts, r.summary = parseSummary(r.stderr)
	if strings.Contains(r.stderr, "panic:") || strings.Contains(r.stderr, "goroutine ") || r.signal != "" {
		t.Fatalf("sniffer crashed (%s):\n%s", r.signal, tail(r.stderr))
	}
	return r
}

// TestVmHWM checks the fallback measure on this process.
func TestVmHWM(t *testing.T) {
	if n := vmHWM(os.Getpid()); n < 1<<20 {
		t.Fatalf("VmHWM of this process: %d bytes", n)
	}
}

// vmHWM reads the peak resident set size of a process, in bytes, or 0 once it is gone.
func vmHWM(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n * 1024
		}
	}
	return 0
}

// cleanEnv is the environment without any sniffer setting a developer may have exported.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "SNIFFER_") || strings.HasPrefix(k, "USAGE_LOGGERS_") || strings.HasPrefix(k, "VXLAN_") ||
			k == "APP_PORTS" || k == "APP_PORT" || k == "NET_DEVICE" || k == "PCAP_FILE" || k == "BPF_FILTER" || k == "VPC_MIRROR_DEVICE" {
			continue
		}
		env = append(env, kv)
	}
	return env
}

func tail(s string) string {
	if len(s) > 4000 {
		return "..." + s[len(s)-4000:]
	}
	return s
}

var (
	headRE  = regexp.MustCompile(`sniffer: (\d+) packets \((\d+) bytes\), (\d+) TCP segments, (\d+) streams, (\d+) calls, (\d+) incomplete`)
	countRE = regexp.MustCompile(`^sniffer:\s+(.+): (\d+)$`)
)

// parseSummary reads the end-of-run counters from standard error: "packets", "streams",
// "calls", "incomplete" from the first line, then each "what: N" line by its what.
func parseSummary(stderr string) (map[string]int64, []string) {
	m := map[string]int64{}
	var lines []string
	for _, line := range strings.Split(stderr, "\n") {
		if g := headRE.FindStringSubmatch(line); g != nil {
			for i, k := range []string{"packets", "bytes", "segments", "streams", "calls", "incomplete"} {
				m[k], _ = strconv.ParseInt(g[i+1], 10, 64)
			}
			lines = append(lines, line)
			continue
		}
		if g := countRE.FindStringSubmatch(line); g != nil {
			m[g[1]], _ = strconv.ParseInt(g[2], 10, 64)
			lines = append(lines, line)
		}
	}
	return m, lines
}

// calls reads the NDJSON output one call at a time.
func (r *result) calls(t *testing.T, each func(*jsonCall)) int {
	t.Helper()
	f, err := os.Open(r.out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := json.NewDecoder(bufio.NewReaderSize(f, 1<<20))
	n := 0
	for dec.More() {
		var c jsonCall
		if err := dec.Decode(&c); err != nil {
			t.Fatalf("output call %d: %v", n+1, err)
		}
		n++
		each(&c)
	}
	return n
}

// check fails on a non-zero exit or peak memory over bound, and logs the figures in a
// form docs/stress.md is made from.
func (r *result) check(t *testing.T, wantExit int, bound int64) {
	t.Helper()
	t.Logf("RESULT %s: exit %d, peak RSS %.1f MiB (bound %d MiB), %s; %s",
		t.Name(), r.exit, float64(r.maxRSS)/(1<<20), bound>>20, r.wall.Round(time.Millisecond), strings.Join(r.summary, " | "))
	if r.exit != wantExit {
		t.Errorf("exit status %d, want %d; stderr:\n%s", r.exit, wantExit, tail(r.stderr))
	}
	if r.maxRSS == 0 {
		t.Errorf("no peak RSS measured")
	}
	if r.maxRSS > bound {
		t.Errorf("peak RSS %d MiB over the bound of %d MiB", r.maxRSS>>20, bound>>20)
	}
	if r.counts["packets"] == 0 {
		t.Errorf("no summary line on standard error:\n%s", tail(r.stderr))
	}
}

const MiB = 1 << 20

// httpCall is a request and its response as bytes on the wire.
func request(method, target string, body []byte, extra ...string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: api.test\r\nUser-Agent: stress\r\n", method, target)
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	if body != nil {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n")
	return append([]byte(b.String()), body...)
}

func response(status int, body []byte, extra ...string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n", status, "OK")
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n", len(body))
	return append([]byte(b.String()), body...)
}

// normal holds the ids of the normal calls written and checks that each came out once,
// complete, with its own response.
type normal struct {
	want map[string]bool
}

func newNormal() *normal { return &normal{want: map[string]bool{}} }

// write writes normal call id on a fresh connection from client i: handshake, a GET
// with the id, a JSON response echoing it, close. These are the calls that must all come
// out complete whatever else is in the capture.
func (n *normal) write(w *capWriter, i int, id string) {
	f := w.newFlow(clientAddr(i), server, 1448)
	f.handshake()
	f.send(true, request("GET", "/normal/"+id, nil))
	f.send(false, response(200, []byte(`{"id":"`+id+`","ok":true}`), "X-Id: "+id))
	f.close()
	n.want[id] = false
}

// fresh returns the same expected calls, none seen yet, for another run on the same file.
func (n *normal) fresh() *normal {
	m := newNormal()
	for id := range n.want {
		m.want[id] = false
	}
	return m
}

// see records an output call if it is a normal one; ok is false for other calls.
func (n *normal) see(t *testing.T, c *jsonCall) bool {
	id, ok := strings.CutPrefix(c.Request.Target, "/normal/")
	if !ok {
		return false
	}
	seen, known := n.want[id]
	switch {
	case !known:
		t.Errorf("normal call %q that was never written", id)
	case seen:
		t.Errorf("normal call %q came out twice", id)
	case c.Incomplete != "" || c.Response == nil:
		t.Errorf("normal call %q incomplete: %q", id, c.Incomplete)
	case c.header("X-Id") != id || c.Response.Body != `{"id":"`+id+`","ok":true}`:
		t.Errorf("normal call %q paired with the wrong response: X-Id %q body %q", id, c.header("X-Id"), c.Response.Body)
	}
	n.want[id] = true
	return true
}

// missing reports the normal calls that did not come out.
func (n *normal) missing(t *testing.T) {
	t.Helper()
	var lost []string
	for id, seen := range n.want {
		if !seen {
			lost = append(lost, id)
		}
	}
	t.Logf("normal calls complete: %d of %d", len(n.want)-len(lost), len(n.want))
	if len(lost) > 0 {
		k := len(lost)
		if k > 20 {
			lost = append(lost[:20], "...")
		}
		t.Errorf("%d of %d normal calls lost: %v", k, len(n.want), lost)
	}
}
