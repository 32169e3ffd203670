package capture

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// goFile reads a .pcap or .pcapng file in Go (gopacket's pcapgo), for builds without
// libpcap: the macOS binary made without cgo. It is compiled everywhere, so that the tests
// hold it against libpcap on the corpus (gofile_test.go).
type goFile struct {
	pcap *pcapgo.Reader
	ng   *pcapgo.NgReader
	lt   layers.LinkType
}

// pcapngMagic is the block type of a pcapng section header (the same in either byte order).
const pcapngMagic = 0x0A0D0D0A

// openGoFile reads the file header of r and returns a reader for its packets.
func openGoFile(r io.Reader, path string) (*goFile, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	magic, err := br.Peek(4)
	if err != nil {
		return nil, fileError(path, fmt.Errorf("no capture file header: %v", err))
	}
	g := &goFile{}
	if binary.LittleEndian.Uint32(magic) == pcapngMagic {
		if g.ng, err = pcapgo.NewNgReader(br, pcapgo.DefaultNgReaderOptions); err != nil {
			return nil, fileError(path, err)
		}
		g.lt = g.ng.LinkType()
		return g, nil
	}
	if g.pcap, err = pcapgo.NewReader(br); err != nil {
		return nil, fileError(path, err)
	}
	// libpcap takes packets up to its own maximum whatever the header's snap length
	// says (writers that do not cut packets to it exist); so do we.
	if g.pcap.Snaplen() < Snaplen {
		g.pcap.SetSnaplen(Snaplen)
	}
	g.lt = g.pcap.LinkType()
	return g, nil
}

func (g *goFile) LinkType() layers.LinkType { return g.lt }

func (g *goFile) next() (data []byte, ci gopacket.CaptureInfo, err error) {
	if g.ng != nil {
		data, ci, err = g.ng.ZeroCopyReadPacketData()
		if err == nil && g.ng.NInterfaces() > ci.InterfaceIndex {
			if iface, e := g.ng.Interface(ci.InterfaceIndex); e == nil && iface.LinkType != g.lt {
				// libpcap refuses such files too: one link type per capture.
				return nil, ci, fmt.Errorf("pcapng interface %d has link type %s, the first %s: split the file by interface (editcap, tshark -i)", ci.InterfaceIndex, iface.LinkType, g.lt)
			}
		}
	} else {
		data, ci, err = g.pcap.ZeroCopyReadPacketData()
	}
	switch {
	case err == nil, err == io.EOF:
		return data, ci, err
	case errors.Is(err, io.ErrUnexpectedEOF):
		return nil, ci, ErrTruncated
	}
	return nil, ci, err
}

// setFilter refuses expressions: a build without libpcap cannot compile them. The port
// filters sniffer generates are applied by the decoder instead (main, CompilesFilters).
func (g *goFile) setFilter(expr string) error {
	return fmt.Errorf("this build reads files without libpcap and cannot compile BPF filters: select traffic with APP_PORTS")
}

func (g *goFile) stats() (received, dropped, ifDropped int, ok bool) { return 0, 0, 0, false }

func (g *goFile) close() {}

// OpenGoFile opens a capture file read in Go, as the macOS build without cgo does, whatever
// this build's reader: for tests and tools that compare the two readers.
func OpenGoFile(path string) (*Source, error) {
	return fileSource(path, openGoHandle)
}

func openGoHandle(f *os.File, path string) (handle, error) { return openGoFile(f, path) }
