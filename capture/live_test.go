package capture

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"sniffer/model"
	"sniffer/reassembly"
)

// TestLiveLoopback captures real HTTP calls on the loopback device ("lo", Ethernet
// framing) and on "any" (Linux cooked framing, the default device), with the BPF filter
// generated for the server's port, and checks that every call arrives complete.
func TestLiveLoopback(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("live capture needs root (or CAP_NET_RAW): run the tests as root to include it")
	}
	// Immediate mode stays off (the default): with it libpcap uses TPACKET_V2, whose
	// ring slots are all snaplen (256 KiB) long, and back-to-back calls on loopback
	// overflow a 16 MiB buffer (pcap "dropped by the kernel").
	for _, dev := range []string{"lo", "any"} {
		t.Run(dev, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprintf(w, `{"path":%q,"got":%d}`, r.URL.Path, len(body))
			})}
			go srv.Serve(ln)
			defer srv.Close()
			port := ln.Addr().(*net.TCPAddr).Port
			ports, _ := ParsePorts(strconv.Itoa(port))
			src, err := Open(Config{Device: dev, Filter: Filter(ports)})
			if err != nil {
				t.Fatalf("open %s with filter %q: %v", dev, Filter(ports), err)
			}
			defer src.Close()

			var mu sync.Mutex
			var calls []*model.Call
			h := &corpusHandler{dec: NewDecoder()}
			h.asm = reassembly.New(reassembly.DefaultConfig(), func(c *model.Call) {
				mu.Lock()
				calls = append(calls, c)
				mu.Unlock()
			})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- src.Run(ctx, h) }()
			time.Sleep(300 * time.Millisecond) // the handle is open; let Run start reading

			const n = 20
			client := &http.Client{Timeout: 5 * time.Second}
			for i := 0; i < n; i++ {
				url := fmt.Sprintf("http://127.0.0.1:%d/c/%d", port, i)
				var resp *http.Response
				if i%2 == 0 {
					resp, err = client.Get(url)
				} else {
					resp, err = client.Post(url, "application/json", strings.NewReader(`{"i":`+strconv.Itoa(i)+`}`))
				}
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			client.CloseIdleConnections()
			// Wait until every call is out (bounded), then stop the capture.
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
				mu.Lock()
				k := len(calls)
				mu.Unlock()
				if k >= n {
					break
				}
			}
			_, dropped, _ := src.Stats()
			cancel()
			if dropped > 0 {
				t.Errorf("%s: %d packets dropped by the kernel", dev, dropped)
			}
			if err := <-done; err != nil {
				t.Fatalf("Run: %v", err)
			}
			h.asm.Close()
			seen := map[string]bool{}
			for _, c := range calls {
				if c.Incomplete != "" || c.Response == nil || c.Response.Status != 200 {
					t.Errorf("call %s %s: incomplete %q", c.Request.Method, c.URL, c.Incomplete)
					continue
				}
				if want := fmt.Sprintf(`{"path":%q,"got":%d}`, c.Request.Target, len(c.Request.Body)); string(c.Response.Body) != want {
					t.Errorf("%s: response %q, want %q", c.URL, c.Response.Body, want)
				}
				seen[c.Request.Target] = true
			}
			if len(calls) != n || len(seen) != n {
				t.Errorf("%s: %d calls (%d distinct), want %d; incomplete %v", dev, len(calls), len(seen), n, h.asm.Stats().Incomplete())
			}
		})
	}
}
