//go:build linux

package workload

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"
)

// need skips t unless a run can happen here (root and the tools); in CI as root it fails.
func need(t *testing.T) {
	t.Helper()
	if err := Check(); err != nil {
		if os.Getenv("CI") == "true" && os.Geteuid() == 0 {
			t.Fatal(err)
		}
		t.Skip("skipped: ", err)
	}
}

var logLine = regexp.MustCompile(`^(GET|POST) (\S+) (200|201|404) \d+ \d+ \d+ \d+ ([0-9a-f]{32}) (\d+)$`)

// TestRecord records two seconds over three connections and checks what the checks downstream
// rely on: a pcap of the traffic, nginx's log in its nine fields with a unique request id per
// call, every kind of call of the mix, and nothing left behind.
func TestRecord(t *testing.T) {
	need(t)
	before := leftovers()
	dir := t.TempDir()
	var log strings.Builder
	res, err := Record(context.Background(), Options{Out: filepath.Join(dir, "w.pcap"), Duration: 2 * time.Second, Conns: 3, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s\n%s\n%s", res, log.String(), res.Wrk)
	if res.Dropped != 0 {
		t.Errorf("tcpdump dropped %d packets", res.Dropped)
	}
	f, err := os.Open(res.Calls)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ids, kinds, n := map[string]bool{}, map[string]int{}, 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		n++
		m := logLine.FindStringSubmatch(sc.Text())
		if m == nil {
			t.Fatalf("log line %d %q is not method uri status bytes_sent request_length connection connection_requests request_id client_port", n, sc.Text())
		}
		if ids[m[4]] {
			t.Errorf("request id %s logged twice", m[4])
		}
		ids[m[4]] = true
		if p, _ := strconv.Atoi(m[5]); p < 1024 {
			t.Errorf("client port %d on line %d", p, n)
		}
		path, _, _ := strings.Cut(m[2], "?")
		if strings.HasPrefix(path, "/missing/") {
			path = "/missing/"
		}
		kinds[m[1]+" "+path+" "+m[3]]++
	}
	if n != res.Served || n == 0 {
		t.Errorf("log has %d lines, Served says %d", n, res.Served)
	}
	for _, k := range []string{"GET /small.json 200", "GET /medium.json 200", "GET /large.json 200", "POST /users 201", "GET /missing/ 404"} {
		if kinds[k] == 0 {
			t.Errorf("no %s in the log: %v", k, kinds)
		}
	}
	packets := countPackets(t, res.Pcap)
	// Each call is at least a request and a response segment.
	if packets < 2*n {
		t.Errorf("%d packets for %d calls", packets, n)
	}
	t.Logf("%d calls, %d packets", n, packets)
	gone(t, before)
}

// TestRecordSniffAndCancel runs a command beside the load, and cancels the run during the
// load: Record must return at once with the error, the command must have started in the server
// namespace with DEV set, and the namespaces must be gone.
func TestRecordSniffAndCancel(t *testing.T) {
	need(t)
	before := leftovers()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(4 * time.Second); cancel() }()
	began := time.Now()
	_, err := Record(ctx, Options{Out: filepath.Join(dir, "w.pcap"), Duration: 60 * time.Second, Conns: 2,
		Sniff: `echo "dev=$DEV"; ip -o link show "$DEV"; exec sleep 120`, SniffWarmup: time.Second})
	if !errors.Is(err, context.Canceled) && (err == nil || !strings.Contains(err.Error(), "killed")) {
		t.Errorf("Record cancelled during the load: %v", err)
	}
	if took := time.Since(began); took > 30*time.Second {
		t.Errorf("Record took %v after the cancel", took)
	}
	out, _ := os.ReadFile(filepath.Join(dir, "w.sniffed"))
	if !regexp.MustCompile(`dev=wl\S+s\n\d+: wl\S+s@`).Match(out) {
		t.Errorf("the sniff command's output %q does not show it ran on the server's end of the pair", out)
	}
	gone(t, before)
}

// TestBounds: a run outside the bounds is refused before anything is made.
func TestBounds(t *testing.T) {
	need(t)
	for _, o := range []Options{{Duration: 0, Conns: 1}, {Duration: MaxDuration + time.Second, Conns: 1}, {Duration: time.Second, Conns: 0}, {Duration: time.Second, Conns: MaxConns + 1}} {
		o.Out = filepath.Join(t.TempDir(), "w.pcap")
		if _, err := Record(context.Background(), o); err == nil {
			t.Errorf("Record(%v s, %d connections) ran", o.Duration.Seconds(), o.Conns)
		}
	}
}

func countPackets(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		_, _, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return n
		}
		if err != nil {
			t.Fatalf("packet %d: %v", n+1, err)
		}
		n++
	}
}

// leftovers lists the processes that hold a file of a run directory already removed: what a
// finished run left running (an nginx worker whose master was killed outlives it unless the whole
// group is signalled).
func leftovers() map[string]string {
	found := map[string]string{}
	fds, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, fd := range fds {
		if target, err := os.Readlink(fd); err == nil && strings.Contains(target, "/sniffer-workload-") && strings.HasSuffix(target, " (deleted)") {
			pid := filepath.Dir(filepath.Dir(fd))
			cmd, _ := os.ReadFile(filepath.Join(pid, "cmdline"))
			found[pid] = fmt.Sprintf("%s holds %s (%s)", pid, target, bytes.TrimSpace(bytes.ReplaceAll(cmd, []byte{0}, []byte{' '})))
		}
	}
	return found
}

// gone checks that no namespace of this process is left, nor a process of a run of this test
// (leftovers not in before, taken when the test began: other runs on the machine are not ours).
func gone(t *testing.T, before map[string]string) {
	t.Helper()
	for pid, what := range leftovers() {
		if _, old := before[pid]; !old {
			t.Errorf("a process outlived its run: %s", what)
		}
	}
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	prefix := "snfwl" + strconv.Itoa(os.Getpid()%10000000)
	if strings.Contains(string(out), prefix) {
		t.Errorf("namespaces left behind:\n%s", out)
	}
}
