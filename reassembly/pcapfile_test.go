package reassembly

import (
	stdctx "context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"sniffer/capture"
	"sniffer/model"
)

// pipeline is what main wires: capture's decoder into an Assembler.
type pipeline struct {
	dec   *capture.Decoder
	asm   *Assembler
	idles int
}

func (p *pipeline) Packet(data []byte, ci gopacket.CaptureInfo, lt layers.LinkType) {
	p.dec.Decode(data, ci, lt, p.asm.Packet)
}
func (p *pipeline) Idle(now time.Time) { p.idles++; p.asm.Tick(now) }

// readFile reads a capture file the way sniffer -r does: capture.Open with the filter
// generated for port 80 (or none), Source.Run, then Close.
func readFile(t *testing.T, path, filter string, cfg Config) ([]*model.Call, *pipeline) {
	t.Helper()
	src, err := capture.Open(capture.Config{File: path, Filter: filter})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var calls []*model.Call
	p := &pipeline{dec: capture.NewDecoder()}
	p.asm = New(cfg, func(c *model.Call) { calls = append(calls, c) })
	ctx, cancel := stdctx.WithTimeout(stdctx.Background(), 20*time.Second)
	defer cancel()
	if err := src.Run(ctx, p); err != nil {
		t.Fatal(err)
	}
	p.asm.Close()
	if src.Live() {
		t.Error("a file source says it is live")
	}
	return calls, p
}

// TestPcapFiles writes conversations to real .pcap files (pcapgo) and reads them back
// through capture.Open and Source.Run with the generated BPF filter, as sniffer -r
// does: the calls must be those of the in-memory run.
func TestPcapFiles(t *testing.T) {
	dir := t.TempDir()
	ports, err := capture.ParsePorts("80,8080")
	if err != nil {
		t.Fatal(err)
	}
	filter := capture.Filter(ports)
	cases := []struct {
		name           string
		l              link
		client, server string
	}{
		{"ethernet-v4", linkEthernet, "10.0.0.1:41000", "10.0.0.2:80"},
		{"vlan-v6", linkVLAN, "[2001:db8::1]:41000", "[2001:db8::2]:8080"},
		{"sll-v4", linkSLL, "10.0.0.1:41000", "10.0.0.2:8080"},
		{"sll2-v6", linkSLL2, "[2001:db8::1]:41000", "[2001:db8::2]:80"},
		{"raw-v4", linkRaw, "10.0.0.1:41000", "10.0.0.2:80"},
		{"null-v6", linkNull, "[::1]:41000", "[::1]:8080"},
	}
	for _, k := range cases {
		t.Run(k.name, func(t *testing.T) {
			c := newConv(k.client, k.server, 1<<32-100, 12345).handshake()
			c.mss = 50
			want := keepAlive(c)
			c.req(get("/chunked"))
			c.resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + string(chunked([]byte(strings.Repeat("c", 300)), 64)))
			want = append(want, `GET http://api.test/chunked -> 200 req="" resp="`+strings.Repeat("c", 300)+`"`)
			c.close()
			c.swap(6, 7)
			// Traffic on another port, which the filter must keep out.
			other := newConv("10.9.9.9:5000", "10.9.9.8:9999", 1, 1).handshake()
			other.req(get("/filtered-out"))
			other.resp(ok("no"))
			path := c.writePcap(t, dir, k.name+".pcap", k.l)
			appendPcap(t, path, other, k.l)
			calls, p := readFile(t, path, filter, DefaultConfig())
			(&result{calls: calls}).want(t, want...)
			if n := p.dec.Stats.Packets.Load(); n != int64(len(c.segs)) {
				t.Errorf("%d packets passed the filter, want %d", n, len(c.segs))
			}
			calls, _ = readFile(t, path, "", DefaultConfig())
			if len(calls) != len(want)+1 {
				t.Errorf("without a filter: %d calls, want %d", len(calls), len(want)+1)
			}
		})
	}
}

// appendPcap adds a conversation's packets to an existing pcap file (same link type).
func appendPcap(t *testing.T, path string, c *conv, l link) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f) // no header: the file has one
	for _, p := range c.packets(l) {
		p.ci.Timestamp = p.ci.Timestamp.Add(time.Second)
		if err := w.WritePacket(p.ci, p.data); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPcapngFile reads a pcapng file (pcapgo's NgWriter) through capture.Open.
func TestPcapngFile(t *testing.T) {
	c := defaultConv().handshake()
	want := keepAlive(c)
	c.close()
	path := filepath.Join(t.TempDir(), "conv.pcapng")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pcapgo.NewNgWriter(f, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range c.packets(linkEthernet) {
		if err := w.WritePacket(p.ci, p.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	calls, _ := readFile(t, path, capture.Filter(nil), DefaultConfig())
	(&result{calls: calls}).want(t, want...)
}

// TestTruncatedFile cuts a capture file in the middle of a packet: Run reports
// ErrTruncated and the calls before the cut are still delivered.
func TestTruncatedFile(t *testing.T) {
	c := defaultConv().handshake()
	want := keepAlive(c)
	c.req(get("/cut"))
	c.resp(ok(strings.Repeat("x", 500)))
	path := c.writePcap(t, t.TempDir(), "cut.pcap", linkEthernet)
	st, _ := os.Stat(path)
	if err := os.Truncate(path, st.Size()-100); err != nil {
		t.Fatal(err)
	}
	src, err := capture.Open(capture.Config{File: path})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var calls []*model.Call
	p := &pipeline{dec: capture.NewDecoder()}
	p.asm = New(DefaultConfig(), func(c *model.Call) { calls = append(calls, c) })
	err = src.Run(stdctx.Background(), p)
	p.asm.Close()
	if err != capture.ErrTruncated {
		t.Errorf("Run: %v, want ErrTruncated", err)
	}
	(&result{calls: calls}).want(t, want...)
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := capture.Open(capture.Config{File: filepath.Join(dir, "missing.pcap")}); err == nil || !strings.Contains(err.Error(), "missing.pcap") {
		t.Errorf("missing file: %v", err)
	}
	bad := filepath.Join(dir, "bad.pcap")
	os.WriteFile(bad, []byte("this is not a capture file at all"), 0o644)
	if _, err := capture.Open(capture.Config{File: bad}); err == nil || !strings.Contains(err.Error(), "pcap") {
		t.Errorf("not a capture: %v", err)
	}
	c := defaultConv().handshake()
	good := c.writePcap(t, dir, "good.pcap", linkEthernet)
	if _, err := capture.Open(capture.Config{File: good, Filter: "tcp port ("}); err == nil || !strings.Contains(err.Error(), "BPF") {
		t.Errorf("bad filter: %v", err)
	}
}
