//go:build (darwin && !cgo) || gofiles

package capture

import (
	"errors"
	"os"

	"github.com/gopacket/gopacket"
)

// A build without libpcap's filter compiler: the macOS build without cgo, and, with -tags
// gofiles, any build, so that the macOS binary's file and filter paths run in the tests on
// Linux (make test runs the capture corpus and the main package's file tests so). Files are
// read in Go (gofile.go), and the port filters sniffer generates run in user space (main).

// CompilesFilters tells whether this build compiles BPF filter expressions: without
// libpcap it does not, and only the port filters sniffer generates work, in user space.
const CompilesFilters = false

func openFileHandle(f *os.File, path string) (handle, error) { return openGoFile(f, path) }

// compileRawFilter has no compiler to call: the user-space filter (userfilter.go) needs
// libpcap too.
func compileRawFilter(expr string) (func(ci gopacket.CaptureInfo, ip []byte) bool, error) {
	return nil, errors.New("this build has no libpcap to compile BPF filters: select traffic with APP_PORTS")
}
