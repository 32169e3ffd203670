//go:build linux

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
)

// netPair is two network namespaces joined by a veth pair: a server host and a client host.
type netPair struct {
	serverNS, clientNS   string
	serverDev, clientDev string
	serverV4, clientV4   string
	serverV6, clientV6   string
	// appPorts are the server ports whose calls are captured; empty: 8080.
	appPorts []uint16
}

func (p *netPair) ports() []uint16 {
	if len(p.appPorts) == 0 {
		return []uint16{8080}
	}
	return p.appPorts
}

func (p *netPair) capturedPort(port uint16) bool {
	return slices.Contains(p.ports(), port)
}

var pairSeq atomic.Int32

// newNetPair creates a fresh pair with names unique to this process and test, and deletes both
// namespaces (and with them the veth ends) when the test ends, whatever happened.
func newNetPair(t *testing.T) *netPair {
	t.Helper()
	k := pairSeq.Add(1)
	id := fmt.Sprintf("%d%c", os.Getpid()%1000000, 'a'+k%26)
	p := &netPair{
		serverNS: "snfe2e" + id + "s", clientNS: "snfe2e" + id + "c",
		serverDev: "snf" + id + "s", clientDev: "snf" + id + "c", // at most 15 bytes (IFNAMSIZ)
		serverV4: fmt.Sprintf("10.215.%d.1", k%250), clientV4: fmt.Sprintf("10.215.%d.2", k%250),
		serverV6: fmt.Sprintf("fd00:215:%x::1", k), clientV6: fmt.Sprintf("fd00:215:%x::2", k),
	}
	ip(t, "netns", "add", p.serverNS)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", p.serverNS).Run() })
	ip(t, "netns", "add", p.clientNS)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", p.clientNS).Run() })
	ip(t, "link", "add", p.serverDev, "type", "veth", "peer", "name", p.clientDev)
	// If moving an end fails, the other is still in the root namespace: delete it there too.
	t.Cleanup(func() { exec.Command("ip", "link", "del", p.serverDev).Run() })
	ip(t, "link", "set", p.serverDev, "netns", p.serverNS)
	ip(t, "link", "set", p.clientDev, "netns", p.clientNS)
	for _, h := range []struct{ ns, dev, v4, v6 string }{
		{p.serverNS, p.serverDev, p.serverV4, p.serverV6},
		{p.clientNS, p.clientDev, p.clientV4, p.clientV6},
	} {
		ip(t, "-n", h.ns, "addr", "add", h.v4+"/24", "dev", h.dev)
		ip(t, "-n", h.ns, "-6", "addr", "add", h.v6+"/64", "dev", h.dev, "nodad")
		ip(t, "-n", h.ns, "link", "set", "lo", "up")
		ip(t, "-n", h.ns, "link", "set", h.dev, "up")
	}
	return p
}

func ip(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// inNS makes a command that runs name with args inside the network namespace ns. ip netns exec
// execs the program in place, so the process started is the program itself and signals reach it.
func inNS(ns, name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns, name}, args...)...)
}
