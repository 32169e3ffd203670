//go:build linux

package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

func TestAFPacketSettingsErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Engine: "afpacket", Device: "lo", BlockSize: 70000}, "multiple of the page size"},
		{Config{Engine: "afpacket", Device: "lo", BlockSize: 4096}, "64 KiB or more"},
		{Config{Engine: "afpacket", Device: "lo", FanoutGroup: 70000}, "fanout group"},
		{Config{Engine: "afpacket", Device: "lo", NumBlocks: -1}, "block count"},
		{Config{Engine: "pf_ring", Device: "lo"}, "want libpcap or afpacket"},
	} {
		s, err := Open(tc.cfg)
		if err == nil {
			s.Close()
			t.Errorf("%+v: no error", tc.cfg)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %q, want it to say %q", tc.cfg, err, tc.want)
		}
		// The afpacket settings' errors are SettingErrors (auto does not fall back on them).
		var se SettingError
		if isSetting := errors.As(err, &se); isSetting != (tc.cfg.Engine == "afpacket") {
			t.Errorf("%+v: error %q is a SettingError: %v, want %v", tc.cfg, err, isSetting, tc.cfg.Engine == "afpacket")
		}
	}
}

func needRawSocket(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipped: AF_PACKET sockets need root (or CAP_NET_RAW)")
	}
}

// afCollector gathers the request lines of the segments it is handed.
type afCollector struct {
	dec *Decoder
	mu  sync.Mutex
	got map[string]int // request line -> segments carrying it
	lts map[layers.LinkType]bool
}

func newAFCollector() *afCollector {
	return &afCollector{dec: NewDecoder(), got: map[string]int{}, lts: map[layers.LinkType]bool{}}
}

func (c *afCollector) Packet(data []byte, ci gopacket.CaptureInfo, lt layers.LinkType) {
	c.dec.Decode(data, ci, lt, func(_ gopacket.Flow, tcp *layers.TCP, _ gopacket.CaptureInfo, _ int) {
		if line, _, ok := strings.Cut(string(tcp.Payload), "\r\n"); ok && strings.HasPrefix(line, "GET /") {
			c.mu.Lock()
			c.got[line]++
			c.lts[lt] = true
			c.mu.Unlock()
		}
	})
}

func (c *afCollector) Idle(time.Time) {}

func (c *afCollector) lines() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for k, v := range c.got {
		out[k] = v
	}
	return out
}

// afServe serves on a loopback port and returns it with a function making n requests, each
// on its own connection (so that fanout has flows to split).
func afServe(t *testing.T) (port int, get func(prefix string, n int)) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok "+r.URL.Path) })}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	port = ln.Addr().(*net.TCPAddr).Port
	get = func(prefix string, n int) {
		cl := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
		for i := range n {
			resp, err := cl.Get(fmt.Sprintf("http://127.0.0.1:%d/%s/%d", port, prefix, i))
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	return port, get
}

// runAF opens the afpacket engine with cfg, runs it into a collector until stop is closed.
func runAF(t *testing.T, cfg Config) (*afCollector, *Source, func()) {
	t.Helper()
	cfg.Engine = "afpacket"
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := newAFCollector()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, c) }()
	stop := func() {
		time.Sleep(300 * time.Millisecond) // the last block is handed over within afBlockTimeout
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(3 * time.Second):
			t.Errorf("Run did not return within 3 s of the cancel")
		}
		s.Close()
	}
	return c, s, stop
}

// The engine on lo (raw Ethernet frames) and on any (cooked: IP first): every request of
// the filtered port, none of another port, and the socket counters.
func TestAFPacketCapturesLoopback(t *testing.T) {
	needRawSocket(t)
	for _, dev := range []string{"lo", ""} {
		t.Run("device="+dev, func(t *testing.T) {
			port, get := afServe(t)
			other, getOther := afServe(t)
			c, s, stop := runAF(t, Config{Device: dev, Filter: Filter([]PortRange{{uint16(port), uint16(port)}})})
			get("a", 20)
			getOther("b", 5)
			stop()
			got := c.lines()
			for i := range 20 {
				// once: lo's outgoing copies are skipped, as libpcap does
				if line := fmt.Sprintf("GET /a/%d HTTP/1.1", i); got[line] != 1 {
					t.Errorf("request %q captured %d times, want once", line, got[line])
				}
			}
			for line := range got {
				if strings.HasPrefix(line, "GET /b/") {
					t.Errorf("%q captured: port %d is not in the filter %s", line, other, Filter([]PortRange{{uint16(port), uint16(port)}}))
				}
			}
			want := layers.LinkTypeEthernet
			if dev == "" {
				want = layers.LinkTypeRaw
			}
			if !c.lts[want] || len(c.lts) != 1 {
				t.Errorf("link types %v, want %v", c.lts, want)
			}
			recv, drop, _ := s.Stats()
			t.Logf("%d requests seen; socket: %d received, %d dropped", len(got), recv, drop)
			if recv == 0 || drop != 0 {
				t.Errorf("socket counters: %d received, %d dropped", recv, drop)
			}
		})
	}
}

// Two sources in one fanout group split connections between them: each request is seen by
// exactly one, and together they see all.
func TestAFPacketFanoutSplitsConnections(t *testing.T) {
	needRawSocket(t)
	port, get := afServe(t)
	cfg := Config{Device: "lo", Filter: Filter([]PortRange{{uint16(port), uint16(port)}}), FanoutGroup: 31000 + os.Getpid()%1000}
	c1, _, stop1 := runAF(t, cfg)
	c2, _, stop2 := runAF(t, cfg)
	get("f", 40)
	stop1()
	stop2()
	g1, g2 := c1.lines(), c2.lines()
	for i := range 40 {
		line := fmt.Sprintf("GET /f/%d HTTP/1.1", i)
		if (g1[line] > 0) == (g2[line] > 0) {
			t.Errorf("%q seen by %d and %d segments of the two members; want exactly one member", line, g1[line], g2[line])
		}
	}
	t.Logf("fanout split 40 connections %d + %d", len(g1), len(g2))
	if len(g1) == 0 || len(g2) == 0 {
		t.Errorf("one member saw nothing (%d, %d): no split", len(g1), len(g2))
	}
}

// OpenGroup: three sources, one random fanout group, each connection on exactly one; on lo and
// on any (sockets bound to no device, which SNIFFER_ENGINE=auto reads with afpacket too).
func TestAFPacketOpenGroup(t *testing.T) {
	needRawSocket(t)
	for _, dev := range []string{"lo", ""} {
		t.Run("device="+dev, func(t *testing.T) { afOpenGroup(t, dev) })
	}
}

func afOpenGroup(t *testing.T, dev string) {
	port, get := afServe(t)
	g, err := OpenGroup(Config{Device: dev, Filter: Filter([]PortRange{{uint16(port), uint16(port)}})}, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cols := make([]*afCollector, len(g.Members))
	hs := make([]Handler, len(cols))
	for i := range cols {
		cols[i] = newAFCollector()
		hs[i] = cols[i]
	}
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx, hs) }()
	get("g", 60)
	time.Sleep(300 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Group.Run: %v", err)
	}
	var split []int
	for i := range 60 {
		line, seen := fmt.Sprintf("GET /g/%d HTTP/1.1", i), 0
		for _, c := range cols {
			if c.lines()[line] > 0 {
				seen++
			}
		}
		if seen != 1 {
			t.Errorf("%q seen by %d sources, want 1", line, seen)
		}
	}
	for _, c := range cols {
		split = append(split, len(c.lines()))
	}
	if recv, drop, _ := g.Stats(); recv == 0 || drop != 0 {
		t.Errorf("group counters: %d received, %d dropped; want some received, none dropped", recv, drop)
	}
	t.Logf("60 connections split %v", split)
}

// A filter libpcap cannot compile is refused with the expression in the message.
func TestAFPacketBadFilter(t *testing.T) {
	needRawSocket(t)
	_, err := Open(Config{Engine: "afpacket", Device: "lo", Filter: "tcp port eighty"})
	if err == nil || !strings.Contains(err.Error(), "tcp port eighty") || !strings.Contains(err.Error(), "BPF") {
		t.Errorf("error %v, want one naming the BPF filter", err)
	}
}
