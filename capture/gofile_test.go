package capture

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sniffer/reassembly"
)

// TestGoFileCorpus reads every corpus capture with the Go reader the macOS build without
// cgo uses and with libpcap: the same packets, bytes and calls, for pcap and pcapng alike.
func TestGoFileCorpus(t *testing.T) {
	dir := needCorpus(t)
	calls := 0
	for _, row := range corpus {
		path := filepath.Join(dir, row.file)
		lib, err := Open(Config{File: path})
		if err != nil {
			t.Fatal(err)
		}
		want, wst, wds, werr := runSource(lib, row.vxlan, reassembly.DefaultConfig())
		gsrc, err := OpenGoFile(path)
		if err != nil {
			t.Errorf("%s: %v", row.file, err)
			continue
		}
		got, gst, gds, gerr := runSource(gsrc, row.vxlan, reassembly.DefaultConfig())
		if werr != nil || gerr != nil {
			t.Errorf("%s: libpcap %v, Go reader %v", row.file, werr, gerr)
		}
		if gds.Packets.Load() != wds.Packets.Load() || gds.Bytes.Load() != wds.Bytes.Load() {
			t.Errorf("%s: Go reader %d packets, %d bytes; libpcap %d, %d", row.file, gds.Packets.Load(), gds.Bytes.Load(), wds.Packets.Load(), wds.Bytes.Load())
		}
		if !sameCalls(got, want) || gst.IncompleteTotal() != wst.IncompleteTotal() {
			t.Errorf("%s: Go reader %d calls, %d incomplete; libpcap %d, %d", row.file, len(got), gst.IncompleteTotal(), len(want), wst.IncompleteTotal())
		}
		for i := range got {
			if i < len(want) && !got[i].Start.Equal(want[i].Start) {
				t.Errorf("%s: call %d starts at %v with the Go reader, %v with libpcap", row.file, i, got[i].Start, want[i].Start)
				break
			}
		}
		calls += len(got)
	}
	t.Logf("%d corpus files, %d calls, the same with both readers", len(corpus), calls)
}

// TestGoFileTruncated: a file cut in the middle of a packet gives the packets before the
// cut and ErrTruncated with both readers; a file that is no capture is refused with a
// message saying what was expected.
func TestGoFileTruncated(t *testing.T) {
	src := filepath.Join(needCorpus(t), "http-range-multiflows.pcap")
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut.pcap")
	if err := os.WriteFile(cut, b[:len(b)*2/3], 0o644); err != nil {
		t.Fatal(err)
	}
	lib, err := Open(Config{File: cut})
	if err != nil {
		t.Fatal(err)
	}
	want, _, wds, werr := runSource(lib, false, reassembly.DefaultConfig())
	g, err := OpenGoFile(cut)
	if err != nil {
		t.Fatal(err)
	}
	got, _, gds, gerr := runSource(g, false, reassembly.DefaultConfig())
	if werr != ErrTruncated || gerr != ErrTruncated {
		t.Errorf("libpcap: %v, Go reader: %v; want ErrTruncated from both", werr, gerr)
	}
	if gds.Packets.Load() != wds.Packets.Load() || !sameCalls(got, want) || len(got) == 0 {
		t.Errorf("Go reader %d packets %d calls, libpcap %d packets %d calls", gds.Packets.Load(), len(got), wds.Packets.Load(), len(want))
	}
	junk := filepath.Join(t.TempDir(), "junk.pcap")
	if err := os.WriteFile(junk, []byte("GET / HTTP/1.1\r\n\r\n this is no capture file at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenGoFile(junk); err == nil || !strings.Contains(err.Error(), ".pcap or .pcapng") {
		t.Errorf("a file that is no capture: %v", err)
	}
}
