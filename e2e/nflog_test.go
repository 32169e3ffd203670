//go:build linux

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestNFLOG reads packets an iptables NFLOG rule logs, live from libpcap's nflog:GROUP device
// and from tcpdump's recording of it. libpcap compiles no kernel filter for that link type
// ("NFLOG link-layer type filtering not implemented"), so sniffer runs the generated filter in
// user space and says so. In a namespace of its own, a rule logs every TCP packet on loopback;
// python3's http.server answers on two ports and curl makes calls to both: sniffer -ports
// 8089 must print exactly the calls on 8089, complete, and refuse the others' packets in user
// space (counted in the summary).
func TestNFLOG(t *testing.T) {
	needRoot(t, "ip", "iptables", "tcpdump", "python3", "curl")
	bin := sniffer(t, true)
	ns := fmt.Sprintf("snfnflog%d", os.Getpid()%1000000)
	// One listener per group: sniffer reads group, tcpdump group+1 (NFLOG does not end the
	// rule chain, so both rules log every packet).
	g := 100 + os.Getpid()%60000
	group, tdGroup := fmt.Sprint(g), fmt.Sprint(g+1)
	ip(t, "netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	ip(t, "-n", ns, "link", "set", "lo", "up")
	for _, gr := range []string{group, tdGroup} {
		if out, err := inNS(ns, "iptables", "-A", "OUTPUT", "-p", "tcp", "-j", "NFLOG", "--nflog-group", gr).CombinedOutput(); err != nil {
			t.Fatalf("iptables NFLOG rule: %v: %s", err, out)
		}
	}

	dir := t.TempDir()
	var want []string
	for i := range 15 {
		name := fmt.Sprintf("f%d.txt", i)
		if err := os.WriteFile(filepath.Join(dir, name), bytes.Repeat([]byte(name), 50*(i+1)), 0o644); err != nil {
			t.Fatal(err)
		}
		want = append(want, "GET /"+name+" 200", fmt.Sprintf("GET /missing%d 404", i))
	}
	slices.Sort(want)

	pcap, tdErr := filepath.Join(dir, "nflog.pcap"), filepath.Join(dir, "tcpdump.err")
	td := start(t, "tcpdump", inNS(ns, "sh", "-c", `exec tcpdump -i "nflog:$0" -s 262144 -U -Z root -w "$1" 2>"$2"`, tdGroup, pcap, tdErr))
	s := start(t, "sniffer -i nflog:"+group, snifferCmd(inNS(ns, bin, append([]string{"-i", "nflog:" + group, "-ports", "8089"}, keepAll...)...)))
	for _, port := range []string{"8089", "8090"} {
		start(t, "http.server "+port, inNS(ns, "python3", "-m", "http.server", port, "--bind", "127.0.0.1", "--directory", dir))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	curl := func(url string) error {
		return exec.CommandContext(ctx, "ip", "netns", "exec", ns, "curl", "-s", "-o", "/dev/null", "--retry", "30", "--retry-connrefused", "--retry-delay", "1", url).Run()
	}
	waitCapturing(t, s)
	waitTcpdump(t, td, tdErr, "nflog:"+tdGroup, 60*time.Second)
	for i := range 15 {
		for _, u := range []string{fmt.Sprintf("http://127.0.0.1:8089/f%d.txt", i), fmt.Sprintf("http://127.0.0.1:8089/missing%d", i), fmt.Sprintf("http://127.0.0.1:8090/f%d.txt", i)} {
			if err := curl(u); err != nil {
				t.Fatalf("curl %s: %v", u, err)
			}
		}
	}
	time.Sleep(time.Second)
	if !s.stop(t, syscall.SIGINT, 20*time.Second) || !td.stop(t, syscall.SIGINT, 20*time.Second) {
		t.FailNow()
	}
	check := func(name string, stdout, stderr []byte) {
		t.Helper()
		var got []string
		for _, line := range bytes.Split(bytes.TrimSpace(stdout), []byte("\n")) {
			var c struct {
				Request struct {
					Method, Target string
				}
				Response struct{ Status int }
				Server   string
			}
			if err := json.Unmarshal(line, &c); err != nil {
				t.Fatalf("%s: output line is not JSON: %v: %s", name, err, clip(line, 200))
			}
			if !strings.HasSuffix(c.Server, ":8089") {
				t.Errorf("%s: a call to %s, which the ports leave out", name, c.Server)
			}
			got = append(got, fmt.Sprintf("%s %s %d", c.Request.Method, c.Request.Target, c.Response.Status))
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s: %d calls, want the %d made on 8089:\n got %q\nwant %q\nstderr:\n%s", name, len(got), len(want), got, want, tail(stderr, 2000))
		}
		if !strings.Contains(string(stderr), "libpcap cannot filter it in the kernel") {
			t.Errorf("%s: no word on stderr that the filter runs in user space:\n%s", name, tail(stderr, 2000))
		}
		m := regexp.MustCompile(`BPF filter run in user space \(libpcap cannot filter this link type in the kernel\): (\d+) packets refused`).FindSubmatch(stderr)
		if m == nil || string(m[1]) == "0" {
			t.Errorf("%s: the summary does not count the packets to 8090 the user-space filter refused:\n%s", name, tail(stderr, 2000))
		} else {
			t.Logf("%s: %d calls; the user-space filter refused %s packets", name, len(got), m[1])
		}
	}
	check(s.name, s.stdout.Bytes(), s.stderr.Bytes())

	cmd := snifferCmd(exec.CommandContext(ctx, bin, append([]string{"-ports", "8089", "-r", pcap}, keepAll...)...))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("sniffer -r %s: %v; stderr:\n%s", pcap, err, tail(stderr.Bytes(), 4000))
	}
	check("sniffer -r nflog.pcap", stdout.Bytes(), stderr.Bytes())
}
