//go:build linux

// Package workload records a real HTTP/1.1 workload into a pcap, with the server's own log of
// every call it served: nginx in one network namespace, wrk in another, a veth pair (MTU 1500)
// between them, tcpdump on the server's end. It is the project's demo and benchmark traffic, and
// needs nothing beside the checkout but the packages scripts/setup.sh installs (iproute2, nginx,
// wrk, tcpdump; ethtool to turn offloads off), and root for the namespaces.
//
// The server's log (OUT.calls) has one call a line, in nginx's words:
//
//	method uri status bytes_sent request_length connection connection_requests request_id client_port
//
// Every response carries the same request_id in an X-Request-Id header, so a tool that pairs a
// request with the wrong response can be caught call by call. The mix per wrk request: GET small
// JSON (with a bearer token), GET 16 KiB JSON, GET 64 KiB JSON gzip'd on the fly (chunked), POST
// a JSON body answered 201, GET answered 404; keep-alive connections throughout.
//
// The run is bounded: at most MaxDuration of load over at most MaxConns connections, and every
// step (nginx start, tcpdump start, the load, the shutdown) under its own deadline. The namespaces
// (names unique to the process) and every process started are removed whatever happens.
package workload

import (
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
	"sync/atomic"
	"syscall"
	"time"
)

// Bounds of one run.
const (
	MaxDuration = 10 * time.Minute
	MaxConns    = 1024
)

// The addresses on the veth pair. The namespaces are private, so two runs at once do not clash.
const (
	ServerAddr = "10.213.0.1"
	clientAddr = "10.213.0.2"
	Port       = 80
)

// Options says what to record.
type Options struct {
	// Out is the pcap to write; the server's log goes to Out without .pcap plus .calls.
	Out string
	// Duration of the load (wrk -d), at least one second.
	Duration time.Duration
	// Conns is the number of keep-alive connections wrk keeps open.
	Conns int
	// NoPcap records nothing (tcpdump then filters on a port nobody uses), so a live sniffer
	// alone takes the packets, as in production.
	NoPcap bool
	// Sniff, when set, is a shell command run in the server's namespace during the load, with
	// DEV naming the device to capture on; its stdout goes to OUT.sniffed, its stderr to
	// OUT.sniff-err. It starts SniffWarmup before the load and gets SIGINT (its whole process
	// group) SniffDrain after it.
	Sniff                   string
	SniffWarmup, SniffDrain time.Duration
	// Log, when set, receives a line per step.
	Log io.Writer
}

// Result is what a run produced.
type Result struct {
	Pcap, Calls string
	// Served is the number of calls nginx logged.
	Served int
	// Dropped is the number of packets tcpdump says the kernel dropped; -1 when it did not say.
	Dropped int
	// Tcpdump is tcpdump's closing statistics, one line.
	Tcpdump string
	// Wrk is wrk's report.
	Wrk string
}

// String is a one-line summary (as ../shared/bench/capture-workload.sh prints it): the pcap path, the number of
// requests nginx served and the packets tcpdump dropped (must be 0 for the count to hold).
func (r *Result) String() string {
	d := "unknown"
	if r.Dropped >= 0 {
		d = strconv.Itoa(r.Dropped)
	}
	return fmt.Sprintf("%s requests=%d dropped=%s (%s)", r.Pcap, r.Served, d, r.Tcpdump)
}

// Tools are the programs a run drives.
var Tools = []string{"ip", "nginx", "wrk", "tcpdump"}

// Check says what is missing for a run: root, or one of Tools.
func Check() error {
	if os.Geteuid() != 0 {
		return errors.New("recording a workload needs root (it creates network namespaces): run it as root")
	}
	for _, tool := range Tools {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is not installed: bash scripts/setup.sh installs it", tool)
		}
	}
	return nil
}

var seq atomic.Int32

// Record runs the workload and writes Out and its .calls file (and .sniffed, .sniff-err with
// Sniff). It fails when a step fails or ctx ends; a run where tcpdump dropped packets still
// succeeds, with Result.Dropped saying so.
func Record(ctx context.Context, o Options) (res *Result, err error) {
	if err := Check(); err != nil {
		return nil, err
	}
	if o.Duration < time.Second || o.Duration > MaxDuration {
		return nil, fmt.Errorf("workload duration %v: want 1s to %v", o.Duration, MaxDuration)
	}
	if o.Conns < 1 || o.Conns > MaxConns {
		return nil, fmt.Errorf("workload connections %d: want 1 to %d", o.Conns, MaxConns)
	}
	out, err := filepath.Abs(o.Out)
	if err != nil {
		return nil, err
	}
	base := strings.TrimSuffix(out, ".pcap")
	r := &run{o: o, log: o.Log}
	if r.log == nil {
		r.log = io.Discard
	}
	defer r.cleanup()
	if err := r.prepare(); err != nil {
		return nil, err
	}
	if err := r.network(); err != nil {
		return nil, err
	}
	if err := r.startNginx(ctx); err != nil {
		return nil, err
	}
	if err := r.startTcpdump(ctx, out); err != nil {
		return nil, err
	}
	if o.Sniff != "" {
		if err := r.startSniffer(base); err != nil {
			return nil, err
		}
		if err := sleep(ctx, orDefault(o.SniffWarmup, 2*time.Second)); err != nil {
			return nil, err
		}
	}
	if err := sleep(ctx, 500*time.Millisecond); err != nil {
		return nil, err
	}
	wrkOut, err := r.load(ctx)
	if err != nil {
		return nil, err
	}
	// Let the last responses reach the capture, then stop the server, then the recorder.
	if err := sleep(ctx, time.Second); err != nil {
		return nil, err
	}
	if err := r.nginx.stop(syscall.SIGQUIT, 10*time.Second); err != nil {
		return nil, fmt.Errorf("nginx: %v", err)
	}
	if err := sleep(ctx, time.Second); err != nil {
		return nil, err
	}
	r.tcpdump.stop(syscall.SIGINT, 10*time.Second)
	if r.sniff != nil {
		if err := sleep(ctx, orDefault(o.SniffDrain, 2*time.Second)); err != nil {
			return nil, err
		}
		// Its whole group: a wrapper (GNU time ignores SIGINT while it waits) and the sniffer.
		if err := r.sniff.stop(syscall.SIGINT, 10*time.Second); err != nil {
			fmt.Fprintf(r.log, "workload: the sniffer command: %v\n", err)
		}
	}
	res = &Result{Pcap: out, Calls: base + ".calls", Wrk: strings.TrimSpace(wrkOut)}
	log, err := os.ReadFile(filepath.Join(r.dir, "access.log"))
	if err != nil {
		return nil, fmt.Errorf("nginx's log: %v", err)
	}
	res.Served = bytes.Count(log, []byte{'\n'})
	if err := os.WriteFile(res.Calls, log, 0o644); err != nil {
		return nil, err
	}
	res.Dropped, res.Tcpdump = tcpdumpStats(r.tcpdump.stderr.String())
	return res, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// run is one recording's state, for cleanup.
type run struct {
	o                      Options
	log                    io.Writer
	dir                    string
	serverNS, clientNS     string
	serverDev, clientDev   string
	nginx, tcpdump, sniff  *proc
	nsCreated, linkCreated []string
}

// prepare writes the documents, nginx's configuration and wrk's script into a fresh directory.
func (r *run) prepare() error {
	k := seq.Add(1)
	id := fmt.Sprintf("%d%c", os.Getpid()%10000000, 'a'+k%26)
	r.serverNS, r.clientNS = "snfwl"+id+"s", "snfwl"+id+"c"
	r.serverDev, r.clientDev = "wl"+id+"s", "wl"+id+"c" // at most 15 bytes (IFNAMSIZ)
	dir, err := os.MkdirTemp("", "sniffer-workload-")
	if err != nil {
		return err
	}
	r.dir = dir
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	for _, d := range []string{"www", "tmp"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	for name, n := range map[string]int{"small.json": 2, "medium.json": 150, "large.json": 600} {
		if err := os.WriteFile(filepath.Join(dir, "www", name), document(n), 0o644); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(nginxConf(dir)), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "mix.lua"), []byte(mixLua), 0o644)
}

// network makes the two namespaces and the veth pair between them, with offloads off so that
// the capture holds wire-sized segments, as on a real NIC with GRO off.
func (r *run) network() error {
	for _, ns := range []string{r.serverNS, r.clientNS} {
		if err := ipCmd("netns", "add", ns); err != nil {
			return err
		}
		r.nsCreated = append(r.nsCreated, ns)
	}
	if err := ipCmd("link", "add", r.serverDev, "type", "veth", "peer", "name", r.clientDev); err != nil {
		return err
	}
	// If moving an end fails, the pair is still in the root namespace: delete it there too.
	r.linkCreated = append(r.linkCreated, r.serverDev)
	for _, h := range []struct{ ns, dev, addr string }{{r.serverNS, r.serverDev, ServerAddr}, {r.clientNS, r.clientDev, clientAddr}} {
		steps := [][]string{
			{"link", "set", h.dev, "netns", h.ns},
			{"-n", h.ns, "addr", "add", h.addr + "/24", "dev", h.dev},
			{"-n", h.ns, "link", "set", "lo", "up"},
			{"-n", h.ns, "link", "set", h.dev, "up"},
		}
		for _, s := range steps {
			if err := ipCmd(s...); err != nil {
				return err
			}
		}
		if out, err := exec.Command("ip", "netns", "exec", h.ns, "ethtool", "-K", h.dev, "tso", "off", "gso", "off", "gro", "off").CombinedOutput(); err != nil {
			fmt.Fprintf(r.log, "workload: offloads stay on for %s (ethtool: %v %s); the capture may hold segments larger than the MTU\n", h.dev, err, bytes.TrimSpace(out))
		}
	}
	return nil
}

func ipCmd(args ...string) error {
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// startNginx runs nginx in the foreground in the server namespace, in a process group of its own
// (a signal then reaches its workers too, even when the master cannot pass it on), and waits
// until it listens.
func (r *run) startNginx(ctx context.Context) error {
	p, err := start(exec.Command("ip", "netns", "exec", r.serverNS, "nginx",
		"-p", r.dir, "-e", filepath.Join(r.dir, "error.log"), "-c", filepath.Join(r.dir, "nginx.conf"), "-g", "daemon off;"), true)
	if err != nil {
		return fmt.Errorf("nginx: %v", err)
	}
	r.nginx = p
	deadline := time.Now().Add(10 * time.Second)
	for !listening(p.cmd.Process.Pid, Port) {
		if p.exited() || time.Now().After(deadline) {
			errLog, _ := os.ReadFile(filepath.Join(r.dir, "error.log"))
			return fmt.Errorf("nginx did not listen on %s:%d within 10 s: %s %s", ServerAddr, Port, p.stderr.Bytes(), errLog)
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
	fmt.Fprintf(r.log, "workload: nginx listens on %s:%d in namespace %s\n", ServerAddr, Port, r.serverNS)
	return nil
}

// listening says whether a TCP socket listens on port in the network namespace of process pid
// (/proc/PID/net/tcp is that namespace's table; state 0A is LISTEN).
func listening(pid, port int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/tcp", pid))
	if err != nil {
		return false
	}
	want := fmt.Sprintf(":%04X", port)
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 3 && strings.HasSuffix(f[1], want) && f[3] == "0A" {
			return true
		}
	}
	return false
}

// startTcpdump records the server's end of the pair into out and waits until it captures.
func (r *run) startTcpdump(ctx context.Context, out string) error {
	filter := fmt.Sprintf("tcp port %d", Port)
	if r.o.NoPcap {
		filter = "tcp port 1"
	}
	p, err := start(exec.Command("ip", "netns", "exec", r.serverNS,
		"tcpdump", "-i", r.serverDev, "-s", "0", "-B", "262144", "-U", "-w", out, filter), true)
	if err != nil {
		return fmt.Errorf("tcpdump: %v", err)
	}
	r.tcpdump = p
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.stderr.String(), "listening on") {
		if p.exited() || time.Now().After(deadline) {
			return fmt.Errorf("tcpdump did not start within 10 s: %s", p.stderr.String())
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

// startSniffer runs the Sniff command in the server namespace, in its own process group.
func (r *run) startSniffer(base string) error {
	stdout, err := os.Create(base + ".sniffed")
	if err != nil {
		return err
	}
	defer stdout.Close()
	stderr, err := os.Create(base + ".sniff-err")
	if err != nil {
		return err
	}
	defer stderr.Close()
	cmd := exec.Command("ip", "netns", "exec", r.serverNS, "bash", "-c", r.o.Sniff)
	cmd.Env = append(os.Environ(), "DEV="+r.serverDev)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	p, err := start(cmd, true)
	if err != nil {
		return fmt.Errorf("the sniffer command: %v", err)
	}
	r.sniff = p
	return nil
}

// load runs wrk in the client namespace for the duration, killed if it overruns by a minute.
func (r *run) load(ctx context.Context) (string, error) {
	secs := int(r.o.Duration.Round(time.Second) / time.Second)
	ctx, cancel := context.WithTimeout(ctx, r.o.Duration+time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", r.clientNS, "wrk", "-t", "1",
		"-c", strconv.Itoa(r.o.Conns), "-d", fmt.Sprintf("%ds", secs), "-s", filepath.Join(r.dir, "mix.lua"),
		fmt.Sprintf("http://%s:%d/", ServerAddr, Port))
	fmt.Fprintf(r.log, "workload: wrk, %d s over %d connections\n", secs, r.o.Conns)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("wrk: %v\n%s", err, out)
	}
	return string(out), nil
}

// cleanup stops whatever still runs (SIGTERM to the process group, SIGKILL after 5 s) and
// removes the namespaces, the veth pair and the directory.
func (r *run) cleanup() {
	for _, p := range []*proc{r.sniff, r.tcpdump, r.nginx} {
		if p != nil {
			p.stop(syscall.SIGTERM, 5*time.Second)
		}
	}
	for _, ns := range r.nsCreated {
		exec.Command("ip", "netns", "del", ns).Run()
	}
	for _, l := range r.linkCreated {
		exec.Command("ip", "link", "del", l).Run() // fails, as it should, once the namespaces took it
	}
	if r.dir != "" {
		os.RemoveAll(r.dir)
	}
}

var droppedRE = regexp.MustCompile(`(?m)^(\d+) packets dropped by kernel`)

// tcpdumpStats reads tcpdump's closing lines: the kernel's drop count (-1 when absent) and the
// "packets" lines joined.
func tcpdumpStats(stderr string) (int, string) {
	var lines []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.Contains(l, "packets") {
			lines = append(lines, strings.TrimSpace(l))
		}
	}
	dropped := -1
	if m := droppedRE.FindStringSubmatch(stderr); m != nil {
		dropped, _ = strconv.Atoi(m[1])
	}
	return dropped, strings.Join(lines, " ")
}
