package stress

import (
	"crypto/tls"
	"fmt"
	"math/rand/v2"
	"net"
	"path/filepath"
	"testing"
	"time"
)

// clientHello returns the bytes of a real TLS ClientHello, as crypto/tls sends it.
func clientHello(t *testing.T) []byte {
	c, s := net.Pipe()
	defer c.Close()
	got := make(chan []byte, 1)
	go func() {
		b := make([]byte, 4096)
		n, _ := s.Read(b)
		got <- b[:n]
		s.Close()
	}()
	go tls.Client(c, &tls.Config{ServerName: "api.test", InsecureSkipVerify: true}).Handshake()
	select {
	case b := <-got:
		return b
	case <-time.After(5 * time.Second):
		t.Fatal("no ClientHello")
		return nil
	}
}

// TestNonHTTP: connections to port 80 that carry random bytes, a TLS handshake or an SSH
// exchange, between normal calls. Nothing of them may come out as a call, the normal
// calls must all be complete, and the summary must count the skipped bytes.
func TestNonHTTP(t *testing.T) {
	conns := size(600, 3000)
	hello := clientHello(t)
	rng := rand.New(rand.NewPCG(7, 7))
	pcap := filepath.Join(t.TempDir(), "garbage.pcap")
	w := newCapture(t, pcap, 262144)
	normals := newNormal()
	var garbage int64 // client bytes that are not HTTP
	for i := 0; i < conns; i++ {
		f := w.newFlow(clientAddr(i), server, 1448)
		f.handshake()
		var cli, srv []byte
		switch i % 3 {
		case 0:
			cli = make([]byte, 1+rng.IntN(64<<10))
			for j := range cli {
				cli[j] = byte(rng.Uint32())
			}
			srv = make([]byte, rng.IntN(8<<10))
			for j := range srv {
				srv[j] = byte(rng.Uint32())
			}
		case 1:
			cli = hello
			srv = append([]byte{0x16, 0x03, 0x03, 0x00, 0x7a, 0x02}, make([]byte, 0x79)...) // a ServerHello's framing
		case 2:
			srv = []byte("SSH-2.0-OpenSSH_9.6p1 Debian-3\r\n")
			cli = []byte("SSH-2.0-OpenSSH_9.2p1\r\n\x00\x00\x05\xdc\x06\x14" + string(make([]byte, 1490)))
		}
		if i%3 == 2 {
			f.send(false, srv)
			f.send(true, cli)
		} else {
			f.send(true, cli)
			f.send(false, srv)
		}
		garbage += int64(len(cli))
		f.close()
		if i%6 == 5 {
			normals.write(w, 100000+i, fmt.Sprint(i))
		}
	}
	if err := w.close(); err != nil {
		t.Fatal(err)
	}
	// Twice: with -ports 80 every connection is parsed as HTTP, so the non-HTTP ones must
	// show as malformed messages and skipped bytes; with no ports (a file is then read on
	// every port, HTTP found by each connection's first bytes) they must show as
	// connections not HTTP.
	for _, mode := range []struct {
		name string
		args []string
	}{{"ports 80", []string{"-ports", "80"}}, {"any port", nil}} {
		t.Run(mode.name, func(t *testing.T) {
			normals := normals.fresh()
			r := runSniffer(t, pcap, 2*time.Minute, mode.args...)
			r.check(t, 0, 64*MiB)
			r.calls(t, func(c *jsonCall) {
				if !normals.see(t, c) {
					t.Errorf("non-HTTP bytes came out as a call: %q %q (%q)", c.Request.Method, c.Request.Target, c.Incomplete)
				}
			})
			normals.missing(t)
			skipped := r.counts["bytes skipped resynchronising"]
			malformed := r.counts["malformed messages skipped"]
			notHTTP := r.counts["connections not HTTP (ignored)"]
			t.Logf("non-HTTP client bytes %d; summary: %d malformed, %d bytes skipped, %d connections not HTTP", garbage, malformed, skipped, notHTTP)
			if mode.args == nil {
				if notHTTP != int64(conns) {
					t.Errorf("the summary does not account for the non-HTTP connections: %d not HTTP, want %d", notHTTP, conns)
				}
			} else if malformed < int64(conns) || skipped == 0 {
				t.Errorf("the summary does not account for the non-HTTP traffic: %d malformed, %d bytes skipped", malformed, skipped)
			}
			if r.counts["calls"] != int64(len(normals.want)) {
				t.Errorf("summary says %d calls, want %d", r.counts["calls"], len(normals.want))
			}
		})
	}
}
