//go:build linux

package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"sniffer/scripts/callset"
)

// anyPorts are the HTTP ports of the any-port test: none of them is sniffer's live default.
var anyPorts = []string{"8080", "8000", "3000"}

// TestAnyPortFile records, with tcpdump on the server's veth, a real net/http server answering
// a real client on ports 8080, 8000 and 3000, and HTTPS (TLS, not HTTP on the wire) on 9443.
// `sniffer -r` with no ports set must print exactly the calls the server logged on the three
// HTTP ports, complete and byte for byte, and count every TLS connection as not HTTP; with
// `-ports 80` (the live default) it must print none.
func TestAnyPortFile(t *testing.T) {
	needRoot(t, "ip", "tcpdump")
	bin := sniffer(t, false)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := newNetPair(t)
	var addrs []string
	for _, port := range anyPorts {
		n, _ := strconv.Atoi(port)
		p.appPorts = append(p.appPorts, uint16(n))
		addrs = append(addrs, net.JoinHostPort(p.serverV4, port))
	}
	tlsAddr := net.JoinHostPort(p.serverV4, "9443")
	dir := t.TempDir()
	servedLog := filepath.Join(dir, "served")
	srvCmd := inNS(p.serverNS, exe, "-test.run=^$")
	srvCmd.Env = append(os.Environ(), roleEnv+"=server", "SNIFFER_E2E_LISTEN="+strings.Join(addrs, ","),
		"SNIFFER_E2E_TLS_LISTEN="+tlsAddr, "SNIFFER_E2E_LOG="+servedLog)
	ready, err := srvCmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	srv := start(t, "server", srvCmd)
	waitReady(t, srv, ready)

	pcap, dumpErr := filepath.Join(dir, "anyport.pcap"), filepath.Join(dir, "tcpdump.err")
	dump := start(t, "tcpdump", inNS(p.serverNS, "sh", "-c", `exec tcpdump -i "$0" -s 262144 -B 65536 --immediate-mode -U -Z root -w "$1" tcp 2>"$2"`, p.serverDev, pcap, dumpErr))
	waitTcpdump(t, dump, dumpErr, p.serverDev, 15*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cl := exec.CommandContext(ctx, "ip", "netns", "exec", p.clientNS, exe, "-test.run=^$")
	cl.Env = append(os.Environ(), roleEnv+"=anyport-client", "SNIFFER_E2E_ADDRS="+strings.Join(addrs, ","), "SNIFFER_E2E_TLS="+tlsAddr)
	var clErr bytes.Buffer
	cl.Stderr = &clErr
	clOut, err := cl.Output()
	if err != nil {
		t.Fatalf("the HTTP client failed, so the test proves nothing about sniffer: %v\n%s", err, clErr.String())
	}
	time.Sleep(1500 * time.Millisecond) // the last segments reach tcpdump
	if !dump.stop(t, syscall.SIGINT, 10*time.Second) || !srv.stop(t, syscall.SIGTERM, 10*time.Second) {
		t.FailNow()
	}
	if b, _ := os.ReadFile(dumpErr); !regexp.MustCompile(`(?m)^0 packets dropped by kernel`).Match(b) {
		t.Fatalf("tcpdump lost packets, so the capture cannot be held against the server's log:\n%s", b)
	}
	served := callset.Set{}
	for _, port := range anyPorts {
		for k, n := range readServed(t, servedLog, port) {
			served[k] += n
		}
	}
	tlsCalls := readServed(t, servedLog, "9443").Len()
	made := clientCalls(t, clOut, addrs...)
	if _, extra, _ := callset.Diff(served, made); len(extra) > 0 || served.Len() != made.Len() || tlsCalls == 0 {
		t.Fatalf("test harness: the server logged %d calls on %v and %d over TLS, the client made %d", served.Len(), anyPorts, tlsCalls, made.Len())
	}
	t.Logf("the server answered %d calls on ports %v and %d over TLS on 9443", served.Len(), anyPorts, tlsCalls)

	// No ports set: every port, HTTP told by its first bytes.
	run := func(args ...string) (stdout, stderr []byte) {
		var out, errb bytes.Buffer
		c := snifferCmd(exec.CommandContext(ctx, bin, append([]string{"-r", pcap}, args...)...))
		c.Stdout, c.Stderr = &out, &errb
		if err := c.Run(); err != nil {
			t.Fatalf("sniffer %v: %v\n%s", args, err, errb.String())
		}
		return out.Bytes(), errb.Bytes()
	}
	out, stderr := run(keepAll...)
	t.Logf("sniffer -r (no ports):\n%s", stderr)
	checkLive(t, "sniffer -r (no ports)", out, served, p, false)
	m := regexp.MustCompile(`connections not HTTP \(ignored\): (\d+)`).FindSubmatch(stderr)
	if m == nil || string(m[1]) != strconv.Itoa(tlsConns) {
		t.Errorf("the summary should count the %d TLS connections as not HTTP:\n%s", tlsConns, stderr)
	}
	if !bytes.Contains(stderr, []byte("HTTP/1.x told by its first bytes on every port")) {
		t.Errorf("sniffer should say that it looks for HTTP on every port:\n%s", stderr)
	}

	// -ports 80, as a live capture does by default: none of these calls.
	out, stderr = run(append([]string{"-ports", "80"}, keepAll...)...)
	if len(out) != 0 {
		t.Errorf("-ports 80 printed calls of other ports:\n%s", clip(out, 2000))
	}
	if bytes.Contains(stderr, []byte("not HTTP")) {
		t.Errorf("-ports 80 should not look at other ports at all:\n%s", stderr)
	}
}

// tlsConns is the number of TLS connections anyPortClientMain opens.
const tlsConns = 2

// anyPortClientMain runs in the client namespace of TestAnyPortFile: one keep-alive round of
// every endpoint on each address of SNIFFER_E2E_ADDRS, then tlsConns HTTPS connections to
// SNIFFER_E2E_TLS with a few calls each. It prints the calls as clientMain does.
func anyPortClientMain() int {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := func() error {
		for i, addr := range strings.Split(os.Getenv("SNIFFER_E2E_ADDRS"), ",") {
			if err := goClient(ctx, addr, 1, round(10+i)); err != nil {
				return err
			}
		}
		addr := os.Getenv("SNIFFER_E2E_TLS")
		for i := 0; i < tlsConns; i++ {
			tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, MaxConnsPerHost: 1}
			c := &http.Client{Transport: tr}
			for _, s := range []step{{"GET", "/hello"}, {"POST", fmt.Sprintf("/echo?n=%d", i)}, {"GET", "/json?page=3"}} {
				e := expect(s.method, s.target)
				req, err := http.NewRequestWithContext(ctx, s.method, "https://"+addr+s.target, bytes.NewReader(e.reqBody))
				if err != nil {
					return err
				}
				resp, err := c.Do(req)
				if err != nil {
					return err
				}
				raw, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil {
					return err
				}
				if err := check(s.method, s.target, resp.StatusCode, raw); err != nil {
					return err
				}
				printCall(addr, s.method, s.target, resp.StatusCode)
			}
			tr.CloseIdleConnections()
		}
		return nil
	}()
	if err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		return 1
	}
	return 0
}

// tlsListen listens on addr with TLS and a self-signed certificate made for the run.
func tlsListen(addr string) (net.Listener, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sniffer-e2e"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"sniffer-e2e"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	return tls.Listen("tcp", addr, &tls.Config{Certificates: []tls.Certificate{cert}})
}
