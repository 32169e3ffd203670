package main

// Compatibility with Resurface's published deployments (issue 12): each test runs sniffer
// on the settings a Resurface document sets, copied verbatim into testdata/compat (see its
// README for the repository, path and commit of each), and checks the [name, value] pairs
// a Resurface collector receives.

import (
	"bufio"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"sniffer/output"
	"sniffer/output/resurfacetest"
)

// readEnvFile reads a docker --env-file: NAME=VALUE a line, the value taken literally
// (no quotes removed, no escapes expanded), # lines and blank lines skipped.
func readEnvFile(t *testing.T, name string) map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "compat", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: not NAME=VALUE: %q", name, line)
		}
		env[k] = v
	}
	return env
}

// compatFile returns a testdata/compat document's text.
func compatFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "compat", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// startCollector starts the loopback Resurface collector of output/resurfacetest, which
// checks every message's format as it arrives.
func startCollector(t *testing.T) *resurfacetest.Collector {
	t.Helper()
	col, err := resurfacetest.Start("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(col.Stop)
	col.WantEncoding("") // sniffer's default to a loopback collector; SNIFFER_COMPRESS=on tests want "deflated"
	return col
}

// details returns the values of name in a message, in order.
func details(m [][2]string, name string) []string {
	var out []string
	for _, kv := range m {
		if kv[0] == name {
			out = append(out, kv[1])
		}
	}
	return out
}

// one returns the single value of name in a message, failing when there is not exactly one.
func one(t *testing.T, m [][2]string, name string) string {
	t.Helper()
	v := details(m, name)
	if len(v) != 1 {
		t.Fatalf("message has %d %s details (%q), want 1: %v", len(v), name, v, m)
	}
	return v[0]
}

// receive runs sniffer with env and args and returns what the collector got, after
// checking that sniffer succeeded and the collector saw no format error.
func receive(t *testing.T, col *resurfacetest.Collector, env map[string]string, args ...string) [][][2]string {
	t.Helper()
	code, out, errs := runSniffer(t, env, args...)
	if code != 0 {
		t.Fatalf("exit %d, stdout %q, stderr %s", code, out, errs)
	}
	if e := col.Errors(); len(e) > 0 {
		t.Fatalf("collector saw format errors: %v", e)
	}
	return col.Messages()
}

const cookieReq = "GET /items?id=7 HTTP/1.1\r\nHost: api.test\r\nCookie: session=abc123; Theme=dark\r\n\r\n"
const okResp = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"

// Point 1: network-sniffer's .env, as docker --env-file passes it (the \n literal), with
// only the collector URL pointed at the test's collector: the rules are include debug plus
// allow_http_url, so the call arrives whole, cookie and session fields included.
func TestNetworkSnifferEnvFile(t *testing.T) {
	env := readEnvFile(t, "network-sniffer.env")
	if env["USAGE_LOGGERS_RULES"] != `include debug\nallow_http_url` {
		t.Fatalf("the document's rules line is %q", env["USAGE_LOGGERS_RULES"])
	}
	col := startCollector(t)
	env["USAGE_LOGGERS_URL"] = col.URL()
	delete(env, "NET_DEVICE") // a file is read instead of docker0
	pcap := writeCapture(t, cookieReq, okResp)
	msgs := receive(t, col, env, "-q", "-r", pcap)
	if len(msgs) != 1 {
		t.Fatalf("collector got %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if got := one(t, m, "request_header:cookie"); got != "session=abc123; Theme=dark" {
		t.Errorf("include debug keeps the cookie, got %q", got)
	}
	if one(t, m, "request_url") != "http://api.test/items" || one(t, m, "request_param:id") != "7" {
		t.Errorf("message: %v", m)
	}
}

// Point 1, the parsing itself: the .env's one-line rules parse as two rules; a \n inside
// a regex of a one-line text stays a regex escape.
func TestEscapedNewlineRules(t *testing.T) {
	env := readEnvFile(t, "network-sniffer.env")
	cfg := &Config{Rules: env["USAGE_LOGGERS_RULES"], URL: "http://collector.example.com:7701/message"}
	r, err := newRules(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !r.AllowHTTPURL() || r.Len() != 3 { // include debug = allow_http_url + copy_session_field
		t.Errorf("rules read as %d rules, allow_http_url %v", r.Len(), r.AllowHTTPURL())
	}
	if _, err := output.ValidateURL(cfg.URL, r.AllowHTTPURL()); err != nil {
		t.Errorf("network-sniffer's rules with a plain http:// URL elsewhere: %v", err)
	}
}

// Point 2: the Resurface Helm chart's DaemonSet settings: the worker service's plain
// http:// URL and the chart's default rules. sniffer refuses, naming the line to add and
// the complete value; with that value the chart's rules work (skip_compression: the
// collector receives uncompressed bundles; include default: masked).
func TestHelmChartSettings(t *testing.T) {
	tmpl := compatFile(t, "helm-snifferdaemon.yaml")
	m := regexp.MustCompile(`printf "([^"]+)" \.Release\.Namespace`).FindStringSubmatch(tmpl)
	if m == nil {
		t.Fatal("the chart's URL line is not in the template excerpt")
	}
	url := strings.Replace(strings.Replace(m[1], "%s", "resurface", 1), "%v", "7701", 1) // default 7701, namespace resurface
	values := compatFile(t, "helm-values.yaml")
	i := strings.Index(values, "rules: |\n")
	if i < 0 {
		t.Fatal("no rules block in the chart's values")
	}
	var lines []string
	for _, l := range strings.Split(values[i+len("rules: |\n"):], "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	rules := strings.Join(lines, "\n") + "\n" // as the `value: |` block renders it
	if rules != "include default\nskip_compression\n" || url != "http://worker.resurface:7701/message" {
		t.Fatalf("chart settings read as %q, %q", url, rules)
	}
	pcap := writeCapture(t, secretReq, secretResp)
	code, out, errs := runSniffer(t, map[string]string{"USAGE_LOGGERS_URL": url, "USAGE_LOGGERS_RULES": rules}, "-q", "-r", pcap)
	fix := `USAGE_LOGGERS_RULES="include default\nskip_compression\nallow_http_url"`
	if code != 2 || out != "" || !strings.Contains(errs, "add the line allow_http_url to USAGE_LOGGERS_RULES") || !strings.Contains(errs, fix) {
		t.Fatalf("exit %d, stderr %q; want exit 2 naming the line allow_http_url and %s", code, errs, fix)
	}
	// The suggested value, as written in the message (with its \n), now works.
	col := startCollector(t)
	col.WantEncoding("") // skip_compression
	suggested, err := strconv.Unquote(strings.TrimPrefix(fix, "USAGE_LOGGERS_RULES="))
	if err != nil {
		t.Fatal(err)
	}
	msgs := receive(t, col, map[string]string{"USAGE_LOGGERS_URL": col.URL(), "USAGE_LOGGERS_RULES": suggested, "USAGE_LOGGERS_DISABLE": ""}, "-q", "-r", pcap)
	if len(msgs) != 1 {
		t.Fatalf("collector got %d messages, want 1", len(msgs))
	}
	for _, kv := range msgs[0] {
		for _, secret := range []string{"s3cret-token", "hunter2", "alice@example.com", "4111111111111111"} {
			if strings.Contains(kv[1], secret) {
				t.Errorf("include default lets %s through in %s", secret, kv[0])
			}
		}
	}
}

// Point 3: network-sniffer's README names the mirror engine vxlan. Its three .env lines
// read a VXLAN-mirrored capture; the calls arrive from the inner packets of VNI 123 only.
func TestReadmeVXLANEngine(t *testing.T) {
	env := readEnvFile(t, "network-sniffer-readme-vpc.env")
	if env["SNIFFER_ENGINE"] != "vxlan" {
		t.Fatalf("the README's engine is %q", env["SNIFFER_ENGINE"])
	}
	plain := writeConvs(t, []testConv{{netip.MustParseAddrPort("10.0.0.2:40000"), netip.MustParseAddrPort("10.0.0.1:80"), cookieReq, okResp}})
	mirrored := encapVXLAN(t, plain, map[uint32]string{123: "/items", 124: "/other"})
	col := startCollector(t)
	env["USAGE_LOGGERS_URL"] = col.URL()
	msgs := receive(t, col, env, "-q", "-r", mirrored)
	if len(msgs) != 1 {
		t.Fatalf("collector got %d messages, want the one of VNI 123", len(msgs))
	}
	if got := one(t, msgs[0], "request_url"); got != "http://api.test/items" {
		t.Errorf("request_url %q, want VNI 123's call", got)
	}
}

// Point 3: the Helm chart's DaemonSet with pod discovery (SNIFFER_ENGINE=k8s, K8S_INPUT)
// is refused with what to do instead.
func TestHelmK8sEngineRefused(t *testing.T) {
	tmpl := compatFile(t, "helm-snifferdaemon.yaml")
	m := regexp.MustCompile(`name: SNIFFER_ENGINE\n\s+value: "([^"]+)"`).FindStringSubmatch(tmpl)
	if m == nil || m[1] != "k8s" {
		t.Fatalf("no SNIFFER_ENGINE k8s in the chart excerpt: %v", m)
	}
	pcap := writeCapture(t, cookieReq, okResp)
	code, out, errs := runSniffer(t, map[string]string{"SNIFFER_ENGINE": m[1], "K8S_INPUT": "k8s://service:ns1/service-a"}, "-q", "-r", pcap)
	if code != 2 || out != "" {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
	for _, want := range []string{"SNIFFER_ENGINE=k8s", "K8S_INPUT", "hostNetwork", "APP_PORTS", "deploy/daemonset.yaml"} {
		if !strings.Contains(errs, want) {
			t.Errorf("message does not say %q: %s", want, errs)
		}
	}
}

// Point 7: with SNIFFER_NOFILTER only the kernel filter goes; APP_PORTS still apply, so
// neither a call on another port nor sniffer's own post to a collector on this host
// (port 7701, as network-sniffer's .env has it) comes out.
func TestNoFilterKeepsPorts(t *testing.T) {
	client := netip.MustParseAddr("10.0.0.2")
	server := netip.MustParseAddr("10.0.0.1")
	pcap := writeConvs(t, []testConv{
		{netip.AddrPortFrom(client, 40000), netip.AddrPortFrom(server, 80), cookieReq, okResp},
		{netip.AddrPortFrom(client, 40001), netip.AddrPortFrom(server, 8080), "GET /other HTTP/1.1\r\nHost: api.test\r\n\r\n", okResp},
		{netip.AddrPortFrom(client, 40002), netip.AddrPortFrom(server, 7701), "POST /message HTTP/1.1\r\nHost: collector\r\nContent-Length: 2\r\n\r\n[]", "HTTP/1.1 204 No Content\r\n\r\n"},
	})
	col := startCollector(t)
	msgs := receive(t, col, map[string]string{"USAGE_LOGGERS_URL": col.URL(), "SNIFFER_NOFILTER": "true", "APP_PORTS": "80"}, "-q", "-r", pcap)
	if len(msgs) != 1 || one(t, msgs[0], "request_url") != "http://api.test/items" {
		t.Fatalf("want only the port-80 call, got %v", msgs)
	}
}

// Point 8: booleans take the usual spellings; anything else is refused naming the variable.
func TestBooleanSpellings(t *testing.T) {
	pcap := writeCapture(t, cookieReq, okResp)
	for _, v := range []string{"yes", "on", "1", "true", "TRUE", "Yes"} {
		code, out, errs := runSniffer(t, map[string]string{"SNIFFER_QUIET": v, "USAGE_LOGGERS_DISABLE": "no"}, "-r", pcap)
		if code != 0 || errs != "" || strings.Count(out, "\n") != 1 {
			t.Errorf("SNIFFER_QUIET=%s: exit %d, stderr %q (want quiet)", v, code, errs)
		}
	}
	for _, v := range []string{"no", "off", "0", "false"} {
		code, _, errs := runSniffer(t, map[string]string{"SNIFFER_QUIET": v}, "-r", pcap)
		if code != 0 || !strings.Contains(errs, "sniffer") {
			t.Errorf("SNIFFER_QUIET=%s: exit %d, stderr %q (want the summary)", v, code, errs)
		}
	}
	os.Unsetenv("SNIFFER_QUIET")
	code, _, errs := runSniffer(t, nil, "-q=yes", "-promisc=off", "-r", pcap)
	if code != 0 || errs != "" {
		t.Errorf("-q=yes -promisc=off: exit %d, stderr %q", code, errs)
	}
	code, _, errs = runSniffer(t, map[string]string{"USAGE_LOGGERS_DISABLE": "maybe"}, "-r", pcap)
	if code != 2 || !strings.Contains(errs, "USAGE_LOGGERS_DISABLE") || !strings.Contains(errs, "yes/no") {
		t.Errorf("USAGE_LOGGERS_DISABLE=maybe: exit %d, stderr %q", code, errs)
	}
}

// encapVXLAN rewrites a capture of Ethernet frames into VXLAN-mirrored traffic (outer
// Ethernet/IPv4/UDP 4789/VXLAN), once per VNI, with the request path of each copy
// replaced by the VNI's path (same length as /items), so that the call shows its VNI.
func encapVXLAN(t *testing.T, in string, paths map[uint32]string) string {
	t.Helper()
	f, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "mirrored.pcap")
	g, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	w := pcapgo.NewWriter(g)
	if err := w.WriteFileHeader(65536, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		for vni, path := range paths {
			inner := []byte(strings.Replace(string(data), "/items", path, 1))
			eth := &layers.Ethernet{SrcMAC: []byte{2, 0, 0, 0, 1, 2}, DstMAC: []byte{2, 0, 0, 0, 1, 1}, EthernetType: layers.EthernetTypeIPv4}
			ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: []byte{172, 16, 0, 2}, DstIP: []byte{172, 16, 0, 1}}
			udp := &layers.UDP{SrcPort: 50000, DstPort: 4789}
			_ = udp.SetNetworkLayerForChecksum(ip)
			vx := &layers.VXLAN{ValidIDFlag: true, VNI: vni}
			buf := gopacket.NewSerializeBuffer()
			if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, udp, vx, gopacket.Payload(inner)); err != nil {
				t.Fatal(err)
			}
			ci.Timestamp = ci.Timestamp.Add(time.Microsecond)
			ci.CaptureLength, ci.Length = len(buf.Bytes()), len(buf.Bytes())
			if err := w.WritePacket(ci, buf.Bytes()); err != nil {
				t.Fatal(err)
			}
		}
	}
	return out
}

// Point 4: a request that carries the client's address in X-Real-IP (or any header the
// database reads request_address from) gets no x-forwarded-for of the proxy's address;
// one that carries none gets the address seen on the wire.
func TestClientAddressMessage(t *testing.T) {
	client := netip.MustParseAddrPort("10.0.0.2:40000")
	server := netip.MustParseAddrPort("10.0.0.1:80")
	pcap := writeConvs(t, []testConv{
		{client, server, "GET /a HTTP/1.1\r\nHost: api.test\r\nX-Real-IP: 198.51.100.7\r\n\r\n", okResp},
		{netip.AddrPortFrom(client.Addr(), 40001), server, "GET /b HTTP/1.1\r\nHost: api.test\r\nCF-Connecting-IP: 198.51.100.8\r\n\r\n", okResp},
		{netip.AddrPortFrom(client.Addr(), 40002), server, "GET /c HTTP/1.1\r\nHost: api.test\r\n\r\n", okResp},
	})
	col := startCollector(t)
	col.WantEncoding("")
	msgs := receive(t, col, map[string]string{"USAGE_LOGGERS_URL": col.URL(), "USAGE_LOGGERS_RULES": "include debug\nskip_compression"}, "-q", "-r", pcap)
	if len(msgs) != 3 {
		t.Fatalf("collector got %d messages, want 3", len(msgs))
	}
	want := map[string][2]string{ // path: header the database reads last, its value
		"http://api.test/a": {"request_header:x-real-ip", "198.51.100.7"},
		"http://api.test/b": {"request_header:cf-connecting-ip", "198.51.100.8"},
		"http://api.test/c": {"request_header:x-forwarded-for", "10.0.0.2"},
	}
	for _, m := range msgs {
		w := want[one(t, m, "request_url")]
		if got := details(m, w[0]); len(got) != 1 || got[0] != w[1] {
			t.Errorf("%s: %s = %q, want %q", one(t, m, "request_url"), w[0], got, w[1])
		}
		if w[0] != "request_header:x-forwarded-for" && len(details(m, "request_header:x-forwarded-for")) != 0 {
			t.Errorf("%s: the proxy's address was added as x-forwarded-for: %v", one(t, m, "request_url"), m)
		}
	}
}

// Point 5: "now" is the time of the response (writeConvs sends the response 4 ms after the
// SYN, the request 3 ms after it) and "interval" a decimal the database keeps.
func TestNowIsResponseTime(t *testing.T) {
	pcap := writeCapture(t, cookieReq, okResp)
	col := startCollector(t)
	msgs := receive(t, col, map[string]string{"USAGE_LOGGERS_URL": col.URL()}, "-q", "-r", pcap)
	if len(msgs) != 1 {
		t.Fatalf("collector got %d messages, want 1", len(msgs))
	}
	synAt := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC).Add(time.Millisecond)
	if got, want := one(t, msgs[0], "now"), strconv.FormatInt(synAt.Add(3*time.Millisecond).UnixMilli(), 10); got != want {
		t.Errorf("now %s, want the response's time %s", got, want)
	}
	iv := one(t, msgs[0], "interval")
	if iv != "1.000" || resurfacetest.DatabaseInterval(iv) != 1 {
		t.Errorf("interval %q (database reads %d), want 1.000", iv, resurfacetest.DatabaseInterval(iv))
	}
}

// Point 6: cookies become session_field:NAME details when copy_session_field asks for
// them (include debug copies all), with lower-case names; never otherwise.
func TestCookieSessionFields(t *testing.T) {
	pcap := writeCapture(t, cookieReq, okResp)
	for _, tc := range []struct {
		rules string
		want  map[string]string
	}{
		{`include debug`, map[string]string{"session_field:session": "abc123", "session_field:theme": "dark"}},
		{"include standard\ncopy_session_field /sess.*/", map[string]string{"session_field:session": "abc123"}},
		{"", nil}, // the default rules copy none
	} {
		col := startCollector(t)
		msgs := receive(t, col, map[string]string{"USAGE_LOGGERS_URL": col.URL(), "USAGE_LOGGERS_RULES": tc.rules}, "-q", "-r", pcap)
		if len(msgs) != 1 {
			t.Fatalf("%q: collector got %d messages, want 1", tc.rules, len(msgs))
		}
		got := map[string]string{}
		for _, kv := range msgs[0] {
			if strings.HasPrefix(kv[0], "session_field:") {
				got[kv[0]] = kv[1]
			}
		}
		if len(got) != len(tc.want) {
			t.Errorf("%q: session fields %v, want %v", tc.rules, got, tc.want)
		}
		for k, v := range tc.want {
			if got[k] != v {
				t.Errorf("%q: %s = %q, want %q", tc.rules, k, got[k], v)
			}
		}
	}
}

// Point 9: rules written for the Java logger mean what Java makes of them: \s matches the
// vertical tab, \0141 is 'a', (?i) alone does not fold the Kelvin sign; stop_unless needs
// each rule met (see the README for where this differs from Java's count).
func TestJavaRegexMessage(t *testing.T) {
	body := "unit=\u212Aelvin tab=a\x0Bb code=abc"
	req := "POST /j HTTP/1.1\r\nHost: api.test\r\nContent-Type: text/plain\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	pcap := writeCapture(t, req, okResp)
	col := startCollector(t)
	rules := "include debug\n" +
		`/request_body/ replace /(?i)kelvin/, /KELVIN/` + "\n" + // Java: the Kelvin sign is not k
		`/request_body/ replace /a\sb/, /a_b/` + "\n" + // Java: \s takes \x0B
		`/request_body/ replace /\0141\0142\0143/, /ABC/` + "\n" + // Java: octal 141 142 143
		`/request_method/ stop_unless /POST/`
	msgs := receive(t, col, map[string]string{"USAGE_LOGGERS_URL": col.URL(), "USAGE_LOGGERS_RULES": rules}, "-q", "-r", pcap)
	if len(msgs) != 1 {
		t.Fatalf("collector got %d messages, want 1", len(msgs))
	}
	if got, want := one(t, msgs[0], "request_body"), "unit=\u212Aelvin tab=a_b code=ABC"; got != want {
		t.Errorf("request_body %q, want %q", got, want)
	}
}

// Point 4 with SNIFFER_REALIP_HEADER: the header is added only to requests that carry no
// client address, so it never puts the proxy's address last.
func TestRealIPHeaderOnlyWithoutClientAddress(t *testing.T) {
	client := netip.MustParseAddrPort("10.0.0.2:40000")
	server := netip.MustParseAddrPort("10.0.0.1:80")
	pcap := writeConvs(t, []testConv{
		{client, server, "GET /a HTTP/1.1\r\nHost: api.test\r\nX-Forwarded-For: 198.51.100.9\r\n\r\n", okResp},
		{netip.AddrPortFrom(client.Addr(), 40001), server, "GET /b HTTP/1.1\r\nHost: api.test\r\n\r\n", okResp},
	})
	col := startCollector(t)
	msgs := receive(t, col, map[string]string{"USAGE_LOGGERS_URL": col.URL(), "USAGE_LOGGERS_RULES": "include debug", "SNIFFER_REALIP_HEADER": "X-Real-IP"}, "-q", "-r", pcap)
	if len(msgs) != 2 {
		t.Fatalf("collector got %d messages, want 2", len(msgs))
	}
	for _, m := range msgs {
		xri, xff := details(m, "request_header:x-real-ip"), details(m, "request_header:x-forwarded-for")
		switch one(t, m, "request_url") {
		case "http://api.test/a":
			if len(xri) != 0 || len(xff) != 1 || xff[0] != "198.51.100.9" {
				t.Errorf("/a: x-real-ip %q, x-forwarded-for %q; want only the request's own", xri, xff)
			}
		case "http://api.test/b":
			if len(xri) != 1 || xri[0] != "10.0.0.2" || len(xff) != 0 {
				t.Errorf("/b: x-real-ip %q, x-forwarded-for %q; want x-real-ip 10.0.0.2 only", xri, xff)
			}
		}
	}
}
