package capture

import (
	"bytes"
	"encoding/binary"
	"io"
	"path/filepath"
	"testing"

	"github.com/gopacket/gopacket"
)

// bpfBuffers packs packets into BPF device read buffers as macOS's kernel fills them: each a
// struct bpf_hdr of hdrlen bytes then the packet, records 4-byte aligned and never split
// across buffers of size bytes.
func bpfBuffers(pkts [][]byte, cis []gopacket.CaptureInfo, size int, hdrlen func(i int) int) [][]byte {
	var bufs [][]byte
	var cur []byte
	for i, p := range pkts {
		h := hdrlen(i)
		rec := make([]byte, (h+len(p)+3)&^3)
		e := binary.NativeEndian
		e.PutUint32(rec[0:], uint32(cis[i].Timestamp.Unix()))
		e.PutUint32(rec[4:], uint32(cis[i].Timestamp.Nanosecond()/1000))
		e.PutUint32(rec[8:], uint32(len(p)))
		e.PutUint32(rec[12:], uint32(cis[i].Length))
		e.PutUint16(rec[16:], uint16(h))
		copy(rec[h:], p)
		if len(cur)+h+len(p) > size { // the last record of a buffer needs no padding
			bufs = append(bufs, cur)
			cur = nil
		}
		cur = append(cur, rec...)
	}
	return append(bufs, cur)
}

// TestBPFRecordCorpus: the packets of every corpus capture, packed into BPF read buffers as
// macOS's kernel does (64 KiB and 4 KiB buffers, header lengths 18 to 24), come back out of
// bpfRecord, the parser of bpf_darwin.go's reads, byte for byte with their capture times and
// lengths. Only macOS has the device; the format is tested here.
func TestBPFRecordCorpus(t *testing.T) {
	dir := needCorpus(t)
	total := 0
	for _, row := range corpus {
		src, err := OpenGoFile(filepath.Join(dir, row.file))
		if err != nil {
			t.Fatal(err)
		}
		h := src.handles[0]
		var pkts [][]byte
		var cis []gopacket.CaptureInfo
		for {
			data, ci, err := h.next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", row.file, err)
			}
			pkts, cis = append(pkts, bytes.Clone(data)), append(cis, ci)
		}
		src.Close()
		for _, size := range []int{64 << 10, 4 << 10} {
			bufs := bpfBuffers(pkts, cis, size, func(i int) int { return 18 + 2*(i%4) })
			i := 0
			for _, buf := range bufs {
				for off := 0; off < len(buf); {
					data, ci, next, err := bpfRecord(buf[off:])
					if err != nil {
						t.Fatalf("%s, %d-byte buffers, packet %d: %v", row.file, size, i, err)
					}
					if i >= len(pkts) {
						t.Fatalf("%s: more records than packets", row.file)
					}
					want := cis[i]
					if !bytes.Equal(data, pkts[i]) || ci.CaptureLength != len(pkts[i]) || ci.Length != want.Length ||
						!ci.Timestamp.Equal(want.Timestamp.Truncate(1000)) {
						t.Fatalf("%s, %d-byte buffers, packet %d: %d bytes of %d at %v; want %d of %d at %v", row.file, size, i,
							len(data), ci.Length, ci.Timestamp, len(pkts[i]), want.Length, want.Timestamp)
					}
					off += next
					i++
				}
			}
			if i != len(pkts) {
				t.Errorf("%s, %d-byte buffers: %d records, %d packets", row.file, size, i, len(pkts))
			}
		}
		total += len(pkts)
	}
	t.Logf("%d corpus files, %d packets through BPF buffers and back", len(corpus), total)
}

// TestBPFRecordBad: headers that do not fit the buffer are errors that end the buffer, never
// a slice past its end.
func TestBPFRecordBad(t *testing.T) {
	good := bpfBuffers([][]byte{[]byte("abcdefgh")}, []gopacket.CaptureInfo{{Length: 8}}, 1<<10, func(int) int { return 20 })[0]
	if data, _, next, err := bpfRecord(good); err != nil || string(data) != "abcdefgh" || next != 28 {
		t.Fatalf("a good record: %q, next %d, %v", data, next, err)
	}
	for name, mut := range map[string]func(b []byte) []byte{
		"header cut":       func(b []byte) []byte { return b[:10] },
		"caplen too long":  func(b []byte) []byte { binary.NativeEndian.PutUint32(b[8:], 100); return b },
		"hdrlen too short": func(b []byte) []byte { binary.NativeEndian.PutUint16(b[16:], 4); return b },
		"hdrlen too long":  func(b []byte) []byte { binary.NativeEndian.PutUint16(b[16:], 60000); return b },
		"datalen < caplen": func(b []byte) []byte { binary.NativeEndian.PutUint32(b[12:], 2); return b },
		"caplen negative":  func(b []byte) []byte { binary.NativeEndian.PutUint32(b[8:], 0xffffffff); return b },
	} {
		b := mut(bytes.Clone(good))
		if _, _, next, err := bpfRecord(b); err == nil || next < len(b) {
			t.Errorf("%s: err %v, next %d of %d", name, err, next, len(b))
		}
	}
}

// FuzzBPFRecord: whatever a buffer holds, bpfRecord returns a packet inside it or an error,
// and always moves on.
func FuzzBPFRecord(f *testing.F) {
	f.Add(bpfBuffers([][]byte{[]byte("GET / HTTP/1.1\r\n\r\n"), []byte("x")}, []gopacket.CaptureInfo{{Length: 18}, {Length: 1500}}, 1<<10, func(int) int { return 20 })[0])
	f.Fuzz(func(t *testing.T, buf []byte) {
		for off := 0; off < len(buf); {
			data, ci, next, err := bpfRecord(buf[off:])
			if next <= 0 {
				t.Fatalf("no progress at %d", off)
			}
			if err == nil && (len(data) != ci.CaptureLength || ci.Length < ci.CaptureLength || next > len(buf)-off+3) {
				t.Fatalf("record at %d: %d bytes, ci %+v, next %d of %d", off, len(data), ci, next, len(buf)-off)
			}
			off += next
		}
	})
}
