//go:build linux

package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"golang.org/x/sys/unix"
)

// progressLine is the status line of a file read on a terminal (observe/progress.go) once it
// has a rate and a time left.
var progressLine = regexp.MustCompile(`sniffer: (\d+)% of [0-9.]+ [KMGT]iB, [0-9.]+ (?:B|[KMGT]iB)/s, (?:\d+s|\d+m\d\ds|\d+h\d\dm) left, \d+ packets, \d+ calls`)

// TestFileProgress reads a 7 MiB capture with sniffer -r, its standard error on a
// pseudo-terminal: the status line shows the share of the file read, the rate and the time
// left, its share grows, and it is erased before the summary. Then the same file with standard
// error on a pipe: not a byte of the status line (no carriage return, no escape sequence),
// only the summary lines. Standard output (3 MiB of calls) is read at 384 KiB/s and the queue
// before it is kept small (SNIFFER_MEMORY_BUDGET=16 MiB), which holds the reader back (a file
// waits for its output), so that the run lasts seconds however fast the machine is.
func TestFileProgress(t *testing.T) {
	bin := sniffer(t, false)
	file := filepath.Join(t.TempDir(), "big.pcap")
	const conns = 800
	writeBigCapture(t, file, conns)

	master, tty := openPTY(t)
	var term bytes.Buffer
	var mu sync.Mutex
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			mu.Lock()
			term.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return // EIO once sniffer has exited and our copy of the terminal is closed
			}
		}
	}()
	calls := runThrottled(t, bin, file, tty)
	tty.Close()
	select {
	case <-copied:
	case <-time.After(10 * time.Second):
		t.Fatal("the terminal was not closed 10 s after sniffer exited")
	}
	master.Close()
	mu.Lock()
	out := term.String()
	mu.Unlock()
	if calls != conns {
		t.Errorf("%d calls on standard output, want %d", calls, conns)
	}
	lines := progressLine.FindAllStringSubmatch(out, -1)
	last := -1
	for _, l := range lines {
		pct, _ := strconv.Atoi(l[1])
		if pct < last || pct > 100 {
			t.Errorf("share read went from %d%% to %d%%", last, pct)
		}
		last = pct
	}
	if len(lines) < 2 || last == 0 {
		t.Errorf("want at least two status lines with share, rate and time left, the share growing; the terminal got:\n%q", out)
	}
	// The line is redrawn in place and erased at the end: the summary follows an erase.
	if !strings.Contains(out, "\r\033[K") || !regexp.MustCompile(`\r\033\[Ksniffer: \d+ packets \(\d+ bytes\)`).MatchString(out) {
		t.Errorf("the status line is not erased before the summary:\n%q", out)
	}
	if len(lines) > 0 {
		t.Logf("%d status lines, the last %q", len(lines), lines[len(lines)-1][0])
	}

	// Not a terminal: standard error keeps the summary alone.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	done := make(chan struct{})
	go func() { io.Copy(&stderr, r); close(done) }()
	start := time.Now()
	calls = runThrottled(t, bin, file, w)
	w.Close()
	<-done
	took := time.Since(start)
	if calls != conns {
		t.Errorf("not a terminal: %d calls on standard output, want %d", calls, conns)
	}
	if bytes.ContainsAny(stderr.Bytes(), "\r\033") {
		t.Errorf("standard error on a pipe got terminal control characters:\n%q", stderr.String())
	}
	for _, l := range strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n") {
		if !strings.HasPrefix(l, "sniffer") || strings.Contains(l, "% of") {
			t.Errorf("standard error on a pipe: line %q is not the start line or the summary", l)
		}
	}
	if took < 2*time.Second {
		t.Errorf("the run on a pipe took %v: too short to show that no status line (one a second) was written", took)
	}
}

// runThrottled runs sniffer -r file with stderr on the given file and returns the calls it
// printed, reading them at 384 KiB/s.
func runThrottled(t *testing.T, bin, file string, stderr *os.File) int {
	t.Helper()
	cmd := exec.Command(bin, "-r", file)
	cmd.Stderr = stderr
	cmd.Env = append(os.Environ(), "SNIFFER_MEMORY_BUDGET=16777216")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(3*time.Minute, func() { cmd.Process.Kill() })
	defer timer.Stop()
	const rate = 384 << 10
	start, n, lines := time.Now(), 0, 0
	br := bufio.NewReaderSize(stdout, 64<<10)
	for {
		line, err := br.ReadSlice('\n')
		n += len(line)
		if err == nil {
			lines++
		} else if err != bufio.ErrBufferFull {
			break
		}
		if ahead := time.Duration(float64(n)/rate*float64(time.Second)) - time.Since(start); ahead > 0 {
			time.Sleep(ahead)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("sniffer -r %s: %v", file, err)
	}
	return lines
}

// openPTY opens a pseudo-terminal pair: the master to read what is written to the terminal.
func openPTY(t *testing.T) (master, tty *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("no pseudo-terminal: %v", err)
	}
	fd := int(m.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlocking the pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pseudo-terminal number: %v", err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("opening the pseudo-terminal: %v", err)
	}
	return m, s
}

// writeBigCapture writes conns HTTP/1.1 connections, one after the other, each a handshake, a
// GET and an 8 KiB response, and the closing FINs: about 9 KiB a connection.
func writeBigCapture(t *testing.T, path string, conns int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	w := pcapgo.NewWriter(bw)
	if err := w.WriteFileHeader(65536, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	body := strings.Repeat("0123456789abcdef", 512)
	client, server := net.IPv4(10, 9, 0, 2).To4(), net.IPv4(10, 9, 0, 1).To4()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	buf := gopacket.NewSerializeBuffer()
	for i := 0; i < conns; i++ {
		cport := layers.TCPPort(10000 + i%50000)
		cseq, sseq := uint32(1000), uint32(5000)
		pkt := func(fromClient bool, flags string, payload string) {
			eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, EthernetType: layers.EthernetTypeIPv4}
			ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: client, DstIP: server}
			tcp := &layers.TCP{SrcPort: cport, DstPort: 80, Seq: cseq, Ack: sseq, Window: 65535, ACK: flags != "S"}
			if !fromClient {
				eth.SrcMAC, eth.DstMAC = eth.DstMAC, eth.SrcMAC
				ip.SrcIP, ip.DstIP = server, client
				tcp.SrcPort, tcp.DstPort, tcp.Seq, tcp.Ack = 80, cport, sseq, cseq
			}
			tcp.SYN, tcp.FIN, tcp.PSH = strings.Contains(flags, "S"), strings.Contains(flags, "F"), payload != ""
			tcp.SetNetworkLayerForChecksum(ip)
			if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp, gopacket.Payload(payload)); err != nil {
				t.Fatal(err)
			}
			at = at.Add(100 * time.Microsecond)
			if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: at, CaptureLength: len(buf.Bytes()), Length: len(buf.Bytes())}, buf.Bytes()); err != nil {
				t.Fatal(err)
			}
			n := uint32(len(payload))
			if tcp.SYN || tcp.FIN {
				n++
			}
			if fromClient {
				cseq += n
			} else {
				sseq += n
			}
		}
		pkt(true, "S", "")
		pkt(false, "SA", "")
		pkt(true, "A", "")
		pkt(true, "A", fmt.Sprintf("GET /item/%d HTTP/1.1\r\nHost: example\r\n\r\n", i))
		pkt(false, "A", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body)
		pkt(true, "FA", "")
		pkt(false, "FA", "")
		pkt(true, "A", "")
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
}
