//go:build (!darwin || cgo) && !gofiles

package capture

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcap"
	"golang.org/x/net/bpf"
)

// fastFile reads a classic pcap file in Go instead of through libpcap, with the filter
// libpcap compiles run by a Go BPF machine. Reading through libpcap costs a cgo call and
// stdio's 4 KiB reads per packet: on the bench capture (275k packets, 300 MB) that was
// 21% of sniffer -decode=false's CPU, against a few percent here.
//
// It takes only the files it reads exactly as libpcap 1.10 does (sf-pcap.c): the four
// standard magics at version 2.4, and link types whose file and libpcap numbers agree
// and that libpcap neither byte-swaps nor fixes up. Every other file (pcapng, the
// modified formats, DLT_NULL, NFLOG, USB...) is left to libpcap (openFastFile returns nil).
// (goFile, which reads every format with pcapgo, serves builds without libpcap; it does
// not cut packets to the snap length or compile filters.)
type fastFile struct {
	r        *bufio.Reader
	order    binary.ByteOrder
	swapped  bool // written in the other byte order than this machine's
	nano     bool // nanosecond timestamps (else microseconds, scaled up as libpcap does)
	lt       layers.LinkType
	snapshot int
	filter   *fileFilter // nil: every packet
	cut      []byte      // a packet longer than the snap length, cut to it
}

// fastFileLinks are the link types fastFile reads: their LINKTYPE_ and DLT_ numbers are the
// same, libpcap changes nothing in their packets, and the filter it compiles for them does
// not depend on the file (for DLT_NULL it does: the family is compared in the byte order
// of the file's writer).
var fastFileLinks = map[layers.LinkType]bool{
	layers.LinkTypeEthernet: true, layers.LinkTypeLinuxSLL: true,
	layers.LinkType(104): true, // C-HDLC
	layers.LinkType(276): true, // Linux cooked v2
}

// maxSnaplen is libpcap's MAXIMUM_SNAPLEN, max_snaplen_for_dlt of every fastFileLinks type.
const maxSnaplen = 262144

// fastFileBuffer is the read buffer: it holds the largest packet (maxSnaplen) and its header,
// and packets are handed on from it without a copy.
const fastFileBuffer = 1 << 20

// openFastFile reads f's header for fastFile when f is a regular file that fastFile reads
// the way libpcap would; otherwise it rewinds f and returns nil, nil, and the caller opens
// it with libpcap.
func openFastFile(f *os.File) (*fastFile, error) {
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return nil, nil
	}
	g := &fastFile{r: bufio.NewReaderSize(f, fastFileBuffer)}
	if hdr, err := g.r.Peek(24); err == nil && g.header(hdr) {
		_, _ = g.r.Discard(24)
		return g, nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("capture file: %w", err)
	}
	return nil, nil
}

// header reads the file header; false when fastFile does not take the file.
func (g *fastFile) header(h []byte) bool {
	switch binary.LittleEndian.Uint32(h) {
	case 0xa1b2c3d4:
		g.order = binary.LittleEndian
	case 0xd4c3b2a1:
		g.order = binary.BigEndian
	case 0xa1b23c4d:
		g.order, g.nano = binary.LittleEndian, true
	case 0x4d3cb2a1:
		g.order, g.nano = binary.BigEndian, true
	default:
		return false
	}
	g.swapped = g.order.Uint16([]byte{1, 0}) != binary.NativeEndian.Uint16([]byte{1, 0})
	if g.order.Uint16(h[4:]) != 2 || g.order.Uint16(h[6:]) != 4 {
		return false
	}
	lt := g.order.Uint32(h[20:]) // the upper half (FCS length, reserved bits) must be clear
	if lt > 0xffff || !fastFileLinks[layers.LinkType(lt)] {
		return false
	}
	g.lt = layers.LinkType(lt)
	// pcap_adjust_snapshot: a snap length of 0 or past the link type's maximum is the maximum.
	g.snapshot = int(int32(g.order.Uint32(h[16:])))
	if g.snapshot <= 0 || g.snapshot > maxSnaplen {
		g.snapshot = maxSnaplen
	}
	return true
}

// next returns the next packet that passes the filter. Its data lies in the read buffer,
// valid until the next call.
func (g *fastFile) next() ([]byte, gopacket.CaptureInfo, error) {
	for {
		data, ci, err := g.read()
		if err != nil || g.filter == nil || g.filter.matches(data, ci) {
			return data, ci, err
		}
	}
}

// read is sf-pcap.c's pcap_next_packet: the same packets, lengths, timestamps and errors.
func (g *fastFile) read() ([]byte, gopacket.CaptureInfo, error) {
	var ci gopacket.CaptureInfo
	h, err := g.r.Peek(16)
	if err != nil {
		if len(h) == 0 && err == io.EOF {
			return nil, ci, io.EOF
		}
		if err == io.EOF {
			return nil, ci, ErrTruncated // "truncated dump file; tried to read 16 header bytes"
		}
		return nil, ci, err
	}
	sec, frac := int64(int32(g.order.Uint32(h))), int64(int32(g.order.Uint32(h[4:])))
	if g.swapped {
		// libpcap reads the two as signed, but its byte swap hands them on unsigned.
		sec, frac = int64(g.order.Uint32(h)), int64(g.order.Uint32(h[4:]))
	}
	caplen, wirelen := g.order.Uint32(h[8:]), g.order.Uint32(h[12:])
	_, _ = g.r.Discard(16)
	nanos := frac
	if !g.nano {
		nanos *= 1000
	}
	ci.Timestamp = time.Unix(sec, nanos)
	ci.Length = int(wirelen)
	if caplen > maxSnaplen {
		if int(caplen) > g.snapshot {
			return nil, ci, fmt.Errorf("invalid packet capture length %d, bigger than snaplen of %d", caplen, g.snapshot)
		}
		return nil, ci, fmt.Errorf("invalid packet capture length %d, bigger than maximum of %d", caplen, maxSnaplen)
	}
	keep := min(int(caplen), g.snapshot) // past the snap length the rest is read and dropped
	data, err := g.r.Peek(keep)
	if err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, ci, ErrTruncated
		}
		return nil, ci, err
	}
	if keep < int(caplen) {
		// Discarding the rest refills the buffer under data: keep a copy.
		g.cut = append(g.cut[:0], data...)
		data = g.cut
	}
	if n, err := g.r.Discard(int(caplen)); n < int(caplen) {
		if err == io.EOF || err == nil {
			return nil, ci, ErrTruncated
		}
		return nil, ci, err
	}
	ci.CaptureLength = keep
	return data, ci, nil
}

func (g *fastFile) LinkType() layers.LinkType { return g.lt }

func (g *fastFile) setFilter(expr string) error {
	f, err := newFileFilter(g.lt, g.snapshot, linkFilter(expr, g.lt))
	if err != nil {
		return err
	}
	g.filter = f
	return nil
}

func (g *fastFile) stats() (received, dropped, ifDropped int, ok bool) { return 0, 0, 0, false }

func (g *fastFile) close() {} // the Source closes the file

// fileFilter is a BPF program compiled by libpcap for the file's link type, as
// pcap_setfilter on the file would install it, run the way libpcap runs it on files
// (pcap_offline_read: a packet passes when the program returns non-zero).
type fileFilter struct {
	vm *bpf.VM
	// Run by libpcap (a cgo call a packet) where the Go machine could differ: programs
	// that load the packet length (libpcap gives the wire length, the Go machine the
	// captured one) on packets cut short, and empty packets.
	c       *pcap.BPF
	loadLen bool
}

func newFileFilter(lt layers.LinkType, snapshot int, expr string) (*fileFilter, error) {
	prog, err := pcap.CompileBPFFilter(lt, snapshot, expr)
	if err != nil {
		return nil, err
	}
	c, err := pcap.NewBPF(lt, snapshot, expr)
	if err != nil {
		return nil, err
	}
	ff := &fileFilter{c: c}
	raw := make([]bpf.RawInstruction, len(prog))
	for i, in := range prog {
		raw[i] = bpf.RawInstruction{Op: in.Code, Jt: in.Jt, Jf: in.Jf, K: in.K}
		switch {
		case in.Code&0x07 <= 0x01 && in.Code&0xe0 == 0x80: // BPF_LD or BPF_LDX, mode BPF_LEN
			ff.loadLen = true
		case in.Code == 0x84: // BPF_ALU|BPF_NEG: the Go machine lacks it
			return ff, nil
		}
	}
	insts, all := bpf.Disassemble(raw)
	if !all {
		return ff, nil
	}
	if vm, err := bpf.NewVM(insts); err == nil {
		ff.vm = vm
	}
	return ff, nil
}

func (f *fileFilter) matches(data []byte, ci gopacket.CaptureInfo) bool {
	if f.vm == nil || len(data) == 0 || f.loadLen && ci.CaptureLength != ci.Length {
		return f.c.Matches(ci, data)
	}
	n, err := f.vm.Run(data)
	if err != nil {
		return f.c.Matches(ci, data)
	}
	return n != 0
}
