//go:build linux

package vxlan

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcap"
	"github.com/vishvananda/netns"

	"sniffer/internal/testenv"
)

// TestMirrorSetupScript builds the mirroring topology with
// testdata/mirror-setup.sh (client and server namespaces on a veth, tc mirred copying
// both directions into VXLAN towards a target namespace) and checks, in the target,
// both modes against the server's own count: user space (libpcap on the underlay t0
// plus Decap) and kernel (vx0 made by EnsureDevice, libpcap on it). The client's
// responses must be intact, i.e. mirroring does not disturb the source traffic.
func TestMirrorSetupScript(t *testing.T) {
	needRoot(t)
	if _, err := exec.LookPath("tc"); err != nil {
		testenv.Missing(t, "tc (iproute2) is not installed; scripts/setup.sh installs iproute2")
	}
	prefix := fmt.Sprintf("vxs%d-%d", os.Getpid(), nsSeq.Add(1))
	out, err := exec.Command("testdata/mirror-setup.sh", "up", prefix).CombinedOutput()
	t.Cleanup(func() {
		if o, err := exec.Command("testdata/mirror-setup.sh", "down", prefix).CombinedOutput(); err != nil {
			t.Errorf("mirror-setup.sh down %s: %v\n%s", prefix, err, o)
		}
	})
	if err != nil {
		t.Fatalf("mirror-setup.sh up %s: %v\n%s", prefix, err, out)
	}
	env := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			env[k] = v
		}
	}
	handle := func(key string) netns.NsHandle {
		h, err := netns.GetFromName(env[key])
		if err != nil {
			t.Fatalf("%s=%q: %v\n%s", key, env[key], err, out)
		}
		t.Cleanup(func() { h.Close() })
		return h
	}
	cli, srv, tgt := handle("CLIENT_NS"), handle("SERVER_NS"), handle("TARGET_NS")
	vni, _ := strconv.Atoi(env["VNI"])
	serverAddr := net.JoinHostPort(env["SERVER_IP"], "8000")

	// Kernel mode: sniffer's own EnsureDevice makes vx0 on the target's underlay.
	var cleanupVX func() error
	if err := inNetns(tgt, func() error {
		created, c, err := EnsureDevice(DeviceConfig{VNI: uint32(vni), Parent: env["TARGET_DEV"]})
		if err == nil && !created {
			err = fmt.Errorf("vx0 already existed in %s", env["TARGET_NS"])
		}
		cleanupVX = c
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cleanupVX(); err != nil {
			t.Error(err)
		}
	})
	userH, err := openCapture(tgt, env["TARGET_DEV"], FilterExpr(DefaultPort))
	if err != nil {
		t.Fatal(err)
	}
	defer userH.Close()
	kernH, err := openCapture(tgt, "vx0", "tcp port 8000")
	if err != nil {
		t.Fatal(err)
	}
	defer kernH.Close()
	d := mustNew(t, 0, "")
	userCap := startCapture(userH, d)
	kernCap := startCapture(kernH, nil)

	// A real HTTP server in the server namespace; one large response so that the
	// mirror carries a GSO super-packet.
	var served atomic.Int64
	var l net.Listener
	if err := inNetns(srv, func() (err error) { l, err = net.Listen("tcp4", serverAddr); return err }); err != nil {
		t.Fatal(err)
	}
	server := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		n, _ := strconv.Atoi(r.URL.Query().Get("size"))
		w.Write([]byte(strings.Repeat("m", min(n, 1<<20))))
	}), ReadHeaderTimeout: 5 * time.Second}
	go server.Serve(l)
	defer server.Close()

	// The client: three requests on fresh connections, three on one keep-alive one.
	sizes := []int{10, 200000, 3000, 1, 50000, 7}
	err = inNetns(cli, func() error {
		var keep net.Conn
		defer func() {
			if keep != nil {
				keep.Close()
			}
		}()
		var keepR *bufio.Reader
		for i, size := range sizes {
			c, r := keep, keepR
			if i < 3 || keep == nil {
				nc, err := net.DialTimeout("tcp4", serverAddr, 5*time.Second)
				if err != nil {
					return err
				}
				c, r = nc, bufio.NewReader(nc)
				if i < 3 {
					defer nc.Close()
				} else {
					keep, keepR = nc, r
				}
			}
			c.SetDeadline(time.Now().Add(5 * time.Second))
			fmt.Fprintf(c, "GET /mirror?size=%d&i=%d HTTP/1.1\r\nHost: %s\r\n\r\n", size, i, serverAddr)
			resp, err := http.ReadResponse(r, nil)
			if err != nil {
				return fmt.Errorf("request %d: %w", i, err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 || len(body) != size {
				return fmt.Errorf("request %d: status %d, %d of %d bytes, %v", i, resp.StatusCode, len(body), size, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("client traffic was disturbed: %v", err)
	}
	want := int(served.Load())
	if want != len(sizes) {
		t.Fatalf("server served %d requests, client sent %d", want, len(sizes))
	}

	// count returns the distinct requests and responses seen in a capture (a TCP
	// segment starting a message, keyed by port and sequence number against
	// retransmissions).
	count := func(ps []innerPacket) (reqs, resps int) {
		seen := map[string]bool{}
		for _, p := range ps {
			if p.proto != 6 || (p.vni != uint32(vni) && p.outerSrc != nil) {
				continue
			}
			key := fmt.Sprintf("%d>%d@%d", p.srcPort, p.dstPort, p.seq)
			isReq := p.dstPort == 8000 && strings.HasPrefix(string(p.payload), "GET /mirror?size=")
			isResp := p.srcPort == 8000 && strings.HasPrefix(string(p.payload), "HTTP/1.1 200 OK\r\n")
			if seen[key] || !(isReq || isResp) {
				continue
			}
			seen[key] = true
			if isReq {
				reqs++
			} else {
				resps++
			}
		}
		return reqs, resps
	}
	var ur, us, kr, ks int
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		ur, us = count(userCap.snapshot())
		kr, ks = count(kernCap.snapshot())
		if ur == want && us == want && kr == want && ks == want {
			break
		}
	}
	if err := userCap.finish(); err != nil {
		t.Fatal(err)
	}
	if err := kernCap.finish(); err != nil {
		t.Fatal(err)
	}
	for name, h := range map[string]interface {
		Stats() (*pcap.Stats, error)
	}{"t0": userH, "vx0": kernH} {
		if ps, err := h.Stats(); err == nil {
			t.Logf("libpcap on %s: %d received, %d dropped", name, ps.PacketsReceived, ps.PacketsDropped)
		}
	}
	st := d.Stats()
	t.Logf("server served %d; user space (t0 + Decap): %d requests, %d responses, largest VXLAN payload %d bytes, %s; kernel (vx0): %d requests, %d responses",
		want, ur, us, userCap.maxOuter, st, kr, ks)
	if ur != want || us != want {
		t.Errorf("user-space mode saw %d requests and %d responses, server served %d", ur, us, want)
	}
	if kr != want || ks != want {
		t.Errorf("kernel mode saw %d requests and %d responses, server served %d", kr, ks, want)
	}
	if st.BadHeader != 0 || st.VNIsSeen != 1 {
		t.Errorf("stats %+v: want no bad headers and exactly VNI %d", st, vni)
	}
}
