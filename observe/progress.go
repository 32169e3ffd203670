package observe

import (
	"fmt"
	"io"
	"time"
)

// FilePosition is what Progress reads from a source reading a capture file (*capture.Source):
// the offset reached and the file's size, size 0 when it is not known (a pipe).
type FilePosition interface {
	Position() (read, size int64)
}

// Progress prints a status line about once a second while a file is read, as pv does: the
// share of the file read, the rate and the time left, then the packets and calls so far. The
// line is redrawn in place (carriage return, erase line), so the caller starts it only when
// standard error is a terminal. stop erases it.
func Progress(w io.Writer, src Sources) (stop func()) {
	pos, _ := src.Capture.(FilePosition)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var p progress
		for {
			select {
			case <-done:
				fmt.Fprint(w, "\r\033[K")
				return
			case now := <-t.C:
				v := index(src.read())
				var read, size int64
				if pos != nil {
					read, size = pos.Position()
				}
				if size == 0 {
					read = v.get(fBytes, "") // a pipe: the bytes of the packets read
				}
				fmt.Fprint(w, "\r\033[K"+p.line(now, read, size, v.get(fPackets, ""), v.get(fCalls, "")))
			}
		}
	}()
	return func() { close(done); <-finished }
}

// rateWindow is how far back the rate is measured: long enough to smooth a second's jitter,
// short enough to follow a reader that slows down (a collector pushing back, a busy machine).
const rateWindow = 5 * time.Second

// progress makes the status lines of one file: it keeps the last rateWindow of offsets.
type progress struct {
	samples []offsetAt
}

// offsetAt is an offset read at a time.
type offsetAt struct {
	t    time.Time
	read int64
}

// line is the status line at now, the file read up to read of size bytes (size 0: unknown,
// read is then the bytes of the packets read). The rate is over the last rateWindow; before
// two samples there is none, and with no progress in the window there is no time left.
func (p *progress) line(now time.Time, read, size, packets, calls int64) string {
	p.samples = append(p.samples, offsetAt{now, read})
	for len(p.samples) > 2 && now.Sub(p.samples[1].t) >= rateWindow {
		p.samples = p.samples[1:]
	}
	var s string
	if size > 0 {
		s = fmt.Sprintf("%d%% of %s", read*100/size, bytesText(size))
	} else {
		s = bytesText(read) + " read"
	}
	first := p.samples[0]
	if dt := now.Sub(first.t); dt > 0 {
		rate := float64(read-first.read) / dt.Seconds()
		s += ", " + bytesText(int64(rate)) + "/s"
		if size > 0 && rate > 0 && read < size {
			s += ", " + durationText(time.Duration(float64(size-read)/rate*float64(time.Second))) + " left"
		}
	}
	return fmt.Sprintf("sniffer: %s, %d packets, %d calls", s, packets, calls)
}

// bytesText writes n in binary units with three significant digits: 512 B, 1.50 KiB,
// 35.4 MiB, 1.21 GiB.
func bytesText(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	v, unit := float64(n)/1024, 0
	for ; v >= 1024 && unit < 4; unit++ {
		v /= 1024
	}
	name := [...]string{"KiB", "MiB", "GiB", "TiB", "PiB"}[unit]
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f %s", v, name)
	case v >= 10:
		return fmt.Sprintf("%.1f %s", v, name)
	}
	return fmt.Sprintf("%.2f %s", v, name)
}

// durationText writes a time left as a person reads it: 42s, 4m05s, 1h02m.
func durationText(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	}
	return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
}
