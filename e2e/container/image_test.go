//go:build linux

package container

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"sniffer/internal/testenv"
)

const image = "localhost/sniffer:e2e"

// Capability bits (linux/capability.h).
const (
	capNetAdmin = 1 << 12
	capNetRaw   = 1 << 13
)

// inNet runs podman with args from inside network namespace ns: nsenter switches only the
// network namespace (ip netns exec would also remount /sys, hiding the cgroup mounts runc
// needs), so `--network host` means that namespace.
func (p *podman) inNet(t *testing.T, ns string, limit time.Duration, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, "nsenter", append([]string{"--net=/run/netns/" + ns, "podman"}, args...)...)
	cmd.Env = p.env
	out, err := cmd.Output()
	if err != nil {
		var se string
		if ee, ok := err.(*exec.ExitError); ok {
			se = string(ee.Stderr)
		}
		t.Fatalf("podman %s (in %s): %v\n%s%s", strings.Join(args, " "), ns, err, out, tail(se, 4000))
	}
	return strings.TrimSpace(string(out))
}

// status reads a process's /proc status fields.
func status(t *testing.T, pid string) map[string]string {
	t.Helper()
	return statusFile(t, filepath.Join("/proc", pid, "status"))
}

func statusFile(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	m := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

func hexCaps(t *testing.T, s string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		t.Fatalf("capability mask %q: %v", s, err)
	}
	return v
}

// TestImage builds the image from the Dockerfile and runs it as users are told to: with
// --network host, configured by the environment. Real HTTP calls between two namespaces
// must reach the demo collector; the process must be uid 10001 with exactly CAP_NET_RAW
// (file capabilities, every thread); /healthz, /metrics and the image's HEALTHCHECK must
// work; a stop must end with status 0 and a summary that agrees with the metrics. Then the
// same image with NET_ADMIN added gets it, and without NET_RAW fails clearly.
func TestImage(t *testing.T) {
	p := needPodman(t)
	for _, tool := range []string{"curl", "getcap"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Missing(t, "%s is not installed (bash scripts/setup.sh installs it)", tool)
		}
	}
	took := p.build(t, "Dockerfile", "", image)
	t.Logf("image built from Dockerfile in %v; size %.1f MB (base %s %.1f MB)", took.Round(time.Second),
		float64(p.imageSize(t, image))/1e6, runtimeImage, float64(p.imageSize(t, runtimeImage))/1e6)

	h := newHosts(t)
	col := start(t, "collector", inNS(h.serverNS, goBuild(t, "./demo/collector"), "-addr", "127.0.0.1:7701"))
	app := start(t, "app", inNS(h.serverNS, goBuild(t, "./demo/app"), "-addr", h.serverIP+":8080"))
	if !until(10*time.Second, func() bool {
		c1, _, _ := getIn(h.serverNS, "http://127.0.0.1:7701/healthz")
		c2, _, _ := getIn(h.clientNS, "http://"+h.serverIP+":8080/healthz")
		return c1 == 200 && c2 == 200
	}) {
		t.Fatalf("demo collector or app did not come up:\n%s\n%s", col.output(), app.output())
	}

	name := fmt.Sprintf("sniffer-e2e-%d", os.Getpid())
	t.Cleanup(func() { p.try(time.Minute, "rm", "-f", "-t", "0", name) })
	p.inNet(t, h.serverNS, 2*time.Minute, "run", "-d", "--name", name, "--network", "host",
		"--cap-drop", "ALL", "--cap-add", "NET_RAW",
		"-e", "APP_PORTS=8080",
		"-e", "USAGE_LOGGERS_URL=http://127.0.0.1:7701/message",
		"-e", "SNIFFER_METRICS_ADDR=127.0.0.1:9777",
		image)
	logs := func() string { out, _ := p.try(time.Minute, "logs", name); return out }
	if !until(30*time.Second, func() bool { return strings.Contains(logs(), "capturing on") }) {
		t.Fatalf("sniffer did not start capturing within 30 s:\n%s", tail(logs(), 4000))
	}

	// Who the capture runs as: uid 10001, CAP_NET_RAW alone, in every thread.
	pid := p.stdout(t, time.Minute, "inspect", "--format", "{{.State.Pid}}", name)
	pid = strings.TrimSpace(pid)
	st := status(t, pid)
	if f := strings.Fields(st["Uid"]); len(f) != 4 || f[0] != "10001" || f[1] != "10001" {
		t.Errorf("sniffer runs as Uid %q, want 10001 (the image's non-root user)", st["Uid"])
	}
	if eff, prm := hexCaps(t, st["CapEff"]), hexCaps(t, st["CapPrm"]); eff != capNetRaw || prm != capNetRaw {
		t.Errorf("CapEff %#x CapPrm %#x, want CAP_NET_RAW (%#x) alone", eff, prm, capNetRaw)
	}
	tasks, _ := filepath.Glob(filepath.Join("/proc", pid, "task", "*", "status"))
	for _, task := range tasks {
		if eff := hexCaps(t, statusFile(t, task)["CapEff"]); eff != capNetRaw {
			t.Errorf("thread %s: CapEff %#x, want %#x (capabilities are per thread)", task, eff, capNetRaw)
		}
	}
	if out, err := exec.Command("getcap", filepath.Join("/proc", pid, "root", "usr/local/bin/sniffer")).CombinedOutput(); err != nil || !strings.Contains(string(out), "cap_net_admin,cap_net_raw=p") {
		t.Errorf("file capabilities of the binary: %q %v, want cap_net_admin,cap_net_raw=p", out, err)
	}

	// Health before traffic.
	healthy := until(10*time.Second, func() bool { c, _, _ := getIn(h.serverNS, "http://127.0.0.1:9777/healthz"); return c == 200 })
	if !healthy {
		t.Errorf("/healthz on SNIFFER_METRICS_ADDR does not answer 200: is observe.Serve called in main.go? logs:\n%s", tail(logs(), 2000))
	}

	// Real calls from the client namespace: 40, a quarter of them POSTs.
	const n = 40
	load := start(t, "load", inNS(h.clientNS, goBuild(t, "./demo/app"), "-load", "http://"+h.serverIP+":8080", "-every", "20ms", "-n", strconv.Itoa(n)))
	if err := load.wait(t, 2*time.Minute); err != nil {
		t.Fatalf("load: %v\n%s", err, load.output())
	}
	var msgs [][][2]string
	until(30*time.Second, func() bool {
		_, body, err := getIn(h.serverNS, "http://127.0.0.1:7701/messages")
		if err != nil {
			return false
		}
		msgs = msgs[:0]
		for _, line := range strings.Split(strings.TrimSpace(body), "\n") {
			var m [][2]string
			if json.Unmarshal([]byte(line), &m) == nil {
				msgs = append(msgs, m)
			}
		}
		return len(msgs) >= n
	})
	if len(msgs) != n {
		t.Errorf("the collector received %d calls, want %d; sniffer's logs:\n%s", len(msgs), n, tail(logs(), 4000))
	}
	methods := map[string]int{}
	for _, m := range msgs {
		d := map[string]string{}
		for _, kv := range m {
			d[kv[0]] = kv[1]
		}
		methods[d["request_method"]]++
		if !strings.HasPrefix(d["request_url"], "http://"+h.serverIP+":8080/api/items") || d["response_code"] == "" {
			t.Errorf("unexpected call at the collector: %v", m)
			break
		}
	}
	if len(msgs) == n && (methods["POST"] != n/4 || methods["GET"] != n-n/4) {
		t.Errorf("methods at the collector %v, want %d POST and %d GET", methods, n/4, n-n/4)
	}

	var mid map[string]float64
	if healthy {
		// The collector has the calls; the sink counts them once their post is answered.
		until(10*time.Second, func() bool {
			_, body, err := getIn(h.serverNS, "http://127.0.0.1:9777/metrics")
			mid = metricsText(body)
			return err == nil && mid["sniffer_sink_calls_delivered_total"] >= n
		})
		if mid["sniffer_calls_total"] != n || mid["sniffer_sink_calls_delivered_total"] != n {
			t.Errorf("/metrics: calls_total %v, sink_calls_delivered_total %v, want %d", mid["sniffer_calls_total"], mid["sniffer_sink_calls_delivered_total"], n)
		}
		if mid["sniffer_packets_total"] == 0 {
			t.Errorf("/metrics: no packets counted")
		}
		t.Logf("/metrics: %v packets, %v bytes, kernel drops %v, delivered %v calls", mid["sniffer_packets_total"], mid["sniffer_bytes_total"],
			mid[`sniffer_packets_dropped_total{cause="kernel"}`], mid["sniffer_sink_calls_delivered_total"])
		// From the namespace the container's "host" network is: podman exec joins no
		// network namespace for a host-network container.
		hc := exec.Command("nsenter", "--net=/run/netns/"+h.serverNS, "podman", "healthcheck", "run", name)
		hc.Env = p.env
		if out, err := hc.Output(); err != nil || strings.Contains(string(out), "unhealthy") {
			t.Errorf("the image's HEALTHCHECK: %v %q", err, out)
		}
	}

	p.must(t, time.Minute, "stop", "-t", "30", name)
	code := strings.TrimSpace(p.stdout(t, time.Minute, "inspect", "--format", "{{.State.ExitCode}}", name))
	all := logs()
	if code != "0" {
		t.Errorf("sniffer exited with %s after podman stop, want 0:\n%s", code, tail(all, 4000))
	}
	sm := regexp.MustCompile(`(\d+) packets \((\d+) bytes\), (\d+) TCP segments, (\d+) streams, (\d+) calls`).FindStringSubmatch(all)
	if sm == nil {
		t.Fatalf("no summary in the logs:\n%s", tail(all, 4000))
	}
	if sm[5] != strconv.Itoa(n) {
		t.Errorf("summary: %s calls, want %d", sm[5], n)
	}
	if mid != nil { // no traffic on the port after the scrape: the figures must agree
		for i, name := range []string{"sniffer_packets_total", "sniffer_bytes_total", "sniffer_tcp_segments_total", "sniffer_streams_total", "sniffer_calls_total"} {
			if want, _ := strconv.ParseFloat(sm[i+1], 64); mid[name] != want {
				t.Errorf("/metrics %s = %v, the summary says %v", name, mid[name], want)
			}
		}
	}
	t.Logf("%d calls through the container to the collector; summary: %s", len(msgs), sm[0])

	// NET_ADMIN (the VXLAN device mode) when the container is given it, and a clear failure
	// when it lacks NET_RAW.
	adm := name + "-admin"
	t.Cleanup(func() { p.try(time.Minute, "rm", "-f", "-t", "0", adm) })
	p.inNet(t, h.serverNS, 2*time.Minute, "run", "-d", "--name", adm, "--network", "host",
		"--cap-drop", "ALL", "--cap-add", "NET_RAW", "--cap-add", "NET_ADMIN", "-e", "APP_PORTS=8080", "-e", "SNIFFER_METRICS_ADDR=", image)
	if !until(30*time.Second, func() bool { out, _ := p.try(time.Minute, "logs", adm); return strings.Contains(out, "capturing on") }) {
		out, _ := p.try(time.Minute, "logs", adm)
		t.Fatalf("sniffer with NET_ADMIN did not start:\n%s", tail(out, 3000))
	}
	apid := strings.TrimSpace(p.stdout(t, time.Minute, "inspect", "--format", "{{.State.Pid}}", adm))
	if eff := hexCaps(t, status(t, apid)["CapEff"]); eff != capNetRaw|capNetAdmin {
		t.Errorf("with --cap-add NET_ADMIN: CapEff %#x, want %#x", eff, capNetRaw|capNetAdmin)
	}
	p.try(time.Minute, "rm", "-f", "-t", "0", adm)

	bare := name + "-bare"
	t.Cleanup(func() { p.try(time.Minute, "rm", "-f", "-t", "0", bare) })
	p.inNet(t, h.serverNS, 2*time.Minute, "run", "-d", "--name", bare, "--network", "host", "--cap-drop", "ALL", "-e", "APP_PORTS=8080", "-e", "SNIFFER_METRICS_ADDR=", image)
	var exit string
	until(30*time.Second, func() bool {
		exit = strings.TrimSpace(p.stdout(t, time.Minute, "inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", bare))
		return strings.HasPrefix(exit, "exited")
	})
	out, _ := p.try(time.Minute, "logs", bare)
	if exit != "exited 1" || !strings.Contains(strings.ToLower(out), "permission") {
		t.Errorf("without NET_RAW: state %q, logs %q; want exit 1 and a permission error", exit, tail(out, 1000))
	}
	t.Logf("without NET_RAW: %s", strings.TrimSpace(tail(out, 300)))
}
