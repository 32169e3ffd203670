//go:build linux

package capture

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"syscall"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/afpacket"
	"golang.org/x/sys/unix"
)

// afRing waits for an AF_PACKET ring's next block in Go's network poller instead of in
// gopacket's blocking poll(2).
//
// Why: a goroutine blocked in a system call keeps its P (the runtime's right to run Go
// code). Go's sysmon thread takes such a P back once the call has lasted a tick (20 µs
// to 10 ms) while other goroutines want to run, which on a busy sniffer is always: it
// hands the P to another thread, and when poll returns, its thread has no P and must park
// until one is free. Every such retake also resets sysmon's tick to 20 µs. On the live
// bench (2 cores, 2 fanout members each waiting on its ring about 40 times a second),
// sysmon's wake-ups alone took 5% of sniffer's CPU time, most of it in context switches,
// which cost about 10 µs each on these VMs. Parked in the poller, the reader holds no P
// and no thread, and is woken by epoll when the kernel hands a block over (sk_data_ready
// on every block it retires, which is what edge-triggered epoll needs).
//
// The ring is still read by gopacket, with a poll timeout of 0: its own poll(2) then only
// checks. The socket's descriptor is not exported by gopacket; it is read from the TPacket
// by reflection (afFD), and a duplicate of it is registered with the poller, so that
// closing either leaves the other to its owner.
type afRing struct {
	tp   *afpacket.TPacket
	file *os.File // the duplicated descriptor, in the poller
	raw  syscall.RawConn
}

// afFDField is where gopacket keeps the socket's descriptor; TestAFRingWaitsInPoller
// fails if a gopacket upgrade moves it.
const afFDField = "fd"

// afFD returns tp's socket descriptor, or an error naming what changed in gopacket.
func afFD(tp *afpacket.TPacket) (int, error) {
	f := reflect.ValueOf(tp).Elem().FieldByName(afFDField)
	if !f.IsValid() || f.Kind() != reflect.Int {
		return -1, fmt.Errorf("afpacket.TPacket has no int field %q (gopacket changed): cannot wait for the ring in the Go poller", afFDField)
	}
	return int(f.Int()), nil
}

// newAFRing registers tp's socket with the poller. tp must have been opened with a poll
// timeout of 0.
func newAFRing(tp *afpacket.TPacket) (*afRing, error) {
	fd, err := afFD(tp)
	if err != nil {
		return nil, err
	}
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("duplicating the AF_PACKET socket: %v", err)
	}
	// O_NONBLOCK is on the socket, shared by both descriptors: no one calls recv on it
	// (the packets come through the ring), and poll does not look at it.
	if err := unix.SetNonblock(dup, true); err != nil {
		unix.Close(dup)
		return nil, fmt.Errorf("AF_PACKET socket: non-blocking mode: %v", err)
	}
	file := os.NewFile(uintptr(dup), "afpacket")
	raw, err := file.SyscallConn()
	if err == nil {
		// A descriptor the poller refused (epoll_ctl failed) has no deadlines: say so
		// rather than block without a timeout.
		err = file.SetReadDeadline(time.Time{})
	}
	if err != nil {
		file.Close()
		return nil, fmt.Errorf("AF_PACKET socket in the Go poller: %v", err)
	}
	return &afRing{tp: tp, file: file, raw: raw}, nil
}

// read returns the next packet, waiting up to timeout for one. copied: the data is the
// caller's to keep (ReadPacketData); otherwise it points into the ring and is valid until
// the next read (ZeroCopyReadPacketData).
func (r *afRing) read(timeout time.Duration, copied bool) ([]byte, gopacket.CaptureInfo, error) {
	for waited := false; ; waited = true {
		var (
			data []byte
			ci   gopacket.CaptureInfo
			err  error
		)
		if copied {
			data, ci, err = r.tp.ReadPacketData()
		} else {
			data, ci, err = r.tp.ZeroCopyReadPacketData()
		}
		if !errors.Is(err, afpacket.ErrTimeout) || waited {
			return data, ci, err
		}
		if err := r.wait(timeout); err != nil {
			return nil, ci, err
		}
	}
}

// wait parks until the socket is readable (a block is the user's) or timeout passes
// (afpacket.ErrTimeout, as gopacket's own poll reports it, so that callers test one error).
func (r *afRing) wait(timeout time.Duration) error {
	if err := r.file.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	checked := false
	err := r.raw.Read(func(fd uintptr) bool {
		if checked {
			// Woken by the poller: the socket is readable. No system call here: the
			// first one after the process was idle wakes sysmon with its tick reset to
			// 20 µs, for the rest of the busy spell (the check above comes at its end).
			return true
		}
		checked = true
		// Checked once the poller is armed for this wait, so that a block handed over
		// between gopacket's check and this one is not missed.
		p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(p, 0)
		return n > 0 || (err != nil && err != unix.EINTR)
	})
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return afpacket.ErrTimeout
	}
	return err
}

func (r *afRing) close() { r.file.Close() }
