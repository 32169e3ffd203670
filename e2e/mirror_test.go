//go:build linux

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"sniffer/internal/testenv"
	"sniffer/scripts/callset"
	"sniffer/vxlan"
)

// TestMirror is issue 5's end-to-end check of VPC traffic mirroring with the real binary. The
// lab is vxlan/testdata/mirror-setup.sh: a client and a real net/http server in two namespaces
// on a veth, and tc clsact+u32+mirred on the server's end copying every frame, both directions,
// into a VXLAN device (VNI 42, UDP 4789) that sends it over a second veth (t0, the underlay) to a
// target namespace, as AWS VPC Traffic Mirroring delivers to a mirror target. The client makes
// the live test's calls (keep-alive rounds over IPv4 and IPv6 with bodies from 0 to 300 KiB, a
// 100 KiB upload, gzip, chunked, 404s, pipelining, HTTP/1.0, curl, and calls to a port sniffer
// was not given). In the target, sniffer must print every call the server served on the port,
// once, complete and byte for byte:
//
//  1. kernel: sniffer -mirror-device vx0 -vxlan-vni 42 -vxlan-parent t0 makes vx0 through
//     netlink, captures on it, and deletes it on exit;
//  2. user space: sniffer -engine mirror -i t0 decapsulates the VXLAN it reads off the underlay;
//  3. file: tcpdump records t0 while a live user-space sniffer runs, and sniffer -engine mirror -r
//     on the recording prints the same calls as the server served and the live sniffer printed.
//
// The client checks every answer it gets, so mirroring must not disturb the traffic it copies.
func TestMirror(t *testing.T) {
	needRoot(t, "ip", "tc", "bash")
	bin := sniffer(t, true)
	lab := newMirrorLab(t)

	t.Run("kernel-vx0", func(t *testing.T) {
		if lab.linkExists(t, "vx0") {
			t.Fatalf("vx0 exists in %s before sniffer started; the test needs sniffer to create it", lab.targetNS)
		}
		s := lab.sniffer(t, "sniffer -mirror-device vx0", bin,
			"-mirror-device", "vx0", "-vxlan-vni", lab.vni, "-vxlan-parent", lab.underlay, "-ports", mirrorPort)
		served := lab.drive(t, []*proc{s}, func() {
			// sniffer is capturing by now: vx0 must be the device it was asked to make.
			out, err := exec.Command("ip", "-d", "-n", lab.targetNS, "link", "show", "dev", "vx0").CombinedOutput()
			if err != nil {
				t.Errorf("vx0 does not exist in %s while sniffer runs: %v %s", lab.targetNS, err, out)
			} else if d := string(out); !strings.Contains(d, "vxlan id "+lab.vni+" ") || !strings.Contains(d, "dev "+lab.underlay+" ") || !strings.Contains(d, "dstport "+lab.port+" ") {
				t.Errorf("vx0 is not VXLAN VNI %s port %s on %s:\n%s", lab.vni, lab.port, lab.underlay, d)
			}
		})
		if served == nil {
			return
		}
		if !strings.Contains(s.stderr.String(), "created VXLAN device vx0") {
			t.Errorf("sniffer did not say it created vx0; stderr:\n%s", tail(s.stderr.Bytes(), 2000))
		}
		if lab.linkExists(t, "vx0") {
			t.Errorf("vx0 is still in %s after sniffer exited; it created it, so it must delete it", lab.targetNS)
		}
		lab.check(t, s.name, s.stdout.Bytes(), s.stderr.Bytes(), served, -1)
	})

	t.Run("user-space", func(t *testing.T) {
		s := lab.sniffer(t, "sniffer -engine mirror", bin, "-engine", "mirror", "-i", lab.underlay, "-ports", mirrorPort)
		if served := lab.drive(t, []*proc{s}, nil); served != nil {
			lab.check(t, s.name, s.stdout.Bytes(), s.stderr.Bytes(), served, lab.vniInt(t))
		}
	})

	t.Run("capture-file", func(t *testing.T) {
		if _, err := exec.LookPath("tcpdump"); err != nil {
			testenv.Missing(t, "tcpdump is not installed (scripts/setup.sh installs it)")
		}
		dir := t.TempDir()
		pcap, tdErr := filepath.Join(dir, "mirror.pcap"), filepath.Join(dir, "tcpdump.err")
		td := lab.tcpdump(t, pcap, tdErr)
		live := lab.sniffer(t, "sniffer -engine mirror (live, beside tcpdump)", bin, "-engine", "mirror", "-i", lab.underlay, "-ports", mirrorPort)
		served := lab.drive(t, []*proc{td, live}, nil)
		if served == nil {
			return
		}
		tdOut, _ := os.ReadFile(tdErr)
		m := tcpdumpDropRE.FindSubmatch(tdOut)
		if m == nil {
			t.Fatalf("tcpdump printed no drop count:\n%s", tdOut)
		}
		var counts []string
		for _, line := range strings.Split(string(tdOut), "\n") {
			if strings.Contains(line, "packets") {
				counts = append(counts, strings.TrimSpace(line))
			}
		}
		t.Logf("tcpdump on %s: %s", lab.underlay, strings.Join(counts, ", "))
		if string(m[1]) != "0" {
			t.Fatalf("tcpdump dropped %s packets, so the recording cannot be held against the server's count", m[1])
		}
		lab.check(t, live.name, live.stdout.Bytes(), live.stderr.Bytes(), served, lab.vniInt(t))
		stdout, _ := lab.replay(t, bin, pcap, served)
		sameCalls(t, live.stdout.Bytes(), stdout)
	})
}

// mirrorPort is the port the server answers on and sniffer watches; checkCall expects 8080.
const mirrorPort = "8080"

// mirrorOtherPort is served too but not watched: mirrored calls to it must not be printed.
const mirrorOtherPort = "9090"

var mirrorSeq atomic.Int32

// mirrorLab is one mirror-setup.sh topology, removed when the test ends.
type mirrorLab struct {
	pair               *netPair // client and server, as checkCall knows them
	targetNS, underlay string
	vni, port, tunnel  string
	v4, v6, other      string // the server's addresses the client calls
}

func newMirrorLab(t *testing.T) *mirrorLab { return newMirrorLabEnv(t) }

// newMirrorLabEnv builds the lab with mirror-setup.sh's settings in env ("MTU=1500",
// "TUNNEL=geneve", "PORT=6081").
func newMirrorLabEnv(t *testing.T, env ...string) *mirrorLab {
	t.Helper()
	script := filepath.Join(repoRoot(t), "vxlan", "testdata", "mirror-setup.sh")
	prefix := fmt.Sprintf("snfmir%d%c", os.Getpid()%1000000, 'a'+mirrorSeq.Add(1)%26)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	up := exec.CommandContext(ctx, "bash", script, "up", prefix)
	up.Env = append(os.Environ(), env...)
	out, err := up.CombinedOutput()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if o, err := exec.CommandContext(ctx, "bash", script, "down", prefix).CombinedOutput(); err != nil {
			t.Errorf("mirror-setup.sh down %s: %v\n%s", prefix, err, o)
		}
	})
	if err != nil {
		t.Fatalf("mirror-setup.sh up %s: %v\n%s", prefix, err, out)
	}
	vars := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			vars[k] = v
		}
	}
	for _, k := range []string{"CLIENT_NS", "SERVER_NS", "TARGET_NS", "CLIENT_IP", "SERVER_IP", "CLIENT_IP6", "SERVER_IP6", "TARGET_DEV", "VNI", "PORT"} {
		if vars[k] == "" {
			t.Fatalf("mirror-setup.sh up printed no %s:\n%s", k, out)
		}
	}
	return &mirrorLab{
		pair: &netPair{
			serverNS: vars["SERVER_NS"], clientNS: vars["CLIENT_NS"], serverDev: "s0", clientDev: "c0",
			serverV4: vars["SERVER_IP"], clientV4: vars["CLIENT_IP"], serverV6: vars["SERVER_IP6"], clientV6: vars["CLIENT_IP6"],
		},
		targetNS: vars["TARGET_NS"], underlay: vars["TARGET_DEV"], vni: vars["VNI"], port: vars["PORT"], tunnel: vars["TUNNEL"],
		v4:    net.JoinHostPort(vars["SERVER_IP"], mirrorPort),
		v6:    net.JoinHostPort(vars["SERVER_IP6"], mirrorPort),
		other: net.JoinHostPort(vars["SERVER_IP"], mirrorOtherPort),
	}
}

func (l *mirrorLab) vniInt(t *testing.T) int {
	n, err := strconv.Atoi(l.vni)
	if err != nil {
		t.Fatalf("mirror-setup.sh VNI=%q", l.vni)
	}
	return n
}

// linkExists says whether the target namespace has a device called name.
func (l *mirrorLab) linkExists(t *testing.T, name string) bool {
	t.Helper()
	out, err := exec.Command("ip", "-n", l.targetNS, "-o", "link", "show").CombinedOutput()
	if err != nil {
		t.Fatalf("ip -n %s link show: %v: %s", l.targetNS, err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		// "3: vx0: <...>" or "2: t0@if5: <...>"
		if f := strings.Fields(line); len(f) > 1 {
			dev, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
			if dev == name {
				return true
			}
		}
	}
	return false
}

// sniffer starts the binary in the target namespace.
func (l *mirrorLab) sniffer(t *testing.T, name, bin string, args ...string) *proc {
	t.Helper()
	// Bodies are compared byte for byte with what was sent: no masking.
	return start(t, name, snifferCmd(inNS(l.targetNS, bin, append(args, keepAll...)...)))
}

// tcpdump records the mirror traffic on the underlay at tcpdump's full snap length (the tc
// egress hook mirrors GSO super-packets: outer datagrams of up to ~65300 bytes), its messages in
// errPath, and waits until it listens.
func (l *mirrorLab) tcpdump(t *testing.T, pcap, errPath string) *proc {
	t.Helper()
	// -Z root: tcpdump must not give up root before writing into the test's private directory.
	// The filter sniffer itself uses: the tunnel's port and UDP fragments (a 1,500-byte
	// underlay fragments full-size mirrored frames).
	port, _ := strconv.Atoi(l.port)
	cmd := inNS(l.targetNS, "sh", "-c", `exec tcpdump -i "$0" -s 262144 -B 65536 -U -Z root -w "$1" "$2" 2>"$3"`, l.underlay, pcap, vxlan.FilterExpr(port), errPath)
	p := start(t, "tcpdump", cmd)
	waitTcpdump(t, p, errPath, l.underlay, 15*time.Second)
	return p
}

var tcpdumpDropRE = regexp.MustCompile(`(\d+) packets? dropped by kernel`)

// drive starts the server, lets the capturing processes settle, runs the client, and stops
// the capturers with SIGINT (each must exit 0) and then the server. whileUp, if set, runs after
// the client, while the capturers still run. It returns the calls the server served on
// mirrorPort, after checking that the client got every answer right and made the same calls;
// nil if a capturer failed (already reported).
func (l *mirrorLab) drive(t *testing.T, capturers []*proc, whileUp func()) callset.Set {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	servedLog := filepath.Join(t.TempDir(), "served")
	srvCmd := inNS(l.pair.serverNS, exe, "-test.run=^$")
	srvCmd.Env = append(os.Environ(), roleEnv+"=server", "SNIFFER_E2E_LISTEN="+l.v4+","+l.v6+","+l.other, "SNIFFER_E2E_LOG="+servedLog)
	ready, err := srvCmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	srv := start(t, "server", srvCmd)
	waitReady(t, srv, ready)

	for _, c := range capturers {
		if c.name != "tcpdump" { // l.tcpdump waited for it to listen
			waitCapturing(t, c)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cl := exec.CommandContext(ctx, "ip", "netns", "exec", l.pair.clientNS, exe, "-test.run=^$")
	cl.Env = append(os.Environ(), roleEnv+"=client", "SNIFFER_E2E_V4="+l.v4, "SNIFFER_E2E_V6="+l.v6, "SNIFFER_E2E_OTHER="+l.other)
	var clErr bytes.Buffer
	cl.Stderr = &clErr
	clOut, err := cl.Output()
	if err != nil {
		t.Fatalf("the HTTP client failed, so mirroring disturbed the traffic or the lab is broken: %v\n%s", err, clErr.String())
	}
	if whileUp != nil {
		whileUp()
	}

	time.Sleep(time.Second) // let the last mirrored segments reach the captures
	ok := true
	for _, c := range capturers {
		ok = c.stop(t, syscall.SIGINT, 20*time.Second) && ok
	}
	if !srv.stop(t, syscall.SIGTERM, 10*time.Second) {
		t.FailNow()
	}
	served := readServed(t, servedLog, mirrorPort)
	made := clientCalls(t, clOut, l.v4, l.v6)
	if _, extra, _ := callset.Diff(served, made); len(extra) > 0 || served.Len() != made.Len() {
		t.Fatalf("test harness: the server logged %d calls on port %s, the client made %d", served.Len(), mirrorPort, made.Len())
	}
	t.Logf("the client got all %d answers right; the server served %d calls on port %s", made.Len(), served.Len(), mirrorPort)
	if !ok {
		return nil
	}
	return served
}

var pcapStatsRE = regexp.MustCompile(`pcap: (\d+) received, (\d+) dropped by the kernel, (\d+) dropped by the interface`)

// check holds one sniffer's output against the calls served (checkLive: the same multiset of
// calls, each complete with its bodies byte for byte), and checks the VNI of each call: vni
// when decapsulated in user space, none (-1) when the kernel did it.
func (l *mirrorLab) check(t *testing.T, name string, stdout, stderr []byte, served callset.Set, vni int) {
	t.Helper()
	errText := string(stderr)
	t.Logf("%s summary (stderr):\n%s", name, tail(stderr, 2000))
	if m := pcapStatsRE.FindStringSubmatch(errText); m != nil && (m[2] != "0" || m[3] != "0") {
		t.Logf("%s: libpcap dropped %s packets in the kernel and %s at the interface; missing calls below follow from that", name, m[2], m[3])
	}
	checkLive(t, name, stdout, served, l.pair, false)

	lines := bytes.Split(bytes.TrimSpace(stdout), []byte("\n"))
	wrong := 0
	for _, line := range lines {
		var c struct {
			VNI *int `json:"vni"`
		}
		if json.Unmarshal(line, &c) != nil {
			continue // checkLive has reported it
		}
		if got := -1; (c.VNI == nil && vni >= 0) || (c.VNI != nil && *c.VNI != vni) {
			if c.VNI != nil {
				got = *c.VNI
			}
			if wrong++; wrong <= 5 {
				t.Errorf("%s: a call has vni %d, want %d (-1: no vni field): %s", name, got, vni, clip(line, 200))
			}
		}
	}
	if vni >= 0 {
		if !regexp.MustCompile(l.tunnel + `: (\d+) encapsulated, (\d+) decapsulated, 0 bad headers, 0 filtered by VNI, 1 VNIs seen`).MatchString(errText) {
			t.Errorf("%s: the summary should count decapsulated packets, no bad headers and exactly one VNI; stderr:\n%s", name, tail(stderr, 2000))
		}
	}
}

// replay runs sniffer -engine mirror -r on a recording of the underlay and checks its calls
// against those served; it returns sniffer's output and messages.
func (l *mirrorLab) replay(t *testing.T, bin, pcap string, served callset.Set) (stdout, stderr []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := snifferCmd(exec.CommandContext(ctx, bin, append([]string{"-engine", "mirror", "-ports", mirrorPort, "-r", pcap}, keepAll...)...))
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("sniffer -engine mirror -r %s: %v; stderr:\n%s", pcap, err, tail(errOut.Bytes(), 4000))
	}
	l.check(t, "sniffer -engine mirror -r", out.Bytes(), errOut.Bytes(), served, l.vniInt(t))
	return out.Bytes(), errOut.Bytes()
}

// sameCalls checks that two outputs hold the same calls, line for line once the capture
// timestamps (start, duration_ms) are set aside: tcpdump and the live sniffer each stamp a
// packet when their own socket gets it.
func sameCalls(t *testing.T, live, file []byte) {
	t.Helper()
	// An overloaded live sniffer may leave bodies out (each such call says "shed", and
	// the summary counts them): the calls are then compared without their bodies.
	shed := bytes.Contains(live, []byte(`"shed":`)) || bytes.Contains(file, []byte(`"shed":`))
	if shed {
		t.Logf("bodies were shed under load: calls compared without their bodies")
	}
	norm := func(out []byte) (lines []string, starts []string) {
		for _, line := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
			var m map[string]any
			if err := json.Unmarshal(line, &m); err != nil {
				t.Fatalf("output line is not JSON: %v: %s", err, clip(line, 200))
			}
			starts = append(starts, fmt.Sprint(m["start"]))
			delete(m, "start")
			delete(m, "duration_ms")
			if shed {
				delete(m, "shed")
				for _, k := range []string{"request", "response"} {
					if msg, ok := m[k].(map[string]any); ok {
						for f := range msg {
							if strings.HasPrefix(f, "body") || f == "truncated" || strings.HasPrefix(f, "decode") {
								delete(msg, f)
							}
						}
					}
				}
			}
			b, _ := json.Marshal(m) // map keys come out sorted
			lines = append(lines, string(b))
		}
		slices.Sort(lines)
		slices.Sort(starts)
		return lines, starts
	}
	a, as := norm(live)
	b, bs := norm(file)
	if !slices.Equal(a, b) {
		diff := 0
		for i := range min(len(a), len(b)) {
			if a[i] != b[i] {
				diff = i
				break
			}
		}
		t.Errorf("the capture file gave %d calls, the live sniffer %d, not the same ones; first difference:\nlive: %s\nfile: %s",
			len(b), len(a), clip([]byte(at(a, diff)), 400), clip([]byte(at(b, diff)), 400))
		return
	}
	t.Logf("the capture file gave the same %d calls as the live sniffer (start times equal too: %v)", len(a), slices.Equal(as, bs))
}

func at(s []string, i int) string {
	if i < len(s) {
		return s[i]
	}
	return "(none)"
}
