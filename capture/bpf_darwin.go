//go:build darwin && !cgo

package capture

import (
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// A macOS build without cgo has no libpcap: it reads files in Go (gofile.go) and devices
// through the kernel's BPF devices (/dev/bpf*), what libpcap itself uses on macOS. This is
// gopacket/bsdbpf's approach, not bsdbpf itself, which does not fit: it rounds records to the
// pointer size (8) where macOS rounds them to 4 (bpfrecord.go), so it misreads a buffer after
// a packet whose length is not a multiple of 8; it reports caplen as the packet's length (a
// cut packet looks whole), allocates a new buffer on every read, returns an empty frame on a
// read timeout, panics when no BPF device is free, and gives neither the device's link type
// (loopback and utun are not Ethernet) nor the kernel's drop counter. Those are done here
// with the syscall package's BPF ioctls; the record parsing (bpfRecord) is compiled
// everywhere and tested on Linux against the corpus.

// bpfDevice is one open /dev/bpfN bound to an interface.
type bpfDevice struct {
	fd   int
	lt   layers.LinkType
	buf  []byte
	n    int // bytes read into buf
	off  int // next header in buf[:n]
	name string
}

func openLiveHandle(dev string, cfg Config) (handle, error) {
	fd, err := openBPF()
	if err != nil {
		return nil, err
	}
	d := &bpfDevice{fd: fd, name: dev}
	if err := d.setup(dev, cfg); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("device %s: %v", dev, err)
	}
	return d, nil
}

// openBPF opens the first free BPF device.
func openBPF() (int, error) {
	var last error
	for i := 0; i < 256; i++ {
		fd, err := syscall.Open(fmt.Sprintf("/dev/bpf%d", i), syscall.O_RDWR|syscall.O_CLOEXEC, 0)
		switch {
		case err == nil:
			return fd, nil
		case errors.Is(err, syscall.EBUSY):
			last = err
			continue
		case errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM):
			return -1, fmt.Errorf("opening /dev/bpf%d: %v: run as root, or give your user read access to /dev/bpf* (Wireshark's ChmodBPF does)", i, err)
		case errors.Is(err, syscall.ENOENT):
			return -1, fmt.Errorf("no free BPF device among /dev/bpf0-%d (%v)", i-1, last)
		default:
			return -1, fmt.Errorf("opening /dev/bpf%d: %v", i, err)
		}
	}
	return -1, fmt.Errorf("no free BPF device among /dev/bpf0-255 (%v)", last)
}

func (d *bpfDevice) setup(dev string, cfg Config) error {
	// The buffer size must be set before the interface; the kernel caps it
	// (debug.bpf_maxbufsize), so halve it until it is taken.
	size := cfg.BufferSize
	if size <= 0 {
		size = 1 << 20
	}
	for ; ; size /= 2 {
		if _, err := syscall.SetBpfBuflen(d.fd, size); err == nil || size <= 32<<10 {
			break
		}
	}
	if err := syscall.SetBpfInterface(d.fd, dev); err != nil {
		return fmt.Errorf("%v (list devices with: ifconfig -l)", err)
	}
	n, err := syscall.BpfBuflen(d.fd)
	if err != nil {
		return err
	}
	d.buf = make([]byte, n)
	dlt, err := syscall.BpfDatalink(d.fd)
	if err != nil {
		return err
	}
	d.lt = layers.LinkType(dlt)
	if cfg.Immediate {
		if err := syscall.SetBpfImmediate(d.fd, 1); err != nil {
			return err
		}
	}
	tv := syscall.NsecToTimeval(int64(200 * time.Millisecond))
	if err := syscall.SetBpfTimeout(d.fd, &tv); err != nil {
		return err
	}
	if cfg.Promisc {
		if err := syscall.SetBpfPromisc(d.fd, 1); err != nil {
			return fmt.Errorf("promiscuous mode: %v", err)
		}
	}
	return nil
}

func (d *bpfDevice) LinkType() layers.LinkType { return d.lt }

func (d *bpfDevice) next() ([]byte, gopacket.CaptureInfo, error) {
	for d.off+bpfHdrLen > d.n {
		n, err := syscall.Read(d.fd, d.buf)
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case err != nil:
			return nil, gopacket.CaptureInfo{}, err
		case n == 0:
			d.n, d.off = 0, 0
			return nil, gopacket.CaptureInfo{}, errTimeout
		}
		d.n, d.off = n, 0
	}
	data, ci, next, err := bpfRecord(d.buf[d.off:d.n])
	d.off += next // past the end of the buffer after an error: its framing cannot be trusted
	if err != nil {
		return nil, ci, fmt.Errorf("BPF device on %s: %v", d.name, err)
	}
	return data, ci, nil
}

// setFilter refuses expressions: without libpcap there is no compiler for them. The
// port filters sniffer generates are applied by the decoder instead.
func (d *bpfDevice) setFilter(expr string) error {
	return fmt.Errorf("this build has no libpcap to compile BPF filters: select traffic with APP_PORTS")
}

func (d *bpfDevice) stats() (received, dropped, ifDropped int, ok bool) {
	st, err := syscall.BpfStats(d.fd)
	if err != nil {
		return 0, 0, 0, false
	}
	return int(st.Recv), int(st.Drop), 0, true
}

func (d *bpfDevice) close() { syscall.Close(d.fd) }
