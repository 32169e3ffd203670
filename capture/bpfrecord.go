package capture

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/gopacket/gopacket"
)

// A read from a BPF device (/dev/bpfN, bpf_darwin.go) returns a buffer of records: each a
// struct bpf_hdr (on macOS a 32-bit timeval, caplen, datalen, hdrlen, in the host's byte
// order) then caplen bytes of the packet, the next record at hdrlen+caplen rounded up to
// BPF_ALIGNMENT, which on macOS is 4 bytes (sizeof(int32_t); FreeBSD's is sizeof(long), and
// gopacket/bsdbpf rounds to the pointer size, 8: it misreads macOS buffers holding packets
// whose length is not a multiple of 8). The parsing is here, compiled everywhere, so that the
// tests run it on Linux (bpfrecord_test.go) though only macOS has the device.

// bpfHdrLen is the fixed part of macOS's struct bpf_hdr: an 8-byte timeval32, caplen,
// datalen and hdrlen (18 bytes; the kernel pads hdrlen to 20 or more).
const bpfHdrLen = 18

// bpfAlign is macOS's BPF_ALIGNMENT.
const bpfAlign = 4

// bpfRecord reads the record at the start of buf: the packet (a slice of buf), its capture
// info, and the offset of the next record in buf (len(buf) or more when this was the last).
// A header whose lengths run past the buffer is an error: the rest of the buffer cannot be
// trusted, and the caller drops it.
func bpfRecord(buf []byte) (data []byte, ci gopacket.CaptureInfo, next int, err error) {
	if len(buf) < bpfHdrLen {
		return nil, ci, len(buf), fmt.Errorf("BPF record header cut at %d of %d bytes", len(buf), bpfHdrLen)
	}
	e := binary.NativeEndian
	sec, usec := int32(e.Uint32(buf[0:])), int32(e.Uint32(buf[4:]))
	caplen, datalen, hdrlen := int(e.Uint32(buf[8:])), int(e.Uint32(buf[12:])), int(e.Uint16(buf[16:]))
	if hdrlen < bpfHdrLen || caplen > len(buf) || hdrlen+caplen > len(buf) || datalen < caplen {
		return nil, ci, len(buf), fmt.Errorf("BPF record header says %d+%d bytes (packet of %d), %d left in the buffer", hdrlen, caplen, datalen, len(buf))
	}
	ci = gopacket.CaptureInfo{Timestamp: time.Unix(int64(sec), int64(usec)*1000), CaptureLength: caplen, Length: datalen}
	return buf[hdrlen : hdrlen+caplen], ci, (hdrlen + caplen + bpfAlign - 1) &^ (bpfAlign - 1), nil
}
