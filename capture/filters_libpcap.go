//go:build (!darwin || cgo) && !gofiles

package capture

import (
	"os"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/pcap"
)

// CompilesFilters tells whether this build compiles BPF filter expressions (libpcap
// does); without it only the port filters sniffer generates work, applied in user space.
const CompilesFilters = true

// openFileHandle reads a capture file with libpcap. libpcap reads a descriptor of its own,
// a copy of f's that shares its offset (Source.Position).
// Classic pcap files that fastFile reads as libpcap would are read by it instead.
func openFileHandle(f *os.File, path string) (handle, error) {
	if g, err := openFastFile(f); err != nil {
		return nil, err
	} else if g != nil {
		return g, nil
	}
	h, err := pcap.OpenOfflineFile(f)
	if err != nil {
		return nil, fileError(path, err)
	}
	return &pcapHandle{h: h}, nil
}

// compileRawFilter compiles expr for bare IP packets (DLT_RAW) with libpcap itself
// (pcap_compile on a dead handle), for the user-space filter (userfilter.go); it then means
// exactly what the expression means to the kernel on other links.
func compileRawFilter(expr string) (func(ci gopacket.CaptureInfo, ip []byte) bool, error) {
	bpf, err := pcap.NewBPF(dltRaw, Snaplen, expr)
	if err != nil {
		return nil, err
	}
	return bpf.Matches, nil
}
